"""Fit and check ``cpu_arm_a76_xnnpack`` on published TensorFlow Lite latencies of a Pixel 4.

The Pixel 4's Snapdragon 855 has four Cortex-A76-class big cores; TensorFlow Lite publishes
its 4-thread CPU latency for MobileNet v1 (float and quantized) and the EfficientNet-Lite
README for EfficientNet-Lite0..4 (float and int8). Those 12 rows are written to
``results/a76_tflite_published.csv`` and split by a rule fixed before any fit:

- training (``TRAIN_MODELS``): every network that is not an interior member of the
  EfficientNet-Lite family, i.e. MobileNet v1 and the family's ends, Lite0 and Lite4, fp32
  and int8 (6 rows);
- validation: EfficientNet-Lite1, -Lite2 and -Lite3, fp32 and int8 (6 rows), never seen by
  the fit.

The fit is ``hwsim fit`` itself (the command, run here as a subprocess) on the training CSV,
from the preset with the two fitted values at their neutral 1.0 (``ASSUMED``, written to
``results/a76_tflite_start.yaml``), moving ``PARAMS``: the dense-conv efficiency and the
int8 efficiency (6 rows support 2 parameters). Its profile, with the record of the fit
(training file hashes, residuals, leave-one-out error), is ``results/a76_tflite_fit.yaml``.
The preset carries the fitted values by hand; this script checks that it does, and prints
every row of both sets on the preset, the int8/fp32 speedup per network (published and
predicted), and for context the eager-PyTorch ``cpu_arm_a76`` on the same rows.

Run: ``python benchmarks/a76_tflite.py`` (from the repository root or anywhere).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from result_rows import write_rows

import hwsim
from hwsim.fit import read_measurements, trace_cases, validate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PUBLISHED = RESULTS / "a76_tflite_published.csv"
TRAIN = RESULTS / "a76_tflite_train.csv"
VAL = RESULTS / "a76_tflite_val.csv"
START = RESULTS / "a76_tflite_start.yaml"
FITTED = RESULTS / "a76_tflite_fit.yaml"
PRESET = "cpu_arm_a76_xnnpack"
EAGER = "cpu_arm_a76"
PARAMS = ("conv_efficiency", "int8_efficiency")
# The fit starts from the preset with the fitted corrections at 1.0 (no correction).
ASSUMED = {"arch.efficiency_scale.conv": 1.0, "arch.precision_efficiency.int8": 1.0}
TOLERANCE = 0.01  # the preset carries a fitted value within 1% (it is written rounded)

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
        write_rows(path, chosen, FIELDS)


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


def run_fit() -> dict[str, float]:
    """``hwsim fit`` on the training rows from the start profile; the fitted values by key."""
    start = hwsim.load_profile(PRESET).with_params(ASSUMED)
    data = start.to_data()
    data["name"] = START.stem
    header = f"# {PRESET} with {', '.join(ASSUMED)} at 1.0: where a76_tflite.py's fit starts\n"
    START.write_text(header + yaml.safe_dump(data, sort_keys=False, width=100))
    command = [
        str(Path(sys.executable).with_name("hwsim")),
        "fit",
        str(TRAIN.relative_to(ROOT)),
        *("--hw", str(START.relative_to(ROOT)), "-o", str(FITTED.relative_to(ROOT))),
        *("--params", ",".join(PARAMS)),
    ]
    print("$ hwsim " + " ".join(command[1:]))
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    print(done.stdout + done.stderr)
    if done.returncode:
        raise SystemExit(done.returncode)
    record = yaml.safe_load(FITTED.read_text())["info"]["fit"]["params"]
    return {p["keys"][0]: float(p["value"]) for p in record.values()}


def main() -> None:
    write_csvs()
    fitted = run_fit()
    preset = hwsim.load_profile(PRESET)
    data = preset.to_data()
    ok = True
    for key, value in fitted.items():
        node = data
        for part in key.split("."):
            node = node[part]
        held = float(node)
        same = abs(held - value) <= TOLERANCE * value
        ok &= same
        print(
            f"{PRESET} holds {key} = {held:.4g} (fit: {value:.4g}){'' if same else '  <-- differs'}"
        )
    train = trace_cases(read_measurements(TRAIN))
    val = trace_cases(read_measurements(VAL))
    report("training rows (fitted on)", validate(train, preset))
    report("validation rows (not fitted on)", validate(val, preset))
    start = preset.with_params(ASSUMED)
    report("validation rows, preset before the fit", validate(val, start))
    report(
        "all rows, eager-PyTorch preset (context, not fitted)",
        validate(train + val, hwsim.load_profile(EAGER)),
    )
    if not ok:
        print(f"{PRESET} does not carry the fitted values: update hw_profiles/{PRESET}.yaml")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
