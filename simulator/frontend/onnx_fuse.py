"""Rebuild the high-level ops an ONNX exporter spelled out in primitives.

torch.export keeps ``linear``, ``silu``, ``gelu`` and ``scaled_dot_product_attention`` as one
op each; ONNX exporters write ``MatMul + Add``, ``x * Sigmoid(x)``, GELU's five-op erf form and
``MatMul -> Softmax -> MatMul``. Inference runtimes fuse these back (ONNX Runtime's
MatMulAddFusion, GeluFusion, AttentionFusion), and so does hwsim, so an ONNX file and the
``.pt2`` of the same model price the same kernels. Each pattern is one function in
``PATTERNS``; a match becomes a node of domain ``FUSED_DOMAIN`` whose op type names the ONNX
op that computes the same function (``Swish``, ``Gelu``, ``Attention``) and whose attribute
``fused_nodes`` lists what it replaced, so reports can say where it came from.

A pattern matches only where every intermediate tensor has a single reader and is not a model
output, so a fused op never hides a value something else needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from .onnx_graph import OnnxGraph, attributes
from .onnx_table import FUSED_DOMAIN


@dataclass(frozen=True)
class Match:
    """Nodes (indices into the graph) replaced by one new node, placed where the last was."""

    replaced: tuple[int, ...]
    node: onnx.NodeProto


Pattern = Callable[[OnnxGraph, int], Match | None]


def _producer_index(g: OnnxGraph, name: str) -> int | None:
    return g.producers.get(name) if name else None


def _single_reader(g: OnnxGraph, name: str) -> int | None:
    """The one node reading ``name``, if exactly one does and it is not a model output."""
    readers = g.consumers.get(name, [])
    if len(readers) != 1 or name in g.outputs:
        return None
    return readers[0]


def _is(g: OnnxGraph, index: int | None, op_type: str) -> bool:
    """Whether node ``index`` is the standard ONNX op ``op_type``."""
    if index is None:
        return False
    node = g.nodes[index]
    return node.op_type == op_type and node.domain in ("", "ai.onnx")


def _scalar(g: OnnxGraph, name: str) -> float | None:
    """The value of a one-element constant, else None."""
    if name not in g.constants:
        return None
    value = g.constants.value(name)
    if value is None or value.size != 1:
        return None
    return float(np.asarray(value, dtype=np.float64).reshape(()))


def _other(node: onnx.NodeProto, name: str) -> str | None:
    """The other input of a two-input node one of whose inputs is ``name``."""
    if len(node.input) != 2:
        return None
    if node.input[0] == name:
        return node.input[1]
    if node.input[1] == name:
        return node.input[0]
    return None


def _fused(
    g: OnnxGraph,
    op_type: str,
    anchor: int,
    replaced: list[int],
    inputs: list[str],
    output: str,
    k_transposed: int | None = None,
) -> Match:
    names = [g.nodes[i].name or g.nodes[i].op_type for i in sorted(replaced)]
    node = helper.make_node(
        op_type, inputs, [output], name=g.nodes[anchor].name, domain=FUSED_DOMAIN
    )
    node.attribute.append(helper.make_attribute("fused_nodes", names))
    if k_transposed is not None:
        node.attribute.append(helper.make_attribute("k_transposed", k_transposed))
    return Match(tuple(sorted(replaced)), node)


def swish(g: OnnxGraph, i: int) -> Match | None:
    """``x * Sigmoid(x)`` (SiLU) or ``x * HardSigmoid(x)`` (hard swish, MobileNetV3)."""
    node = g.nodes[i]
    if not (_is(g, i, "Sigmoid") or _is(g, i, "HardSigmoid")):
        return None
    x = node.input[0]
    mul = _single_reader(g, node.output[0])
    if mul is None or not _is(g, mul, "Mul") or _other(g.nodes[mul], node.output[0]) != x:
        return None
    if node.op_type == "HardSigmoid":
        attrs = attributes(node)
        alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
        if not (np.isclose(alpha, 1 / 6) and np.isclose(beta, 0.5)):
            return None
        return _fused(g, "HardSwish", i, [i, mul], [x], g.nodes[mul].output[0])
    return _fused(g, "Swish", i, [i, mul], [x], g.nodes[mul].output[0])


def gelu(g: OnnxGraph, i: int) -> Match | None:
    """``x * 0.5 * (1 + Erf(x / sqrt(2)))`` in the orders torch and TF exporters write it."""
    if not _is(g, i, "Erf"):
        return None
    erf = g.nodes[i]
    pre = _producer_index(g, erf.input[0])
    if pre is None or _single_reader(g, erf.input[0]) != i:
        return None
    scaling = g.nodes[pre]
    x = _scaled_input(g, scaling) if _is(g, pre, "Div") or _is(g, pre, "Mul") else None
    c = next((_scalar(g, n) for n in scaling.input if n != x), None)
    if x is None or c is None:
        return None
    if not (
        (scaling.op_type == "Div" and np.isclose(c, np.sqrt(2)))
        or (scaling.op_type == "Mul" and np.isclose(c, 1 / np.sqrt(2)))
    ):
        return None
    add = _single_reader(g, erf.output[0])
    if add is None or not _is(g, add, "Add"):
        return None
    one = _other(g.nodes[add], erf.output[0])
    if one is None or _scalar(g, one) != 1.0:
        return None
    mul = _single_reader(g, g.nodes[add].output[0])
    if mul is None or not _is(g, mul, "Mul"):
        return None
    other = _other(g.nodes[mul], g.nodes[add].output[0])
    replaced = [pre, i, add, mul]
    if other == x:  # (x * (1 + erf)) * 0.5
        half = _single_reader(g, g.nodes[mul].output[0])
        if half is None or not _is(g, half, "Mul"):
            return None
        c_half = _other(g.nodes[half], g.nodes[mul].output[0])
        if c_half is None or _scalar(g, c_half) != 0.5:
            return None
        replaced.append(half)
        output = g.nodes[half].output[0]
    else:  # (x * 0.5) * (1 + erf)
        first = _producer_index(g, other) if other else None
        if first is None or not _is(g, first, "Mul") or _single_reader(g, other or "") != mul:
            return None
        c_half = _other(g.nodes[first], x)
        if c_half is None or _scalar(g, c_half) != 0.5:
            return None
        replaced.append(first)
        output = g.nodes[mul].output[0]
    return _fused(g, "Gelu", i, replaced, [x], output)


def linear(g: OnnxGraph, i: int) -> Match | None:
    """``MatMul(x, W) + b`` with constant W [K, N] and b [N]: torch's ``linear``."""
    mm = g.nodes[i]
    if not _is(g, i, "MatMul") or len(mm.input) != 2:
        return None
    x, w = mm.input
    w_spec = g.spec(w)
    if x in g.constants or w not in g.constants or w_spec is None or len(w_spec.shape) != 2:
        return None
    add = _single_reader(g, mm.output[0])
    if add is None or not _is(g, add, "Add"):
        return None
    b = _other(g.nodes[add], mm.output[0])
    b_spec = g.spec(b) if b else None
    n = w_spec.shape[1]
    if b is None or b not in g.constants or b_spec is None:
        return None
    if b_spec.numel != n or (b_spec.shape and b_spec.shape[-1] != n):
        return None
    return _fused(g, "MatMulAdd", i, [i, add], [x, w, b], g.nodes[add].output[0])


