"""The four MLPerf Tiny v0.5-v1.x reference networks, written in torch from their Keras
definitions in github.com/mlcommons/tiny (``benchmark/training/*``).

They are the networks microcontroller results are published for (MLPerf Tiny submissions on
STM32 boards and others), so the microcontroller model is validated on them. The Keras layers
map one to one: ``Conv2D``/``DepthwiseConv2D``/``Dense`` keep their bias (Keras' default), each
is followed by batch norm where the reference has one, and ``padding="same"`` becomes the
symmetric torch padding with the same output size (TFLite pads asymmetrically inside the
kernel; the MACs are the same). MAC counts are hand counts, written out in each factory's
docstring; parameter counts are torch's (weights, biases, batch-norm scale and shift; Keras
also counts the two batch-norm running statistics, which torch keeps as buffers).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from .settle import settle_batchnorm
from .spec import Workload

MLPERF_TINY = "github.com/mlcommons/tiny benchmark/training"


def _conv_bn_relu(
    in_ch: int,
    out_ch: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups),
            bn=nn.BatchNorm2d(out_ch),
            relu=nn.ReLU(),
        )
    )


def _separable(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 (bn, relu) then pointwise 1x1 (bn, relu)."""
    return nn.Sequential(
        OrderedDict(
            depthwise=_conv_bn_relu(in_ch, in_ch, 3, stride, 1, groups=in_ch),
            pointwise=_conv_bn_relu(in_ch, out_ch, 1),
        )
    )


# MobileNetV1 at width 0.25: (depthwise stride, pointwise output channels) per block.
VWW_BLOCKS = (
    (1, 16),
    (2, 32),
    (1, 32),
    (2, 64),
    (1, 64),
    (2, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (1, 128),
    (2, 256),
    (1, 256),
)


class MobileNetV1VWW(nn.Module):
    """``vww_model.py``: MobileNetV1, width 0.25, 96x96 RGB in, person / no person out."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 8, 3, stride=2, padding=1)]
        channels = 8
        for stride, out in VWW_BLOCKS:
            layers.append(_separable(channels, out, stride))
            channels = out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(3)  # the 3x3 map left at 96x96
        self.classifier = nn.Linear(channels, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(torch.flatten(self.pool(self.features(x)), 1)), 1)


class _ResidualStack(nn.Module):
    """``resnet_v1_eembc``'s stack: conv-bn-relu, conv-bn, plus the input (through a strided
    1x1 conv without batch norm when the stack halves the map), then relu."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_ch, out_ch, 3, stride, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride) if stride != 1 else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.conv1(x)))
        return self.relu(self.shortcut(x) + y)


class ResNet8(nn.Module):
    """``keras_model.py`` (image classification, v0.5-v1.1): ResNet-8 with 16/32/64 filters
    on 32x32 CIFAR-10 images, 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv_bn_relu(3, 16, 3, 1, 1)
        self.stacks = nn.Sequential(
            _ResidualStack(16, 16, 1), _ResidualStack(16, 32, 2), _ResidualStack(32, 64, 2)
        )
        self.pool = nn.AvgPool2d(8)
        self.classifier = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stacks(self.stem(x)))
        return torch.softmax(self.classifier(torch.flatten(x, 1)), 1)


class DSCNN(nn.Module):
    """``keras_model.py`` (keyword spotting, ``ds_cnn``): a 10x4 stride-2 conv to 64 channels
    on the 49x10 MFCC map, four depthwise-separable layers, average pooling, 12 classes.
    Dropout is inference-free and left out."""

    def __init__(self) -> None:
        super().__init__()
        # "same" on 49x10 with a 10x4 kernel, stride 2: 25x5 out; (5, 1) gives the same size.
        self.stem = _conv_bn_relu(1, 64, (10, 4), stride=2, padding=(5, 1))
        self.blocks = nn.Sequential(*(_separable(64, 64, 1) for _ in range(4)))
        self.pool = nn.AvgPool2d((24, 5))  # int(49 / 2) x int(10 / 2), as the reference
        self.classifier = nn.Linear(64, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return torch.softmax(self.classifier(torch.flatten(x, 1)), 1)


AD_INPUT = 640  # 5 frames of 128 log-mel bins
AD_WIDTHS = (128, 128, 128, 128, 8, 128, 128, 128, 128)


class FCAutoencoder(nn.Module):
    """``keras_model.py`` (anomaly detection): dense 640 -> 128 x4 -> 8 -> 128 x4 -> 640,
    each hidden layer with batch norm and relu."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = AD_INPUT
        for out in AD_WIDTHS:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU()]
            width = out
        layers.append(nn.Linear(width, AD_INPUT))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.layers(x)
        return output


