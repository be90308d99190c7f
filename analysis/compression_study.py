"""What compression buys, per hardware class: the shape of published results, reproduced.

Four questions from the efficient-deep-learning literature (issue 6), each answered by
pricing hwsim's built-in workloads (random weights, pruned by magnitude):

A. MobileNetV2 MACs left after 75% and 90% unstructured pruning (the survey's table quotes
   0.27x and 0.12x): uniform per-layer pruning, and the common practice of keeping the first
   conv and the depthwise convs dense.
B. int8 against fp32 on the CPU profiles (the literature: up to ~3x with SIMD int8).
C. 2:4 on the GPU profiles (2x tensor-core math on the GEMMs, less end to end).
D. Latency speedup against unstructured sparsity, per hardware class: the plot.

Run: ``python analysis/compression_study.py`` (about a minute). Writes
``analysis/results/compression_study.csv`` and ``docs/img/compression_speedup.png``; the
tables it prints are recorded in docs/compression.md.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

import hwsim
from hwsim.compression import Rule, compress, parse_prune, parse_variant
from hwsim.ops import MAC_KINDS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "analysis" / "results"
PLOT = ROOT / "docs" / "img" / "compression_speedup.png"
HOST = ROOT / "benchmarks" / "results" / "cpu_host_profile.yaml"  # this VM, calibrated
SPARSITIES = (0.5, 0.75, 0.9, 0.95)


def effective_macs(graph: hwsim.OpGraph) -> float:
    """MACs a zero-skipping machine would do: each layer's MACs times its weight density."""
    return sum(
        op.macs * (op.weight_stats.density if op.weight_stats else 1.0)
        for op in graph
        if op.kind in MAC_KINDS
    )


def part_a(graph: hwsim.OpGraph) -> list[dict[str, object]]:
    dense = effective_macs(graph)
    first_conv = next(op.name for op in graph if op.kind in MAC_KINDS)
    rows = []
    for sparsity, published in ((0.75, 0.27), (0.9, 0.12)):
        spec = parse_prune(str(sparsity))
        uniform = compress(graph, (Rule(prune=spec),))
        first_dense = compress(
            graph, (Rule(layers=f"^{re.escape(first_conv)}$", skip=True), Rule(prune=spec))
        )
        practice = compress(
            graph,
            (
                Rule(layers=f"^{re.escape(first_conv)}$|conv_3x3", skip=True),  # stem, depthwise
                Rule(prune=spec),
            ),
        )
        rows.append(
            {
                "part": "A",
                "model": "mobilenet_v2",
                "variant": f"{sparsity:g} unstructured",
                "published_macs_ratio": published,
                "uniform_macs_ratio": effective_macs(uniform) / dense,
                "first_conv_dense_macs_ratio": effective_macs(first_dense) / dense,
                "stem_and_depthwise_dense_macs_ratio": effective_macs(practice) / dense,
            }
        )
    return rows


def speedups(
    graph: hwsim.OpGraph,
    profiles: Sequence[hwsim.Profile],
    base: str,
    variant: str,
    part: str,
) -> list[dict[str, object]]:
    base_graph = graph if base == "dense" else compress(graph, parse_variant(base).rules)
    other = compress(graph, parse_variant(variant).rules)
    rows = []
    for profile in profiles:
        before = hwsim.estimate(base_graph, profile)
        after = hwsim.estimate(other, profile)
        rows.append(
            {
                "part": part,
                "model": graph.info.source,
                "batch": graph.info.batch,
                "hw": profile.name,
                "variant": f"{variant} vs {base}",
                "base_latency_s": before.latency_s,
                "latency_s": after.latency_s,
                "speedup": before.latency_s / after.latency_s,
                "energy_ratio": after.energy_j / before.energy_j,
            }
        )
    return rows


