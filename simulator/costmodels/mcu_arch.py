"""The typed ``arch`` section of a microcontroller profile (docs/mcu.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ..archspec import NON_NEGATIVE, POSITIVE, ArchSpec, enum, spec
from .mcu_kernels import CORES
from .mcu_runtimes import RUNTIMES


@dataclass(frozen=True, kw_only=True)
class McuArch(ArchSpec):
    """What the microcontroller model reads. The memories are the profile's ``sram`` level
    (activations, the runtime's arena) and ``flash`` level (weights and code)."""

    HW_CLASS = "mcu"

    core: str = spec(enum(*CORES), "the CPU core, whose issue rules turn kernel loops into cycles")
    runtime: str = spec(
        enum(*RUNTIMES),
        "the inference runtime: its fitted speed, memory planner, arena overheads and code size",
    )
    arena_sram_bytes: float | None = spec(
        POSITIVE,
        "the largest contiguous SRAM region, where the runtime's tensor arena must fit "
        "(default: the sram level's capacity)",
        default=None,
    )
    kernel_efficiency: float | None = spec(
        POSITIVE,
        "replaces the runtime's fitted speed factor (modelled CMSIS-NN cycles / measured)",
        default=None,
    )
    reserved_sram_bytes: float = spec(
        NON_NEGATIVE, "SRAM the application keeps besides the runtime (stack, buffers)", default=0.0
    )
    reserved_flash_bytes: float = spec(
        NON_NEGATIVE, "flash the application keeps besides the model and runtime", default=0.0
    )
