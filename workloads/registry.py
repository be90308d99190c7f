"""The name -> workload table.

Values are factories, not workloads or models: listing names imports nothing heavy and builds
nothing, and each model is built only when its ``Workload.build`` is called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from . import coral, hf, mcu_mobilenets, mlperf_tiny, mobile, mobilenet_v3, nas201
from .spec import Workload

WORKLOADS: dict[str, Callable[[], Workload]] = {
    "resnet18": hf.resnet18,
    "resnet50": hf.resnet50,
    "mobilenet_v2": hf.mobilenet_v2,
    "mobilenet_v3_large": mobilenet_v3.mobilenet_v3_large,
    "efficientnet_b0": hf.efficientnet_b0,
    "vit_tiny": hf.vit_tiny,
    "bert_base": hf.bert_base,
    # MLPerf Tiny's reference networks (microcontroller-sized)
    "mobilenet_v1_vww": mlperf_tiny.mobilenet_v1_vww,
    "resnet8_cifar10": mlperf_tiny.resnet8_cifar10,
    "ds_cnn_kws": mlperf_tiny.ds_cnn_kws,
    "fc_autoencoder_ad": mlperf_tiny.fc_autoencoder_ad,
    # MobileNetV2 variants of published microcontroller peak-memory and latency figures
    "mbv2_w035_r144": mcu_mobilenets.mbv2_w035_r144,
    "mbv2_w030_r80": mcu_mobilenets.mbv2_w030_r80,
}

# Parametrised families: "prefix:spec" names a member (``nas201:|nor_conv_3x3~0|+|...|``).
FAMILIES: dict[str, Callable[[str], Workload]] = {
    "nas201": nas201.workload,
    "mobilenet_v1": mobile.mobilenet_v1,
    "efficientnet_lite": mobile.efficientnet_lite,
}


class UnknownWorkloadError(KeyError):
    """A workload name that is not in the table; ``args[0]`` is the name, as for KeyError."""

    def __str__(self) -> str:
        known = ", ".join([*workload_names(), *reference_names()])
        return f"unknown workload {self.args[0]!r}; known: {known}"


# Reference models for one hardware's published benchmarks (Coral's Edge TPU table): built-in
# by name, but not in the core set every preset and calibration is checked on.
REFERENCE: dict[str, Callable[[], Workload]] = dict(coral.CORAL)


def workload_names() -> list[str]:
    """The core workloads' names, sorted so listings are stable."""
    return sorted(WORKLOADS)


def reference_names() -> list[str]:
    """The reference models' names (Coral's benchmark table), sorted."""
    return sorted(REFERENCE)


def is_workload_name(name: str) -> bool:
    """Whether ``name`` names a registered workload (core or reference) or a member of a
    family (``prefix:...``); a family member's spec is checked when it is built."""
    return (
        name in WORKLOADS
        or name in REFERENCE
        or (":" in name and name.partition(":")[0] in FAMILIES)
    )


def get_workload(name: str) -> Workload:
    """The workload registered as ``name`` (core or reference), or the family member
    ``prefix:spec`` names (a bad spec raises the family's ``ValueError``, which says what is
    wrong with it). Its ``build`` draws the same weights every time (seeded), so what depends
    on their values (the accuracy proxy) repeats from run to run."""
    prefix, sep, spec = name.partition(":")
    if sep and prefix in FAMILIES:
        workload = FAMILIES[prefix](spec)
    else:
        factory = WORKLOADS.get(name) or REFERENCE.get(name)
        if factory is None:
            raise UnknownWorkloadError(name)
        workload = factory()
    return replace(workload, build=functools.partial(_seeded_build, workload.build))


WEIGHT_SEED = 0


def _seeded_build(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with the random state seeded, leaving the caller's state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHT_SEED)
        return build()


# One member of each family, to show how its names are written.
FAMILY_EXAMPLES = {
    "nas201": "nas201:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "mobilenet_v1": "mobilenet_v1:1.0_224",
    "efficientnet_lite": "efficientnet_lite:0",
}