def attention(g: OnnxGraph, i: int) -> Match | None:
    """``MatMul(Q, K^T) [* or / scale] [+ mask] -> Softmax(last axis) -> MatMul(., V)``, with
    Q and K^T optionally pre-scaled: torch's ``scaled_dot_product_attention``."""
    softmax = g.nodes[i]
    if not _is(g, i, "Softmax"):
        return None
    scores = g.spec(softmax.input[0])
    axis = int(attributes(softmax).get("axis", -1))
    if scores is None or axis not in (-1, len(scores.shape) - 1):
        return None
    out_mm = _single_reader(g, softmax.output[0])
    if out_mm is None or not _is(g, out_mm, "MatMul"):
        return None
    if g.nodes[out_mm].input[0] != softmax.output[0]:
        return None
    replaced = [i, out_mm]
    mask: str | None = None
    current = softmax.input[0]
    while True:
        j = _producer_index(g, current)
        if j is None or _single_reader(g, current) is None:
            return None
        node = g.nodes[j]
        replaced.append(j)
        if _is(g, j, "MatMul"):
            break
        if _is(g, j, "Add") and mask is None and len(node.input) == 2:
            chain = [n for n in node.input if _scores_chain(g, n)]
            if len(chain) != 1:
                return None
            current, mask = chain[0], _other(node, chain[0])
        elif (_is(g, j, "Div") or _is(g, j, "Mul")) and _scaled_input(g, node) is not None:
            current = _scaled_input(g, node) or ""
        else:
            return None
    qk = g.nodes[j]
    q, kt = (_unscaled(g, name, replaced) for name in qk.input)
    v = g.nodes[out_mm].input[1]
    if q in g.constants or kt in g.constants or v in g.constants:
        return None
    inputs = [q, kt, v] + ([mask] if mask else [])
    return _fused(g, "Attention", j, replaced, inputs, g.nodes[out_mm].output[0], k_transposed=1)


