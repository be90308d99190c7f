"""The NAS-Bench-201 cell-network family: a CIFAR-sized network from an architecture string.

NAS-Bench-201 (Dong & Yang, ICLR 2020, arXiv:2001.00326) fixes a macro skeleton and searches
one cell. The cell is a DAG of 4 nodes; each of its 6 edges (i -> j, i < j) carries one of 5
operations, so the space holds 5**6 = 15,625 networks. This module builds any of them in
torch, written here from the paper's description (section 2) and its public arch-string
format:

- skeleton: a 3x3 conv stem (3 -> C, batch-norm), three stages of ``N`` cells at C, 2C and 4C
  channels on 32x32, 16x16 and 8x8 maps, a residual block with stride 2 between stages (two
  ReLU-conv-BN 3x3 convs; the shortcut a 2x2 average pool and a 1x1 conv), then batch-norm,
  ReLU, global average pooling and a linear classifier. C = 16, N = 5 and 10 classes (CIFAR-10)
  are the benchmark's settings.
- cell: node 0 is the cell's input; node j is the sum over i < j of op(i -> j)(node i); node
  3 is the cell's output.
- operations: ``none`` (zeros: the input times 0, as the benchmark's inference cell computes
  it), ``skip_connect`` (identity), ``nor_conv_1x1`` and ``nor_conv_3x3`` (ReLU, conv, batch-norm),
  ``avg_pool_3x3`` (3x3 average, stride 1, padding not counted).

An architecture string names each node's incoming edges as ``op~source``, nodes separated by
``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

``build(arch)`` returns the network in eval mode (random weights, batch-norm statistics set by
one seeded batch as the other built-in CNNs); ``example_input()`` its 1x3x32x32 input;
``get_workload("nas201:" + arch)`` wraps both as a ``Workload``, so every hwsim entry point
(``hwsim estimate 'nas201:|...|'``, a measurement CSV's ``model`` column) takes the string.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from .spec import Workload

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4  # input node 0, intermediate nodes 1 and 2, output node 3
EDGES = NODES * (NODES - 1) // 2
CHANNELS = 16  # C of the benchmark's skeleton
CELLS_PER_STAGE = 5  # N
NUM_CLASSES = 10  # CIFAR-10
IMAGE_SIDE = 32
PREFIX = "nas201:"

Genotype = tuple[tuple[tuple[str, int], ...], ...]  # per node 1..3: (op, source node) edges


class ArchStringError(ValueError):
    """An architecture string that does not name a NAS-Bench-201 cell."""


def parse_arch(arch: str) -> Genotype:
    """The cell's edges from an architecture string, checked: 3 nodes, node j fed by exactly
    one edge from each of nodes 0..j-1, every op one of ``OPS``."""
    text = arch.strip()
    nodes = text.split("+")
    if len(nodes) != NODES - 1:
        raise ArchStringError(f"expected {NODES - 1} nodes separated by '+', found {len(nodes)}")
    genotype = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ArchStringError(f"node {j} '{node}' must be written as |op~i|...|")
        edges = []
        for item in node[1:-1].split("|"):
            op, sep, source = item.partition("~")
            if not sep or op not in OPS or not source.isdigit():
                raise ArchStringError(
                    f"node {j} edge '{item}': expected op~i with op one of {', '.join(OPS)}"
                )
            edges.append((op, int(source)))
        sources = sorted(s for _, s in edges)
        if sources != list(range(j)):
            raise ArchStringError(
                f"node {j} must take one edge from each of nodes 0..{j - 1}, got sources {sources}"
            )
        genotype.append(tuple(sorted(edges, key=lambda e: e[1])))
    return tuple(genotype)


def arch_string(genotype: Genotype) -> str:
    """The canonical architecture string of ``genotype`` (inverse of ``parse_arch``)."""
    return "+".join("|" + "|".join(f"{op}~{i}" for op, i in node) + "|" for node in genotype)


def all_archs() -> list[str]:
    """All 15,625 architecture strings, in a fixed order: the 6 edges (1<-0, 2<-0, 2<-1, 3<-0,
    3<-1, 3<-2) counted like the digits of a base-5 number over ``OPS``."""
    out = []
    for ops in itertools.product(OPS, repeat=EDGES):
        it = iter(ops)
        genotype = tuple(tuple((next(it), i) for i in range(j)) for j in range(1, NODES))
        out.append(arch_string(genotype))
    return out


def sample_archs(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct architecture strings drawn uniformly from the space (reproducible)."""
    return random.Random(seed).sample(all_archs(), n)


