"""A MobileNet-like block search space (ProxylessNAS / FBNet style), for latency-aware NAS.

The macro skeleton is MobileNetV2's (Sandler et al., 2018, table 2): a 3x3 stride-2 stem to
32 channels, a fixed first block (expansion 1, 16 channels), then 6 stages of searched
positions and a 1x1 conv to 1280 channels, global pooling and a classifier. Each searched
position chooses one of 7 blocks, as ProxylessNAS's mobile space does (Cai et al., ICLR
2019, section 4): an inverted-residual block (MBConv: 1x1 expansion, depthwise k x k, 1x1
projection, batch-norm and ReLU6) with expansion 3 or 6 and kernel 3, 5 or 7, or a skip
(identity) where the block keeps its shape. The first position of each stage changes the
width (and stride) and cannot be skipped.

``positions(resolution)`` returns the space as (candidate blocks, input shape) pairs, the form
``hwsim.nas.LatencyTable`` takes; ``build(choices)`` the whole network for one choice of
each position. Nothing here imports hwsim.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn

# (output channels, positions, stride of the first), MobileNetV2's stages after the first block.
STAGES = ((24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
BLOCKS = tuple((e, k) for e in (3, 6) for k in (3, 5, 7))  # (expansion, kernel)
SKIP = "skip"
STEM, FIRST, LAST = 32, 16, 1280
NUM_CLASSES = 1000


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 project; residual when the shape
    is kept."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.body(x)
        return x + y if self.residual else y


class Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, STEM, 3, 2, 1, bias=False), nn.BatchNorm2d(STEM), nn.ReLU6()
        )
        self.first = MBConv(STEM, FIRST, 1, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.first(self.conv(x))
        return out


class Head(nn.Module):
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, LAST, 1, bias=False), nn.BatchNorm2d(LAST), nn.ReLU6()
        )
        self.classifier = nn.Linear(LAST, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).mean((2, 3))
        out: torch.Tensor = self.classifier(y)
        return out


@dataclass(frozen=True)
class Slot:
    """One searched position: its input shape and whether it may be skipped."""

    c_in: int
    c_out: int
    stride: int
    side: int  # input height = width

    @property
    def skippable(self) -> bool:
        return self.stride == 1 and self.c_in == self.c_out


def slots(resolution: int = 224) -> list[Slot]:
    side, c_in, out = resolution // 2, FIRST, []
    for c_out, count, stride in STAGES:
        for i in range(count):
            s = stride if i == 0 else 1
            out.append(Slot(c_in, c_out, s, side))
            side, c_in = -(-side // s), c_out
    return out


def labels(slot: Slot) -> list[str]:
    """Names of the slot's candidates, in order: ``e3_k3`` ... ``e6_k7``, then ``skip``."""
    names = [f"e{e}_k{k}" for e, k in BLOCKS]
    return [*names, SKIP] if slot.skippable else names


def candidate(slot: Slot, label: str) -> nn.Module:
    if label == SKIP:
        return nn.Identity()
    e, k = (int(part[1:]) for part in label.split("_"))
    return MBConv(slot.c_in, slot.c_out, slot.stride, e, k)


def positions(
    resolution: int = 224, batch: int = 1
) -> list[tuple[list[nn.Module], tuple[int, ...]]]:
    """The space as positions: the fixed stem, every searched slot, the fixed head."""
    searched = slots(resolution)
    last = searched[-1]
    out: list[tuple[list[nn.Module], tuple[int, ...]]] = [
        ([Stem().eval()], (batch, 3, resolution, resolution))
    ]
    for slot in searched:
        blocks = [candidate(slot, name).eval() for name in labels(slot)]
        out.append((blocks, (batch, slot.c_in, slot.side, slot.side)))
    tail = -(-last.side // last.stride)
    out.append(([Head(last.c_out).eval()], (batch, last.c_out, tail, tail)))
    return out


def build(choices: list[str], resolution: int = 224) -> nn.Module:
    """The network for one label per searched slot (``labels``), in eval mode."""
    searched = slots(resolution)
    if len(choices) != len(searched):
        raise ValueError(f"expected {len(searched)} choices, got {len(choices)}")
    blocks: list[nn.Module] = [Stem()]
    for slot, label in zip(searched, choices, strict=True):
        if label not in labels(slot):
            raise ValueError(f"'{label}' is not a candidate here ({', '.join(labels(slot))})")
        blocks.append(candidate(slot, label))
    blocks.append(Head(searched[-1].c_out))
    return nn.Sequential(*blocks).eval()


def sample(n: int, seed: int = 0, resolution: int = 224) -> list[list[str]]:
    """``n`` random choices of every slot (uniform per slot, reproducible)."""
    rng = random.Random(seed)
    searched = slots(resolution)
    return [[rng.choice(labels(slot)) for slot in searched] for _ in range(n)]
