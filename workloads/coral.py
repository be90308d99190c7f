"""The models of Coral's Edge TPU benchmark table, in plain torch (no torchvision).

Coral, "Edge TPU performance benchmarks" (coral.ai/docs/edgetpu/benchmarks), table 1, times
TensorFlow Lite int8 builds of these networks; each is written here from its paper or from the
TensorFlow source the TFLite model was converted from, at the resolution the table gives.
They validate the Edge TPU model (docs/validation.md): these are reference architectures with
random weights, built only when asked for, and they are not in the core set every preset is
tested on. Classification models end in a softmax over 1001 classes, as the TFLite models do.
Coral's MobileNet v1 row is the registry's ``mobilenet_v1:1.0_224`` (workloads/mobile.py,
one name per network), whose classifier is a 1000-way linear layer without the softmax; SSD
MobileNet V1 uses that network's layers as its backbone.

Details each source leaves to its framework follow that framework: TF-slim's Inception V1
uses 3x3 kernels where the paper's branch has 5x5 (``Conv2d_0b_3x3``); Keras' ResNet V1 puts
the stride on the first 1x1 conv of a block and keeps conv biases; ResNet V2 is Keras'
pre-activation network (stride in the last block of a stage).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .mobile import MobileNetV1
from .settle import settle_batchnorm
from .spec import Workload

CLASSES = 1001  # ImageNet plus background, as the TF-slim and Keras-converted TFLite models


def images(size: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """Zero NCHW images of ``size`` x ``size``."""

    def make(batch: int) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch, 3, size, size),)

    return make


def conv_bn(
    cin: int,
    cout: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
    valid: bool = False,
    dilation: int = 1,
) -> nn.Sequential:
    """Conv ("same" padding, or none with ``valid``) -> batch norm -> activation."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = (0, 0) if valid else (dilation * (k[0] // 2), dilation * (k[1] // 2))
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Classifier(nn.Module):
    """Global average pool, a 1x1 conv (TF-slim's logits) or linear layer, softmax."""

    def __init__(self, channels: int, conv: bool = True) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits: nn.Module = (
            nn.Conv2d(channels, CLASSES, 1) if conv else nn.Linear(channels, CLASSES)
        )
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        x = self.logits(x).flatten(1) if self.conv else self.logits(x.flatten(1))
        return torch.softmax(x, dim=-1)


# --- Inception V1 (Szegedy et al. 2015, table 1; TF-slim inception_v1 with batch norm) -----------

# (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (3x3 in TF-slim), pool projection)
INCEPTION_V1 = {
    "3b": (64, 96, 128, 16, 32, 32),
    "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64),
    "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64),
    "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128),
    "5c": (384, 192, 384, 48, 128, 128),
}


class Mixed(nn.Module):
    """Four branches concatenated along channels."""

    def __init__(self, branches: Sequence[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], dim=1)


def _inception_v1_block(cin: int, widths: tuple[int, ...]) -> Mixed:
    b0, r1, b1, r2, b2, pool = widths
    return Mixed(
        [
            conv_bn(cin, b0, 1),
            nn.Sequential(conv_bn(cin, r1, 1), conv_bn(r1, b1, 3)),
            nn.Sequential(conv_bn(cin, r2, 1), conv_bn(r2, b2, 3)),
            nn.Sequential(nn.MaxPool2d(3, 1, 1), conv_bn(cin, pool, 1)),
        ]
    )


