"""Serving estimates: time to first token, time per output token, throughput, memory.

A request is a batch of ``batch`` prompts of ``prompt`` tokens, each generating ``gen`` tokens
(static batching, as TensorRT-LLM's ``gptSessionBenchmark`` runs it):

- **Prefill** prices the step graph of all prompt tokens; it produces the first token, so
  ``ttft_s`` is its time.
- **Decode** step ``i`` (``i = 1 .. gen - 1``) produces token ``i + 1``: its new token sits at
  position ``prompt + i`` and attends to ``prompt + i`` keys. Only the attention kernels depend
  on that length, and the cost models price ops one by one, so the decode time is exactly
  ``(gen - 1) x (the rest of a step) + layers x sum over i of attention(prompt + i)``. The
  attention of every step is priced in one graph (``attention_sweep_graph``): the sum is taken
  over every length, not interpolated, because the GPU model's attention time is
  ``max(math, memory)`` of key blocks and bytes, which is not linear in the length.
  ``tpot_s`` is the decode time over ``gen - 1`` steps (the first token excluded, as vLLM's
  and TensorRT-LLM's benchmarks define it).
- ``e2e_s = ttft_s + decode``; ``tokens_per_s = batch x gen / e2e_s``.

With tensor parallelism each step adds its collectives (``parallel.py``) to every device's
time. Phases report their bound (the bound holding most of their time, ``interconnect`` for
collectives), bytes per memory level and energy (all devices).

Everything is priced through ``hwsim.estimate(graph, profile)``: the class cost models (GPU
tiles, CPU, systolic) see an ordinary ``OpGraph``. Classes that price a whole graph at once
(a streaming FPGA pipeline) cannot be split this way and are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..cost import OpCost
from ..costmodels.gpu_arch import GpuArch
from ..estimate import Estimate, estimate
from ..ops import DTYPE_BITS, Op
from ..profile import Profile, load_profile
from .config import LlmConfig, LlmError, load_config
from .decoder import (
    KV_DEPENDENT,
    Layout,
    Step,
    attention_sweep_graph,
    model_weight_bytes,
    step_graph,
)
from .formats import Quant, kv_dtype_of, quant_of
from .memory import MemoryPlan, device_capacity_bytes, largest_batch, paged_tokens
from .parallel import Interconnect, StepComm, link_for, step_comm
from .splitkv import kv_splits

INTERCONNECT_BOUND = "interconnect"
DECODE_KERNELS = ("splitkv", "mmha")


def _add(a: Mapping[str, float], b: Mapping[str, float], scale: float = 1.0) -> dict[str, float]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0.0) + scale * value
    return out


@dataclass(frozen=True)
class PhaseCost:
    """Time, bytes and energy of a phase on one device: its kernels plus its collectives."""

    latency_s: float = 0.0
    time_by_bound_s: Mapping[str, float] = field(default_factory=dict)
    bytes_read: Mapping[str, float] = field(default_factory=dict)
    bytes_written: Mapping[str, float] = field(default_factory=dict)
    energy_j: Mapping[str, float] = field(default_factory=dict)
    macs: float = 0.0
    comm_s: float = 0.0
    comm_bytes: float = 0.0

    @staticmethod
    def of_costs(costs: Iterable[OpCost], times: float = 1.0) -> PhaseCost:
        phase = PhaseCost()
        for cost in costs:
            phase = phase.plus(
                PhaseCost(
                    latency_s=cost.latency_s,
                    time_by_bound_s={str(cost.bound): cost.latency_s},
                    bytes_read=dict(cost.bytes_read),
                    bytes_written=dict(cost.bytes_written),
                    energy_j=dict(cost.energy_j),
                    macs=float(cost.macs),
                )
            )
        return phase.scaled(times)

    @staticmethod
    def of_comm(comm: StepComm, static_power_w: float) -> PhaseCost:
        """Collectives: their time, and the device's static power while it waits on them."""
        if not comm.seconds:
            return PhaseCost()
        return PhaseCost(
            latency_s=comm.seconds,
            time_by_bound_s={INTERCONNECT_BOUND: comm.seconds},
            energy_j={"static": static_power_w * comm.seconds},
            comm_s=comm.seconds,
            comm_bytes=comm.bytes_sent,
        )

    def plus(self, other: PhaseCost) -> PhaseCost:
        return PhaseCost(
            latency_s=self.latency_s + other.latency_s,
            time_by_bound_s=_add(self.time_by_bound_s, other.time_by_bound_s),
            bytes_read=_add(self.bytes_read, other.bytes_read),
            bytes_written=_add(self.bytes_written, other.bytes_written),
            energy_j=_add(self.energy_j, other.energy_j),
            macs=self.macs + other.macs,
            comm_s=self.comm_s + other.comm_s,
            comm_bytes=self.comm_bytes + other.comm_bytes,
        )

    def scaled(self, k: float) -> PhaseCost:
        return PhaseCost(
            latency_s=k * self.latency_s,
            time_by_bound_s=_add({}, self.time_by_bound_s, k),
            bytes_read=_add({}, self.bytes_read, k),
            bytes_written=_add({}, self.bytes_written, k),
            energy_j=_add({}, self.energy_j, k),
            macs=k * self.macs,
            comm_s=k * self.comm_s,
            comm_bytes=k * self.comm_bytes,
        )

    @property
    def bound(self) -> str:
        """The bound holding the largest share of the phase's time."""
        times = self.time_by_bound_s
        return max(times, key=lambda b: times[b]) if times else "free"

    def to_dict(self, devices: int) -> dict[str, Any]:
        energy = {k: v * devices for k, v in self.energy_j.items()}
        return {
            "latency_s": self.latency_s,
            "bound": self.bound,
            "time_by_bound_s": dict(self.time_by_bound_s),
            "bytes_read": dict(self.bytes_read),
            "bytes_written": dict(self.bytes_written),
            "macs": self.macs,
            "interconnect_s": self.comm_s,
            "interconnect_bytes": self.comm_bytes,
            "energy_j": sum(energy.values()),
            "energy_breakdown_j": energy,
        }


