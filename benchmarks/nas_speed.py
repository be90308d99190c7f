"""How fast hwsim prices NAS candidates, against trace + estimate timed in the same run.

A. ``hwsim.Predictor`` on NAS-Bench-201 cell networks (``hwsim.workloads.nas201``, a seeded
   draw of ``COUNT``): for each candidate, in alternation, ``Predictor.latency`` (dispatch-mode
   capture, cached per-op pricing) and ``hwsim.estimate(hwsim.trace(model))`` (torch.export,
   then pricing). Reported: the median and p10/p90 seconds per candidate of each, their ratio,
   and Kendall's tau between the two paths' latencies. The predictor is warm after its first
   candidate (its cost cache persists, as in a NAS loop); the first candidate's time is
   reported too.
B. ``hwsim.nas.LatencyTable`` on the MobileNet-like space (``hwsim.workloads.mbconv_space``,
   224x224): the table's build time, ``predict`` throughput on a batch of ``BATCH`` random
   candidates and on single candidates, against trace + estimate of ``COMPOSED`` composed
   candidates; and the table's error against the Predictor on those composed networks.

Run it alone on the machine (about a minute)::

    /work/bin/quiet .venv/bin/python benchmarks/nas_speed.py

It prints a table and writes ``benchmarks/results/nas_speed.json``; docs/nas.md quotes it.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

import hwsim
from hwsim.nas import LatencyTable, Predictor
from hwsim.workloads import mbconv_space, nas201

RESULTS = Path(__file__).resolve().parent / "results" / "nas_speed.json"
PROFILES = ("cpu_x86_avx2", "tpu_edge")  # the Predictor
TABLE_PROFILES = ("cpu_x86_avx2", "eyeriss")  # a table refuses the deployed tpu_edge
COUNT = 30  # NAS-Bench-201 candidates per profile
BATCH = 200_000  # table candidates in one predict call
SINGLE = 2_000  # table candidates predicted one at a time
COMPOSED = 6  # composed MobileNet-like candidates traced and estimated
SEED = 15


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(int(q * len(ordered)), len(ordered) - 1)]  # noqa: E731
    return {"median": statistics.median(values), "p10": pick(0.1), "p90": pick(0.9)}


def predictor_vs_trace(hw: str) -> dict[str, Any]:
    archs = nas201.sample_archs(COUNT, seed=SEED)
    x = nas201.example_input()
    predictor = Predictor(hw)
    fast_s, slow_s, fast_lat, slow_lat = [], [], [], []
    for arch in archs:
        model = nas201.build(arch)
        seconds, latency = _timed(lambda m=model: predictor.latency(m, x))
        fast_s.append(seconds)
        fast_lat.append(latency)
        seconds, est = _timed(lambda m=model: hwsim.estimate(hwsim.trace(m, example_inputs=x), hw))
        slow_s.append(seconds)
        slow_lat.append(est.latency_s)
    tau = kendalltau(fast_lat, slow_lat).statistic
    warm = fast_s[1:]
    return {
        "hw": hw,
        "candidates": len(archs),
        "ops_per_candidate": _spread([float(len(nas201_graph(a, x))) for a in archs[:5]]),
        "predictor_first_s": fast_s[0],
        "predictor_s": _spread(warm),
        "trace_estimate_s": _spread(slow_s),
        "speedup_median": statistics.median(slow_s) / statistics.median(warm),
        "kendall_tau_vs_estimate": float(tau),
        "max_rel_diff_vs_estimate": max(
            abs(a / b - 1) for a, b in zip(fast_lat, slow_lat, strict=True)
        ),
        "cache_hits": predictor.cache.hits,
        "cache_misses": predictor.cache.misses,
    }


def nas201_graph(arch: str, x: torch.Tensor) -> hwsim.OpGraph:
    return Predictor("cpu_x86_avx2").graph(nas201.build(arch), x)


def table_vs_trace(hw: str) -> dict[str, Any]:
    space = mbconv_space.positions(224)
    build_s, table = _timed(lambda: LatencyTable(space, hw))
    rng = np.random.default_rng(SEED)
    sizes = [len(p.candidates) for p in table.positions]
    batch = np.stack([rng.integers(0, n, BATCH) for n in sizes], axis=1)
    batch_s, _ = _timed(lambda: table.predict(batch))
    singles = batch[:SINGLE]
    single_s, _ = _timed(lambda: [table.predict(row) for row in singles])
    predictor = Predictor(hw)
    x = torch.zeros(table.input_shape)
    slow_s, errors = [], []
    for row in batch[:COMPOSED]:
        net = table.compose(row)
        seconds, est = _timed(lambda n=net: hwsim.estimate(hwsim.trace(n, example_inputs=(x,)), hw))
        slow_s.append(seconds)
        errors.append(abs(table.predict(row) / predictor.latency(net, x) - 1))
        errors.append(abs(table.predict(row) / est.latency_s - 1))
    return {
        "hw": hw,
        "positions": len(sizes),
        "space_size": float(np.prod(np.array(sizes, dtype=np.float64))),
        "build_s": build_s,
        "batch_candidates_per_s": BATCH / batch_s,
        "single_candidates_per_s": SINGLE / single_s,
        "trace_estimate_s": _spread(slow_s),
        "speedup_batch": statistics.median(slow_s) * BATCH / batch_s,
        "max_rel_error_vs_predictor_and_estimate": max(errors),
        "boundary_pairs": len(table.pairs),
    }


def main() -> None:
    torch.set_num_threads(1)
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "predictor": [predictor_vs_trace(hw) for hw in PROFILES],
        "table": [table_vs_trace(hw) for hw in TABLE_PROFILES],
    }
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    for row in out["predictor"]:
        p, s = row["predictor_s"], row["trace_estimate_s"]
        print(
            f"Predictor {row['hw']:>14}: {p['median'] * 1e3:6.1f} ms/candidate "
            f"(p10 {p['p10'] * 1e3:.1f}, p90 {p['p90'] * 1e3:.1f}; "
            f"first {row['predictor_first_s']:.2f} s)"
            f" vs trace+estimate {s['median']:.2f} s (p10 {s['p10']:.2f}, p90 {s['p90']:.2f}):"
            f" {row['speedup_median']:.0f}x; tau vs estimate {row['kendall_tau_vs_estimate']:.3f},"
            f" max diff {row['max_rel_diff_vs_estimate']:.1e}"
        )
    for row in out["table"]:
        s = row["trace_estimate_s"]
        print(
            f"LatencyTable {row['hw']:>11}: build {row['build_s']:.1f} s; "
            f"{row['batch_candidates_per_s']:,.0f} candidates/s batched, "
            f"{row['single_candidates_per_s']:,.0f}/s one at a time; trace+estimate "
            f"{s['median']:.2f} s/candidate: {row['speedup_batch']:,.0f}x; max error vs "
            f"Predictor/estimate {row['max_rel_error_vs_predictor_and_estimate']:.1e}"
        )


if __name__ == "__main__":
    main()