def zero_skipping(profile: hwsim.Profile) -> hwsim.Profile:
    """A what-if array that skips zero weights (SCALE-Sim v3-style), labelled as such."""
    return dataclasses.replace(
        profile,
        name=f"{profile.name}+zero-skip (what-if)",
        sparsity_patterns=frozenset({"unstructured", "2:4"}),
        compressed_weights=True,
    )


def part_d(graph: hwsim.OpGraph, profiles: Sequence[hwsim.Profile]) -> list[dict[str, object]]:
    rows = []
    variants = [*(f"{s:g}" for s in SPARSITIES), "2:4", "block4x4:0.75"]
    dense = {p.name: hwsim.estimate(graph, p).latency_s for p in profiles}
    for variant in variants:
        pruned = compress(graph, parse_variant(variant).rules)
        for profile in profiles:
            latency = hwsim.estimate(pruned, profile).latency_s
            rows.append(
                {
                    "part": "D",
                    "model": graph.info.source,
                    "hw": profile.name,
                    "hw_class": profile.hw_class,
                    "variant": variant,
                    "sparsity": parse_prune(variant).sparsity,
                    "latency_s": latency,
                    "speedup": dense[profile.name] / latency,
                }
            )
    return rows


def plot(rows: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(rows["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), sharey=True)
    for ax, model in zip(axes, models, strict=True):
        sub = rows[rows["model"] == model]
        for hw, group in sub.groupby("hw", sort=False):
            curve = group[~group["variant"].isin(["2:4", "block4x4:0.75"])]
            line = ax.plot(
                [0.0, *curve["sparsity"]], [1.0, *curve["speedup"]], marker="o", label=hw
            )[0]
            for variant, marker in (("2:4", "s"), ("block4x4:0.75", "^")):
                point = group[group["variant"] == variant]
                ax.scatter(
                    point["sparsity"],
                    point["speedup"],
                    marker=marker,
                    s=60,
                    color=line.get_color(),
                    edgecolors="black",
                    zorder=3,
                )
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_yscale("log", base=2)
        ax.set_title(f"{model}, batch 1")
        ax.set_xlabel("weight sparsity (circles: unstructured, square: 2:4, triangle: 4x4 blocks)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("latency speedup over dense (same hardware)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def main() -> None:
    load = hwsim.load_profile
    cpus = [load(name) for name in ("cpu_x86_avx2", "cpu_x86_avx512_vnni", "cpu_arm_a76")]
    host = load(HOST) if HOST.exists() else None
    rows: list[dict[str, object]] = []
    mobilenet = hwsim.trace("mobilenet_v2")
    rows += part_a(mobilenet)
    resnet = hwsim.trace("resnet50")
    bert = hwsim.trace("bert_base")
    for graph in (resnet, mobilenet, bert):
        rows += speedups(graph, [*cpus, *([host] if host else [])], "dense", "int8", "B")
    gpus = [load(name) for name in ("gpu_a100", "gpu_h100", "gpu_a100_trt", "gpu_h100_trt")]
    for name in ("resnet50", "bert_base"):
        for batch in (1, 64):
            graph = hwsim.trace(name, batch=batch)
            rows += speedups(graph, gpus, "fp16", "fp16+2:4", "C")
            rows += speedups(graph, gpus, "int8", "int8+2:4", "C")
    classes = [
        *([host] if host else []),
        load("gpu_a100_trt"),
        load("tpu_edge"),
        zero_skipping(load("tpu_edge")),
        load("fpga_zcu104_dpu"),
    ]
    curve = pd.DataFrame(part_d(mobilenet, classes) + part_d(resnet, classes))
    frame = pd.concat([pd.DataFrame(rows), curve], ignore_index=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    frame.to_csv(RESULTS / "compression_study.csv", index=False)
    plot(curve)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    for part, group in frame.groupby("part"):
        print(f"\n== part {part} ==")
        print(group.dropna(axis=1, how="all").drop(columns="part").to_string(index=False))
    print(f"\nwrote {RESULTS / 'compression_study.csv'} and {PLOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
