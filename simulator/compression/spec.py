"""What a user asks for: pruning and quantization specs, rules, and named variants.

The grammar is the one the CLI, recipes and ``hwsim compare`` share, so a variant string means
the same thing everywhere: ``0.8`` (80% unstructured), ``2:4``, ``block4x4:0.75``,
``channel:0.5``, ``int8``, ``int4``, ``fp16``, ``binary``, ``w4a8``, and ``+`` to combine
(``int8+2:4``). Parsing is strict: anything else is one error line naming the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import HwsimError
from ..ops import integer_precision
from .safe_regex import check_pattern, compile_safe


class CompressionError(HwsimError):
    """A pruning/quantization spec, recipe or variant is malformed."""


@dataclass(frozen=True)
class PruneSpec:
    """Which weights to zero: ``pattern`` is unstructured | n:m | block1x4 | block4x4 |
    channel; ``sparsity`` is the fraction removed (N:M fixes it at 1 - n/m)."""

    pattern: str
    sparsity: float
    n: int = 0  # kept values per group (N:M only)
    m: int = 0  # group size along the reduction axis (N:M only)

    @property
    def label(self) -> str:
        if self.pattern == "n:m":
            return f"{self.n}:{self.m}"
        if self.pattern == "unstructured":
            return f"{self.sparsity:g}"
        return f"{self.pattern}:{self.sparsity:g}"


@dataclass(frozen=True)
class QuantSpec:
    """Weight and activation formats: integer bit widths, or a float format for both."""

    weight_bits: int | None = None  # integer weights (1 = binary)
    act_bits: int | None = None  # integer activations; 16 = fp16 activations
    float_format: str | None = None  # fp16 | bf16: the whole op converted, no integers
    label: str = ""

    @property
    def precision(self) -> str:
        """The precision a quantized op computes in (``Op.precision``'s rule): the float
        format, else the integer width of the wider operand, fp16 for 16-bit activations."""
        if self.float_format is not None:
            return self.float_format
        widest = max(b for b in (self.weight_bits, self.act_bits, 1) if b is not None)
        return integer_precision(widest) if widest <= 8 else "fp16"


_BLOCKS = ("block1x4", "block4x4")
_QUANT_ALIASES = {
    "int8": QuantSpec(8, 8, label="int8"),
    "int4": QuantSpec(4, 4, label="int4"),
    "binary": QuantSpec(1, 1, label="binary"),
    "fp16": QuantSpec(float_format="fp16", label="fp16"),
    "bf16": QuantSpec(float_format="bf16", label="bf16"),
}


def _fraction(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CompressionError(f"{what} '{text}': expected a fraction like 0.8") from None
    if not 0.0 < value < 1.0:
        raise CompressionError(f"{what} '{text}': the fraction must lie strictly between 0 and 1")
    return value


def parse_prune(text: str) -> PruneSpec:
    """``0.8``, ``2:4``/``4:8``/``n:m``, ``block1x4:0.5``, ``block4x4:0.75``, ``channel:0.5``."""
    raw = text.strip().lower()
    head, _, tail = raw.partition(":")
    if head in _BLOCKS or head == "channel":
        return PruneSpec(head, _fraction(tail, f"--prune {head}"))
    if re.fullmatch(r"\d+:\d+", raw):
        n, m = (int(x) for x in raw.split(":"))
        if not 0 < n < m or m > 64:
            raise CompressionError(f"--prune '{text}': N:M needs 0 < N < M <= 64, e.g. 2:4")
        return PruneSpec("n:m", 1.0 - n / m, n=n, m=m)
    if re.fullmatch(r"[0-9.]+", raw):
        return PruneSpec("unstructured", _fraction(raw, "--prune"))
    raise CompressionError(
        f"--prune '{text}': expected 0.8, 2:4, 4:8, block1x4:0.5, block4x4:0.75 or channel:0.5"
    )


def parse_quant(text: str) -> QuantSpec:
    """``int8``, ``int4``, ``binary``, ``fp16``, ``bf16`` or ``wNaM`` (``a16``: fp16 acts)."""
    raw = text.strip().lower()
    if raw in _QUANT_ALIASES:
        return _QUANT_ALIASES[raw]
    match = re.fullmatch(r"w(\d+)a(\d+)", raw)
    if match is None:
        raise CompressionError(
            f"--quant '{text}': expected int8, int4, binary, fp16, bf16 or wNaM like w4a8, w1a1"
        )
    w, a = int(match[1]), int(match[2])
    if not (1 <= w <= 8 and (1 <= a <= 8 or a == 16)):
        raise CompressionError(
            f"--quant '{text}': weights take 1-8 bits, activations 1-8 bits or 16 (fp16)"
        )
    return QuantSpec(w, a, label=raw)


@dataclass(frozen=True)
class Rule:
    """One recipe line: ops whose name matches ``layers`` (a regex, searched) get ``prune``
    and/or ``quant``; ``skip`` keeps them as they are."""

    layers: str = ".*"
    prune: PruneSpec | None = None
    quant: QuantSpec | None = None
    skip: bool = False

    def __post_init__(self) -> None:
        compile_layers(self.layers, "rule")
        if self.skip and (self.prune is not None or self.quant is not None):
            raise CompressionError(
                "'skip: true' keeps the matched ops as they are; it cannot also prune or "
                "quantize (write two rules)"
            )

    def matches(self, name: str) -> bool:
        """``re.search`` semantics, in linear time whatever the pattern (``safe_regex``)."""
        return compile_safe(self.layers).search(name)


def compile_layers(pattern: str, origin: str) -> str:
    """``pattern`` when hwsim can match layer names with it; else one line saying why."""
    problem = check_pattern(pattern)
    if problem is not None:
        raise CompressionError(f"{origin}: layers '{pattern[:80]}' {problem}")
    return pattern


@dataclass(frozen=True)
class Variant:
    """A named compression of the whole model (``dense``, ``int8+2:4``...) as rules."""

    name: str
    rules: tuple[Rule, ...] = ()

    @property
    def is_dense(self) -> bool:
        return not self.rules


def parse_variant(text: str, layers: str = ".*") -> Variant:
    """``dense`` or ``+``-joined prune/quant specs; each part is tried as quant, then prune."""
    name = text.strip()
    if name.lower() in ("dense", "none", "baseline"):
        return Variant("dense")
    prune: PruneSpec | None = None
    quant: QuantSpec | None = None
    for part in (p for p in name.split("+") if p.strip()):
        is_quant = part.strip().lower() in _QUANT_ALIASES or re.fullmatch(
            r"w\d+a\d+", part.strip().lower()
        )
        if is_quant:
            if quant is not None:
                raise CompressionError(f"variant '{text}': two quantization specs")
            quant = parse_quant(part)
        else:
            if prune is not None:
                raise CompressionError(f"variant '{text}': two pruning specs")
            prune = parse_prune(part)
    if prune is None and quant is None:
        raise CompressionError(f"variant '{text}': nothing to apply")
    rule = Rule(layers=compile_layers(layers, "--layers"), prune=prune, quant=quant)
    return Variant(name, (rule,))
