"""The typed ``arch`` section of a systolic-array profile (docs/systolic.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..archspec import (
    BOOLEAN,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    STRING,
    ArchSpec,
    enum,
    spec,
)
from ..errors import ProfileError

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


@dataclass(frozen=True)
class HostLink:
    """What one inference costs on the link to the host, beyond the bytes it carries: the
    link's bandwidth is the backing memory level's (parameters stream over it too)."""

    invoke_s: float  # fixed cost of one call: runtime, driver and link round trips
    instruction_bytes_per_op: float  # the op's share of the instruction stream sent per call


def _host_link(value: Mapping[str, Any]) -> HostLink:
    return HostLink(
        invoke_s=float(value["invoke_s"]),
        instruction_bytes_per_op=float(value["instruction_bytes_per_op"]),
    )


_HOST_LINK_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["invoke_s", "instruction_bytes_per_op"],
    "properties": {"invoke_s": NON_NEGATIVE, "instruction_bytes_per_op": NON_NEGATIVE},
}

OP_SUPPORT_TABLES = ("edgetpu",)


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
    depthwise_macs_per_cycle: float | None = spec(
        POSITIVE,
        "depthwise convs run channel-parallel on a path of this many MACs per cycle, one "
        "channel per array column (default: one small GEMM per channel, as SCALE-Sim)",
        default=None,
    )
    shared_sram: bool = spec(
        BOOLEAN,
        "parameters and activations share the first memory level: activations are placed "
        "first and parameters are cached in what is left (the Edge TPU compiler); false: the "
        "filter buffer is the parameter cache",
        default=False,
    )
    sram_reserved_bytes: float = spec(
        NON_NEGATIVE,
        "bytes of the shared level that hold neither parameters nor activations (executable)",
        default=0.0,
    )
    host_link: HostLink | None = spec(
        _HOST_LINK_SCHEMA,
        "the array sits on a link to a host (USB, PCIe): per call it pays invoke_s and "
        "receives instruction_bytes_per_op per op and the model's input, and sends its outputs "
        "back, all over the backing level's bandwidth",
        default=None,
        convert=_host_link,
    )
    op_support: str | None = spec(
        enum(*OP_SUPPORT_TABLES),
        "the op-support table of the array's compiler: the ops from the first one it cannot "
        "map run on cpu_fallback (default: the array runs every op)",
        default=None,
    )
    cpu_fallback: str | None = spec(
        STRING,
        "profile (preset name or file) of the host CPU that runs the ops past the partition",
        default=None,
    )
    ifmap_sram_read_pj_per_byte: float | None = _optional_energy("ifmap", "read")
    ifmap_sram_write_pj_per_byte: float | None = _optional_energy("ifmap", "write")
    filter_sram_read_pj_per_byte: float | None = _optional_energy("filter", "read")
    filter_sram_write_pj_per_byte: float | None = _optional_energy("filter", "write")
    ofmap_sram_read_pj_per_byte: float | None = _optional_energy("ofmap", "read")
    ofmap_sram_write_pj_per_byte: float | None = _optional_energy("ofmap", "write")

    def check(self, origin: str) -> None:
        if self.op_support is not None and self.cpu_fallback is None:
            raise ProfileError(
                f"{origin}: field 'arch/op_support': needs arch/cpu_fallback, the host CPU "
                "profile that runs the ops the array cannot"
            )
        if self.cpu_fallback is not None and self.op_support is None:
            raise ProfileError(
                f"{origin}: field 'arch/cpu_fallback': needs arch/op_support, the table that "
                "says which ops fall back"
            )

    def host_profile(self) -> str | None:
        return self.cpu_fallback

    def sram_bytes(self, operand: str) -> float | None:
        value: float | None = getattr(self, f"{operand}_sram_bytes")
        return value

    def sram_energy(self, operand: str, write: bool) -> float | None:
        value: float | None = getattr(
            self, f"{operand}_sram_{'write' if write else 'read'}_pj_per_byte"
        )
        return value
