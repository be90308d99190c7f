"""``LatencyTable``: a block-structured space priced from per-block costs.

FBNet and ProxylessNAS search a chain of positions, each choosing one block from a short list;
a candidate's latency is then read from a table of per-block latencies. hwsim's cost models
are sums over ops, so a table is exact as far as an op's price depends only on the op. Four
things in the cost models reach across blocks, and the table carries each of them:

- **Weight home.** Roofline-based prices read where the model's weights live, which depends
  on the whole model's weight bytes. Each block is priced once per memory level that can hold
  weights; ``predict`` sums the candidate's weight bytes and reads the costs at the level
  ``hwsim.estimate`` would choose.
- **Layer-by-layer weight caching** (the systolic model's spill plan): a layer's weights stay
  on chip if the weights of every layer up to it fit. Each block keeps, per layer, its cost on
  chip and spilled and the bytes before it; ``predict`` decides each layer from the bytes of
  the blocks before it.
- **Fusion and batch-norm folding at block boundaries.** A block that starts with a
  pointwise op or a batch-norm reading its input folds or fuses into the previous block's
  last conv, GEMM or fused kernel, changing both blocks' traffic. For every pair of blocks
  where that can happen (the first starts such a kernel, the second starts with such an op
  that is its input's only reader), the pair is captured together and the difference to the
  two blocks alone is stored; an empty block (identity) passes the boundary through.
- **Whole-graph models** do not add up at all, and a table refuses their profiles
  (``HwClass.not_blockwise``): the FPGA pipelines, and deployed accelerators (``tpu_edge``,
  ``tpu_edge_devboard``), where the compiler partitions the whole network at its first
  unmapped op, the call and its input and output transfers are paid once, and the parameter
  cache is what the SRAM leaves after the whole network's activation working set.

What is not carried: a boundary's effect on the spill plan (pairs are priced with nothing
spilled), and chains of fusion longer than one boundary (a block made only of ops that fuse
away). ``tests/test_nas.py`` and ``benchmarks/nas_speed.py`` compare composed networks against
the ``Predictor``.

``predict`` takes one candidate (a sequence of choice indices) or a batch (an integer array,
one row per candidate) and is vectorised over the batch. ``expected`` is FBNet's expected
latency: per-block costs weighted by choice probabilities (and boundary terms by the product
of both sides' probabilities), differentiable in the probabilities.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..costmodels.cache import OpCostCache
from ..costmodels.registry import hw_class
from ..costmodels.roofline import device_weight_bytes
from ..errors import ProfileError
from ..estimate import Estimate, price, user_options
from ..frontend.capture import capture
from ..frontend.passes import FUSION_HEADS
from ..graph import OpGraph
from ..hardware import MemoryLevel, Profile
from ..ops import MAC_KINDS, OpKind
from ..profile import load_profile


@dataclass(frozen=True)
class Position:
    """One position of a block-structured space: its candidate blocks (each maps a tensor of
    ``input_shape`` to the next position's input) and the input shape."""

    candidates: tuple[nn.Module, ...]
    input_shape: tuple[int, ...]
    name: str = ""


def as_position(item: Position | tuple[Sequence[nn.Module], Sequence[int]]) -> Position:
    if isinstance(item, Position):
        return item
    candidates, shape = item
    return Position(tuple(candidates), tuple(int(d) for d in shape))


@dataclass(frozen=True)
class _Block:
    """What the table keeps of one candidate block (costs in seconds, per weight-home level)."""

    empty: bool  # no ops at all (an identity): boundaries pass through it
    head_joins: bool  # starts with a pointwise op or batch-norm, its input's only reader
    tail_joins: bool  # ends with a kernel a following pointwise op or batch-norm joins
    resident_bytes: float  # device weight bytes that compete for on-chip space
    cached_bytes: float  # device weight bytes of its layers in a layer-by-layer weight cache
    seconds: np.ndarray  # [level] cost with nothing spilled
    spill_at: np.ndarray  # [layer] weights before the block above which the layer spills
    spill_extra: np.ndarray  # [level, layer] extra seconds once it (and the layers after) spill


def _model_input_readers(graph: OpGraph) -> list[str]:
    readers: list[str] = []
    for op_id in graph.order:
        if graph.reads_model_input(op_id):
            if graph[op_id].kind is OpKind.VIEW:
                readers.extend(graph.real_consumers(op_id))
            else:
                readers.append(op_id)
    return readers


def _head_joins(graph: OpGraph) -> bool:
    readers = set(_model_input_readers(graph))
    if len(readers) != 1:
        return False
    op = graph[readers.pop()]
    return op.kind in (OpKind.POINTWISE, OpKind.NORM) and op.fused_into is None


def _tail_joins(graph: OpGraph) -> bool:
    outputs = [i for i in graph.order if not graph.consumers(i)]
    if len(outputs) != 1:
        return False
    op = graph[graph.real_producer(outputs[0])]
    return op.kind in FUSION_HEADS and (
        op.kind is not OpKind.POINTWISE or op.fused_into is not None
    )


class LatencyTable:
    """Per-block costs of a block-structured space on ``hw``, read back in microseconds.

    ``space`` is a sequence of ``Position`` (or ``(candidates, input_shape)`` pairs); options
    as for ``hwsim.estimate`` (``threads``, ``precision``, ``params``).
    """

    def __init__(
        self,
        space: Sequence[Position | tuple[Sequence[nn.Module], Sequence[int]]],
        hw: str | Path | Profile,
        threads: int | None = None,
        *,
        precision: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        profile = load_profile(hw)
        self.profile = profile.with_params(params) if params else profile
        cls = hw_class(self.profile.hw_class)
        why = cls.not_blockwise(self.profile)
        if why is not None:
            raise ProfileError(
                f"{self.profile.name}: a latency table cannot price this profile: {why}; "
                "use hwsim.Predictor"
            )
        self.positions = tuple(as_position(p) for p in space)
        if not self.positions or not all(p.candidates for p in self.positions):
            raise ValueError("a space needs at least one position, each with a candidate")
        self.precision = precision
        self.user = user_options(threads=threads)
        self._cache = OpCostCache()
        self.levels = self._weight_levels()
        self.weight_cache = cls.weight_cache_bytes(self.profile)
        self.blocks = [
            [self._block(block, pos.input_shape) for block in pos.candidates]
            for pos in self.positions
        ]
        self.pairs = self._boundary_pairs()
        self._pack()

    # --- building -----------------------------------------------------------------------

    def _weight_levels(self) -> tuple[MemoryLevel, ...]:
        """The levels ``estimate`` may place weights in: every level that holds weights, and
        the backing store."""
        memory = self.profile.memory
        levels = [lvl for lvl in memory[:-1] if lvl.holds_weights]
        return (*levels, memory[-1])

    def _price(self, graph: OpGraph, level: MemoryLevel, cache_bytes: float) -> Estimate:
        return price(
            graph,
            self.profile,
            precision=self.precision,
            user=self.user,
            cache=self._cache,
            weight_home=level.name,
            cache_bytes=cache_bytes,
        )

    def _capture(self, block: nn.Module, shape: tuple[int, ...]) -> OpGraph:
        return capture(block, torch.empty(shape, device="meta"))

    def _block(self, block: nn.Module, shape: tuple[int, ...]) -> _Block:
        graph = self._capture(block, shape)
        if not len(graph):
            zeros = np.zeros(len(self.levels))
            none = np.zeros((len(self.levels), 0))
            return _Block(True, False, False, 0.0, 0.0, zeros, np.zeros(0), none)
        resident = sum(
            device_weight_bytes(op, self.profile, self.precision)
            for op in graph
            if op.kind is not OpKind.EMBEDDING
        )
        cached_layers = [op for op in graph if op.kind in MAC_KINDS and op.params]
        sizes = np.array(
            [device_weight_bytes(op, self.profile, self.precision) for op in cached_layers]
        )
        seconds = np.zeros(len(self.levels))
        spill_extra = np.zeros((len(self.levels), len(cached_layers)))
        for i, level in enumerate(self.levels):
            kept = self._price(graph, level, np.inf)
            seconds[i] = _seconds(kept)
            if self.weight_cache is not None and cached_layers:
                spilled = self._price(graph, level, 0.0)
                index = {op.id: k for k, op in enumerate(cached_layers)}
                for (op, a), (_, b) in zip(kept.costs, spilled.costs, strict=True):
                    if op.id in index and a is not None and b is not None:
                        spill_extra[i, index[op.id]] = b.latency_s - a.latency_s
        # Layer k spills once the bytes before the block exceed capacity - (bytes up to k).
        capacity = self.weight_cache if self.weight_cache is not None else np.inf
        spill_at = capacity - np.cumsum(sizes) if len(sizes) else np.zeros(0)
        return _Block(
            empty=False,
            head_joins=_head_joins(graph),
            tail_joins=_tail_joins(graph),
            resident_bytes=float(resident),
            cached_bytes=float(sizes.sum()) if len(sizes) else 0.0,
            seconds=seconds,
            spill_at=spill_at,
            spill_extra=spill_extra,
        )

    def _boundary_pairs(self) -> dict[tuple[int, int], np.ndarray]:
        """For positions ``q < p`` that can meet (every position between can be empty),
        ``[choice at q, choice at p, level, 2]``: the seconds and resident bytes a boundary
        join adds to the two blocks alone."""
        pairs: dict[tuple[int, int], np.ndarray] = {}
        n = len(self.positions)
        for q, p in itertools.combinations(range(n), 2):
            between = range(q + 1, p)
            if not all(any(b.empty for b in self.blocks[r]) for r in between):
                continue
            tails = [i for i, b in enumerate(self.blocks[q]) if b.tail_joins]
            heads = [j for j, b in enumerate(self.blocks[p]) if b.head_joins]
            if not tails or not heads:
                continue
            delta = np.zeros((len(self.blocks[q]), len(self.blocks[p]), len(self.levels), 2))
            for i, j in itertools.product(tails, heads):
                pair = nn.Sequential(
                    self.positions[q].candidates[i], self.positions[p].candidates[j]
                )
                graph = self._capture(pair, self.positions[q].input_shape)
                resident = sum(
                    device_weight_bytes(op, self.profile, self.precision)
                    for op in graph
                    if op.kind is not OpKind.EMBEDDING
                )
                alone_bytes = self.blocks[q][i].resident_bytes + self.blocks[p][j].resident_bytes
                for k, level in enumerate(self.levels):
                    together = _seconds(self._price(graph, level, np.inf))
                    alone = self.blocks[q][i].seconds[k] + self.blocks[p][j].seconds[k]
                    delta[i, j, k] = (together - alone, resident - alone_bytes)
            if np.any(delta):
                pairs[(q, p)] = delta
        return pairs

    def _pack(self) -> None:
        """The blocks as padded arrays, for vectorised reads."""
        n_pos = len(self.positions)
        width = max(len(p.candidates) for p in self.positions)
        layers = max((len(b.spill_at) for row in self.blocks for b in row), default=0)
        levels = len(self.levels)
        self._seconds = np.zeros((n_pos, width, levels))
        self._resident = np.zeros((n_pos, width))
        self._cached = np.zeros((n_pos, width))
        self._empty = np.zeros((n_pos, width), dtype=bool)
        # Padding never counts as a kept layer (-inf), so "kept" indexes the suffix sums.
        self._spill_at = np.full((n_pos, width, layers), -np.inf)
        # Suffix sums: the extra seconds once layers k.. spill, k = number of layers kept.
        self._spill_suffix = np.zeros((n_pos, width, levels, layers + 1))
        for p, row in enumerate(self.blocks):
            for c, b in enumerate(row):
                self._seconds[p, c] = b.seconds
                self._resident[p, c] = b.resident_bytes
                self._cached[p, c] = b.cached_bytes
                self._empty[p, c] = b.empty
                m = len(b.spill_at)
                self._spill_at[p, c, :m] = b.spill_at
                suffix = np.cumsum(b.spill_extra[:, ::-1], axis=1)[:, ::-1]
                self._spill_suffix[p, c, :, :m] = suffix
        capacities = [lvl.capacity_bytes for lvl in self.levels[:-1]]
        self._capacities = np.array(capacities, dtype=np.float64)
        self._spills = self.weight_cache is not None and layers > 0
        self._sizes = [len(p.candidates) for p in self.positions]

    # --- reading ------------------------------------------------------------------------

    def _choices(self, choices: Sequence[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(choices, dtype=np.int64)
        if array.ndim not in (1, 2) or array.shape[-1] != len(self.positions):
            raise ValueError(
                f"choices must have one index per position ({len(self.positions)}), "
                f"got shape {array.shape}"
            )
        batch = array.reshape(-1, len(self.positions))
        if np.any(batch < 0) or np.any(batch >= np.array(self._sizes)):
            raise ValueError(f"a choice index is out of range (candidates: {self._sizes})")
        return batch

    def _level(self, resident: np.ndarray) -> np.ndarray:
        """Index of the level ``estimate`` places weights in: the first that holds them."""
        fits = resident[:, None] <= self._capacities[None, :]
        first = np.argmax(fits, axis=1) if fits.shape[1] else np.zeros(len(resident), int)
        return np.where(fits.any(axis=1), first, len(self.levels) - 1)

    def predict(self, choices: Sequence[int] | np.ndarray) -> np.ndarray | float:
        """Seconds per inference of the candidate(s): one sequence of choice indices gives a
        float, an array of shape (N, positions) gives N values."""
        batch = self._choices(choices)
        seconds = self._predict(batch)
        return float(seconds[0]) if np.asarray(choices).ndim == 1 else seconds

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        rows = np.arange(len(batch))
        pos = np.arange(len(self.positions))
        resident = self._resident[pos, batch].sum(axis=1)
        delta_s = np.zeros(len(batch))
        if self.pairs:
            delta_s, delta_b = self._boundaries(batch)
            resident = resident + delta_b
        level = self._level(resident)
        total = self._seconds[pos[None, :], batch, level[:, None]].sum(axis=1)
        if self.pairs:
            total += delta_s[rows, level]
        if self._spills:
            before = np.zeros(len(batch))
            for p in pos:
                c = batch[:, p]
                kept = (self._spill_at[p, c] >= before[:, None]).sum(axis=1)
                total += self._spill_suffix[p, c, level, kept]
                before += self._cached[p, c]
        return total

    def _boundaries(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per candidate, the boundary joins' seconds at each level and resident bytes."""
        n = len(batch)
        seconds = np.zeros((n, len(self.levels)))
        extra = np.zeros(n)
        last_pos = np.full(n, -1)
        last_choice = np.zeros(n, dtype=np.int64)
        for p in range(len(self.positions)):
            c = batch[:, p]
            present = ~self._empty[p, c]
            for q in range(p):
                delta = self.pairs.get((q, p))
                if delta is None:
                    continue
                hit = present & (last_pos == q)
                if hit.any():
                    d = delta[last_choice[hit], c[hit]]
                    seconds[hit] += d[:, :, 0]
                    extra[hit] += d[:, 0, 1]
            last_pos = np.where(present, p, last_pos)
            last_choice = np.where(present, c, last_choice)
        return seconds, extra

    def expected(self, probs: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        """FBNet's differentiable expected latency (seconds) under independent choices with
        ``probs[p][c]`` the probability of candidate ``c`` at position ``p``.

        Per-block costs enter linearly; a boundary join between positions ``q < p`` enters
        with the probability that both blocks are chosen and every position between is
        empty. The weight home and the spill state are read at the expected weight bytes
        (no gradient flows through that choice), so the expectation is exact for one-hot
        ``probs``.
        """
        rows = [probs[p] for p in range(len(self.positions))]
        for p, row in enumerate(rows):
            if row.shape != (self._sizes[p],):
                raise ValueError(f"probs[{p}] must have shape ({self._sizes[p]},)")
        like = rows[0]
        as_t = lambda a: torch.as_tensor(a, dtype=like.dtype, device=like.device)  # noqa: E731
        with torch.no_grad():
            resident = sum(
                float((r.detach() * as_t(self._resident[p, : len(r)])).sum())
                for p, r in enumerate(rows)
            )
        total = like.new_zeros(())
        pair_bytes = 0.0
        empty_prob = [
            (r * as_t(self._empty[p, : len(r)].astype(np.float64))).sum()
            for p, r in enumerate(rows)
        ]
        pair_terms = []
        for (q, p), delta in self.pairs.items():
            through = like.new_ones(())
            for r in range(q + 1, p):
                through = through * empty_prob[r]
            joint = rows[q][:, None] * rows[p][None, :] * through
            pair_terms.append((joint, delta))
            pair_bytes += float((joint.detach() * as_t(delta[:, :, 0, 1])).sum())
        level = int(self._level(np.array([resident + pair_bytes]))[0])
        before = 0.0
        for p, row in enumerate(rows):
            cost = self._seconds[p, : len(row), level]
            if self._spills:
                kept = (self._spill_at[p, : len(row)] >= before).sum(axis=1)
                cost = cost + self._spill_suffix[p, np.arange(len(row)), level, kept]
                before += float((row.detach() * as_t(self._cached[p, : len(row)])).sum())
            total = total + (row * as_t(cost)).sum()
        for joint, delta in pair_terms:
            total = total + (joint * as_t(delta[:, :, level, 0])).sum()
        return total

    def compose(self, choices: Sequence[int]) -> nn.Sequential:
        """The network a candidate stands for: its chosen blocks in order."""
        batch = self._choices(choices)
        return nn.Sequential(
            *(self.positions[p].candidates[int(c)] for p, c in enumerate(batch[0]))
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.positions[0].input_shape


def _seconds(est: Estimate) -> float:
    if not est.complete:
        names = ", ".join(sorted({u.target for u in est.unsupported}))
        raise ProfileError(f"{est.profile.name}: a block has ops no model prices ({names})")
    return est.latency_s
