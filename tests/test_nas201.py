"""The NAS-Bench-201 family: architecture strings, the built network, its MACs, and the module
calls the frontend records for the CPU model."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import hwsim
from hwsim.workloads import get_workload, is_workload_name, nas201

BEST = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
NO_SKIP = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"


def test_space_has_15625_distinct_archs_that_parse_back():
    archs = nas201.all_archs()
    assert len(archs) == 5**6 == len(set(archs))
    for arch in archs[:: 5**3]:
        assert nas201.arch_string(nas201.parse_arch(arch)) == arch


def test_sample_is_reproducible():
    assert nas201.sample_archs(20, seed=3) == nas201.sample_archs(20, seed=3)
    assert len(set(nas201.sample_archs(120, seed=201))) == 120


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "expected 3 nodes"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 edge 'conv~0'"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "node 2 must take one edge"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 'none~0' must be written"),
    ],
)
def test_bad_arch_strings(arch, message):
    with pytest.raises(nas201.ArchStringError, match=message):
        nas201.parse_arch(arch)


def test_bad_arch_is_one_line_on_the_cli(hwsim_cli):
    code, _, err = hwsim_cli("estimate", "nas201:|none~0|", "--hw", "cpu_arm_a76")
    assert code == 2
    assert err.strip().startswith("error: workload 'nas201:|none~0|': expected 3 nodes")


def test_workload_names():
    assert is_workload_name("nas201:" + BEST)
    assert is_workload_name("resnet18")
    assert not is_workload_name("nas201")
    assert not is_workload_name("resnet18:x")


@pytest.mark.parametrize("arch", [BEST, NO_SKIP])
def test_macs_match_flop_counter_and_hand_count(arch):
    """hwsim's traced MACs equal torch's FlopCounterMode (an independent counter) on the built
    network, and the skeleton's hand count (``reference_macs``)."""
    model = nas201.build(arch)
    (x,) = nas201.example_input()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    graph = hwsim.trace("nas201:" + arch)
    assert graph.macs == counter.get_total_flops() // 2
    assert graph.macs == nas201.reference_macs(arch)
    assert get_workload("nas201:" + arch).published_macs == graph.macs


def test_best_cell_by_hand():
    """The best CIFAR-10 cell has 5 3x3 convs per cell. Per stage at C channels on an S x S map
    a 3x3 conv is S^2 C^2 9 MACs: 5 cells x 5 convs x (32^2 16^2 + 16^2 32^2 + 8^2 64^2) x 9 =
    25 x 786,432 x 9; stem 32^2 x 3 x 16 x 9; two residual blocks (16->32 at 16x16, 32->64
    at 8x8): 3x3 stride-2, 3x3, 1x1 shortcut; classifier 64 x 10."""
    cells = 25 * (32**2 * 16**2 + 16**2 * 32**2 + 8**2 * 64**2) * 9
    stem = 32**2 * 3 * 16 * 9
    blocks = (16**2 * 16 * 32 * 9 + 16**2 * 32 * 32 * 9 + 16**2 * 16 * 32) + (
        8**2 * 32 * 64 * 9 + 8**2 * 64 * 64 * 9 + 8**2 * 32 * 64
    )
    assert nas201.reference_macs(BEST) == cells + stem + blocks + 640
