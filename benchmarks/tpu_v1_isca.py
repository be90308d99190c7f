"""The ``tpu_v1`` preset against the per-application figures of Jouppi et al., ISCA 2017.

Source: N. P. Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit",
ISCA 2017 (arXiv 1704.04760). Table 1 gives, for the six production applications, the layer
count, the weights, the operational intensity ("TPU Ops / Weight Byte") and the batch size;
Table 3 gives the TeraOps/s each achieved on the TPU (MLP0 12.3, MLP1 9.7, LSTM0 3.7, LSTM1
2.8, CNN0 86.0, CNN1 14.1) and the performance-counter breakdown that explains them. The
figures were read from a public transcription of Tables 1-3 (a JavaScript data file in the
code corpus, headed "TPU Paper Data — extracted from Tables 1–6"), not from the PDF here.

The applications themselves are not public, so each is priced as a **synthetic stand-in with
the published layer count, weight count and batch**: the MLPs and LSTMs as stacks of equal
square fully connected layers (weights / layers each; an LSTM step is the same weight-streaming
GEMM at that batch, its gates' elementwise work is left out), the CNNs as stacks of equal 3x3
convolutions whose spatial size is chosen so that MACs per weight byte equal the published
intensity. Layer shapes are assumptions, so a row checks the preset's roofline terms (92 TOPS
peak, 34 GB/s weight memory, the 256x256 array's folds and weight loads) at the published
operating point, not the real models. Nothing is fitted; every row is held out (no preset
constant was set from these figures: its header cites only Table 2 and Sec. 2).

Also printed: the paper's roofline bound at each intensity, min(92 TOPS, 2 x intensity x
34 GB/s), the ridge point the preset implies (peak MAC/s over weight bandwidth; the paper
gives 1350 MAC ops per weight byte in its roofline figure).

Writes ``benchmarks/results/tpu_v1_isca.csv``. Run: ``python benchmarks/tpu_v1_isca.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from result_rows import write_rows
from torch import nn

import hwsim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tpu_v1_isca.csv"
PRESET = "tpu_v1"


@dataclass(frozen=True)
class App:
    """One row of Tables 1 and 3: layers, weights, ops per weight byte, batch, measured TOPS."""

    name: str
    kind: str  # "fc" or "conv"
    layers: int
    weights: float
    intensity: float
    batch: int
    measured_tops: float


APPS = (
    App("MLP0", "fc", 5, 20e6, 200, 200, 12.3),
    App("MLP1", "fc", 4, 5e6, 168, 168, 9.7),
    App("LSTM0", "fc", 58, 52e6, 64, 64, 3.7),
    App("LSTM1", "fc", 56, 34e6, 96, 96, 2.8),
    App("CNN0", "conv", 16, 8e6, 2888, 8, 86.0),
    App("CNN1", "conv", 89, 100e6, 1750, 32, 14.1),
)


def stand_in(app: App) -> tuple[nn.Module, torch.Tensor, str]:
    """The synthetic model, its input, and a description of its assumed shapes."""
    if app.kind == "fc":
        width = round(math.sqrt(app.weights / app.layers))
        body: list[nn.Module] = [
            m for _ in range(app.layers) for m in (nn.Linear(width, width), nn.ReLU())
        ]
        return nn.Sequential(*body), torch.zeros(app.batch, width), f"{app.layers} x FC {width}"
    channels = round(math.sqrt(app.weights / app.layers / 9))
    per_image = app.intensity / app.batch  # MACs per weight per image = output positions
    h, w = min(
        ((h, w) for h in range(1, 64) for w in range(h, 2 * h + 1)),
        key=lambda hw: abs(hw[0] * hw[1] - per_image),
    )
    convs: list[nn.Module] = [
        m
        for _ in range(app.layers)
        for m in (nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
    ]
    shape = f"{app.layers} x conv3x3 {channels}ch at {h}x{w}"
    return nn.Sequential(*convs), torch.zeros(app.batch, channels, h, w), shape


def main() -> None:
    profile = hwsim.load_profile(PRESET)
    peak_macs = profile.peak_macs_per_cycle["int8"] * profile.clock_hz
    weight_bw = profile.memory[-1].bandwidth_bytes_per_cycle * profile.clock_hz
    print(
        f"{PRESET}: peak {2 * peak_macs / 1e12:.1f} TOPS, weight memory {weight_bw / 1e9:.1f} GB/s,"
        f" ridge point {peak_macs / weight_bw:.0f} MAC per weight byte (paper: 1350)"
    )
    rows: list[dict[str, object]] = []
    for app in APPS:
        model, x, shape = stand_in(app)
        graph = hwsim.trace(model, example_inputs=(x,), cache=False)
        est = hwsim.estimate(graph, profile, quant="int8")
        weight_bytes = sum(math.prod(op.params[0].shape) for op in graph if op.macs)  # int8
        intensity = est.macs / weight_bytes
        tops = 2 * est.macs / est.latency_s / 1e12
        roof = min(2 * peak_macs, 2 * intensity * weight_bw) / 1e12
        bounds = sorted({c.bound.value for op, c in est.costs if op.macs})
        rows.append(
            {
                "app": app.name,
                "stand_in": shape,
                "batch": app.batch,
                "published_intensity": app.intensity,
                "stand_in_intensity": round(intensity, 1),
                "roofline_tops": round(roof, 2),
                "measured_tops": app.measured_tops,
                "hwsim_tops": round(tops, 2),
                "ratio": round(tops / app.measured_tops, 3),
                "hwsim_bound": "/".join(bounds),
                "role": "held out",
            }
        )
    print(
        f"{'app':<7}{'stand-in':<34}{'ops/B':>7}{'roofline':>10}{'measured':>10}{'hwsim':>8}"
        f"{'ratio':>7}  bound"
    )
    for r in rows:
        print(
            f"{r['app']:<7}{r['stand_in']:<34}{r['stand_in_intensity']:>7}"
            f"{r['roofline_tops']:>10}{r['measured_tops']:>10}{r['hwsim_tops']:>8}"
            f"{r['ratio']:>7}  {r['hwsim_bound']}"
        )
    write_rows(RESULTS, rows)


if __name__ == "__main__":
    main()
