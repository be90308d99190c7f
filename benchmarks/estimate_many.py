"""Pricing one traced graph on many profile variants: what a sweep or a fit does.

Three ways to price N variants of a preset, timed in one process on the same traced graph
(ResNet-50 for the systolic and CPU rows, BERT-base for the GPU row):

- ``yaml``: what varying a profile took before ``Profile.with_params``: write each variant
  as a YAML file and ``hwsim.estimate(graph, path)`` it (parse, validate, price);
- ``cold``: ``with_params`` + ``estimate`` with every value-keyed cache cleared and fresh op
  objects for each variant: pricing with nothing reused;
- ``many``: ``hwsim.estimate_many(graph, variants)``: profile-independent facts (GEMM
  shapes, per-op activation scales) and value-keyed results (systolic layer timings for
  repeated layers and for variants that change only the clock or energies) are reused.

Each way runs in rounds interleaved with the others (the VM drifts); the medians per
variant and the ratio against ``yaml`` and ``cold`` are printed. Run:
``python benchmarks/estimate_many.py`` (about a minute).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

import hwsim
from hwsim.costmodels.registry import clear_caches
from hwsim.graph import OpGraph
from hwsim.hardware import Profile

ROUNDS = 3


def fresh(graph: OpGraph) -> OpGraph:
    """The same graph with new op objects: nothing derived from the old ones is reused."""
    dag = graph.dag.copy()
    for node in dag.nodes:
        dag.nodes[node]["op"] = dataclasses.replace(dag.nodes[node]["op"])
    return graph.with_dag(dag)


def variants(name: str) -> list[Profile]:
    base = hwsim.load_profile(name)
    if base.hw_class == "systolic":
        grid = itertools.product((16, 32, 64, 128), (16, 32, 64, 128), (4e8, 5e8, 8e8))
        return [
            base.with_params({"arch.rows": r, "arch.cols": c, "clock_hz": f}) for r, c, f in grid
        ]
    if base.hw_class == "cpu":
        effs = (0.2, 0.4, 0.6, 0.8)
        return [
            base.with_params({"arch.efficiency.gemm": g, "arch.efficiency.conv": c, "clock_hz": f})
            for g, c, f in itertools.product(effs, effs, (2e9, 3e9))
        ]
    return [
        base.with_params({"arch.sms": s, "arch.mainloop_efficiency": e})
        for s, e in itertools.product((54, 80, 108, 132), (0.6, 0.75, 0.85, 0.95))
    ]


def cold(graph: OpGraph, profile: Profile) -> float:
    clear_caches()
    return hwsim.estimate(fresh(graph), profile).latency_s


def many(graph: OpGraph, profiles: list[Profile]) -> list[float]:
    clear_caches()
    return [est.latency_s for est in hwsim.estimate_many(fresh(graph), profiles)]


def per_variant_s(fn: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) / count


def main() -> None:
    cases = [("resnet50", "tpu_edge"), ("resnet50", "cpu_x86_avx2"), ("bert_base", "gpu_a100")]
    graphs = {w: hwsim.trace(w) for w in {w for w, _ in cases}}
    print(
        f"{'workload':10} {'profile':14} {'n':>4} {'yaml ms':>9} {'cold ms':>9} "
        f"{'many ms':>9} {'vs yaml':>8} {'vs cold':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for workload, name in cases:
            graph, profs = graphs[workload], variants(name)
            paths = []
            for i, p in enumerate(profs):
                path = Path(tmp) / f"{name}_{i}.yaml"
                path.write_text(yaml.safe_dump(p.to_data(), sort_keys=False))
                paths.append(path)
            hwsim.estimate_many(graph, profs[:2])  # warm up imports and numba

            ways = {
                "yaml": lambda g=graph, ps=paths: [hwsim.estimate(g, p).latency_s for p in ps],
                "cold": lambda g=graph, ps=profs: [cold(g, p) for p in ps],
                "many": lambda g=graph, ps=profs: many(g, ps),
            }
            times: dict[str, list[float]] = {"yaml": [], "cold": [], "many": []}
            for _ in range(ROUNDS):
                for key, fn in ways.items():
                    times[key].append(per_variant_s(fn, len(profs)))
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            spread = {k: (min(v) * 1e3, max(v) * 1e3) for k, v in times.items()}
            print(
                f"{workload:10} {name:14} {len(profs):4d} {med['yaml']:9.2f} {med['cold']:9.2f} "
                f"{med['many']:9.2f} {med['yaml'] / med['many']:7.2f}x "
                f"{med['cold'] / med['many']:7.2f}x   spread many "
                f"{spread['many'][0]:.2f}-{spread['many'][1]:.2f} ms",
                flush=True,
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
