"""Die area and average power of a hardware profile, per component (docs/codesign.md).

A co-design sweep trades latency and energy against silicon, so each design point needs an
area as well as a price. The model is bottom-up, in the manner of Accelergy's primitive
tables and CACTI: count the primitives the profile implies, multiply by an area per primitive
at a reference node, and scale to the profile's node.

- **MAC datapath**: ``peak_macs_per_cycle[p] x MAC area at p``, the largest over precisions
  (one datapath serves every precision it supports). MAC areas at 45 nm are the multiplier
  plus a 32-bit accumulate adder of Horowitz's ISSCC 2014 table (the area column as
  reproduced in Dally's NIPS 2015 tutorial and Sze et al., Proc. IEEE 2017).
- **registers**: pipeline/operand registers per MAC (a systolic PE holds its input, its
  weight and a shadow weight, and a 32-bit partial sum), at a flip-flop's area per byte.
- **vector**: ``vector_ops_per_cycle`` lanes of a 32-bit multiply and add.
- **SRAM**: on-chip bytes (a systolic array's operand buffers, a GPU's register files, shared
  memory and L2) at the node's 6T bitcell area (IEDM papers) over an array efficiency.
- **uncore**: control, interconnect, clocking and I/O as a fraction of the above, plus any
  fixed area the profile names (PHYs, pads).

Logic (MAC datapath, registers, vector lanes) is multiplied by ``logic_overhead``: synthesised
primitives are smaller than a placed and routed array (placement density, clock tree, wiring,
the array's data setup). That factor and ``uncore_fraction`` are the two numbers not taken
from a primitive table; they are *fitted*, each class on one published chip, and validated
on others (docs/validation.md, "Area").

Power is the workload's average: static power plus the dynamic energy of one inference
times the inferences per second.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .costmodels.gpu_arch import GpuArch
from .costmodels.systolic_arch import OPERANDS, SystolicArch
from .errors import ProfileError
from .hardware import AreaSpec, Profile

UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class Node:
    """A process node: logic area relative to 45 nm, and the 6T SRAM bitcell area."""

    nm: float
    logic_vs_45nm: float
    bitcell_um2: float


# Logic: (node / 45)^2 for planar nodes (the classic rule); FinFET nodes by TSMC's announced
# logic-density gains: 20SoC 1.9x 28 nm, 16FF ~1.1x 20SoC (same back end of line), N10 2x
# 16FF+, N7 1.6x N10, N5 1.8x N7, N4 1.06x N5, N3 1.6x N5.
# Bitcells (high-density 6T, from the IEDM papers introducing each node): 65 nm 0.52 um^2,
# Intel 45 nm 0.346, TSMC 40 nm 0.242, 28 nm 0.127, 20SoC 0.081, 16FF+ 0.074, N10 0.042,
# N7 0.027, N5 0.021 (N4 the same cell), N3 0.0199.
NODES: tuple[Node, ...] = (
    Node(65, (65 / 45) ** 2, 0.52),
    Node(45, 1.0, 0.346),
    Node(40, (40 / 45) ** 2, 0.242),
    Node(28, (28 / 45) ** 2, 0.127),
    Node(20, (28 / 45) ** 2 / 1.9, 0.081),
    Node(16, (28 / 45) ** 2 / 1.9 / 1.1, 0.074),
    Node(10, (28 / 45) ** 2 / 1.9 / 1.1 / 2.0, 0.042),
    Node(7, (28 / 45) ** 2 / 1.9 / 1.1 / 2.0 / 1.6, 0.027),
    Node(5, (28 / 45) ** 2 / 1.9 / 1.1 / 2.0 / 1.6 / 1.8, 0.021),
    Node(4, (28 / 45) ** 2 / 1.9 / 1.1 / 2.0 / 1.6 / 1.8 / 1.06, 0.021),
    Node(3, (28 / 45) ** 2 / 1.9 / 1.1 / 2.0 / 1.6 / 1.8 / 1.6, 0.0199),
)

# MAC (multiplier + accumulate adder) area at 45 nm, um^2. Horowitz ISSCC 2014: 8b mult 282,
# 32b add 137, 16b FP add 1360, 32b FP add 4184, 16b FP mult 1640, 32b FP mult 7700.
MAC_UM2_45NM: Mapping[str, float] = {
    "int8": 282 + 137,  # 8b mult + 32b add
    "int4": 282 / 4 + 67,  # assumed: multiplier area ~ bits^2 (282 / 4), 16b add 67
    "binary": 36,  # assumed: XNOR + popcount slice ~ an 8b add (36)
    "fp16": 1640 + 4184,  # 16b FP mult + 32b FP add (fp32 accumulation, as tensor cores do)
    "bf16": 1640 + 4184,  # assumed as fp16 (8-bit mantissa multiplier, fp32 accumulate)
    "tf32": 1640 + 4184,  # assumed as fp16 (10-bit mantissa multiplier, fp32 accumulate)
    "fp8": 282 + 1360,  # assumed: an 8b-mult-sized multiplier + 16b FP add
    "fp32": 7700 + 4184,  # 32b FP mult + 32b FP add
    "fp64": 7700 * (53 / 24) ** 2 + 2 * 4184,  # assumed: multiplier ~ mantissa^2, adder 2x
}
# Nangate 45 nm Open Cell Library: DFF_X1 4.522 um^2 per bit.
REGISTER_UM2_PER_BYTE_45NM = 8 * 4.522
# A 32-bit integer multiply + add lane (Horowitz: 3495 + 137).
VECTOR_LANE_UM2_45NM = 3495 + 137
# CACTI-style macros spend ~40% of their area on decoders, sense amplifiers and drivers
# (assumed: 0.6 array efficiency for the 0.1-10 MB arrays accelerators use).
SRAM_ARRAY_EFFICIENCY = 0.6


@dataclass(frozen=True)
class ClassArea:
    """What differs by hardware class: which bytes are on-chip SRAM, registers per MAC, and
    the two fitted factors (see the module doc and docs/validation.md)."""

    sram_bytes: Callable[[Profile], float]
    register_bytes_per_mac: Callable[[Profile], float]
    logic_overhead: float
    uncore_fraction: float


def _systolic_sram(profile: Profile) -> float:
    """The operand buffers or the on-chip memory levels, whichever is larger: both describe
    the same SRAM (the cost model reads the buffers for tiling and weight caching, the level
    for what fits on chip), so a sweep that grows either one pays for it in area."""
    arch = profile.arch
    assert isinstance(arch, SystolicArch)
    buffers = sum(b for b in (arch.sram_bytes(o) for o in OPERANDS) if b is not None)
    return max(float(buffers), _on_chip_levels(profile))


def _systolic_registers(profile: Profile) -> float:
    arch = profile.arch
    assert isinstance(arch, SystolicArch)
    return 3 * arch.word_bytes + 4  # input, weight, shadow weight; 32-bit partial sum


def _gpu_sram(profile: Profile) -> float:
    arch = profile.arch
    assert isinstance(arch, GpuArch)
    per_sm = arch.register_file_per_sm_bytes + arch.smem_per_sm_bytes
    return arch.sms * per_sm + _on_chip_levels(profile)


def _on_chip_levels(profile: Profile) -> float:
    """Bytes of every memory level but the backing store."""
    return float(sum(lvl.capacity_bytes for lvl in profile.memory[:-1]))


# Fitted (docs/validation.md): systolic on the TPU v1 floor plan (Jouppi et al., ISCA 2017,
# Fig. 2: matrix unit 24%, of a die under 331 mm^2; data buffers, control and I/O the rest),
# gpu on the A100 die (826 mm^2), by benchmarks/area_validation.py. Eyeriss and H100 are
# held out.
CLASS_AREA: dict[str, ClassArea] = {
    "systolic": ClassArea(_systolic_sram, _systolic_registers, 4.66, 1.52),
    "gpu": ClassArea(_gpu_sram, lambda _: 0.0, 4.66, 2.89),
}


@dataclass(frozen=True)
class Area:
    """Die area per component, mm^2."""

    components: Mapping[str, float]

    @property
    def total_mm2(self) -> float:
        return float(sum(self.components.values()))


def node(nm: float) -> Node:
    """The node ``nm``, interpolated log-log between table rows (a ``ProfileError`` outside
    the table's 3-65 nm)."""
    rows = sorted(NODES, key=lambda n: n.nm)
    if not rows[0].nm <= nm <= rows[-1].nm:
        raise ProfileError(
            f"area.tech_nm {nm:g}: the area model covers {rows[0].nm:g}-{rows[-1].nm:g} nm"
        )
    for lo, hi in itertools.pairwise(rows):
        if lo.nm <= nm <= hi.nm:
            t = 0.0 if hi.nm == lo.nm else math.log(nm / lo.nm) / math.log(hi.nm / lo.nm)

            def lerp(a: float, b: float, t: float = t) -> float:
                return math.exp(math.log(a) + t * (math.log(b) - math.log(a)))

            return Node(
                nm, lerp(lo.logic_vs_45nm, hi.logic_vs_45nm), lerp(lo.bitcell_um2, hi.bitcell_um2)
            )
    raise AssertionError("unreachable")


def has_area_model(profile: Profile) -> bool:
    return profile.area is not None and profile.hw_class in CLASS_AREA


def area_of(profile: Profile) -> Area:
    """The die area of ``profile`` per component (``ProfileError`` when it has no ``area``
    section or its class has no area model)."""
    spec = profile.area
    if spec is None:
        raise ProfileError(f"{profile.name}: no 'area' section (docs/codesign.md)")
    if profile.hw_class not in CLASS_AREA:
        raise ProfileError(
            f"{profile.name}: no area model for {profile.hw_class} profiles "
            f"(modelled: {', '.join(sorted(CLASS_AREA))})"
        )
    cls = CLASS_AREA[profile.hw_class]
    at = node(spec.tech_nm)
    logic = spec.logic_overhead if spec.logic_overhead is not None else cls.logic_overhead
    macs = max(
        peak * _mac_um2(spec, precision, at)
        for precision, peak in profile.peak_macs_per_cycle.items()
    )
    peak_macs = max(profile.peak_macs_per_cycle.values())
    reg_bytes = (
        spec.register_bytes_per_mac
        if spec.register_bytes_per_mac is not None
        else cls.register_bytes_per_mac(profile)
    )
    reg_um2 = _given(spec.register_um2_per_byte, REGISTER_UM2_PER_BYTE_45NM * at.logic_vs_45nm)
    lane_um2 = _given(spec.vector_lane_um2, VECTOR_LANE_UM2_45NM * at.logic_vs_45nm)
    sram_um2 = _given(spec.sram_um2_per_byte, 8 * at.bitcell_um2 / SRAM_ARRAY_EFFICIENCY)
    core = {
        "mac_array": macs * logic,
        "registers": peak_macs * reg_bytes * reg_um2 * logic,
        "vector": profile.vector_ops_per_cycle * lane_um2 * logic,
        "sram": cls.sram_bytes(profile) * sram_um2,
    }
    core_mm2 = {k: v / UM2_PER_MM2 for k, v in core.items()}
    uncore = spec.uncore_fraction if spec.uncore_fraction is not None else cls.uncore_fraction
    core_mm2["uncore"] = uncore * sum(core_mm2.values()) + spec.fixed_mm2
    return Area(core_mm2)


def _mac_um2(spec: AreaSpec, precision: str, at: Node) -> float:
    if precision in spec.mac_um2:
        return spec.mac_um2[precision]
    return MAC_UM2_45NM[precision] * at.logic_vs_45nm


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def average_power_w(
    profile: Profile, energy_j: float, static_j: float, inferences_per_s: float
) -> float:
    """Static power plus the dynamic energy of one inference at the workload's rate."""
    return profile.energy.static_power_w + (energy_j - static_j) * inferences_per_s
