"""The collectives tensor parallelism adds to each step, over an NVLink-class interconnect.

Megatron-style tensor parallelism shards each layer so that a device holds whole attention
heads and whole MLP columns; two all-reduces per layer (after the attention output projection
and after the MLP down projection) sum the partial results, one more follows the
vocabulary-parallel embedding, and the sampled logits are gathered. These run between the
kernels, on the critical path of every step.

A collective of ``S`` bytes over ``T`` devices takes ``latency + 2 (T-1)/T x S / bandwidth``
(ring all-reduce) or ``latency + (T-1)/T x S / bandwidth`` (all-gather). ``bandwidth`` is what
one device sustains in each direction; ``latency`` is the fixed cost of one small collective.

The interconnect is an explicit value until GPU profiles carry these fields. Presets:

- ``nvlink4`` (H100 SXM): 450 GB/s per direction is the line rate (H100 datasheet: 900 GB/s
  NVLink per GPU, both directions together); NCCL's maintainer puts the effective rate after
  protocol overhead (~20%) at 370 GB/s (NVIDIA/nccl-tests issue 212). Small all-reduces on two
  H100s take about 6 us with CUDA graphs (NVIDIA/nccl issue 1259).
- ``nvlink3`` (A100 SXM): 300 GB/s per direction line rate (A100 datasheet: 600 GB/s), at the
  same 82% protocol efficiency (assumed) = 246 GB/s; latency assumed as nvlink4's.

Energy on the link itself is not modelled; devices pay their static power while they wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import LlmError


@dataclass(frozen=True)
class Interconnect:
    name: str
    bandwidth_bytes_per_s: float  # sustained, per device, per direction
    latency_s: float  # fixed cost of one collective

    def all_reduce_s(self, nbytes: float, devices: int) -> float:
        if devices <= 1:
            return 0.0
        return self.latency_s + 2 * (devices - 1) / devices * nbytes / self.bandwidth_bytes_per_s

    def all_gather_s(self, nbytes: float, devices: int) -> float:
        if devices <= 1:
            return 0.0
        return self.latency_s + (devices - 1) / devices * nbytes / self.bandwidth_bytes_per_s


INTERCONNECTS: dict[str, Interconnect] = {
    "nvlink4": Interconnect("nvlink4", bandwidth_bytes_per_s=370e9, latency_s=6e-6),
    "nvlink3": Interconnect("nvlink3", bandwidth_bytes_per_s=246e9, latency_s=6e-6),
}
DEFAULT_INTERCONNECT = "nvlink4"


def interconnect_of(name: str) -> Interconnect:
    try:
        return INTERCONNECTS[name]
    except KeyError:
        raise LlmError(
            f"interconnect '{name}': expected one of {', '.join(INTERCONNECTS)}"
        ) from None


@dataclass(frozen=True)
class StepComm:
    """The collectives of one forward step on each device."""

    seconds: float
    bytes_sent: float  # payload of all collectives (what each device contributes)
    collectives: int


def step_comm(
    link: Interconnect,
    devices: int,
    *,
    layers: int,
    tokens: int,
    hidden: int,
    act_bytes: float,
    logits_bytes: float,
) -> StepComm:
    """Two all-reduces per layer and one after the embedding, each of the step's hidden states,
    and one all-gather of the logits (module docstring)."""
    if devices <= 1:
        return StepComm(0.0, 0.0, 0)
    hidden_bytes = tokens * hidden * act_bytes
    reduces = 2 * layers + 1
    seconds = reduces * link.all_reduce_s(hidden_bytes, devices) + link.all_gather_s(
        logits_bytes, devices
    )
    return StepComm(seconds, reduces * hidden_bytes + logits_bytes, reduces + 1)
