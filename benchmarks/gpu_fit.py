"""Fit the TensorRT GPU presets' per-kernel and per-inference costs on part of the published
figures of ``gpu_published.py`` and check them on the rest (runs without a GPU).

Two fits, each on rows chosen here, before any fit, by a rule (alternate batch sizes per
source; one like-for-like row per regime):

1. The TensorRT engine (``gpu_a100_trt``): ``kernel_gap_s`` (device time between dependent
   kernels) and ``inference_overhead_s`` (once per inference: launch, copies, sync), on six A100
   rows of demoBERT (BERT-Base and BERT-Large at batch 1 and 64) and MLPerf (ResNet-50
   SingleStream and Offline). Held out: the other demoBERT rows, MLPerf BERT-99 Offline (not
   like-for-like: hwsim pads every sequence to 384), and every H100 and Orin row, priced with
   the A100's fitted values carried over (a check of whether they carry).
2. The Paddle-TRT runtime (the same engine inside PaddlePaddle's executor): its own
   ``inference_overhead_s`` on the Paddle-TRT rows at batch 1, 64 and 256, with the engine's
   kernel gap from fit 1; batch 8 is held out.

Both start from the presets' assumed values (``ASSUMED``); 6 and 3 rows support 2 and 1
parameters. The fitted values are written into the three ``*_trt`` presets and into
``gpu_published.PADDLE_INFERENCE_OVERHEAD_S`` by hand; this script checks that they carry
them and prints every TensorRT row on its preset, marked train or held out, and the agreement
of the held-out rows per GPU. The two framework rows (PaddlePaddle without TensorRT) are
context for the eager preset and are left out.

Run: ``python benchmarks/gpu_fit.py``.
"""

from __future__ import annotations

# Run as a script, this file's directory is on sys.path: the published rows are shared.
from gpu_published import (
    A100_40GB_HBM_BYTES_PER_S,
    MODELS,
    PADDLE_INFERENCE_OVERHEAD_S,
    REFERENCES,
    Reference,
    profile_for,
)

import hwsim
from hwsim.fit import Case, Measurement, fit, validate

ENGINE_PARAMS = ("kernel_gap_s", "inference_overhead_s")
PADDLE_PARAMS = ("inference_overhead_s",)
# The presets' values before the fit (their YAML said: assumed).
ASSUMED = {"arch.kernel_gap_s": 2.0e-6, "arch.inference_overhead_s": 0.0}
ENGINE_TRAIN = {
    ("bert_base_128", 1, "fp16", "gpu_a100_40gb_trt"),
    ("bert_base_128", 64, "fp16", "gpu_a100_40gb_trt"),
    ("bert_large_384", 1, "fp16", "gpu_a100_40gb_trt"),
    ("bert_large_384", 64, "fp16", "gpu_a100_40gb_trt"),
    ("resnet50", 1, "int8", "gpu_a100_trt"),
    ("resnet50", 2048, "int8", "gpu_a100_trt"),
}
PADDLE_TRAIN = {
    ("resnet50", 1, "fp16", "gpu_a100_paddle_trt"),
    ("resnet50", 64, "fp16", "gpu_a100_paddle_trt"),
    ("resnet50", 256, "fp16", "gpu_a100_paddle_trt"),
}
TRT_PRESETS = ("gpu_a100_trt", "gpu_h100_trt", "gpu_orin_trt")


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


def _key(ref: Reference) -> tuple[str, int, str, str]:
    return (ref.model, ref.batch, ref.precision, ref.hw)


def _report_fit(title: str, result: hwsim.fit.FitResult) -> None:
    print(title)
    for fp in result.params:
        print(f"  {fp.param.name}: {fp.start:.4g} -> {fp.value:.4g}")
    print(f"  training before: {result.before.summary()}")
    print(f"  training after:  {result.after.summary()}")
    cv = result.cross_validation
    if cv is not None:
        print(f"  held out ({cv.method}): {cv.agreement.summary()}")


def main() -> None:
    graphs: dict[tuple[str, int], hwsim.OpGraph] = {}
    rows = [(i, r) for i, r in enumerate(REFERENCES) if r.hw.endswith("_trt")]
    cases = {i: _case(i, r, graphs) for i, r in rows}
    train_keys = ENGINE_TRAIN | PADDLE_TRAIN
    engine_rows = [cases[i] for i, r in rows if _key(r) in ENGINE_TRAIN]
    paddle_rows = [cases[i] for i, r in rows if _key(r) in PADDLE_TRAIN]
    assert len(engine_rows) == len(ENGINE_TRAIN) and len(paddle_rows) == len(PADDLE_TRAIN)
    start = hwsim.load_profile("gpu_a100_trt").with_params(ASSUMED)
    engine = fit(start, engine_rows, params=ENGINE_PARAMS)
    _report_fit("fit 1, the TensorRT engine on A100 rows, from the assumed values:", engine)
    paddle = fit(engine.fitted, paddle_rows, params=PADDLE_PARAMS)
    _report_fit("fit 2, the Paddle-TRT runtime's overhead per inference:", paddle)
    print(f"gpu_published.PADDLE_INFERENCE_OVERHEAD_S = {PADDLE_INFERENCE_OVERHEAD_S:.3g}")
    for preset in ("gpu_a100_trt", "gpu_h100_trt", "gpu_orin_trt"):
        profile = hwsim.load_profile(preset)
        carried = {fp.param.name: fp.param.value_in(profile) for fp in engine.params}
        print(f"{preset} carries " + ", ".join(f"{k} {v:.3g}" for k, v in carried.items()))
    print()
    held: dict[str, list[float]] = {}
    for i, r in rows:
        # profile_for applies the 40GB part's bandwidth and the Paddle runtime itself
        plain = Case(cases[i].measurement, cases[i].graph)
        row = validate([plain], profile_for(r.hw)).rows[0]
        split = "train" if _key(r) in train_keys else "held out"
        print(
            f"{split:<9}{r.model:<15}{r.batch:>6} {r.precision:<5}{r.hw:<20}"
            f"published {row.measurement.latency_ms:9.4g} ms  hwsim {row.predicted_ms:9.4g} ms"
            f"  ratio {row.ratio:5.2f}"
        )
        if split == "held out":
            held.setdefault(_preset(r), []).append(row.ratio)
    for preset, ratios in held.items():
        worst = max(max(x, 1 / x) for x in ratios)
        print(f"held out on {preset}: {len(ratios)} rows, worst {worst:.2f}x")


if __name__ == "__main__":
    main()
