"""Rank fidelity: does hwsim order NAS-Bench-201 networks the way this CPU does?

A NAS loop needs latencies that rank candidates right more than it needs them right in
absolute terms. The measurements are ``benchmarks/nas201_latency.py``'s (the NAS-Bench-201
family, ``hwsim.workloads.nas201``, a seeded draw of networks, each timed on this machine in a
fresh process at one thread, eager fp32, batch 1): ``results/nas201_cpu_1t.csv``, split before
any fit into ``_train`` and ``_val``. This script prices every measured network with
``hwsim.Predictor`` at one thread on:

- ``host``: the profile ``hwsim calibrate`` measured on this machine (``--hw host``; where
  ``~/.cache/hwsim/host.yaml`` is absent, the calibrated copy in
  ``results/cpu_host_profile.yaml``), fitted on micro-benchmarks, none of these networks;
- ``host e2e``: the same micro-benchmarks plus ``hwsim calibrate``'s end-to-end stage
  (``results/cpu_host_profile_e2e.yaml``: per-op and per-module-call dispatch, and
  ``dispatch_scale``/``conv_efficiency``/``module_call_s`` fitted on MobileNet v1 and
  EfficientNet-Lite networks, ``calibrate_e2e.REFERENCE_MODELS``): fitted on none of these
  networks, so every row is held out for it;
- ``cpu_x86_avx2``: the preset for this VM's CPU;
- any profile given with ``--profile PATH`` (a profile fitted to the ``_train`` networks:
  only the ``_val`` networks count for it, and they are reported separately for every row),

and reports Kendall's tau against the measured latency, next to the tau of FLOPs and of
parameter count (what a NAS loop without a latency model ranks by).

A diagnosis follows, for the models short of the measurements' own pass-to-pass tau: a
NAS-Bench-201 network is its cell's six edge ops repeated in 15 cells, so both the measured and
each predicted latency are split by least squares into a cost per edge op (relative to a
skip edge, the cheapest that moves data), and the script reports where a model's per-edge
costs differ from the measured ones, and the tau each model would reach with one or two of
its per-edge costs replaced by the measured ones. That is a counterfactual read off these
rows, never a validation figure (nothing is fitted into any profile from it).

Run: ``python benchmarks/nas_rank.py [--profile fitted.yaml ...]`` (a minute; pricing only, so
no quiet machine is needed). Writes ``results/nas_rank.json``; docs/nas.md quotes it.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from hwsim.errors import ProfileError
from hwsim.nas import Predictor
from hwsim.profile import load_profile
from hwsim.workloads import nas201

RESULTS = Path(__file__).resolve().parent / "results"
MEASURED = RESULTS / "nas201_cpu_1t.csv"
OUT = RESULTS / "nas_rank.json"
CALIBRATED = RESULTS / "cpu_host_profile.yaml"
CALIBRATED_E2E = RESULTS / "cpu_host_profile_e2e.yaml"


def _read(path: Path) -> dict[str, float]:
    with path.open() as f:
        return {
            row["model"].removeprefix(nas201.PREFIX): float(row["latency_ms"])
            for row in csv.DictReader(f)
        }


def _host() -> tuple[str, Any]:
    try:
        return "host", load_profile("host")
    except ProfileError:
        return f"host ({CALIBRATED.relative_to(RESULTS.parent.parent)})", load_profile(CALIBRATED)


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    return float(kendalltau(x, y).statistic)


def _pass_to_pass(raw: Path) -> list[float]:
    """Kendall's tau between each pair of measurement passes (the ceiling a model's tau can
    reach against these measurements), from the raw per-pass ratios where they are kept."""
    if not raw.exists():
        return []
    by_pass: dict[str, dict[str, float]] = {}
    with raw.open() as f:
        for row in csv.DictReader(f):
            by_pass.setdefault(row["pass"], {})[row["arch"]] = float(row["ratio"])
    passes = sorted(by_pass)
    taus = []
    for i, a in enumerate(passes):
        for b in passes[i + 1 :]:
            common = sorted(set(by_pass[a]) & set(by_pass[b]))
            x = np.array([by_pass[a][k] for k in common])
            y = np.array([by_pass[b][k] for k in common])
            taus.append(round(_tau(x, y), 3))
    return taus


def _edge_counts(arch: str) -> list[int]:
    edges = [op for node in nas201.parse_arch(arch) for op, _ in node]
    return [edges.count(op) for op in nas201.OPS]


def _per_edge_ms(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Milliseconds each edge op adds over a skip edge (the six edges always sum to six, so
    only differences between ops are determined)."""
    design = np.c_[np.ones(len(counts)), counts]
    coef = np.linalg.lstsq(design, values, rcond=None)[0][1:]
    return coef - coef[nas201.OPS.index("skip_connect")]


