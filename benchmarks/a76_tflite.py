"""Fit and check ``cpu_arm_a76_xnnpack`` on published TensorFlow Lite latencies of a Pixel 4.

The Pixel 4's Snapdragon 855 has four Cortex-A76-class big cores; TensorFlow Lite publishes
its 4-thread CPU latency for MobileNet v1 (float and quantized) and the EfficientNet-Lite
README for EfficientNet-Lite0..4 (float and int8). Those 12 rows are written to
``results/a76_tflite_published.csv`` and split once, here, before any fit:

- training (``TRAIN``): MobileNet v1 and EfficientNet-Lite0 and -Lite4, fp32 and int8: the
  smallest, a middle and the largest network, both precisions;
- validation: EfficientNet-Lite1, -Lite2 and -Lite3, fp32 and int8, never seen by the fit.

The fit (``hwsim.fit``, the same code as ``hwsim fit``) starts from the preset's assumed
values (``ASSUMED``) and moves ``PARAMS``: the dense-conv efficiency and the int8 efficiency
(6 rows support 2 parameters). The preset carries the fitted values; this script checks that
they are what the fit gives, and prints every row of both sets on the preset, the
cross-validated error of the fit, and the int8/fp32 speedup per network (published and
predicted).

Run: ``python benchmarks/a76_tflite.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import hwsim
from hwsim.fit import fit, read_measurements, trace_cases, validate

RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = RESULTS / "a76_tflite_published.csv"
TRAIN = RESULTS / "a76_tflite_train.csv"
VAL = RESULTS / "a76_tflite_val.csv"
PRESET = "cpu_arm_a76_xnnpack"
PARAMS = ("conv_efficiency", "int8_efficiency")
# The preset's values before the fit (what its YAML says it assumed): the fit starts here.
ASSUMED = {"arch.efficiency_scale.conv": 1.0, "arch.precision_efficiency.int8": 1.0}

BENCH = (
    "tensorflow/tensorflow tensorflow/lite/g3doc/performance/benchmarks.md, "
    "'Android performance benchmarks', Pixel 4, CPU 4 threads, Android 10"
)
LITE = (
    "tensorflow/tpu models/official/efficientnet/lite/README.md: Pixel 4, batch 1, "
    "4 CPU threads (FP32 / INT8 CPU latency)"
)
ROWS = (
    ("mobilenet_v1:1.0_224", None, 14.0, BENCH),
    ("mobilenet_v1:1.0_224", "int8", 5.0, BENCH),
    *(
        (f"efficientnet_lite:{i}", None, ms, LITE)
        for i, ms in enumerate((12.0, 18.0, 26.0, 41.0, 76.0))
    ),
    *(
        (f"efficientnet_lite:{i}", "int8", ms, LITE)
        for i, ms in enumerate((6.5, 9.1, 12.0, 18.0, 30.0))
    ),
)
TRAIN_MODELS = ("mobilenet_v1:1.0_224", "efficientnet_lite:0", "efficientnet_lite:4")
FIELDS = ("model", "latency_ms", "quant", "threads", "source")


def write_csvs() -> None:
    rows = [
        {"model": m, "latency_ms": ms, "quant": q or "", "threads": 4, "source": src}
        for m, q, ms, src in ROWS
    ]
    for path, chosen in (
        (PUBLISHED, rows),
        (TRAIN, [r for r in rows if r["model"] in TRAIN_MODELS]),
        (VAL, [r for r in rows if r["model"] not in TRAIN_MODELS]),
    ):
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(chosen)


def speedups(result: hwsim.fit.Validation) -> list[tuple[str, float, float]]:
    """(model, published int8/fp32 speedup, predicted) for each model with both rows."""
    by = {(r.measurement.model, r.measurement.quant): r for r in result.rows}
    out = []
    for (model, quant), row in by.items():
        if quant != "int8" or (model, None) not in by:
            continue
        fp32 = by[(model, None)]
        out.append(
            (
                model,
                fp32.measurement.latency_ms / row.measurement.latency_ms,
                fp32.predicted_ms / row.predicted_ms,
            )
        )
    return out


def report(title: str, result: hwsim.fit.Validation) -> None:
    print(f"\n{title} on {result.profile}")
    for r in result.rows:
        m = r.measurement
        print(
            f"  {m.model:<22}{m.quant or 'fp32':<6}published {m.latency_ms:7.2f} ms  "
            f"hwsim {r.predicted_ms:7.2f} ms  ratio {r.ratio:5.2f}"
        )
    print(f"  {result.agreement.summary()}")
    worst = max(max(r.ratio, 1 / r.ratio) for r in result.rows)
    print(f"  worst row off by {worst:.2f}x")
    for model, published, predicted in speedups(result):
        print(f"  int8/fp32 {model:<22} published {published:4.2f}x  hwsim {predicted:4.2f}x")


def main() -> None:
    write_csvs()
    preset = hwsim.load_profile(PRESET)
    train = trace_cases(read_measurements(TRAIN))
    val = trace_cases(read_measurements(VAL))
    start = preset.with_params(ASSUMED)
    fitted = fit(start, train, params=PARAMS)
    print("fit from the assumed values:")
    for fp in fitted.params:
        print(f"  {fp.param.name}: {fp.start:.4g} -> {fp.value:.4g}")
    cv = fitted.cross_validation
    print(f"  training rows before: {fitted.before.summary()}")
    print(f"  training rows after:  {fitted.after.summary()}")
    if cv is not None:
        print(f"  held out ({cv.method}): {cv.agreement.summary()}")
    report("training rows (fitted on)", validate(train, preset))
    report("validation rows (not fitted on)", validate(val, preset))
    report("validation rows, preset before the fit", validate(val, start))


if __name__ == "__main__":
    main()
