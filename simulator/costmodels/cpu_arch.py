"""The typed ``arch`` section of a CPU profile, and the options a CPU estimate takes.

Presets give one achieved efficiency per shape class; a calibrated profile (``hwsim
calibrate``) gives measured tables per thread count (``efficiency`` as a list of entries) and
the measured curves of hwsim's numba kernels (``kernels``). Both are checked here when the
profile loads, and the interpolation tables derived from them are built once per value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..archspec import (
    BOOLEAN,
    INT_MAX,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    ArchSpec,
    Capabilities,
    spec,
)
from ..errors import ProfileError
from ..frozen import FrozenDict, deep_freeze

# Weight of each log2 coordinate in the neighbour distance: a stride step counts as 8x in size.
COORD_SCALE = {"conv": (1.0, 1.0, 1.0, 1.0, 3.0), "depthwise": (1.0, 1.0, 1.0, 3.0)}
SHAPE_CLASSES = ("gemm", "conv", "depthwise")

_ROWS = {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2}}
_EFFICIENCY_VALUE = {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, _ROWS]}
_SECONDS = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
_RATES = {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0}}
_ENTRY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "threads": POSITIVE_INT,
        **dict.fromkeys(SHAPE_CLASSES, _EFFICIENCY_VALUE),
        "dispatch_s": _SECONDS,
        "module_dispatch_s": _SECONDS,
        "stream_bytes_per_s": _RATES,
        "loop_ops_per_s": _RATES,
    },
}
_CURVE = {"type": "array", "items": {"type": "array", "items": POSITIVE, "minItems": 2}}
_KERNEL_ENTRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "shape": {"type": "array", "items": POSITIVE_INT, "minItems": 3, "maxItems": 3},
        "dense_fp32": POSITIVE,
        "int8": POSITIVE,
        "int4": POSITIVE,
        "csr": _CURVE,
        "bsr1x4": _CURVE,
        "bsr4x4": _CURVE,
        "2:4": _CURVE,
        "4:8": _CURVE,
    },
}
_KERNELS = {
    **_KERNEL_ENTRY,
    "properties": {
        **_KERNEL_ENTRY["properties"],
        "by_shape": {"type": "array", "items": _KERNEL_ENTRY, "minItems": 1},
    },
}


_SCALES = dict.fromkeys(SHAPE_CLASSES, POSITIVE)

Table = tuple[np.ndarray, np.ndarray] | float


@dataclass(frozen=True)
class CpuEfficiency:
    """Achieved efficiencies and measured rates at one thread count (``threads`` None: any).

    ``gemm``, ``conv`` and ``depthwise`` are one fraction of peak, or measured rows
    ``[coordinates..., efficiency]`` interpolated by ``efficiency()`` in the cpu model.
    """

    threads: int | None = None
    gemm: float | tuple[tuple[float, ...], ...] = 1.0
    conv: float | tuple[tuple[float, ...], ...] = 1.0
    depthwise: float | tuple[tuple[float, ...], ...] = 1.0
    dispatch_s: FrozenDict[str, float] | None = None
    module_dispatch_s: FrozenDict[str, float] | None = None
    stream_bytes_per_s: FrozenDict[str, float] | None = None
    # Operations per second of eager loops bound by their arithmetic, not their bytes:
    # ``pool`` is one window tap of a windowed pooling (avg/max) per output element.
    loop_ops_per_s: FrozenDict[str, float] | None = None

    @cached_property
    def tables(self) -> dict[str, Table]:
        """Per shape class: a fraction, or (log2 points scaled per coordinate, values)."""
        out: dict[str, Table] = {}
        for key in SHAPE_CLASSES:
            raw = getattr(self, key)
            if isinstance(raw, (int, float)):
                out[key] = float(raw)
                continue
            rows = np.asarray(raw, dtype=np.float64)
            scale = np.asarray(COORD_SCALE.get(key, ()) + (1.0,) * rows.shape[1])
            points = np.log2(np.maximum(rows[:, :-1], 1.0)) * scale[: rows.shape[1] - 1]
            out[key] = (points, rows[:, -1])
        return out


def _efficiency(value: Any) -> tuple[CpuEfficiency, ...]:
    entries = value if isinstance(value, list) else [value]
    return tuple(CpuEfficiency(**deep_freeze(e)) for e in entries)


@dataclass(frozen=True, kw_only=True)
class CpuArch(ArchSpec):
    """What the CPU model reads (docs/cpu.md)."""

    HW_CLASS = "cpu"
    CAPABILITIES = Capabilities(
        packed_vector_lanes=True, unpacks_narrow_weights=True, unstructured_format="csr"
    )

    cores: int = spec(POSITIVE_INT, "physical cores; the peaks are for all of them")
    threads: int | None = spec(
        POSITIVE_INT, "default thread count (at most cores; default: cores)", default=None
    )
    vector_bits: int = spec(
        {"type": "integer", "minimum": 32, "maximum": INT_MAX, "multipleOf": 32},
        "SIMD register width: how many output columns one vector op fills",
        default=128,
    )
    fold_batchnorm: bool = spec(
        BOOLEAN, "false: eager batch-norm runs as its own loop after its conv", default=True
    )
    efficiency: tuple[CpuEfficiency, ...] = spec(
        {"oneOf": [_ENTRY, {"type": "array", "items": _ENTRY, "minItems": 1}]},
        "achieved fraction of peak per shape class and measured rates; one entry, or one per "
        "measured thread count",
        default=(),
        convert=_efficiency,
    )
    kernels: FrozenDict[str, Any] = spec(
        _KERNELS,
        "measured speed of hwsim's numba kernels (written by hwsim calibrate)",
        default=FrozenDict(),
    )
    # Corrections a fit (hwsim fit, hwsim calibrate's end-to-end stage) sets; the defaults
    # leave the tables and figures above as they are.
    efficiency_scale: FrozenDict[str, float] = spec(
        {"type": "object", "additionalProperties": False, "properties": _SCALES},
        "factor on the achieved efficiency of a shape class (gemm, conv, depthwise): what the "
        "runtime's kernels reach relative to the figures above",
        default=FrozenDict(),
    )
    precision_efficiency: FrozenDict[str, float] = spec(
        {"type": "object", "additionalProperties": POSITIVE},
        "factor on the efficiency of MAC ops run at a precision, against that precision's "
        "peak (int8 kernels pay packing and requantization that fp32 ones do not)",
        default=FrozenDict(),
    )
    dispatch_scale: float = spec(
        POSITIVE,
        "factor on every per-op dispatch time (dispatch tables, per_op_s, module_call_s)",
        default=1.0,
    )
    module_call_s: float = spec(
        NON_NEGATIVE,
        "seconds of one nn.Module call whose forward is Python code (a container, a model's "
        "own module), counted per call from the module stack the frontend records",
        default=0.0,
    )
    bandwidth_scale: float = spec(
        POSITIVE,
        "factor on every sustained bandwidth and eager-loop rate",
        default=1.0,
    )

    def check(self, origin: str) -> None:
        if self.threads is not None and self.threads > self.cores:
            raise ProfileError(
                f"{origin}: field 'arch/threads': {self.threads} threads on {self.cores} cores"
            )
        if len(self.efficiency) > 1 and any(e.threads is None for e in self.efficiency):
            raise ProfileError(
                f"{origin}: field 'arch/efficiency': every entry of a list names its 'threads'"
            )

    @property
    def default_threads(self) -> int:
        return self.threads or self.cores

    def entry(self, threads: int) -> CpuEfficiency:
        """The efficiency entry for ``threads``: the only one, or the one measured at the most
        threads not above ``threads`` (else the fewest measured)."""
        if not self.efficiency:
            return _DEFAULT_ENTRY
        if len(self.efficiency) == 1:
            return self.efficiency[0]
        fitting = [e for e in self.efficiency if (e.threads or 1) <= threads]
        if fitting:
            return max(fitting, key=lambda e: e.threads or 1)
        return min(self.efficiency, key=lambda e: e.threads or 1)


_DEFAULT_ENTRY = CpuEfficiency()


@dataclass(frozen=True)
class CpuOptions:
    """Per-estimate options of the CPU model."""

    threads: int | None = None  # threads to run on (default: the profile's)


def log_interp(points: list[tuple[float, float]], x: float) -> float:
    """Piecewise-linear interpolation of ``points`` (x, y) in log x, clamped at the ends."""
    pts = sorted(points)
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x <= x1:
            f = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + f * (y1 - y0)
    return pts[-1][1]


# Eager loops calibration times (input shapes): 800 KB and 6.4 MB moved per call at fp32.
EAGER_LOOP_SHAPES = {"": (64, 56, 56), "_large": (128, 112, 112)}
