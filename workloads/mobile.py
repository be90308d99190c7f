"""MobileNet v1 and EfficientNet-Lite: the mobile CNNs whose TensorFlow Lite latencies are
published (docs/validation.md, the Cortex-A76 section), written in torch from their papers.

- MobileNet v1 (Howard et al. 2017, arXiv:1704.04861, table 1), width 1.0: a 3x3
  stride-2 conv to 32 channels, then 13 depthwise-separable blocks (3x3 depthwise, 1x1
  pointwise, each with batch-norm and ReLU6 as in TensorFlow's slim implementation), global
  average pooling and a 1000-way classifier; 569 M multiply-adds at 224x224 (table 8). The
  width multiplier scales every layer's channels, as in TensorFlow Lite's hosted models.
- EfficientNet-Lite0..4 (tensorflow/tpu ``models/official/efficientnet/lite``): EfficientNet-B0's
  MBConv stages without squeeze-excitation, ReLU6 instead of swish, and a fixed stem (32
  channels), head (1280) and first and last stage depth while the width, depth and
  resolution coefficients scale the rest. Channels are rounded to multiples of 8 the way the
  reference builder rounds them (never below 90% of the scaled width); repeats round up.
  Multiply-adds 407 M, 631 M, 899 M, 1.44 G, 2.64 G (the lite README).

Convs use symmetric padding; TensorFlow's "SAME" padding on even inputs pads one pixel on one
side only, which changes no output size and no MAC count.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from .settle import settle_batchnorm
from .spec import Workload


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


def _conv_bn_relu6(
    c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1
) -> list[nn.Module]:
    return [*_conv_bn(c_in, c_out, kernel, stride, groups), nn.ReLU6()]


class MobileNetV1(nn.Module):
    """MobileNet v1 at a width multiplier (module doc)."""

    # (output channels, stride) of the 13 depthwise-separable blocks at width 1.0
    BLOCKS = (
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        *((512, 1),) * 5,
        (1024, 2),
        (1024, 1),
    )

    def __init__(self, width: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        c = int(32 * width)
        layers = _conv_bn_relu6(3, c, 3, 2)
        for out, stride in self.BLOCKS:
            layers += _conv_bn_relu6(c, c, 3, stride, groups=c)
            layers += _conv_bn_relu6(c, int(out * width), 1, 1)
            c = int(out * width)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.pool(self.features(x)).flatten(1))
        return out


class MBConv(nn.Module):
    """Expand (1x1), depthwise (k x k, stride), project (1x1); residual when shapes allow.

    ``c_in`` is the channels the block receives; ``nominal_in`` the stage's scaled input
    width, which sets the expansion and the residual test as in the reference builder. They
    differ only in the first stage of a widened model, whose input is the unscaled stem."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, nominal_in: int
    ) -> None:
        super().__init__()
        mid = nominal_in * expand if expand != 1 else c_in
        layers = _conv_bn_relu6(c_in, mid, 1, 1) if expand != 1 else []
        layers += _conv_bn_relu6(mid, mid, kernel, stride, groups=mid)
        layers += _conv_bn(mid, c_out, 1, 1)
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and nominal_in == c_out == c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.block(x)
        return x + out if self.residual else out


# EfficientNet-B0's stages: repeats, kernel, stride, expansion, input and output channels.
B0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# width, depth, resolution of efficientnet-lite0..4 (efficientnet_lite_builder.py)
LITE_SCALING = {
    0: (1.0, 1.0, 224),
    1: (1.0, 1.1, 240),
    2: (1.1, 1.2, 260),
    3: (1.2, 1.4, 280),
    4: (1.4, 1.8, 300),
}


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width``, to a multiple of ``divisor``, never below 90% of it."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite at ``width`` and ``depth`` coefficients (module doc)."""

    def __init__(self, width: float, depth: float, num_classes: int = 1000) -> None:
        super().__init__()
        layers = _conv_bn_relu6(3, 32, 3, 2)  # the stem is not scaled
        blocks: list[nn.Module] = []
        c = 32
        for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(B0_STAGES):
            fixed = i in (0, len(B0_STAGES) - 1)
            count = repeats if fixed else math.ceil(depth * repeats)
            nominal, c_out = round_filters(c_in, width), round_filters(c_out, width)
            for j in range(count):
                first = j == 0
                blocks.append(
                    MBConv(
                        c,
                        c_out,
                        kernel,
                        stride if first else 1,
                        expand,
                        nominal if first else c_out,
                    )
                )
                c = c_out
        self.stem = nn.Sequential(*layers)
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn_relu6(c_out, 1280, 1, 1))  # not scaled
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.head(self.blocks(self.stem(x))))
        out: torch.Tensor = self.classifier(features.flatten(1))
        return out


def _images(side: int, batch: int) -> tuple[torch.Tensor, ...]:
    return (torch.zeros(batch, 3, side, side),)


# Howard et al. 2017: million mult-adds at width 1.0 by resolution (table 7) and at 224 by
# width (table 6).
V1_MACS = {
    ("1.0", 224): 569e6,
    ("1.0", 192): 418e6,
    ("1.0", 160): 290e6,
    ("1.0", 128): 186e6,
    ("0.75", 224): 325e6,
    ("0.5", 224): 149e6,
    ("0.25", 224): 41e6,
}
V1_WIDTHS = ("1.0", "0.75", "0.5", "0.25")
V1_SIDES = (224, 192, 160, 128)


class FamilySpecError(ValueError):
    """A family member's spec that names no member."""


def mobilenet_v1(spec: str) -> Workload:
    """``mobilenet_v1:W_R``: width W (1.0, 0.75, 0.5, 0.25) at R x R (224, 192, 160, 128), as
    TensorFlow Lite names its hosted models (``Mobilenet_V1_1.0_224``)."""
    width, _, side = spec.partition("_")
    if width not in V1_WIDTHS or not side.isdigit() or int(side) not in V1_SIDES:
        raise FamilySpecError(
            f"expected WIDTH_RESOLUTION with width in {', '.join(V1_WIDTHS)} and resolution in "
            f"{', '.join(map(str, V1_SIDES))}, e.g. 1.0_224"
        )
    macs = V1_MACS.get((width, int(side)))
    return Workload(
        name=f"mobilenet_v1:{spec}",
        description=f"MobileNet v1 {width}, {side}x{side}, ReLU6 (TensorFlow slim)",
        build=lambda: settle_batchnorm(MobileNetV1(float(width))),
        make_inputs=functools.partial(_images, int(side)),
        published_macs=macs if macs is not None else 0.0,
        macs_source="Howard et al. 2017, tables 6 and 7" if macs else "not published",
    )


LITE_MACS = {0: 407e6, 1: 631e6, 2: 899e6, 3: 1.44e9, 4: 2.64e9}


def efficientnet_lite(spec: str) -> Workload:
    """``efficientnet_lite:N``, N in 0..4."""
    if spec not in ("0", "1", "2", "3", "4"):
        raise FamilySpecError("expected one of 0, 1, 2, 3, 4 (efficientnet_lite:0 .. :4)")
    index = int(spec)
    width, depth, side = LITE_SCALING[index]
    return Workload(
        name=f"efficientnet_lite:{index}",
        description=f"EfficientNet-Lite{index}, {side}x{side} (no SE, ReLU6)",
        build=lambda: settle_batchnorm(EfficientNetLite(width, depth)),
        make_inputs=functools.partial(_images, side),
        published_macs=LITE_MACS[index],
        macs_source="tensorflow/tpu models/official/efficientnet/lite/README.md (MAdds)",
    )