def _zeros(*shape: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """Example inputs: a batch of zeros of ``shape``."""

    def make(batch: int) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch, *shape),)

    return make


def _settled(model: nn.Module, *shape: int) -> nn.Module:
    return settle_batchnorm(model, example_shape=(2, *shape))


def mobilenet_v1_vww() -> Workload:
    """MACs (96x96 in, 3x3 kernels): stem 48*48*8*27 = 497,664; depthwise
    48*48*8*9 + 24*24*16*9 + 24*24*32*9 + 12*12*32*9 + 12*12*64*9 + 6*6*64*9 + 5*(6*6*128*9)
    + 3*3*128*9 + 3*3*256*9 = 798,336; pointwise 5*294,912 (8->16 at 48x48, 16->32 at 24x24,
    32->64 at 12x12, 64->128 at 6x6, 128->256 at 3x3) + 3*589,824 (32->32 at 24x24, 64->64 at
    12x12, 256->256 at 3x3) + 5*589,824 (128->128 at 6x6) = 6,193,152; classifier 256*2 = 512.
    Total 7,489,664."""
    return Workload(
        name="mobilenet_v1_vww",
        description="MLPerf Tiny visual wake words: MobileNetV1 0.25, 96x96 RGB, 2 classes",
        build=lambda: _settled(MobileNetV1VWW(), 3, 96, 96),
        make_inputs=_zeros(3, 96, 96),
        published_macs=7_489_664,
        macs_source=f"hand count of {MLPERF_TINY}/visual_wake_words/vww_model.py (docstring)",
    )


def resnet8_cifar10() -> Workload:
    """MACs (32x32 in): stem 1024*16*27 = 442,368; stack 1: 2 * 1024*16*144 = 4,718,592;
    stack 2: 256*32*144 + 256*32*288 + 256*32*16 (shortcut) = 3,670,016; stack 3:
    64*64*288 + 64*64*576 + 64*64*32 = 3,670,016; classifier 640. Total 12,501,632."""
    return Workload(
        name="resnet8_cifar10",
        description="MLPerf Tiny image classification: ResNet-8 (16/32/64), CIFAR-10 32x32",
        build=lambda: _settled(ResNet8(), 3, 32, 32),
        make_inputs=_zeros(3, 32, 32),
        published_macs=12_501_632,
        macs_source=f"hand count of {MLPERF_TINY}/image_classification/keras_model.py",
    )


def ds_cnn_kws() -> Workload:
    """MACs (49x10 MFCC in, 25x5 after the stem): stem 125*64*40 = 320,000; four blocks of
    depthwise 125*64*9 = 72,000 and pointwise 125*64*64 = 512,000: 2,336,000; classifier
    64*12 = 768. Total 2,656,768."""
    return Workload(
        name="ds_cnn_kws",
        description="MLPerf Tiny keyword spotting: DS-CNN (64 channels), 49x10 MFCC, 12 classes",
        build=lambda: _settled(DSCNN(), 1, 49, 10),
        make_inputs=_zeros(1, 49, 10),
        published_macs=2_656_768,
        macs_source=f"hand count of {MLPERF_TINY}/keyword_spotting/keras_model.py (ds_cnn)",
    )


def fc_autoencoder_ad() -> Workload:
    """MACs: 640*128 + 3*128*128 + 128*8 + 8*128 + 3*128*128 + 128*640 = 264,192."""
    return Workload(
        name="fc_autoencoder_ad",
        description="MLPerf Tiny anomaly detection: dense autoencoder 640-128x4-8-128x4-640",
        build=lambda: _settled(FCAutoencoder(), AD_INPUT),
        make_inputs=_zeros(AD_INPUT),
        published_macs=264_192,
        macs_source=f"hand count of {MLPERF_TINY}/anomaly_detection/keras_model.py",
    )