def _diagnosis(rows: list[dict[str, Any]], models: list[str]) -> dict[str, Any]:
    counts = np.array([_edge_counts(r["arch"]) for r in rows], dtype=np.float64)
    y = np.array([r["measured_ms"] for r in rows])
    measured = _per_edge_ms(counts, y)
    out: dict[str, Any] = {
        "measured_ms_over_skip": dict(zip(nas201.OPS, measured.round(3), strict=True))
    }
    print("  diagnosis (counterfactual, read off these rows): ms per edge op over a skip edge")
    print(
        "    measured: "
        + ", ".join(f"{o} {v:+.3f}" for o, v in zip(nas201.OPS, measured, strict=True))
    )
    for key in models:
        pred = np.array([r[key] for r in rows])
        per_edge = _per_edge_ms(counts, pred)
        gap = measured - per_edge
        worst = [int(i) for i in np.argsort(-np.abs(gap))[:2]]
        fixed = {}
        for picks in ([worst[0]], [worst[1]], worst):
            corrected = pred + counts[:, picks] @ gap[picks]
            fixed["+".join(nas201.OPS[i] for i in picks)] = round(_tau(corrected, y), 3)
        out[key] = {
            "ms_over_skip": dict(zip(nas201.OPS, per_edge.round(3), strict=True)),
            "tau_with_measured_edge_cost": fixed,
        }
        print(
            f"    {key}: "
            + ", ".join(f"{o} {v:+.3f}" for o, v in zip(nas201.OPS, per_edge, strict=True))
            + "; tau with measured cost of "
            + ", ".join(f"{k} {v:.3f}" for k, v in fixed.items())
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", default=[], help="another CPU profile")
    parser.add_argument("--measured", type=Path, default=MEASURED, help="measurement CSV")
    args = parser.parse_args()
    measured = _read(args.measured)
    validation = set(_read(args.measured.with_name(args.measured.stem + "_val.csv")))
    archs = sorted(measured)
    profiles = [
        _host(),
        ("host e2e (results/cpu_host_profile_e2e.yaml)", load_profile(CALIBRATED_E2E)),
        ("cpu_x86_avx2", load_profile("cpu_x86_avx2")),
    ]
    profiles += [(path, load_profile(path)) for path in args.profile]
    predictors = {name: Predictor(profile, threads=1) for name, profile in profiles}
    x = nas201.example_input()
    rows = []
    for arch in archs:
        graph = next(iter(predictors.values())).graph(nas201.build(arch), x)
        row = {
            "arch": arch,
            "measured_ms": measured[arch],
            "flops": graph.flops,
            "params": graph.param_count,
            "val": arch in validation,
        }
        for name, predictor in predictors.items():
            row[name] = predictor.price(graph).latency_s * 1e3
        rows.append(row)
    out: dict[str, Any] = {"networks": len(rows), "validation": len(validation), "tau": {}}
    y = np.array([r["measured_ms"] for r in rows])
    val = np.array([r["val"] for r in rows])
    print(f"{len(rows)} measured networks ({val.sum()} validation); Kendall tau vs measured:")
    for key in [*predictors, "flops", "params"]:
        values = np.array([r[key] for r in rows], dtype=np.float64)
        every, held_out = _tau(values, y), _tau(values[val], y[val])
        error = None
        if key in predictors:
            error = float(np.median(np.abs(values / y - 1)))
        out["tau"][key] = {"all": every, "validation": held_out, "median_abs_error": error}
        extra = f", median |error| {error:.0%}" if error is not None else ""
        print(f"  {key:>40}: all {every:.3f}, validation {held_out:.3f}{extra}")
    repeat = _pass_to_pass(args.measured.with_name(args.measured.stem + "_raw.csv"))
    if repeat:
        out["tau_between_measurement_passes"] = repeat
        print(f"  measurement repeatability, tau between passes: {', '.join(map(str, repeat))}")
    out["per_edge_diagnosis"] = _diagnosis(rows, list(predictors))
    out["rows"] = rows
    OUT.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
