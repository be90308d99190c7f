"""``cpu_arm_a53`` against the CPU column of Coral's Edge TPU benchmark table (held out).

Source: Coral, "Edge TPU performance benchmarks" (coral.ai/docs/edgetpu/benchmarks), table 1,
"Time per inference, in milliseconds", column "Embedded CPU": the Coral Dev Board's own CPU
(NXP i.MX 8M Quad, four Cortex-A53 at 1.5 GHz, the SoC ``cpu_arm_a53`` describes) running the
TensorFlow Lite version of each model with the C++ benchmark. The page does not say, in the
stored copy, how many threads the benchmark used or whether the CPU ran the float or the
quantized model ("all models running on both CPU and Edge TPU are the TensorFlow Lite
versions"), so every row is priced four ways: fp32 and int8, 1 and 4 threads.

Every row is held out: nothing here is fitted, and issue 13 reserves this table for
validation. The preset's clock, cores and memory are the Dev Board's (its header cites NXP's
fact sheet), so it is priced as it is, no ``--set``. The "Desktop CPU" column is not compared:
the stored copy of the page does not carry the footnote naming that CPU, and without its
model, clock, thread count and precision no preset can be said to describe it.

Writes ``benchmarks/results/coral_cpu.csv`` and prints every row and the summary per
configuration. Run: ``python benchmarks/coral_cpu.py``.
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

from result_rows import write_rows

import hwsim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "coral_cpu.csv"
PRESET = "cpu_arm_a53"
SOURCE = "coral.ai/docs/edgetpu/benchmarks, table 1, 'Embedded CPU' (Dev Board, 4x Cortex-A53)"

# (Coral's label, Embedded CPU ms, the built-in that reproduces it or None, input shape)
EMBEDDED_CPU: tuple[tuple[str, float, str | None], ...] = (
    ("Unet Mv2 (128x128)", 190.7, "unet_mobilenet_v2"),
    ("DeepLab V3 (513x513)", 1139, "deeplabv3_mobilenet_v2"),
    ("DenseNet (224x224)", 1032, "densenet121"),
    ("Inception v1 (224x224)", 392, "inception_v1"),
    ("Inception v4 (299x299)", 3157, "inception_v4"),
    ("Inception-ResNet V2 (299x299)", 2852, "inception_resnet_v2"),
    ("MobileNet v1 (224x224)", 164, "mobilenet_v1:1.0_224"),
    ("MobileNet v2 (224x224)", 122, "mobilenet_v2"),
    ("MobileNet v1 SSD (224x224)", 353, "ssd_mobilenet_v1"),
    ("MobileNet v2 SSD (224x224)", 282, "ssd_mobilenet_v2"),
    ("ResNet-50 V1 (299x299)", 1763, "resnet50_v1_299"),
    ("ResNet-50 V2 (299x299)", 1875, "resnet50_v2_299"),
    ("ResNet-152 V2 (299x299)", 5499, "resnet152_v2_299"),
    ("SqueezeNet (224x224)", 232, "squeezenet"),
    ("VGG16 (224x224)", 4595, "vgg16"),
    ("VGG19 (224x224)", 5538, "vgg19"),
    ("EfficientNet-EdgeTpu-S", 705, "efficientnet_edgetpu_s"),
    ("EfficientNet-EdgeTpu-M", 1081, "efficientnet_edgetpu_m"),
)
CONFIGS: tuple[tuple[str | None, int], ...] = ((None, 4), ("int8", 4), (None, 1), ("int8", 1))


def label(quant: str | None, threads: int) -> str:
    return f"{quant or 'fp32'}_{threads}t"


def main() -> None:
    profile = hwsim.load_profile(PRESET)
    rows: list[dict[str, object]] = []
    ratios: dict[str, list[float]] = {label(q, t): [] for q, t in CONFIGS}
    for model, published, workload in EMBEDDED_CPU:
        record: dict[str, object] = {
            "model": model,
            "workload": workload or "",
            "published_ms": published,
            "role": "held out",
        }
        if workload is None:
            rows.append(record)
            continue
        print(f"tracing {workload} ...", file=sys.stderr, flush=True)
        graph = hwsim.trace(workload)
        for quant, threads in CONFIGS:
            est = hwsim.estimate(graph, profile, quant=quant, threads=threads)
            ms = est.latency_s * 1e3
            record[f"hwsim_{label(quant, threads)}_ms"] = round(ms, 2)
            record[f"ratio_{label(quant, threads)}"] = round(ms / published, 3)
            ratios[label(quant, threads)].append(ms / published)
        rows.append(record)
    fields = ["model", "workload", "role", "published_ms"] + [
        f"{p}_{label(q, t)}{s}" for q, t in CONFIGS for p, s in (("hwsim", "_ms"), ("ratio", ""))
    ]
    write_rows(RESULTS, rows, fields)
    print(f"{PRESET} against {SOURCE}; ratio = hwsim / published; every row held out")
    head = "".join(f"{label(q, t):>17}" for q, t in CONFIGS)
    print(f"{'model':<32}{'published':>10}{head}")
    for r in rows:
        cells = "".join(
            f"{r[f'hwsim_{label(q, t)}_ms']:>9.1f} ({r[f'ratio_{label(q, t)}']:4.2f})"
            if f"ratio_{label(q, t)}" in r
            else f"{'not built':>17}"
            for q, t in CONFIGS
        )
        print(f"{r['model']:<32}{r['published_ms']:>10}{cells}")
    for name, values in ratios.items():
        gmean = math.exp(statistics.fmean(math.log(v) for v in values))
        within = sum(1 for v in values if 1 / 1.5 <= v <= 1.5)
        mape = statistics.fmean(abs(v - 1) for v in values) * 100
        print(
            f"{name}: {len(values)} rows, median ratio {statistics.median(values):.2f}, "
            f"geometric mean {gmean:.2f}, range {min(values):.2f}-{max(values):.2f}, "
            f"MAPE {mape:.1f}%, within 1.5x {within}"
        )


if __name__ == "__main__":
    main()
