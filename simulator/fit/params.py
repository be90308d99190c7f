"""The free parameters ``hwsim fit`` may move, per hardware class: a table, not code.

Each row names a physical quantity of the class's cost model, the profile key(s) it sets
(``Profile.with_params`` keys; ``{backing}`` is the profile's outermost memory level), its
bounds, how it is searched, and why it is a property of the device and its runtime rather
than a free knob. A fit moves a few of them; everything else stays as the base profile has
it. The defaults of the CPU corrections (``efficiency_scale``, ``precision_efficiency``,
``dispatch_scale``, ``module_call_s``, ``bandwidth_scale``) leave a profile's numbers as they
are, so a fit starts from the base profile's own prediction.

``DEFAULT_ORDER`` is the order in which parameters are tried when the user names none: the
ones that move latency most on typical models first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..hardware import Profile


@dataclass(frozen=True)
class FitParam:
    """One free parameter of a class's cost model."""

    name: str
    keys: tuple[str, ...]  # with_params keys set to the value ({backing}: outermost level)
    default: float  # its value when the profile does not give one
    lower: float
    upper: float
    log: bool  # searched in log space (a factor or a rate) rather than linearly (a time)
    typical: float  # the size of a meaningful change: the linear search scale, the probe step
    why: str

    def keys_for(self, profile: Profile) -> tuple[str, ...]:
        backing = profile.memory[-1].name
        return tuple(k.format(backing=backing) for k in self.keys)

    def value_in(self, profile: Profile) -> float:
        """The value ``profile`` has now (its first key), else the default."""
        found = _lookup(profile.to_data(), self.keys_for(profile)[0])
        return self.default if found is None else float(found)

    def assignments(self, profile: Profile, value: float) -> dict[str, float]:
        return dict.fromkeys(self.keys_for(profile), float(value))


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    """The value at a dotted ``with_params`` key in profile data (memory levels by name)."""
    parts = key.split(".")
    node: Any = data
    if parts[0] == "memory":
        levels = {lvl.get("name"): lvl for lvl in data.get("memory", [])}
        node, parts = levels.get(parts[1], {}), parts[2:]
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _scale(name: str, key: str, why: str) -> FitParam:
    return FitParam(name, (key,), 1.0, 0.05, 20.0, True, 0.25, why)


CPU_PARAMS: tuple[FitParam, ...] = (
    _scale(
        "conv_efficiency",
        "arch.efficiency_scale.conv",
        "dense convolutions reach another fraction of the SIMD peak in this runtime than the "
        "profile's figures say (kernel library, cache blocking, the clock the cores hold)",
    ),
    _scale(
        "depthwise_efficiency",
        "arch.efficiency_scale.depthwise",
        "depthwise convolutions are memory- and shuffle-bound loops whose speed depends on the "
        "runtime's kernels more than on the FMA peak",
    ),
    _scale(
        "gemm_efficiency",
        "arch.efficiency_scale.gemm",
        "matrix multiplies (linear layers, attention projections) reach another fraction of "
        "the peak than the profile's figures say",
    ),
    FitParam(
        "int8_efficiency",
        ("arch.precision_efficiency.int8",),
        1.0,
        0.02,
        2.0,
        True,
        0.25,
        "int8 kernels keep a smaller share of their (dot-product) peak than fp32 kernels of "
        "theirs: packing, zero points and requantization run on the vector units",
    ),
    _scale(
        "dispatch_scale",
        "arch.dispatch_scale",
        "the fixed time the runtime spends per op (interpreter, dispatcher, allocator) differs "
        "from the micro-benchmark's or the preset's figure",
    ),
    FitParam(
        "module_call_s",
        ("arch.module_call_s",),
        0.0,
        0.0,
        100e-6,
        False,
        2e-6,
        "every nn.Module call runs Python (hooks check, forward) even where it adds no op: "
        "containers and a model's own modules",
    ),
    _scale(
        "bandwidth_scale",
        "arch.bandwidth_scale",
        "memory-bound loops move bytes at another rate than the triad figures (access "
        "pattern, page state, the runtime's loop code)",
    ),
)

GPU_PARAMS: tuple[FitParam, ...] = (
    FitParam(
        "kernel_gap_s",
        ("arch.kernel_gap_s",),
        2.0e-6,
        0.0,
        100e-6,
        False,
        2e-6,
        "device-side time between dependent kernels: launch latency, ramp-up and tail drain",
    ),
    FitParam(
        "inference_overhead_s",
        ("arch.inference_overhead_s",),
        0.0,
        0.0,
        2e-3,
        False,
        20e-6,
        "once per inference outside the kernels: the runtime launches the graph, copies the "
        "input and output, synchronizes",
    ),
    FitParam(
        "mainloop_efficiency",
        ("arch.mainloop_efficiency",),
        0.85,
        0.2,
        1.0,
        True,
        0.1,
        "the share of tensor-core peak a saturated GEMM main loop keeps",
    ),
    FitParam(
        "cta_fixed_cycles",
        ("arch.cta_fixed_cycles",),
        800.0,
        0.0,
        50000.0,
        False,
        800.0,
        "pipeline fill and epilogue of a CTA, paid once per wave: what a kernel with few "
        "tiles (batch 1) pays on top of its math",
    ),
    FitParam(
        "memory_efficiency",
        ("memory.{backing}.efficiency",),
        1.0,
        0.2,
        1.0,
        True,
        0.1,
        "the share of DRAM peak bandwidth that memory-bound kernels sustain",
    ),
    FitParam(
        "global_load_latency_cycles",
        ("arch.global_load_latency_cycles",),
        500.0,
        50.0,
        5000.0,
        True,
        0.25,
        "round trip of a global load; a lone CTA's main loop waits on it",
    ),
    FitParam(
        "launch_s",
        ("overhead.per_op_s",),
        0.0,
        0.0,
        100e-6,
        False,
        2e-6,
        "host time to launch one kernel in eager mode (no CUDA graph)",
    ),
)

SYSTOLIC_PARAMS: tuple[FitParam, ...] = (
    FitParam(
        "memory_efficiency",
        ("memory.{backing}.efficiency",),
        1.0,
        0.05,
        1.0,
        True,
        0.1,
        "the share of the off-chip link's peak that streamed weights and activations reach",
    ),
    FitParam(
        "per_op_s",
        ("overhead.per_op_s",),
        0.0,
        0.0,
        1e-3,
        False,
        5e-6,
        "fixed time per layer: host invocation, descriptor setup, array drain",
    ),
)

PARAMS: dict[str, tuple[FitParam, ...]] = {
    "cpu": CPU_PARAMS,
    "gpu": GPU_PARAMS,
    "systolic": SYSTOLIC_PARAMS,
}

# Tried in this order when no --params are given.
DEFAULT_ORDER: dict[str, tuple[str, ...]] = {
    "cpu": (
        "conv_efficiency",
        "dispatch_scale",
        "module_call_s",
        "depthwise_efficiency",
        "int8_efficiency",
        "gemm_efficiency",
        "bandwidth_scale",
    ),
    "gpu": (
        "kernel_gap_s",
        "inference_overhead_s",
        "mainloop_efficiency",
        "cta_fixed_cycles",
        "memory_efficiency",
    ),
    "systolic": ("memory_efficiency", "per_op_s"),
}


def params_of(hw_class: str) -> dict[str, FitParam]:
    """The fit parameters of class ``hw_class``, by name (empty if it declares none)."""
    return {p.name: p for p in PARAMS.get(hw_class, ())}