@dataclass(frozen=True)
class ServingRequest:
    """What to serve, and how."""

    prompt: int
    gen: int
    batch: int = 1
    tp: int = 1
    quant: str = "fp16"
    kv_dtype: str | None = None  # None: the activation format
    kv_block_tokens: int = 16  # vLLM's default block size
    decode_kernel: str = "splitkv"  # "splitkv" (FlashAttention-2) or "mmha" (decoder.py)
    capacity_bytes: float | None = None  # None: the profile's (memory.py)

    def validate(self, cfg: LlmConfig) -> None:
        for name in ("prompt", "gen", "batch", "kv_block_tokens"):
            if getattr(self, name) < 1:
                raise LlmError(f"--{name.replace('_', '-')} must be a positive integer")
        if self.prompt + self.gen > cfg.max_positions:
            raise LlmError(
                f"{cfg.name}: prompt {self.prompt} + gen {self.gen} tokens exceed the model's "
                f"{cfg.max_positions} positions"
            )
        if self.decode_kernel not in DECODE_KERNELS:
            kernels = ", ".join(DECODE_KERNELS)
            raise LlmError(f"--decode-kernel '{self.decode_kernel}': expected one of {kernels}")
        if self.capacity_bytes is not None and self.capacity_bytes <= 0:
            raise LlmError("--capacity must be a positive number of bytes")


@dataclass(frozen=True)
class ServingEstimate:
    """One model served on one profile: latencies, throughput, memory, per-phase costs."""

    config: LlmConfig
    profile: Profile
    request: ServingRequest
    kv_dtype: str
    prefill: PhaseCost
    decode: PhaseCost
    first_step_s: float | None  # the decode step at the shortest and longest KV length
    last_step_s: float | None
    memory: MemoryPlan
    interconnect: Interconnect | None
    unsupported: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def decode_steps(self) -> int:
        return self.request.gen - 1

    @property
    def ttft_s(self) -> float:
        return self.prefill.latency_s

    @property
    def tpot_s(self) -> float | None:
        return self.decode.latency_s / self.decode_steps if self.decode_steps else None

    @property
    def e2e_s(self) -> float:
        return self.prefill.latency_s + self.decode.latency_s

    @property
    def tokens_per_s(self) -> float:
        return self.request.batch * self.request.gen / self.e2e_s

    @property
    def complete(self) -> bool:
        return not self.unsupported

    def to_dict(self) -> dict[str, Any]:
        r, tp = self.request, self.request.tp
        tpot = self.tpot_s
        return {
            "model": self.config.name,
            "model_source": self.config.source,
            "hw": self.profile.name,
            "hw_class": self.profile.hw_class,
            "prompt_tokens": r.prompt,
            "gen_tokens": r.gen,
            "batch": r.batch,
            "tp": tp,
            "quant": r.quant,
            "kv_dtype": self.kv_dtype,
            "decode_kernel": r.decode_kernel,
            "ttft_s": self.ttft_s,
            "tpot_s": tpot,
            "e2e_s": self.e2e_s,
            "tokens_per_s": self.tokens_per_s,
            "decode_tokens_per_s": r.batch / tpot if tpot else None,
            "memory": self.memory.to_dict(),
            "fits": self.memory.fits,
            "max_batch": self.memory.max_batch,
            "phases": {
                "prefill": {**self.prefill.to_dict(tp), "steps": 1},
                "decode": {
                    **self.decode.to_dict(tp),
                    "steps": self.decode_steps,
                    "first_step_s": self.first_step_s,
                    "last_step_s": self.last_step_s,
                },
            },
            "interconnect": (
                {
                    "bandwidth_bytes_per_s": self.interconnect.bandwidth_bytes_per_s,
                    "latency_s": self.interconnect.latency_s,
                }
                if self.interconnect
                else None
            ),
            "devices": tp,
            "complete": self.complete,
            "unsupported": list(self.unsupported),
            "notes": list(self.notes),
        }


