"""MobileNetV2 variants small enough for microcontrollers, the networks published
microcontroller peak-memory and latency figures are measured on.

- ``mbv2_w035_r144``: MCUNet's ``mbv2-w0.35`` (width 0.35, 144x144, the last conv scaled to
  448 channels), the model of TinyEngine's README table (STM32H743: X-CUBE-AI and TinyEngine
  latency and peak SRAM).
- ``mbv2_w030_r80``: Keras' MobileNetV2 with ``alpha=0.3`` at 80x80, 1000 classes (the last
  conv keeps 1280 channels below width 1), the model of Plumerai's 2021 runtime comparison on
  the STM32F746.

Both are built from ``transformers``' ``MobileNetV2Config`` (random weights): its channel
rounding (``make_divisible`` by 8, at least 8) is Keras' and MCUNet's, and
``finegrained_output`` picks whether the last conv scales with the width. Symmetric padding
(``tf_padding=False``) keeps every output size of TensorFlow's "same" padding here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .hf import IMAGENET_HEAD, TensorOutput
from .settle import settle_batchnorm
from .spec import Workload


def _mobilenet_v2(width: float, resolution: int, scaled_last_conv: bool) -> nn.Module:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    config = MobileNetV2Config(
        depth_multiplier=width,
        image_size=resolution,
        tf_padding=False,
        finegrained_output=not scaled_last_conv,
        **IMAGENET_HEAD,
    )
    return settle_batchnorm(TensorOutput(MobileNetV2ForImageClassification(config), "logits"))


def _images(size: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    def make(batch: int) -> tuple[torch.Tensor, ...]:
        return (torch.zeros(batch, 3, size, size),)

    return make


def mbv2_w035_r144() -> Workload:
    return Workload(
        name="mbv2_w035_r144",
        description="MCUNet mbv2-w0.35: MobileNetV2 width 0.35, 144x144, last conv 448, 1000 "
        "classes",
        build=lambda: _mobilenet_v2(0.35, 144, scaled_last_conv=True),
        make_inputs=_images(144),
        published_macs=23.5e6,
        macs_source="MCUNet model zoo (github.com/mit-han-lab/mcunet): mbv2-w0.35, 23.5M MACs",
    )


def mbv2_w030_r80() -> Workload:
    """MACs (hand count, 80x80 in; an inverted residual is expand 1x1 at its input size,
    depthwise 3x3 and project 1x1 at its output size): stem 40²·16·27 + 40²·16·9 + 40²·16·8
    = 1,126,400; block 0 (8-48-8, stride 2) 40²·8·48 + 20²·48·9 + 20²·48·8 = 940,800;
    block 1 (8-48-8) 20²·(384 + 432 + 384) = 480,000; block 2 (8-48-16, s2) 20²·384 +
    10²·48·9 + 10²·48·16 = 273,600; blocks 3-4 (16-96-16) 2·10²·(1,536 + 864 + 1,536) =
    787,200; block 5 (16-96-24, s2) 10²·1,536 + 5²·864 + 5²·96·24 = 232,800; blocks 6-8
    (24-144-24) 3·5²·(3,456 + 1,296 + 3,456) = 615,600; block 9 (24-144-32) 5²·(3,456 +
    1,296 + 4,608) = 234,000; blocks 10-11 (32-192-32) 2·5²·(6,144 + 1,728 + 6,144) =
    700,800; block 12 (32-192-48, s2) 5²·6,144 + 3²·1,728 + 3²·192·48 = 252,096; blocks
    13-14 (48-288-48) 2·3²·(13,824 + 2,592 + 13,824) = 544,320; block 15 (48-288-96)
    3²·(13,824 + 2,592 + 27,648) = 396,576; last conv 3²·96·1280 = 1,105,920; classifier
    1280·1000 = 1,280,000. Total 8,970,112."""
    return Workload(
        name="mbv2_w030_r80",
        description="MobileNetV2 alpha 0.3 (Keras), 80x80, last conv 1280, 1000 classes",
        build=lambda: _mobilenet_v2(0.3, 80, scaled_last_conv=False),
        make_inputs=_images(80),
        published_macs=8_970_112,
        macs_source="hand count of Keras MobileNetV2(alpha=0.3, 80x80) (docstring)",
    )
