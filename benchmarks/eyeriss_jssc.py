"""The ``eyeriss`` preset against Eyeriss v1's measured CONV-layer figures (JSSC 2017).

Source: Y.-H. Chen, T. Krishna, J. S. Emer, V. Sze, "Eyeriss: An Energy-Efficient
Reconfigurable Accelerator for Deep Convolutional Neural Networks", IEEE JSSC 52(1):127-138,
2017 (doi 10.1109/JSSC.2016.2616357), abstract: "Eyeriss processes the convolutional layers at
35 frames/s and 0.0029 DRAM access/multiply and accumulation (MAC) for AlexNet at 278 mW
(batch size N = 4), and 0.7 frames/s and 0.0035 DRAM access/MAC for VGG-16 at 236 mW (N = 3)".
The chip ran at 200 MHz for these (the preset's clock). The ISSCC 2016 paper (14.5) gives the
MAC counts hwsim's layers are checked against: 666 M MACs per 227x227 AlexNet image, 15.3 G
per 224x224 VGG-16 image. The per-layer tables of the JSSC paper were not found in a stored
copy, so only whole-network figures are compared; per-layer hwsim figures are printed to
explain them.

The layers are AlexNet's five CONV layers as the paper ran them (Caffe AlexNet, groups of 2 in
CONV2, 4 and 5) and VGG-16's thirteen, each followed by its ReLU, which Eyeriss applies on chip
as outputs leave the array; pooling and the FC layers are not part of the measurement and are
not priced. Each layer is priced at the batch the paper used, from its own input (the layers
are priced one by one so that the pooling between them is left out).

Which figures were seen: the preset's header cites the AlexNet measurement (35 fps, 278 mW)
and its assumed ``static_power_w`` was chosen so that AlexNet's power lands near 278 mW, and
its assumed DRAM link clock (60 MHz) is not recorded as fitted or not; so the AlexNet rows are
reported as **seen by the preset** (not validation) and the VGG-16 rows as **held out**.
DRAM accesses are counted as 16-bit words (Eyeriss's word), i.e. DRAM bytes / 2. Nothing is
fitted here. A sensitivity row prices the DRAM link at the 90 MHz link clock some summaries
of the paper give instead of the preset's assumed 60 MHz (context, not a fit).

Writes ``benchmarks/results/eyeriss_jssc.csv``. Run: ``python benchmarks/eyeriss_jssc.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from result_rows import write_rows
from torch import nn

import hwsim

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "eyeriss_jssc.csv"
PRESET = "eyeriss"
WORD_BYTES = 2  # Eyeriss moves 16-bit words
LINK_90MHZ = {"memory.dram.bandwidth_bytes_per_s": 90e6 * 8}  # 64-bit bus at 90 MHz


@dataclass(frozen=True)
class Layer:
    """One CONV layer: input channels, output channels, kernel, stride, padding, groups, H=W."""

    cin: int
    cout: int
    kernel: int
    stride: int
    padding: int
    groups: int
    size: int


@dataclass(frozen=True)
class Network:
    name: str
    batch: int
    layers: tuple[Layer, ...]
    fps: float  # published frames/s
    power_mw: float
    dram_per_mac: float
    macs_per_image: float  # ISSCC 2016
    role: str


ALEXNET = Network(
    "AlexNet CONV1-5",
    4,
    (
        Layer(3, 96, 11, 4, 0, 1, 227),
        Layer(96, 256, 5, 1, 2, 2, 27),
        Layer(256, 384, 3, 1, 1, 1, 13),
        Layer(384, 384, 3, 1, 1, 2, 13),
        Layer(384, 256, 3, 1, 1, 2, 13),
    ),
    35.0,
    278.0,
    0.0029,
    666e6,
    "seen by the preset",
)
_VGG = (
    (3, 64, 224),
    (64, 64, 224),
    (64, 128, 112),
    (128, 128, 112),
    (128, 256, 56),
    (256, 256, 56),
    (256, 256, 56),
    (256, 512, 28),
    (512, 512, 28),
    (512, 512, 28),
    (512, 512, 14),
    (512, 512, 14),
    (512, 512, 14),
)
VGG16 = Network(
    "VGG-16 CONV1-13",
    3,
    tuple(Layer(ci, co, 3, 1, 1, 1, s) for ci, co, s in _VGG),
    0.7,
    236.0,
    0.0035,
    15.3e9,
    "held out",
)


class ConvRelu(nn.Module):
    """One CONV layer and the ReLU Eyeriss applies as its outputs leave the array."""

    def __init__(self, layer: Layer) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            layer.cin, layer.cout, layer.kernel, layer.stride, layer.padding, groups=layer.groups
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


@dataclass(frozen=True)
class Priced:
    latency_s: float
    energy_j: float
    dram_bytes: float
    macs: float
    relu_s: float  # of latency_s, the time charged to the fused ReLUs


def price(net: Network, profile: hwsim.Profile, show: bool) -> Priced:
    latency = energy = dram = macs = relu = 0.0
    for i, layer in enumerate(net.layers, 1):
        x = torch.zeros(net.batch, layer.cin, layer.size, layer.size)
        graph = hwsim.trace(ConvRelu(layer), example_inputs=(x,), cache=False)
        est = hwsim.estimate(graph, profile)
        total = est.total
        layer_dram = total.bytes_read.get("dram", 0.0) + total.bytes_written.get("dram", 0.0)
        layer_relu = sum(c.cycles / c.clock_hz for op, c in est.costs if op.fused_into)
        latency += est.latency_s
        energy += est.energy_j
        dram += layer_dram
        macs += est.macs
        relu += layer_relu
        if show:
            conv = next(c for op, c in est.costs if op.macs)
            print(
                f"  CONV{i:<3}{est.macs / net.batch / 1e6:8.1f} M MAC/img  "
                f"{est.latency_s * 1e3:8.2f} ms  bound {conv.bound.value:<8}"
                f"share of peak {conv.ideal_cycles / conv.cycles:4.2f}  "
                f"DRAM {layer_dram / WORD_BYTES / est.macs:.4f} acc/MAC  "
                f"ReLU {layer_relu * 1e3:5.2f} ms"
            )
    return Priced(latency, energy, dram, macs, relu)


def main() -> None:
    preset = hwsim.load_profile(PRESET)
    rows: list[dict[str, object]] = []
    for net in (ALEXNET, VGG16):
        for variant, profile in (
            ("preset", preset),
            ("link 90 MHz", preset.with_params(LINK_90MHZ)),
        ):
            print(f"{net.name}, batch {net.batch}, {PRESET} ({variant}), role: {net.role}")
            p = price(net, profile, show=variant == "preset")
            fps = net.batch / p.latency_s
            power_mw = p.energy_j / p.latency_s * 1e3
            dram_per_mac = p.dram_bytes / WORD_BYTES / p.macs
            checks = (
                ("MACs per image", net.macs_per_image, p.macs / net.batch),
                ("frames/s", net.fps, fps),
                ("power mW", net.power_mw, power_mw),
                ("energy mJ/image", net.power_mw / net.fps, p.energy_j / net.batch * 1e3),
                ("DRAM access/MAC", net.dram_per_mac, dram_per_mac),
            )
            for metric, published, model in checks:
                print(
                    f"  {metric:<17} published {published:<10.4g} hwsim {model:<10.4g} "
                    f"ratio {model / published:5.2f}"
                )
                rows.append(
                    {
                        "network": net.name,
                        "batch": net.batch,
                        "profile": variant,
                        "role": net.role,
                        "metric": metric,
                        "published": published,
                        "hwsim": round(model, 6),
                        "ratio": round(model / published, 3),
                    }
                )
            print(f"  of which fused ReLUs: {p.relu_s / p.latency_s:.1%} of the time")
    write_rows(RESULTS, rows)


if __name__ == "__main__":
    main()
