"""The typed ``arch`` sections of FPGA profiles, and the options an FPGA estimate takes.

``arch.style`` picks the section: ``streaming`` (FINN-style dataflow: a device budget and how
the logic is used) or ``overlay`` (a Vitis AI DPU-style engine: its parallelism).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..archspec import (
    INT_MAX,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    STRING,
    ArchSpec,
    Capabilities,
    enum,
    spec,
)
from ..errors import ProfileError
from ..frozen import FrozenDict

STYLES = ("streaming", "overlay")
RESOURCES = ("LUT", "FF", "DSP", "BRAM", "URAM")

F = TypeVar("F", bound="FpgaArch")


@dataclass(frozen=True, kw_only=True)
class FpgaArch(ArchSpec):
    """Common to both styles; ``from_data`` reads the section of the style it names."""

    HW_CLASS = "fpga"
    CAPABILITIES = Capabilities(unpacks_narrow_weights=True)

    style: str = spec(
        enum(*STYLES), "streaming (FINN-style dataflow) or overlay (DPU)", default="streaming"
    )
    part: str | None = spec(STRING, "the device's part number, named in fit notes", default=None)

    @classmethod
    def from_data(cls: type[F], data: Any, origin: str) -> F:
        if cls is not FpgaArch:
            return super().from_data(data, origin)
        style = data.get("style", "streaming") if isinstance(data, Mapping) else "streaming"
        if style not in STYLES:
            raise ProfileError(
                f"{origin}: field 'arch/style': '{style}' is not one of {', '.join(STYLES)}"
            )
        sub: type[FpgaArch] = FpgaStreamingArch if style == "streaming" else FpgaOverlayArch
        return sub.from_data(data, origin)  # type: ignore[return-value]


_SHELL = {
    "type": "object",
    "additionalProperties": False,
    "properties": dict.fromkeys(RESOURCES, NON_NEGATIVE),
}


@dataclass(frozen=True, kw_only=True)
class FpgaStreamingArch(FpgaArch):
    """FINN-style streaming dataflow (docs/fpga.md): the device budget and logic mapping."""

    luts: int = spec(NON_NEGATIVE_INT, "LUTs of the device", default=0)
    ffs: int = spec(NON_NEGATIVE_INT, "flip-flops", default=0)
    dsps: int = spec(NON_NEGATIVE_INT, "DSP slices", default=0)
    bram36: int = spec(NON_NEGATIVE_INT, "36 Kb block RAMs", default=0)
    uram: int = spec(NON_NEGATIVE_INT, "288 Kb UltraRAMs", default=0)
    dsp_packing_int8: int = spec(POSITIVE_INT, "int8 MACs per DSP slice per cycle", default=1)
    dsp_packing_int4: int = spec(POSITIVE_INT, "int4 MACs per DSP slice per cycle", default=1)
    lut_arithmetic_max_bits: int = spec(
        NON_NEGATIVE_INT, "products up to this width are built from LUTs, wider on DSPs", default=3
    )
    ff_per_lut: float = spec(NON_NEGATIVE, "flip-flops per LUT of datapath", default=1.0)
    dma_bytes_per_cycle: float | None = spec(
        POSITIVE, "I/O DMA port width (default: the backing store's bandwidth)", default=None
    )
    dma_latency_cycles: float = spec(NON_NEGATIVE, "per-frame DMA burst latency", default=0.0)
    input_bits: int = spec(POSITIVE_INT, "bits per input/output element over the DMA", default=8)
    shell: FrozenDict[str, float] = spec(
        _SHELL, "resources the shell (DMAs, interconnect) uses", default=FrozenDict()
    )
    target_fps: float | None = spec(
        POSITIVE, "fold for this frame rate unless the estimate asks another", default=None
    )

    def budget(self) -> dict[str, float]:
        """Resources the device offers, by FINN's resource names."""
        return {
            "LUT": float(self.luts),
            "FF": float(self.ffs),
            "DSP": float(self.dsps),
            "BRAM": float(self.bram36),
            "URAM": float(self.uram),
        }


@dataclass(frozen=True, kw_only=True)
class FpgaOverlayArch(FpgaArch):
    """A DPU-style overlay engine (docs/fpga.md): PP x ICP x OCP MACs per cycle."""

    pixel_parallel: int = spec(POSITIVE_INT, "output pixels computed in parallel (PP)")
    input_channel_parallel: int = spec(POSITIVE_INT, "input channels in parallel (ICP)")
    output_channel_parallel: int = spec(POSITIVE_INT, "output channels in parallel (OCP)")
    cores: int = spec(POSITIVE_INT, "engine instances (throughput note only)", default=1)
    host_s_per_input_pixel: float = spec(
        NON_NEGATIVE, "host pre/post-processing seconds per input pixel", default=0.0
    )


@dataclass(frozen=True)
class FpgaOptions:
    """Per-estimate options of the FPGA models (streaming style only)."""

    folding: FrozenDict[str, Any] | None = None  # FINN folding JSON, or keyed by op name
    target_fps: float | None = None  # fold for this frame rate


# A folding file lists one entry per layer: a few kilobytes even for ResNet-50 (54 MVAUs).
MAX_FOLDING_BYTES = 4 * 1024 * 1024
FOLD_KEYS = ("PE", "SIMD")


def load_folding(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A folding config from a JSON file or mapping (FINN's format or keyed by op name),
    checked: every ``PE``/``SIMD`` a positive integer (which layer each names is checked
    against the model when it is priced)."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
        where = "folding"
    else:
        path = Path(source)
        where = str(path)
        try:
            if path.stat().st_size > MAX_FOLDING_BYTES:
                raise ProfileError(
                    f"{path}: folding file larger than {MAX_FOLDING_BYTES // 2**20} MiB"
                )
            data = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant)
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read folding file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ProfileError(f"{path}: folding file is not text (binary data)") from None
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{path}: folding file is not valid JSON ({exc})") from None
        except RecursionError:
            raise ProfileError(f"{path}: folding file is nested too deeply") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a folding file is a JSON object of layer name -> settings")
    for layer, entry in data.items():
        if not isinstance(entry, Mapping):
            continue  # FINN files carry other settings ("Defaults", FIFO depths)
        for key in FOLD_KEYS:
            value = entry.get(key)
            if key in entry and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INT_MAX
            ):
                raise ProfileError(
                    f"{where}: '{layer}' {key}: expected a positive integer, got {value!r:.40}"
                )
    return data


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)
