"""int8/fp32 speedups of the x86 presets against OpenVINO's published ratios (held out).

Source: OpenVINO 2021.4 documentation, "INT8 vs FP32 Comparison on Select Networks and
Platforms" (docs.openvino.ai/2021.4/openvino_docs_performance_int8_vs_fp32.html), "Throughput
speed-up FP16-INT8 vs FP32", columns "Intel Xeon Platinum 8270" (Cascade Lake: AVX-512 with
VNNI, like ``cpu_x86_avx512_vnni``'s Ice Lake) and "Intel Core i7-8700T" (Coffee Lake: AVX2,
no VNNI, like ``cpu_x86_avx2``'s Zen 3). A ratio of two throughputs on the same machine does
not depend on its core count or clock, so the presets are priced as they are; what it checks
is how much faster the preset's int8 kernels are than its fp32 ones, per network.

Rows: the five networks of that table hwsim builds with the same architecture (resnet-50,
mobilenet-v2 and resnet-18 from PyTorch, densenet-121 from TensorFlow, squeezenet1.1 from
Caffe). OpenVINO measures throughput mode (several streams, all cores busy); batch 32 was
chosen as hwsim's like-for-like reading before pricing, and batch 1 is printed as context.
Nothing is fitted; every row is held out.

Writes ``benchmarks/results/openvino_int8.csv``. Run: ``python benchmarks/openvino_int8.py``.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from result_rows import write_rows

import hwsim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "openvino_int8.csv"
SOURCE = "docs.openvino.ai/2021.4/openvino_docs_performance_int8_vs_fp32.html"
LIKE_FOR_LIKE_BATCH = 32
BATCHES = (LIKE_FOR_LIKE_BATCH, 1)

# (OpenVINO model name, hwsim workload, Xeon Platinum 8270 speedup, i7-8700T speedup)
ROWS = (
    ("resnet-50-pytorch", "resnet50", 3.9, 1.9),
    ("mobilenet-v2-pytorch", "mobilenet_v2", 4.0, 1.7),
    ("resnet-18-pytorch", "resnet18", 4.2, 1.9),
    ("densenet-121-TF", "densenet121", 3.8, 1.8),
    ("squeezenet1.1-CF", "squeezenet", 3.4, 1.7),
)
PRESETS = (("cpu_x86_avx512_vnni", "Xeon Platinum 8270"), ("cpu_x86_avx2", "Core i7-8700T"))


def main() -> None:
    profiles = {name: hwsim.load_profile(name) for name, _ in PRESETS}
    records: list[dict[str, object]] = []
    for model, workload, vnni, avx2 in ROWS:
        published = {"cpu_x86_avx512_vnni": vnni, "cpu_x86_avx2": avx2}
        for batch in BATCHES:
            graph = hwsim.trace(workload, batch=batch)
            for name, cpu in PRESETS:
                fp32 = hwsim.estimate(graph, profiles[name]).latency_s
                int8 = hwsim.estimate(graph, profiles[name], quant="int8").latency_s
                records.append(
                    {
                        "preset": name,
                        "published_cpu": cpu,
                        "model": model,
                        "workload": workload,
                        "batch": batch,
                        "role": "held out" if batch == LIKE_FOR_LIKE_BATCH else "context",
                        "published_speedup": published[name],
                        "hwsim_speedup": round(fp32 / int8, 3),
                        "ratio": round(fp32 / int8 / published[name], 3),
                    }
                )
    write_rows(RESULTS, records)
    print(f"int8/fp32 throughput speedup, {SOURCE}; ratio = hwsim / published")
    for name, cpu in PRESETS:
        for batch in BATCHES:
            rows = [r for r in records if r["preset"] == name and r["batch"] == batch]
            print(f"{name} (against {cpu}), batch {batch}, {rows[0]['role']}:")
            for r in rows:
                print(
                    f"  {r['model']:<22}published {r['published_speedup']:4.1f}x  "
                    f"hwsim {r['hwsim_speedup']:5.2f}x  ratio {r['ratio']:5.2f}"
                )
            ratios = [float(str(r["ratio"])) for r in rows]
            gmean = math.exp(statistics.fmean(math.log(v) for v in ratios))
            print(
                f"  median ratio {statistics.median(ratios):.2f}, geometric mean {gmean:.2f}, "
                f"range {min(ratios):.2f}-{max(ratios):.2f}"
            )


if __name__ == "__main__":
    main()
