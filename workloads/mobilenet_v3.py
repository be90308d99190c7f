"""MobileNetV3-Large, written from Howard et al. 2019 (``transformers`` has no MobileNetV3).

The network is its table 1 as data: one ``Bneck`` row per inverted-residual block. Details the
table leaves open follow the common PyTorch reading, so MACs and parameters match the figures
users know: the squeeze-and-excite bottleneck is a quarter of the expansion rounded to a
multiple of 8, the first block (expansion 16 = input 16) has no expansion conv, and the two
"NBN" 1x1 convs of the head act on a pooled vector, so they are linear layers.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from .inputs import image_batch
from .settle import settle_batchnorm
from .spec import Workload

ACTIVATIONS: dict[str, type[nn.Module]] = {"RE": nn.ReLU, "HS": nn.Hardswish}
BN_EPS = 0.001  # the paper trains with TensorFlow's default batch-norm epsilon


@dataclass(frozen=True)
class Bneck:
    """One row of table 1: a bottleneck block."""

    kernel: int
    expansion: int  # "exp size": channels of the depthwise conv
    out: int
    se: bool
    nl: str  # nonlinearity: "RE" (ReLU) or "HS" (hard-swish)
    stride: int


LARGE: tuple[Bneck, ...] = (
    Bneck(3, 16, 16, False, "RE", 1),
    Bneck(3, 64, 24, False, "RE", 2),
    Bneck(3, 72, 24, False, "RE", 1),
    Bneck(5, 72, 40, True, "RE", 2),
    Bneck(5, 120, 40, True, "RE", 1),
    Bneck(5, 120, 40, True, "RE", 1),
    Bneck(3, 240, 80, False, "HS", 2),
    Bneck(3, 200, 80, False, "HS", 1),
    Bneck(3, 184, 80, False, "HS", 1),
    Bneck(3, 184, 80, False, "HS", 1),
    Bneck(3, 480, 112, True, "HS", 1),
    Bneck(3, 672, 112, True, "HS", 1),
    Bneck(5, 672, 160, True, "HS", 2),
    Bneck(5, 960, 160, True, "HS", 1),
    Bneck(5, 960, 160, True, "HS", 1),
)
STEM_CHANNELS = 16
LAST_CONV_CHANNELS = 960
HEAD_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor`` (never down by more than 10%), so channel
    counts suit vectorised kernels."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn_act(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, nl: str | None = None
) -> nn.Sequential:
    """Conv (no bias: batch norm follows) -> batch norm -> optional activation."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(in_ch, out_ch, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        bn=nn.BatchNorm2d(out_ch, eps=BN_EPS),
    )
    if nl is not None:
        layers["act"] = ACTIVATIONS[nl]()
    return nn.Sequential(layers)


class SqueezeExcite(nn.Module):
    """Channel gating: global pool -> 1x1 squeeze (ReLU) -> 1x1 excite (hard-sigmoid)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = make_divisible(channels / 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * scale


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise -> optional SE -> project (1x1, linear), with a skip
    connection when the block keeps resolution and width."""

    def __init__(self, in_ch: int, row: Bneck) -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if row.expansion != in_ch:
            layers["expand"] = conv_bn_act(in_ch, row.expansion, 1, nl=row.nl)
        layers["depthwise"] = conv_bn_act(
            row.expansion, row.expansion, row.kernel, row.stride, groups=row.expansion, nl=row.nl
        )
        if row.se:
            layers["se"] = SqueezeExcite(row.expansion)
        layers["project"] = conv_bn_act(row.expansion, row.out, 1)
        self.block = nn.Sequential(layers)
        self.use_residual = row.stride == 1 and in_ch == row.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


class MobileNetV3(nn.Module):
    """Stem conv, the bottleneck rows, a 1x1 conv to 960, pooling and a two-layer head."""

    def __init__(self, rows: tuple[Bneck, ...], num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        blocks: list[nn.Module] = [conv_bn_act(3, STEM_CHANNELS, 3, stride=2, nl="HS")]
        in_ch = STEM_CHANNELS
        for row in rows:
            blocks.append(InvertedResidual(in_ch, row))
            in_ch = row.out
        blocks.append(conv_bn_act(in_ch, LAST_CONV_CHANNELS, 1, nl="HS"))
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(LAST_CONV_CHANNELS, HEAD_CHANNELS),
            nn.Hardswish(),
            nn.Dropout(dropout),
            nn.Linear(HEAD_CHANNELS, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _build_large() -> nn.Module:
    return settle_batchnorm(MobileNetV3(LARGE))


def mobilenet_v3_large() -> Workload:
    """MobileNetV3-Large 1.0 at 224: hard-swish, SE blocks, and 5x5 depthwise convs."""
    return Workload(
        name="mobilenet_v3_large",
        description="MobileNetV3-Large, width 1.0, ImageNet 224x224, 1000 classes",
        build=_build_large,
        make_inputs=image_batch,
        published_macs=219e6,
        macs_source="Howard et al. 2019, table 3: 219M multiply-adds, 5.4M parameters",
    )
