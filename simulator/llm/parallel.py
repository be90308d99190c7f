"""The collectives tensor parallelism adds to each step, over an NVLink-class interconnect.

Megatron-style tensor parallelism shards each layer so that a device holds whole attention
heads and whole MLP columns; two all-reduces per layer (after the attention output projection
and after the MLP down projection) sum the partial results, one more follows the
vocabulary-parallel embedding, and the sampled logits are gathered. These run between the
kernels, on the critical path of every step.

A collective of ``S`` bytes over ``T`` devices takes ``latency + 2 (T-1)/T x S / bandwidth``
(ring all-reduce) or ``latency + (T-1)/T x S / bandwidth`` (all-gather). ``bandwidth`` is the
bus bandwidth NCCL reports for a large ring collective (what each device sustains per
direction after protocol overhead); ``latency`` is the fixed cost of one small collective.

Both come from the device's profile (``arch.interconnect_bandwidth_bytes_per_s`` and
``arch.interconnect_latency_s`` on GPUs, sourced in each preset). A device without a link
(Jetson Orin, CPUs, accelerators whose profiles state none) cannot be split: asking for
``--tp`` above 1 there is an error, never a guessed link. Energy on the link itself is not
modelled; devices pay their static power while they wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..costmodels.gpu_arch import GpuArch
from ..profile import Profile
from .config import LlmError


@dataclass(frozen=True)
class Interconnect:
    """The link between the devices of a tensor-parallel group."""

    bandwidth_bytes_per_s: float  # NCCL bus bandwidth: sustained, per device, per direction
    latency_s: float  # fixed cost of one collective

    @staticmethod
    def of(profile: Profile) -> Interconnect | None:
        """The profile's device-to-device link, or None when it states none."""
        arch = profile.arch
        if not isinstance(arch, GpuArch):
            return None
        bandwidth, latency = arch.interconnect_bandwidth_bytes_per_s, arch.interconnect_latency_s
        if bandwidth is None or latency is None:
            return None
        return Interconnect(bandwidth_bytes_per_s=bandwidth, latency_s=latency)

    def all_reduce_s(self, nbytes: float, devices: int) -> float:
        if devices <= 1:
            return 0.0
        return self.latency_s + 2 * (devices - 1) / devices * nbytes / self.bandwidth_bytes_per_s

    def all_gather_s(self, nbytes: float, devices: int) -> float:
        if devices <= 1:
            return 0.0
        return self.latency_s + (devices - 1) / devices * nbytes / self.bandwidth_bytes_per_s


def link_for(profile: Profile, devices: int) -> Interconnect | None:
    """The link a ``devices``-way split uses: None for one device, an error where there is none."""
    if devices <= 1:
        return None
    link = Interconnect.of(profile)
    if link is None:
        raise LlmError(
            f"{profile.name}: --tp {devices} needs a device-to-device link, and the profile states "
            "none (arch.interconnect_bandwidth_bytes_per_s and arch.interconnect_latency_s)"
        )
    return link


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