def _sms(profile: Profile) -> int | None:
    """SM count, for the split-KV decision; hardware without SMs runs one slice."""
    return profile.arch.sms if isinstance(profile.arch, GpuArch) else None


def _priced(graph_estimate: Estimate) -> Estimate:
    if graph_estimate.graph_cost is not None:
        raise LlmError(
            f"{graph_estimate.profile.name}: the {graph_estimate.profile.hw_class} model prices a "
            "whole graph as one pipeline, which cannot be split into prefill and decode steps; "
            "LLM serving is estimated on per-op models (cpu, gpu, systolic)"
        )
    return graph_estimate


def _unsupported(est: Estimate) -> list[str]:
    return [f"{u.name}: {u.reason}" for u in est.unsupported]


def _is_kv_dependent(op: Op) -> bool:
    return op.id.rsplit(".", 1)[-1] in KV_DEPENDENT


def _split_costs(est: Estimate, keep: Callable[[Op], bool]) -> list[OpCost]:
    return [cost for op, cost in est.costs if cost is not None and keep(op)]


def decode_steps(
    cfg: LlmConfig,
    layout: Layout,
    profile: Profile,
    batch: int,
    prompt: int,
    gen: int,
    kernel: str = "splitkv",
) -> list[Step]:
    """The ``gen - 1`` decode steps after a prompt: step ``i`` has ``prompt + i - 1`` tokens
    cached, and its attention kernel is cut into FlashAttention-2's KV slices on hardware with
    SMs (one slice elsewhere, and for the masked-MHA kernel, which runs one CTA per head)."""
    sms = _sms(profile) if kernel == "splitkv" else None
    swapped = cfg.sliding_window is None
    steps = []
    for i in range(1, gen):
        past = prompt + i - 1
        splits = (
            kv_splits(
                batch=batch,
                heads=layout.kv_heads if swapped else layout.heads,
                seq_q=layout.heads // layout.kv_heads if swapped else 1,
                seq_k=cfg.attended(past + 1),
                head_dim=cfg.head_dim,
                sms=sms,
            )
            if sms
            else 1
        )
        steps.append(
            Step(
                batch=batch,
                new_tokens=1,
                past=past,
                kv_splits=splits,
                kv_per_query_head=kernel == "mmha",
            )
        )
    return steps


def _split_workspace_bytes(cfg: LlmConfig, layout: Layout, steps: Sequence[Step]) -> float:
    """The split-KV kernel's fp32 partial outputs and log-sum-exps at the widest step
    (``splits x batch x heads x (head_dim + 1)`` floats, flash_api.cpp); none unsplit."""
    widest = max((s.kv_splits for s in steps), default=1)
    if widest <= 1:
        return 0.0
    return widest * steps[0].batch * layout.heads * (cfg.head_dim + 1) * 4.0


