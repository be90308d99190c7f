"""The typed ``arch`` section of a systolic-array profile (docs/systolic.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..archspec import NON_NEGATIVE, POSITIVE, POSITIVE_INT, ArchSpec, enum, spec

DATAFLOWS = ("ws", "os", "is")
OPERANDS = ("ifmap", "filter", "ofmap")


@dataclass(frozen=True)
class ScaleSimPorts:
    """SCALE-Sim's DRAM interface: its bandwidth mode and words per cycle of each port."""

    mode: str  # USER | CALC
    ifmap_bw: float
    filter_bw: float
    ofmap_bw: float


def _ports(value: Mapping[str, Any]) -> ScaleSimPorts:
    return ScaleSimPorts(
        mode=str(value["mode"]),
        ifmap_bw=float(value["ifmap_bw"]),
        filter_bw=float(value["filter_bw"]),
        ofmap_bw=float(value["ofmap_bw"]),
    )


_PORTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mode", "ifmap_bw", "filter_bw", "ofmap_bw"],
    "properties": {
        "mode": enum("USER", "CALC"),
        "ifmap_bw": POSITIVE,
        "filter_bw": POSITIVE,
        "ofmap_bw": POSITIVE,
    },
}


def _optional_energy(operand: str, action: str) -> Any:
    return spec(
        NON_NEGATIVE,
        f"pJ per byte of a {operand}-buffer {action} (default: the first memory level's)",
        default=None,
    )


@dataclass(frozen=True, kw_only=True)
class SystolicArch(ArchSpec):
    """What the systolic model reads. Buffer sizes default to a split of the first memory
    level: a quarter each for ifmap and ofmap, half for the filters."""

    HW_CLASS = "systolic"

    rows: int = spec(POSITIVE_INT, "PE rows of the array")
    cols: int = spec(POSITIVE_INT, "PE columns of the array")
    dataflow: str = spec(
        enum(*DATAFLOWS), "ws (weight), os (output) or is (input) stationary", default="ws"
    )
    word_bytes: float = spec(POSITIVE, "bytes of one operand element", default=1.0)
    ifmap_sram_bytes: float | None = spec(POSITIVE, "ifmap buffer, both halves", default=None)
    filter_sram_bytes: float | None = spec(
        POSITIVE, "filter buffer (the parameter cache), both halves", default=None
    )
    ofmap_sram_bytes: float | None = spec(POSITIVE, "ofmap buffer, both halves", default=None)
    scalesim: ScaleSimPorts | None = spec(
        _PORTS_SCHEMA,
        "SCALE-Sim's port model (set by .cfg files): mode USER|CALC, *_bw words/cycle",
        default=None,
        convert=_ports,
    )
    ifmap_sram_read_pj_per_byte: float | None = _optional_energy("ifmap", "read")
    ifmap_sram_write_pj_per_byte: float | None = _optional_energy("ifmap", "write")
    filter_sram_read_pj_per_byte: float | None = _optional_energy("filter", "read")
    filter_sram_write_pj_per_byte: float | None = _optional_energy("filter", "write")
    ofmap_sram_read_pj_per_byte: float | None = _optional_energy("ofmap", "read")
    ofmap_sram_write_pj_per_byte: float | None = _optional_energy("ofmap", "write")

    def sram_bytes(self, operand: str) -> float | None:
        value: float | None = getattr(self, f"{operand}_sram_bytes")
        return value

    def sram_energy(self, operand: str, write: bool) -> float | None:
        value: float | None = getattr(
            self, f"{operand}_sram_{'write' if write else 'read'}_pj_per_byte"
        )
        return value