def _scaled_input(g: OnnxGraph, node: onnx.NodeProto) -> str | None:
    """The tensor a ``Mul``/``Div`` by a scalar constant scales (for Div, the numerator)."""
    if len(node.input) != 2:
        return None
    a, b = node.input
    if _scalar(g, b) is not None and a not in g.constants:
        return a
    if node.op_type == "Mul" and _scalar(g, a) is not None and b not in g.constants:
        return b
    return None


def _scores_chain(g: OnnxGraph, name: str) -> bool:
    """Whether ``name`` is Q K^T, possibly scaled by scalars, each step read only once."""
    while True:
        j = _producer_index(g, name)
        if j is None or _single_reader(g, name) is None:
            return False
        if _is(g, j, "MatMul"):
            return True
        if not (_is(g, j, "Div") or _is(g, j, "Mul")):
            return False
        scaled = _scaled_input(g, g.nodes[j])
        if scaled is None:
            return False
        name = scaled


def _unscaled(g: OnnxGraph, name: str, replaced: list[int]) -> str:
    """Look through a ``Mul``/``Div`` by a scalar constant that only feeds the scores."""
    j = _producer_index(g, name)
    if j is None or _single_reader(g, name) is None:
        return name
    node = g.nodes[j]
    if not (_is(g, j, "Mul") or _is(g, j, "Div")):
        return name
    scaled = _scaled_input(g, node)
    if scaled is None:
        return name
    replaced.append(j)
    return scaled


PATTERNS: tuple[Pattern, ...] = (attention, gelu, swish, linear)


def fuse_patterns(g: OnnxGraph) -> None:
    """Replace every match of ``PATTERNS`` in ``g`` (in place), patterns in order."""
    for pattern in PATTERNS:
        matches: list[Match] = []
        taken: set[int] = set()
        for i in range(len(g.nodes)):
            if i in taken:
                continue
            match = pattern(g, i)
            if match is not None and not taken.intersection(match.replaced):
                matches.append(match)
                taken.update(match.replaced)
        if not matches:
            continue
        at_last = {m.replaced[-1]: m.node for m in matches}
        kept = (i for i in range(len(g.nodes)) if i in at_last or i not in taken)
        g.nodes = [at_last.get(i, g.nodes[i]) for i in kept]
        g.recount()
