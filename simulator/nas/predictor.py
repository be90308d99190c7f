"""``Predictor``: a candidate ``nn.Module`` -> its latency on one profile, in milliseconds.

The NAS loop's pricing path. The candidate is captured with the dispatch-mode frontend
(``frontend/capture.py``: no ``torch.export``, the same ``OpGraph``), compressed if the
options ask for it, and priced through the one pricing path (``estimate.price``) with a
per-op cost cache (``costmodels/cache.py``) that lives as long as the predictor: a cell that
repeats in a candidate, or recurs across candidates, is priced once.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..compression import compress
from ..costmodels.cache import OpCostCache
from ..costmodels.registry import hw_class
from ..estimate import (
    Estimate,
    check_options_apply,
    compression_rules,
    price,
    user_options,
)
from ..frontend.capture import capture
from ..graph import OpGraph
from ..hardware import Profile
from ..profile import load_profile

Inputs = torch.Tensor | Sequence[torch.Tensor]


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while one candidate is captured and priced.

    A capture allocates thousands of short-lived objects (call records, tensor specs, ops,
    graph dictionaries) in a process that holds torch's hundreds of thousands of long-lived
    ones; the allocation count sets off full collections that walk all of them, which cost a
    large share of a candidate's milliseconds. Nothing is leaked: the objects a candidate
    leaves in reference cycles are collected at the next collection after it, and the
    collector is left as it was found (a caller that disabled it keeps it disabled)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Predictor:
    """Prices candidate modules on ``hw`` (a preset name, YAML or ``.cfg`` path, ``host``, or
    a ``Profile``), with ``hwsim.estimate``'s options: ``threads`` (CPU profiles),
    ``precision``, ``params`` (``Profile.with_params``), ``folding``/``target_fps``
    (streaming FPGA), and ``prune``/``quant``/``layers``/``recipe`` (a compression what-if
    applied to every candidate).

    ``example_inputs`` give shapes and dtypes only (meta tensors will do). The module is put
    in eval mode, as ``hwsim.trace`` does. A predictor is not thread-safe: capture wraps
    ``nn.Module.__call__`` process-wide while it runs.
    """

    def __init__(
        self,
        hw: str | Path | Profile,
        threads: int | None = None,
        *,
        precision: str | None = None,
        params: Mapping[str, Any] | None = None,
        folding: str | Path | Mapping[str, Any] | None = None,
        target_fps: float | None = None,
        prune: str | None = None,
        quant: str | None = None,
        layers: str | None = None,
        recipe: str | Path | None = None,
        cache_size: int = 200_000,
    ) -> None:
        profile = load_profile(hw)
        self.profile = profile.with_params(params) if params else profile
        self.precision = precision
        self.user = user_options(threads=threads, folding=folding, target_fps=target_fps)
        check_options_apply(self.user, [self.profile])
        hw_class(self.profile.hw_class).options(self.profile, self.user)  # bad values fail now
        self.rules = compression_rules(prune=prune, quant=quant, layers=layers, recipe=recipe)
        self.cache = OpCostCache(cache_size)

    def graph(self, module: nn.Module, example_inputs: Inputs) -> OpGraph:
        """The candidate's ``OpGraph``, compressed as the options ask."""
        with _collector_paused():
            graph = capture(module, example_inputs)
            return compress(graph, self.rules) if self.rules else graph

    def estimate(self, module: nn.Module, example_inputs: Inputs) -> Estimate:
        """The full ``Estimate`` (per-op table, totals, energy) of one candidate."""
        with _collector_paused():
            return self.price(self.graph(module, example_inputs))

    def price(self, graph: OpGraph) -> Estimate:
        """Price an already captured or traced graph through the predictor's cache."""
        return price(
            graph, self.profile, precision=self.precision, user=self.user, cache=self.cache
        )

    def latency(self, module: nn.Module, example_inputs: Inputs) -> float:
        """Seconds per inference of one candidate.

        The estimate is dropped before the collector resumes: the graph's networkx views
        make it a reference cycle, which the first collection after the pause then frees
        while it is young. Kept alive past that point, it would be promoted to the older
        generations, whose growth sets off full collections over all of torch's objects."""
        with _collector_paused():
            return self.price(self.graph(module, example_inputs)).latency_s

    def latency_many(self, modules: Iterable[nn.Module], example_inputs: Inputs) -> np.ndarray:
        """Seconds per inference of each candidate, all fed ``example_inputs``."""
        return np.array([self.latency(m, example_inputs) for m in modules], dtype=np.float64)