class InceptionV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            conv_bn(3, 64, 7, 2),
            nn.MaxPool2d(3, 2, 1),
            conv_bn(64, 64, 1),
            conv_bn(64, 192, 3),
            nn.MaxPool2d(3, 2, 1),
        ]
        cin = 192
        for name, widths in INCEPTION_V1.items():
            if name in ("4b", "5b"):
                layers.append(nn.MaxPool2d(3, 2, 1) if name == "4b" else nn.MaxPool2d(2, 2))
            layers.append(_inception_v1_block(cin, widths))
            cin = widths[0] + widths[2] + widths[4] + widths[5]
        self.features = nn.Sequential(*layers)
        self.head = Classifier(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- Inception V4 (Szegedy et al. 2017, figures 3-9; TF-slim inception_v4) ---------------------


def _valid(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return conv_bn(cin, cout, kernel, stride, valid=True)


def _chain(*convs: tuple[int, int, int | tuple[int, int]]) -> nn.Sequential:
    """1 x n and n x 1 convs in a row ("same" padding): (in, out, kernel) each."""
    return nn.Sequential(*(conv_bn(cin, cout, k) for cin, cout, k in convs))


class InceptionCSplit(nn.Module):
    """Inception-C's split tail: a 1x3 and a 3x1 conv on the same input, concatenated."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.wide = conv_bn(cin, 256, (1, 3))
        self.tall = conv_bn(cin, 256, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.wide(x), self.tall(x)], dim=1)


def _inception_v4_a() -> Mixed:  # 35x35x384
    return Mixed(
        [
            conv_bn(384, 96, 1),
            _chain((384, 64, 1), (64, 96, 3)),
            _chain((384, 64, 1), (64, 96, 3), (96, 96, 3)),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv_bn(384, 96, 1)),
        ]
    )


def _inception_v4_b() -> Mixed:  # 17x17x1024
    return Mixed(
        [
            conv_bn(1024, 384, 1),
            _chain((1024, 192, 1), (192, 224, (1, 7)), (224, 256, (7, 1))),
            _chain(
                (1024, 192, 1),
                (192, 192, (7, 1)),
                (192, 224, (1, 7)),
                (224, 224, (7, 1)),
                (224, 256, (1, 7)),
            ),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv_bn(1024, 128, 1)),
        ]
    )


def _inception_v4_c() -> Mixed:  # 8x8x1536
    return Mixed(
        [
            conv_bn(1536, 256, 1),
            nn.Sequential(conv_bn(1536, 384, 1), InceptionCSplit(384)),
            nn.Sequential(
                _chain((1536, 384, 1), (384, 448, (3, 1)), (448, 512, (1, 3))), InceptionCSplit(512)
            ),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv_bn(1536, 256, 1)),
        ]
    )


class InceptionV4(nn.Module):
    """TF-slim's inception_v4_base: the stem (Mixed_3a/4a/5a), 4 x Inception-A, Reduction-A
    (Mixed_6a), 7 x Inception-B, Reduction-B (Mixed_7a), 3 x Inception-C; "VALID" padding
    where the source asks for it (299 -> 149 -> 147 -> 73 -> 71 -> 35 -> 17 -> 8)."""

    def __init__(self) -> None:
        super().__init__()
        stem: list[nn.Module] = [
            _valid(3, 32, 3, 2),
            _valid(32, 32, 3),
            conv_bn(32, 64, 3),
            Mixed([nn.MaxPool2d(3, 2), _valid(64, 96, 3, 2)]),  # Mixed_3a: 160
            Mixed(
                [
                    nn.Sequential(conv_bn(160, 64, 1), _valid(64, 96, 3)),
                    nn.Sequential(
                        _chain((160, 64, 1), (64, 64, (1, 7)), (64, 64, (7, 1))),
                        _valid(64, 96, 3),
                    ),
                ]
            ),  # Mixed_4a: 192
            Mixed([_valid(192, 192, 3, 2), nn.MaxPool2d(3, 2)]),  # Mixed_5a: 384
        ]
        reduction_a = Mixed(
            [
                _valid(384, 384, 3, 2),
                nn.Sequential(_chain((384, 192, 1), (192, 224, 3)), _valid(224, 256, 3, 2)),
                nn.MaxPool2d(3, 2),
            ]
        )  # 384 + 256 + 384 = 1024
        reduction_b = Mixed(
            [
                nn.Sequential(conv_bn(1024, 192, 1), _valid(192, 192, 3, 2)),
                nn.Sequential(
                    _chain((1024, 256, 1), (256, 256, (1, 7)), (256, 320, (7, 1))),
                    _valid(320, 320, 3, 2),
                ),
                nn.MaxPool2d(3, 2),
            ]
        )  # 192 + 320 + 1024 = 1536
        self.features = nn.Sequential(
            *stem,
            *(_inception_v4_a() for _ in range(4)),
            reduction_a,
            *(_inception_v4_b() for _ in range(7)),
            reduction_b,
            *(_inception_v4_c() for _ in range(3)),
        )
        self.head = Classifier(1536, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- Inception-ResNet V2 (Szegedy et al. 2017, figures 9-19; TF-slim inception_resnet_v2) ---


class ResidualInception(nn.Module):
    """block35 / block17 / block8: branches concatenated, a 1x1 linear conv (with bias) back
    to the input width, scaled and added to the input, then ReLU (not after the last
    block8)."""

    def __init__(
        self, width: int, branches: Sequence[nn.Module], mixed: int, scale: float, relu: bool = True
    ) -> None:
        super().__init__()
        self.mixed = Mixed(branches)
        self.up = nn.Conv2d(mixed, width, 1)
        self.scale = scale
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.scale * self.up(self.mixed(x))
        return torch.relu(y) if self.relu else y


def _block35() -> ResidualInception:  # 35x35x320
    return ResidualInception(
        320,
        [
            conv_bn(320, 32, 1),
            _chain((320, 32, 1), (32, 32, 3)),
            _chain((320, 32, 1), (32, 48, 3), (48, 64, 3)),
        ],
        128,
        0.17,
    )


def _block17() -> ResidualInception:  # 17x17x1088
    return ResidualInception(
        1088,
        [conv_bn(1088, 192, 1), _chain((1088, 128, 1), (128, 160, (1, 7)), (160, 192, (7, 1)))],
        384,
        0.10,
    )


def _block8(relu: bool = True) -> ResidualInception:  # 8x8x2080
    return ResidualInception(
        2080,
        [conv_bn(2080, 192, 1), _chain((2080, 192, 1), (192, 224, (1, 3)), (224, 256, (3, 1)))],
        448,
        0.20,
        relu,
    )


class InceptionResNetV2(nn.Module):
    """TF-slim's inception_resnet_v2_base ("VALID" where the source asks, so 299 -> 35 -> 17
    -> 8): the stem and Mixed_5b (320), 10 x block35, Mixed_6a (1088), 20 x block17,
    Mixed_7a (2080), 9 x block8 and a last one without ReLU, Conv2d_7b_1x1 (1536)."""

    def __init__(self) -> None:
        super().__init__()
        stem: list[nn.Module] = [
            _valid(3, 32, 3, 2),
            _valid(32, 32, 3),
            conv_bn(32, 64, 3),
            nn.MaxPool2d(3, 2),
            _valid(64, 80, 1),
            _valid(80, 192, 3),
            nn.MaxPool2d(3, 2),
            Mixed(
                [
                    conv_bn(192, 96, 1),
                    _chain((192, 48, 1), (48, 64, 5)),
                    _chain((192, 64, 1), (64, 96, 3), (96, 96, 3)),
                    nn.Sequential(
                        nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv_bn(192, 64, 1)
                    ),
                ]
            ),  # Mixed_5b: 96 + 64 + 96 + 64 = 320
        ]
        mixed_6a = Mixed(
            [
                _valid(320, 384, 3, 2),
                nn.Sequential(_chain((320, 256, 1), (256, 256, 3)), _valid(256, 384, 3, 2)),
                nn.MaxPool2d(3, 2),
            ]
        )  # 384 + 384 + 320 = 1088
        mixed_7a = Mixed(
            [
                nn.Sequential(conv_bn(1088, 256, 1), _valid(256, 384, 3, 2)),
                nn.Sequential(conv_bn(1088, 256, 1), _valid(256, 288, 3, 2)),
                nn.Sequential(_chain((1088, 256, 1), (256, 288, 3)), _valid(288, 320, 3, 2)),
                nn.MaxPool2d(3, 2),
            ]
        )  # 384 + 288 + 320 + 1088 = 2080
        self.features = nn.Sequential(
            *stem,
            *(_block35() for _ in range(10)),
            mixed_6a,
            *(_block17() for _ in range(20)),
            mixed_7a,
            *(_block8() for _ in range(9)),
            _block8(relu=False),
            conv_bn(2080, 1536, 1),
        )
        self.head = Classifier(1536, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- EfficientNet-EdgeTPU (Gupta & Tan 2019; tensorflow/tpu efficientnet_edgetpu_builder) -----


@dataclass(frozen=True)
class EdgeBlock:
    """One row of the builder's ``blocks_args``: 'r{repeats}_k{kernel}_s{stride}_e{expand}
    _i{in}_o{out}[_c1][_noskip]' (``c1``: the expansion is a fused k x k conv)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int
    fused: bool
    skip: bool = True


EDGETPU_BLOCKS = (
    EdgeBlock(1, 3, 1, 4, 24, 24, fused=True, skip=False),
    EdgeBlock(2, 3, 2, 8, 24, 32, fused=True),
    EdgeBlock(4, 3, 2, 8, 32, 48, fused=True),
    EdgeBlock(5, 5, 2, 8, 48, 96, fused=False),
    EdgeBlock(4, 5, 1, 8, 96, 144, fused=False),
    EdgeBlock(2, 5, 2, 8, 144, 192, fused=False),
)
# name: (width coefficient, depth coefficient, resolution), from efficientnet_edgetpu_params
EDGETPU_SIZES = {"s": (1.0, 1.0, 224), "m": (1.0, 1.1, 240), "l": (1.2, 1.4, 300)}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """The builder's rounding: scale, round to a multiple of 8, never below 90%."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


class EdgeMBConv(nn.Module):
    """The builder's MBConv block: its expansion width is the block's *declared* input width
    times the ratio (``input_filters * expand_ratio``), whatever the incoming channels (the
    first block declares 24 but follows a 32-wide stem)."""

    def __init__(
        self, cin: int, declared: int, cout: int, kernel: int, stride: int, expand: int, fused: bool
    ):
        super().__init__()
        mid = declared * expand
        layers: list[nn.Module] = []
        if fused:
            layers.append(conv_bn(cin, mid, kernel, stride))
        else:
            if expand != 1:
                layers.append(conv_bn(cin, mid, 1))
            layers.append(conv_bn(mid, mid, kernel, stride, groups=mid))
        layers.append(conv_bn(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class EfficientNetEdgeTPU(nn.Module):
    def __init__(self, width: float, depth: float) -> None:
        super().__init__()
        stem = round_filters(32, width)
        layers: list[nn.Module] = [conv_bn(3, stem, 3, 2)]
        cin = stem
        for row in EDGETPU_BLOCKS:
            cout = round_filters(row.cout, width)
            for i in range(math.ceil(depth * row.repeats)):
                declared = round_filters(row.cin, width) if i == 0 else cout
                block = EdgeMBConv(
                    cin,
                    declared,
                    cout,
                    row.kernel,
                    row.stride if i == 0 else 1,
                    row.expand,
                    row.fused,
                )
                if not row.skip:
                    block.residual = False
                layers.append(block)
                cin = cout
        head = round_filters(1280, width)
        layers.append(conv_bn(cin, head, 1))
        self.features = nn.Sequential(*layers)
        self.head = Classifier(head, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- ResNet V1 and V2 (He et al. 2016a/b, as in Keras applications) ----------------------------


class BottleneckV1(nn.Module):
    """Keras ResNet50 V1: stride on the first 1x1, conv biases kept (folded with batch norm)."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, stride),
            nn.BatchNorm2d(width, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1),
            nn.BatchNorm2d(width, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(width, cout, 1),
            nn.BatchNorm2d(cout, eps=1.001e-5),
        )
        self.shortcut: nn.Module = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout, eps=1.001e-5))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class BottleneckV2(nn.Module):
    """Keras ResNet V2 (pre-activation): BN-ReLU first; a stage's stride sits in the 3x3 of
    its last block, whose shortcut is a 1x1 max-pool of stride 2."""

    def __init__(self, cin: int, width: int, stride: int, projection: bool) -> None:
        super().__init__()
        cout = width * 4
        self.pre = nn.Sequential(nn.BatchNorm2d(cin, eps=1.001e-5), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            nn.BatchNorm2d(width, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(width, cout, 1),
        )
        self.projection: nn.Module | None = nn.Conv2d(cin, cout, 1, stride) if projection else None
        self.pool: nn.Module | None = (
            nn.MaxPool2d(1, stride) if stride != 1 and not projection else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre(x)
        if self.projection is not None:
            shortcut = self.projection(pre)
        elif self.pool is not None:
            shortcut = self.pool(x)
        else:
            shortcut = x
        return self.body(pre) + shortcut


class ResNet(nn.Module):
    def __init__(self, depths: Sequence[int], v2: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=v2),
            *([] if v2 else [nn.BatchNorm2d(64, eps=1.001e-5), nn.ReLU()]),
            nn.MaxPool2d(3, 2, 1),
        ]
        cin = 64
        for stage, (depth, width) in enumerate(zip(depths, (64, 128, 256, 512), strict=True)):
            for i in range(depth):
                if v2:
                    last_strided = stage < 3 and i == depth - 1
                    layers.append(BottleneckV2(cin, width, 2 if last_strided else 1, i == 0))
                else:
                    layers.append(BottleneckV1(cin, width, 2 if i == 0 and stage > 0 else 1))
                cin = width * 4
        if v2:
            layers += [nn.BatchNorm2d(cin, eps=1.001e-5), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = Classifier(cin, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- VGG (Simonyan & Zisserman 2015, table 1, configurations D and E) -------------------------

VGG = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


class VGGNet(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for repeats, width in zip(VGG[depth], (64, 128, 256, 512, 512), strict=True):
            for _ in range(repeats):
                layers += [nn.Conv2d(cin, width, 3, 1, 1), nn.ReLU()]
                cin = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, 1000),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(self.features(x).flatten(1)), dim=-1)


# --- SqueezeNet 1.1 (Iandola et al. 2016; DeepScale SqueezeNet v1.1) ----------------------------


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(cin, squeeze, 1), nn.ReLU())
        self.e1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU())
        self.e3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, 1, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], dim=1)


class SqueezeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, 2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            Fire(64, 16, 64),
            Fire(128, 16, 64),
            nn.MaxPool2d(3, 2),
            Fire(128, 32, 128),
            Fire(256, 32, 128),
            nn.MaxPool2d(3, 2),
            Fire(256, 48, 192),
            Fire(384, 48, 192),
            Fire(384, 64, 256),
            Fire(512, 64, 256),
            nn.Conv2d(512, 1000, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.features(x).flatten(1), dim=-1)


# --- DenseNet-121 (Huang et al. 2017, table 1; Keras applications) ----------------------------


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(cin, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth, eps=1.001e-5),
            nn.ReLU(),
            nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


class DenseNet121(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for index, blocks in enumerate((6, 12, 24, 16)):
            for _ in range(blocks):
                layers.append(DenseLayer(cin))
                cin += 32
            if index < 3:
                layers += [
                    nn.BatchNorm2d(cin, eps=1.001e-5),
                    nn.ReLU(),
                    nn.Conv2d(cin, cin // 2, 1, bias=False),
                    nn.AvgPool2d(2, 2),
                ]
                cin //= 2
        layers += [nn.BatchNorm2d(cin, eps=1.001e-5), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = Classifier(cin, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- SSD MobileNet V1 / V2 (TF object detection API, COCO, 300x300) ---------------------------

SSD_CLASSES = 91  # 90 COCO classes and background
SSD_ANCHORS = (3, 6, 6, 6, 6, 6)  # reduce_boxes_in_lowest_layer: 3 anchors on the first map
# extra feature maps after the backbone: (1x1 depth, 3x3 stride-2 depth)
SSD_EXTRAS = ((256, 512), (128, 256), (128, 256), (64, 128))


class SSDHead(nn.Module):
    """Extra feature maps, 1x1 box and class predictors per map (kernel_size: 1 in the
    ssd_mobilenet_v1/v2_coco configs), concatenated; scores through a sigmoid on the device.
    The box decoding the TFLite postprocess op does on the host is written out (an Exp the
    Edge TPU cannot run); its non-maximum suppression is a top-100 selection of the best
    class score per anchor, a stand-in: data-dependent NMS does not export."""

    def __init__(self, maps: Sequence[int], extras_from: int) -> None:
        super().__init__()
        extras: list[nn.Module] = []
        cin = extras_from
        for mid, out in SSD_EXTRAS:
            extras.append(
                nn.Sequential(
                    conv_bn(cin, mid, 1, act=nn.ReLU6), conv_bn(mid, out, 3, 2, act=nn.ReLU6)
                )
            )
            cin = out
        self.extras = nn.ModuleList(extras)
        channels = [*maps, *(out for _, out in SSD_EXTRAS)]
        self.boxes = nn.ModuleList(
            nn.Conv2d(c, a * 4, 1) for c, a in zip(channels, SSD_ANCHORS, strict=True)
        )
        self.classes = nn.ModuleList(
            nn.Conv2d(c, a * SSD_CLASSES, 1) for c, a in zip(channels, SSD_ANCHORS, strict=True)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        maps = list(features)
        x = maps[-1]
        for extra in self.extras:
            x = extra(x)
            maps.append(x)
        boxes = torch.cat(
            [
                b(m).permute(0, 2, 3, 1).reshape(m.shape[0], -1, 4)
                for b, m in zip(self.boxes, maps, strict=True)
            ],
            dim=1,
        )
        scores = torch.cat(
            [
                c(m).permute(0, 2, 3, 1).reshape(m.shape[0], -1, SSD_CLASSES)
                for c, m in zip(self.classes, maps, strict=True)
            ],
            dim=1,
        )
        scores = torch.sigmoid(scores)
        # Host side (TFLite_Detection_PostProcess): decode centre-size boxes, keep the best.
        yx, hw = boxes[..., :2] / 10.0, torch.exp(boxes[..., 2:] / 5.0)
        decoded = torch.cat([yx - hw / 2, yx + hw / 2], dim=-1)
        best = scores[..., 1:].amax(dim=-1)
        top, index = torch.topk(best, 100, dim=1)
        return torch.cat([top.unsqueeze(-1), index.unsqueeze(-1).float(), decoded[:, :100]], dim=-1)


class SSDMobileNetV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # The registry's MobileNet v1 (mobilenet_v1:1.0_224): a stem of conv, batch norm and
        # ReLU6, then 13 blocks of six modules (depthwise and pointwise, each conv-bn-ReLU6).
        backbone = MobileNetV1(1.0).features
        self.to_11 = backbone[: 3 + 11 * 6]  # through Conv2d_11_pointwise (19x19x512)
        self.to_13 = backbone[3 + 11 * 6 :]  # Conv2d_12 and 13 (10x10x1024)
        self.head = SSDHead((512, 1024), 1024)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c11 = self.to_11(x)
        return self.head([c11, self.to_13(c11)])


MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class InvertedResidual(nn.Module):
    """MobileNet v2's block: 1x1 expansion (none when ``expand`` is 1), 3x3 depthwise (atrous
    with ``dilation``), linear 1x1 projection, and the residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, dilation: int = 1) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = [] if expand == 1 else [conv_bn(cin, mid, 1, act=nn.ReLU6)]
        layers += [
            conv_bn(mid, mid, 3, stride, groups=mid, act=nn.ReLU6, dilation=dilation),
            conv_bn(mid, cout, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class SSDMobileNetV2(nn.Module):
    """Feature maps: the 576-wide expansion of block 13 (19x19) and the 1280-wide last conv."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
        cin = 32
        for expand, cout, repeats, stride in MOBILENET_V2:
            for i in range(repeats):
                blocks.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        self.front = nn.Sequential(*blocks[:14])  # through block 13's input (19x19x96)
        block14 = blocks[14]
        assert isinstance(block14, InvertedResidual)
        self.expand = block14.block[0]  # 1x1 to 576: the first feature map
        self.rest_of_14 = block14.block[1:]
        self.back = nn.Sequential(*blocks[15:], conv_bn(320, 1280, 1, act=nn.ReLU6))
        self.head = SSDHead((576, 1280), 1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.expand(self.front(x))
        return self.head([c, self.back(self.rest_of_14(c))])


# --- U-Net MobileNet v2 (TensorFlow tutorial "Image segmentation"; pix2pix upsample) ---------

UNET_SKIPS = (1, 3, 6, 13)  # block_1/3/6/13_expand_relu: 64x64x96, 32x32x144, 16x16x192, 8x8x576
UNET_UP = (512, 256, 128, 64)  # up_stack: pix2pix.upsample(filters, 3)


def _mobilenet_v2_blocks(output_stride: int | None = None) -> list[InvertedResidual]:
    """MobileNet v2's 17 inverted-residual blocks (Keras' block_0..block_16, TF-slim's
    expanded_conv..expanded_conv_16). With ``output_stride``, TF-slim's rule for dense
    prediction (mobilenet.py): once the stride reached it, a block's stride becomes 1 and
    every later depthwise conv is atrous at the stride it gave up."""
    blocks: list[InvertedResidual] = []
    cin, current, rate = 32, 2, 1
    for expand, cout, repeats, stride in MOBILENET_V2:
        for i in range(repeats):
            nominal = stride if i == 0 else 1
            if output_stride is not None and current == output_stride:
                layer_stride, layer_rate, rate = 1, rate, rate * nominal
            else:
                layer_stride, layer_rate, current = nominal, 1, current * nominal
            blocks.append(InvertedResidual(cin, cout, layer_stride, expand, layer_rate))
            cin = cout
    return blocks


def _upsample(cin: int, cout: int) -> nn.Sequential:
    """pix2pix.upsample(cout, 3): a 3x3 stride-2 transposed conv ("same": doubles the map,
    no bias), batch norm, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class _Tapped(nn.Module):
    """An inverted-residual block whose expansion output is also a U-Net skip."""

    def __init__(self, block: InvertedResidual) -> None:
        super().__init__()
        expand = block.block[0]
        assert isinstance(expand, nn.Sequential) and isinstance(expand[0], nn.Conv2d)
        self.width = expand[0].out_channels
        self.expand = expand
        self.rest = block.block[1:]
        self.residual = block.residual

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        expanded = self.expand(x)
        y = self.rest(expanded)
        return (x + y if self.residual else y), expanded


class UNetMobileNetV2(nn.Module):
    """The U-Net of TensorFlow's "Image segmentation" tutorial (tensorflow/docs,
    site/en/tutorials/images/segmentation.ipynb) at 128x128, which Coral's
    ``keras_post_training_unet_mv2_128`` is: Keras' MobileNetV2 (alpha 1.0, no top) as the
    encoder, its outputs the expansions of blocks 1, 3, 6 and 13 and block 16's projection
    conv (4x4x320, taken before its batch norm); four pix2pix upsample blocks (512, 256, 128,
    64), each concatenated with the skip of its size; a 3x3 stride-2 transposed conv to 3
    classes at 128x128. The tutorial's model outputs logits (``from_logits=True``)."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.stem = conv_bn(3, 32, 3, 2, act=nn.ReLU6)
        blocks = _mobilenet_v2_blocks()
        projection = blocks[-1].block[-1]
        assert isinstance(projection, nn.Sequential)
        blocks[-1].block[-1] = projection[0]  # block_16_project: the conv alone
        stages: list[nn.Module] = [
            _Tapped(block) if index in UNET_SKIPS else block for index, block in enumerate(blocks)
        ]
        self.blocks = nn.ModuleList(stages)
        widths = [stage.width for stage in stages if isinstance(stage, _Tapped)]
        ups, cin = [], 320
        for out, skip in zip(UNET_UP, reversed(widths), strict=True):
            ups.append(_upsample(cin, out))
            cin = out + skip
        self.ups = nn.ModuleList(ups)
        self.last = nn.ConvTranspose2d(cin, classes, 3, 2, 1, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for stage in self.blocks:
            if isinstance(stage, _Tapped):
                x, skip = stage(x)
                skips.append(skip)
            else:
                x = stage(x)
        for up, skip in zip(self.ups, reversed(skips), strict=True):
            x = torch.cat([up(x), skip], dim=1)
        return self.last(x)


# --- DeepLab v3 MobileNet v2 (tensorflow/models research/deeplab, mobilenetv2_coco_voc) -----

DEEPLAB_CLASSES = 21  # PASCAL VOC: 20 classes and background
DEEPLAB_DEPTH = 256  # model.py: ASPP and projection depth


class DeepLabV3MobileNetV2(nn.Module):
    """DeepLab v3 as ``research/deeplab`` builds it for ``model_variant=mobilenet_v2`` at
    output stride 16 (the configuration of the ``mobilenetv2_coco_voc_trainaug`` checkpoint
    that Coral's ``deeplabv3_mnv2_pascal`` is converted from; g3doc/quantize.md): MobileNet v2
    through ``layer_18`` (the 320-wide projection; 513 -> 257 -> 129 -> 65 -> 33, the last
    three blocks atrous at rate 2), then ``model.py``'s ASPP without atrous branches (no
    ``atrous_rates`` for MobileNet v2): image pooling (33x33 average pool, 1x1 conv, bilinear
    resize back) and a 1x1 conv, both 256 wide with batch norm and ReLU, concatenated and
    projected by a 1x1 conv to 256; 1x1 logits (21 classes, with bias). ``predict_labels``
    resizes the logits bilinearly to 513x513 (align_corners) and takes the argmax over the
    classes: ``convert_to_tflite.py``'s output tensor is that ArgMax.

    The ops run in the order of Coral's compiled model (LibrEdgeTPU, docs/HARDWARE_ANALYSIS.md,
    "CPU Post-Processing"): the Edge TPU's part ends with the ASPP 1x1 conv and the image
    pooling conv; the image pooling's resize is the first op the compiler left on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 32, 3, 2, act=nn.ReLU6), *_mobilenet_v2_blocks(output_stride=16)
        )
        self.image_pool = conv_bn(320, DEEPLAB_DEPTH, 1)
        self.aspp0 = conv_bn(320, DEEPLAB_DEPTH, 1)
        self.projection = conv_bn(2 * DEEPLAB_DEPTH, DEEPLAB_DEPTH, 1)
        self.logits = nn.Conv2d(DEEPLAB_DEPTH, DEEPLAB_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        size = features.shape[-2:]
        branch = self.aspp0(features)
        pooled = self.image_pool(nn.functional.avg_pool2d(features, size))
        pooled = nn.functional.interpolate(pooled, size, mode="bilinear", align_corners=True)
        y = self.projection(torch.cat([pooled, branch], dim=1))
        logits = nn.functional.interpolate(
            self.logits(y), x.shape[-2:], mode="bilinear", align_corners=True
        )
        return logits.argmax(dim=1)


# --- the workloads ------------------------------------------------------------------------------


def _settled(factory: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    return lambda: settle_batchnorm(factory())


def _workload(
    name: str,
    description: str,
    factory: Callable[[], nn.Module],
    size: int,
    macs: float | None,
    source: str,
) -> Callable[[], Workload]:
    return lambda: Workload(
        name=name,
        description=description,
        build=_settled(factory),
        make_inputs=images(size),
        published_macs=macs,
        macs_source=source,
    )


def _efficientnet(size: str) -> Callable[[], nn.Module]:
    width, depth, _ = EDGETPU_SIZES[size]
    return lambda: EfficientNetEdgeTPU(width, depth)


_NO_FIGURE = "no published figure at this resolution"

# Published parameter counts, for the tests: (count, source); models without one are absent.
PUBLISHED_PARAMS: dict[str, tuple[float, str]] = {
    "inception_v1": (6.6e6, "torchvision GoogLeNet (no aux heads) 6.6M, same layers"),
    "inception_v4": (42.7e6, "timm inception_v4 (tf_in1k) model card: 42.7M"),
    "inception_resnet_v2": (55.9e6, "Keras applications table: InceptionResNetV2 55.9M"),
    "resnet50_v1_299": (25.6e6, "Keras applications table: ResNet50 25.6M"),
    "resnet50_v2_299": (25.6e6, "Keras applications table: ResNet50V2 25.6M"),
    "resnet152_v2_299": (60.4e6, "Keras applications table: ResNet152V2 60.4M"),
    "vgg16": (138e6, "Simonyan & Zisserman 2015, table 2"),
    "vgg19": (144e6, "Simonyan & Zisserman 2015, table 2"),
    "squeezenet": (1.24e6, "torchvision squeezenet1_1: 1,235,496"),
    "densenet121": (8.06e6, "Keras applications table: DenseNet121 8.1M"),
    "unet_mobilenet_v2": (
        6_504_227,
        "TF 'Image segmentation' tutorial, model.summary(): 6,504,227 (Keras also counts the "
        "batch norms' moving statistics, 32,832 values here)",
    ),
}

CORAL: dict[str, Callable[[], Workload]] = {
    "inception_v1": _workload(
        "inception_v1",
        "Inception V1 (TF-slim, batch norm, 3x3 in the '5x5' branch), 224x224",
        InceptionV1,
        224,
        1.50e9,
        "torchvision GoogLeNet, which also has 3x3 in that branch: 1.50 GFLOPS (mult-adds)",
    ),
    "inception_v4": _workload(
        "inception_v4",
        "Inception V4 (TF-slim), 299x299",
        InceptionV4,
        299,
        12.3e9,
        "timm inception_v4 (tf_in1k) model card: 12.3 GMACs at 299x299",
    ),
    "inception_resnet_v2": _workload(
        "inception_resnet_v2",
        "Inception-ResNet V2 (TF-slim), 299x299",
        InceptionResNetV2,
        299,
        13.2e9,
        "timm inception_resnet_v2 (tf_in1k) model card: 13.2 GMACs at 299x299",
    ),
    **{
        f"efficientnet_edgetpu_{size}": _workload(
            f"efficientnet_edgetpu_{size}",
            f"EfficientNet-EdgeTPU-{size.upper()} (tensorflow/tpu builder), {res}x{res}",
            _efficientnet(size),
            res,
            None,
            _NO_FIGURE,
        )
        for size, (_, _, res) in EDGETPU_SIZES.items()
    },
    "resnet50_v1_299": _workload(
        "resnet50_v1_299",
        "ResNet-50 V1 (Keras: stride on the first 1x1), 299x299",
        lambda: ResNet((3, 4, 6, 3), v2=False),
        299,
        None,
        _NO_FIGURE,
    ),
    "resnet50_v2_299": _workload(
        "resnet50_v2_299",
        "ResNet-50 V2 (Keras, pre-activation), 299x299",
        lambda: ResNet((3, 4, 6, 3), v2=True),
        299,
        None,
        _NO_FIGURE,
    ),
    "resnet152_v2_299": _workload(
        "resnet152_v2_299",
        "ResNet-152 V2 (Keras, pre-activation), 299x299",
        lambda: ResNet((3, 8, 36, 3), v2=True),
        299,
        None,
        _NO_FIGURE,
    ),
    "vgg16": _workload(
        "vgg16",
        "VGG16 (configuration D), 224x224",
        lambda: VGGNet(16),
        224,
        15.47e9,
        "torchvision vgg16: 15.47 GFLOPS (mult-adds)",
    ),
    "vgg19": _workload(
        "vgg19",
        "VGG19 (configuration E), 224x224",
        lambda: VGGNet(19),
        224,
        19.63e9,
        "torchvision vgg19: 19.63 GFLOPS (mult-adds)",
    ),
    "squeezenet": _workload(
        "squeezenet",
        "SqueezeNet 1.1, 224x224 (Coral does not say which version)",
        SqueezeNet,
        224,
        0.35e9,
        "torchvision squeezenet1_1: 0.35 GFLOPS (mult-adds)",
    ),
    "densenet121": _workload(
        "densenet121",
        "DenseNet-121 (Keras), 224x224",
        DenseNet121,
        224,
        2.83e9,
        "torchvision densenet121: 2.83 GFLOPS (mult-adds)",
    ),
    "unet_mobilenet_v2": _workload(
        "unet_mobilenet_v2",
        "U-Net MobileNet v2 (TF segmentation tutorial, pix2pix upsampling), 128x128",
        UNetMobileNetV2,
        128,
        None,
        "no published figure for this model",
    ),
    "deeplabv3_mobilenet_v2": _workload(
        "deeplabv3_mobilenet_v2",
        "DeepLab v3 MobileNet v2 (PASCAL, output stride 16, resize and argmax), 513x513",
        DeepLabV3MobileNetV2,
        513,
        2.75e9,
        "tensorflow/models research/deeplab/g3doc/quantize.md, mobilenetv2_coco_voc_trainaug: "
        "2.75B multiply-adds at output stride 16",
    ),
    "ssd_mobilenet_v1": _workload(
        "ssd_mobilenet_v1",
        "SSD MobileNet V1 (COCO), 300x300, box decoding on the host",
        SSDMobileNetV1,
        300,
        None,
        "no published figure for this head",
    ),
    "ssd_mobilenet_v2": _workload(
        "ssd_mobilenet_v2",
        "SSD MobileNet V2 (COCO), 300x300, box decoding on the host",
        SSDMobileNetV2,
        300,
        None,
        "no published figure for this head",
    ),
}