def serve(config: LlmConfig | str, hw: Profile | str, request: ServingRequest) -> ServingEstimate:
    """Estimate serving ``config`` on ``hw`` (module docstring)."""
    cfg = load_config(config) if isinstance(config, str) else config
    profile = load_profile(hw)
    request.validate(cfg)
    quant: Quant = quant_of(request.quant)
    kv_dtype = kv_dtype_of(request.kv_dtype, quant)
    layout = Layout.of(cfg, request.tp)
    link = link_for(profile, request.tp)
    b, n, m = request.batch, request.prompt, request.gen
    static_w = profile.energy.static_power_w
    act_bytes = DTYPE_BITS[quant.act_dtype] / 8
    logits_bytes = 4 * cfg.vocab

    def comm(tokens: int, sequences: int) -> PhaseCost:
        if link is None:
            return PhaseCost()
        c = step_comm(
            link,
            request.tp,
            layers=cfg.n_layers,
            tokens=tokens,
            hidden=cfg.hidden,
            act_bytes=act_bytes,
            logits_bytes=sequences * logits_bytes,
        )
        return PhaseCost.of_comm(c, static_w)

    prefill_graph = step_graph(cfg, quant, kv_dtype, layout, Step(batch=b, new_tokens=n))
    prefill_est = _priced(estimate(prefill_graph, profile))
    unsupported = _unsupported(prefill_est)
    prefill = PhaseCost.of_costs(_split_costs(prefill_est, lambda op: True))
    prefill = prefill.plus(comm(b * n, b))

    steps = decode_steps(cfg, layout, profile, b, n, m, request.decode_kernel)
    decode = PhaseCost()
    first = last = None
    workspace = 0.0
    if steps:
        step_est = _priced(estimate(step_graph(cfg, quant, kv_dtype, layout, steps[0]), profile))
        unsupported += [u for u in _unsupported(step_est) if u not in unsupported]
        fixed = PhaseCost.of_costs(_split_costs(step_est, lambda op: not _is_kv_dependent(op)))
        fixed = fixed.plus(comm(b, b))
        sweep_graph = attention_sweep_graph(cfg, quant, kv_dtype, layout, steps)
        sweep = _priced(estimate(sweep_graph, profile))
        by_step: dict[int, list[OpCost]] = {}
        for op, cost in sweep.costs:
            if cost is not None:
                by_step.setdefault(int(op.id.split(".")[0][len("past") :]), []).append(cost)
        per_step = [PhaseCost.of_costs(by_step.get(s.past, []), cfg.n_layers) for s in steps]
        decode = fixed.scaled(len(steps))
        for attn in per_step:
            decode = decode.plus(attn)
        first = fixed.latency_s + per_step[0].latency_s
        last = fixed.latency_s + per_step[-1].latency_s
        workspace = _split_workspace_bytes(cfg, layout, steps)

    def workspace_at(batch: int) -> float:
        steps_at = decode_steps(cfg, layout, profile, batch, n, m, request.decode_kernel)
        return _split_workspace_bytes(cfg, layout, steps_at)

    kv_bits = DTYPE_BITS[kv_dtype]
    kv_per_token = 2 * cfg.n_layers * layout.kv_heads * cfg.head_dim * kv_bits / 8
    kv_bytes = b * paged_tokens(cfg.attended(n + m), request.kv_block_tokens) * kv_per_token
    activation = float(prefill_est.peak_activation_bytes)
    weights = model_weight_bytes(prefill_graph)
    capacity = request.capacity_bytes or device_capacity_bytes(profile)
    memory = MemoryPlan(
        batch=b,
        weights_bytes=weights,
        kv_cache_bytes=kv_bytes,
        activation_bytes=activation,
        workspace_bytes=workspace,
        capacity_bytes=capacity,
        kv_block_tokens=request.kv_block_tokens,
        kv_bytes_per_token=kv_per_token,
        max_batch=(
            None
            if capacity is None
            else largest_batch(capacity, weights, (kv_bytes + activation) / b, workspace_at)
        ),
    )
    notes = [quant.note] if quant.note else []
    if memory.capacity_bytes is None:
        notes.append(
            f"{profile.name} states no memory capacity: fits and max_batch are unknown "
            "(give one with --capacity)"
        )
    if cfg.is_moe:
        notes.append(
            "mixture of experts: weights read for the expected number of distinct experts under "
            "uniform routing (an upper bound at small batch)"
        )
    return ServingEstimate(
        config=cfg,
        profile=profile,
        request=request,
        kv_dtype=kv_dtype,
        prefill=prefill,
        decode=decode,
        first_step_s=first,
        last_step_s=last,
        memory=memory,
        interconnect=link,
        unsupported=tuple(unsupported),
        notes=tuple(notes),
    )