class ReLUConvBN(nn.Module):
    """ReLU, then a conv without bias, then batch-norm: the benchmark's conv operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return out


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape, computed as the input times 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _operation(name: str, channels: int) -> nn.Module:
    table: dict[str, Callable[[], nn.Module]] = {
        "none": Zero,
        "skip_connect": nn.Identity,
        "nor_conv_1x1": functools.partial(ReLUConvBN, channels, channels, 1, 1),
        "nor_conv_3x3": functools.partial(ReLUConvBN, channels, channels, 3, 1),
        "avg_pool_3x3": functools.partial(
            nn.AvgPool2d, 3, stride=1, padding=1, count_include_pad=False
        ),
    }
    module: nn.Module = table[name]()
    return module


class Cell(nn.Module):
    """One searched cell: node j = sum over its edges of op(node i)."""

    def __init__(self, genotype: Genotype, channels: int) -> None:
        super().__init__()
        self.sources = [[i for _, i in node] for node in genotype]
        self.edges = nn.ModuleList(
            nn.ModuleList(_operation(op, channels) for op, _ in node) for node in genotype
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for sources, edge_ops in zip(self.sources, self.edges, strict=True):
            ops = cast(nn.ModuleList, edge_ops)
            total = ops[0](nodes[sources[0]])
            for source, op in zip(sources[1:], ops[1:], strict=True):
                total = total + op(nodes[source])
            nodes.append(total)
        return nodes[-1]


class ResidualBlock(nn.Module):
    """The fixed block between stages: two 3x3 ReLU-conv-BNs (the first with stride 2), and a
    shortcut of a 2x2 average pool and a 1x1 conv, added."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.shortcut(x) + self.conv_b(self.conv_a(x))
        return out


class Nas201Network(nn.Module):
    """The benchmark's skeleton around ``genotype`` (see the module doc)."""

    def __init__(
        self,
        genotype: Genotype,
        channels: int = CHANNELS,
        cells_per_stage: int = CELLS_PER_STAGE,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage:
                layers.append(ResidualBlock(c, 2 * c))
                c *= 2
            layers += [Cell(genotype, c) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.lastact(self.cells(self.stem(x))))
        out: torch.Tensor = self.classifier(features.flatten(1))
        return out


def _settle(model: nn.Module) -> nn.Module:
    """Eval mode with He-scaled convs and batch-norm statistics from one seeded batch (as
    ``settle.settle_batchnorm`` does for the 224x224 models), global random state untouched."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        model.train()
        model(torch.randn(2, 3, IMAGE_SIDE, IMAGE_SIDE))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def build(
    arch: str,
    *,
    channels: int = CHANNELS,
    cells_per_stage: int = CELLS_PER_STAGE,
    num_classes: int = NUM_CLASSES,
) -> nn.Module:
    """The network of architecture string ``arch``, in eval mode, random weights."""
    genotype = parse_arch(arch)
    return _settle(Nas201Network(genotype, channels, cells_per_stage, num_classes))


def example_input(batch: int = 1) -> tuple[torch.Tensor, ...]:
    """A (batch, 3, 32, 32) CIFAR-sized input."""
    return (torch.zeros(batch, 3, IMAGE_SIDE, IMAGE_SIDE),)


def reference_macs(arch: str) -> int:
    """Multiply-accumulates of conv and linear layers at batch 1, counted by hand from the
    skeleton (the ``Workload``'s reference figure): stem, per-stage cells, residual blocks,
    classifier."""
    genotype = parse_arch(arch)
    convs = [op for node in genotype for op, _ in node]
    per_cell = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}
    macs = IMAGE_SIDE**2 * 3 * CHANNELS * 9  # stem
    c, side = CHANNELS, IMAGE_SIDE
    for stage in range(3):
        if stage:
            half = side // 2
            macs += half**2 * c * 2 * c * 9  # conv_a, stride 2
            macs += half**2 * 2 * c * 2 * c * 9  # conv_b
            macs += half**2 * c * 2 * c  # shortcut 1x1
            c, side = 2 * c, half
        macs += CELLS_PER_STAGE * sum(per_cell.get(op, 0) for op in convs) * side**2 * c * c
    return macs + c * NUM_CLASSES


def workload(arch: str) -> Workload:
    """``arch`` as a built-in ``Workload`` (name ``nas201:<arch>``)."""
    parse_arch(arch)  # fail on a bad string now, not when the model is built
    return Workload(
        name=PREFIX + arch,
        description="NAS-Bench-201 cell network (C=16, N=5, CIFAR-10, 32x32)",
        build=functools.partial(build, arch),
        make_inputs=example_input,
        published_macs=reference_macs(arch),
        macs_source="hand count of the NAS-Bench-201 skeleton (workloads/nas201.py)",
    )
