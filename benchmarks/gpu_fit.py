"""Fit the TensorRT GPU presets' per-kernel and per-inference costs on part of the published
figures of ``gpu_published.py`` and check them on the rest (runs without a GPU).

Which rows are fitted on is decided by ``gpu_published.split``, a rule fixed before any fit
(docs/validation.md, "GPU"): A100 rows alternate per published table, H100 and Orin rows and
rows that are not like-for-like are all held out. Which parameters move is ``hwsim fit``'s
own default choice for the GPU class (the first of its default order that the rows depend
on, one per three rows), not a choice made by looking at the held-out rows. Two fits, with the
code ``hwsim fit`` runs (the CSV format cannot say "the 40 GB A100" or hold BERT-Large at 384
tokens, so the rows are built here as ``Case`` values):

1. The TensorRT engine (``gpu_a100_trt``), from the preset's values before this fit
   (``ASSUMED``), on the A100 rows marked ``train``.
2. The Paddle-TRT runtime (the same engine inside PaddlePaddle's executor): its own time per
   inference, on its rows marked ``train``, with the engine's fitted kernel gap.

The fitted values are written by hand into ``gpu_a100_trt.yaml`` (and carried over to
``gpu_h100_trt.yaml`` and ``gpu_orin_trt.yaml``, whose rows then check whether they carry)
and into ``gpu_published.PADDLE_INFERENCE_OVERHEAD_S``; this script prints what the fit gives
next to what the presets hold, every TensorRT row on its preset with its role, and the
held-out agreement per preset.

Run: ``python benchmarks/gpu_fit.py`` (from any directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The published rows are shared with gpu_published.py, next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_published import (
    A100_40GB_HBM_BYTES_PER_S,
    HELD_OUT,
    MODELS,
    PADDLE_INFERENCE_OVERHEAD_S,
    REFERENCES,
    TRAIN,
    Reference,
    profile_for,
    split,
)
from rich.console import Console

import hwsim
from hwsim.fit import Case, Measurement, agreement, fit, validate
from hwsim.fit.report import fit_summary

# The engine preset's values before this fit (its YAML said: assumed), where the fit starts.
ASSUMED = {"arch.kernel_gap_s": 2.0e-6, "arch.inference_overhead_s": 0.0}
TRT_PRESETS = ("gpu_a100_trt", "gpu_h100_trt", "gpu_orin_trt")
PADDLE = "gpu_a100_paddle_trt"
TOLERANCE = 0.02  # a preset "carries" a fitted value within 2% (it is written rounded)
ABSOLUTE_S = 1e-9  # or within a nanosecond (a fitted 0 comes back as 1e-15)


def _case(i: int, ref: Reference, graphs: dict[tuple[str, int], hwsim.OpGraph]) -> Case:
    """A published figure as a measured row: throughput becomes the latency of one batch;
    demoBERT's A100 40GB is the 80GB preset with its HBM bandwidth."""
    key = (ref.model, ref.batch)
    if key not in graphs:
        graphs[key] = MODELS[ref.model](ref.batch)
    ms = ref.published if ref.metric == "latency_ms" else ref.batch / ref.published * 1e3
    variant: tuple[tuple[str, object], ...] = ()
    if ref.hw.startswith("gpu_a100_40gb"):
        variant = (("memory.hbm.bandwidth_bytes_per_s", A100_40GB_HBM_BYTES_PER_S),)
    m = Measurement(ref.source, i + 1, ref.model, ms, batch=ref.batch, precision=ref.precision)
    return Case(m, graphs[key], variant)


def _preset(ref: Reference) -> str:
    return "gpu_a100_trt" if ref.hw.startswith("gpu_a100") else ref.hw


def _report_fit(title: str, result: hwsim.fit.FitResult) -> None:
    print(title)
    Console().print(fit_summary(result))


def _carried(fitted: dict[str, float], presets: tuple[str, ...]) -> bool:
    """Print what each preset holds against the fit; whether all hold it within TOLERANCE."""
    ok = True
    for preset in presets:
        data = hwsim.load_profile(preset).to_data()["arch"]
        for name, value in fitted.items():
            held = float(data.get(name, 0.0))
            same = abs(held - value) <= TOLERANCE * abs(value) + ABSOLUTE_S
            ok &= same
            mark = "" if same else "   <-- differs from the fit"
            print(f"  {preset}: {name} {held:.4g} (fit: {value:.4g}){mark}")
    return ok


def main() -> None:
    graphs: dict[tuple[str, int], hwsim.OpGraph] = {}
    roles = split()
    rows = [(i, r, roles[i]) for i, r in enumerate(REFERENCES) if roles[i] != "context"]
    cases = {i: _case(i, r, graphs) for i, r, _ in rows}
    train = [(i, r.hw == PADDLE) for i, r, role in rows if role == TRAIN]
    engine_rows = [cases[i] for i, paddle in train if not paddle]
    paddle_rows = [cases[i] for i, paddle in train if paddle]
    start = hwsim.load_profile("gpu_a100_trt").with_params(ASSUMED)
    engine = fit(start, engine_rows)
    _report_fit(f"fit 1, the TensorRT engine on {len(engine_rows)} A100 rows:", engine)
    paddle = fit(engine.fitted, paddle_rows, params=("inference_overhead_s",))
    _report_fit(f"fit 2, the Paddle-TRT runtime on {len(paddle_rows)} rows:", paddle)
    print("what the presets hold:")
    ok = _carried({fp.param.keys[0].split(".")[-1]: fp.value for fp in engine.params}, TRT_PRESETS)
    paddle_fit = paddle.params[0].value
    same = abs(PADDLE_INFERENCE_OVERHEAD_S - paddle_fit) <= TOLERANCE * paddle_fit
    ok &= same
    print(
        f"  gpu_published.PADDLE_INFERENCE_OVERHEAD_S {PADDLE_INFERENCE_OVERHEAD_S:.4g} "
        f"(fit: {paddle_fit:.4g}){'' if same else '   <-- differs from the fit'}"
    )
    print()
    held: dict[str, list[int]] = {}
    measured: dict[str, list[float]] = {}
    predicted: dict[str, list[float]] = {}
    for i, r, role in rows:
        # profile_for applies the 40GB part's bandwidth and Paddle's runtime itself
        plain = Case(cases[i].measurement, cases[i].graph)
        row = validate([plain], profile_for(r.hw)).rows[0]
        print(
            f"{role:<9}{r.model:<16}{r.batch:>5} {r.precision:<5}{r.hw:<20}"
            f"published {row.measurement.latency_ms:9.4g} ms  hwsim {row.predicted_ms:9.4g} ms"
            f"  ratio {row.ratio:5.2f}"
        )
        if role == HELD_OUT:
            key = _preset(r)
            held.setdefault(key, []).append(i)
            measured.setdefault(key, []).append(row.measurement.latency_ms)
            predicted.setdefault(key, []).append(row.predicted_ms)
    for preset, idx in held.items():
        ratios = [p / m for p, m in zip(predicted[preset], measured[preset], strict=True)]
        worst = max(max(x, 1 / x) for x in ratios)
        summary = agreement(measured[preset], predicted[preset]).summary()
        print(f"held out on {preset}: {len(idx)} rows, worst {worst:.2f}x; {summary}")
    if not ok:
        print("the presets do not carry the fitted values: update them (docs/validation.md)")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
