"""Counts that follow an operand's role, not its position: addmm, matmul with the weight first,
baddbmm, addbmm, einsum; view ops; parameters by stored tensor; new op kinds; degenerate and
data-dependent shapes. Expected figures are hand counts (docstrings) or FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import hwsim
from hwsim.ops import OpKind

CLASSES = ["cpu_arm_a76", "gpu_a100", "tpu_edge", "eyeriss", "fpga_zcu104", "fpga_zcu104_dpu"]


def _flop_counter_macs(model: nn.Module, *inputs: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*inputs)
    return fc.get_total_flops() // 2


def _only(graph, kind):
    ops = [op for op in graph if op.kind is kind]
    assert len(ops) == 1, [op.target for op in ops]
    return ops[0]


class Conv1DLike(nn.Module):
    """GPT-2's Conv1D: ``addmm(bias, x, W)`` with W stored [in, out]."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out))
        self.bias = nn.Parameter(torch.randn(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.view(-1, x.shape[-1]), self.weight)


def test_addmm_reads_k_from_the_left_factor():
    """x (12, 64) @ W (64, 16) + b: M x N x K = 12 x 16 x 64 = 12288 MACs (counting K from W's
    last dimension gave 12 x 16 x 16, four times too few). The weight is W, not the bias."""
    graph = hwsim.trace(Conv1DLike(64, 16), example_inputs=(torch.randn(12, 64),))
    op = _only(graph, OpKind.GEMM)
    assert op.macs == 12 * 16 * 64 == _flop_counter_macs(Conv1DLike(64, 16), torch.randn(12, 64))
    assert op.weight is not None and op.weight.shape == (64, 16)
    assert op.weight_stats is not None and op.weight_stats.output_channels == 64


class WeightFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.w, x)  # (8, 32) @ (B, 32, 20)


def test_matmul_with_the_weight_first():
    """W (8, 32) @ x (3, 32, 20) -> (3, 8, 20): 3 x 8 x 20 x 32 = 15360 MACs. Hardware runs the
    transposed product, so the GEMM view is M = 3 x 20 = 60 rows, N = 8, K = 32."""
    x = torch.randn(3, 32, 20)
    graph = hwsim.trace(WeightFirst(), example_inputs=(x,))
    op = _only(graph, OpKind.GEMM)
    assert op.macs == 15_360 == _flop_counter_macs(WeightFirst(), x)
    assert op.attr("gemms") == ((60, 8, 32, 1),)
    assert op.weight is not None and op.weight.shape == (8, 32)


class Batched(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b1 = nn.Parameter(torch.randn(4, 6, 10))
        self.bias = nn.Parameter(torch.randn(4, 6, 7))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.baddbmm(self.bias, self.b1, x), torch.addbmm(self.bias[0], self.b1, x)


def test_baddbmm_and_addbmm_with_a_constant_factor():
    """b1 (4, 6, 10) @ x (4, 10, 7): baddbmm 4 x 6 x 7 x 10 = 1680 MACs; addbmm sums the same
    four products into one (6, 7) output: also 1680 (its output alone suggests 420)."""
    x = torch.randn(4, 10, 7)
    graph = hwsim.trace(Batched(), example_inputs=(x,))
    by_target = {op.target: op.macs for op in graph if op.kind is OpKind.GEMM}
    assert by_target == {"aten.baddbmm": 1680, "aten.addbmm": 1680}


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("bij,kj->bik", [(2, 5, 16), (8, 16)]),
        ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 7, 4)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
        ("...ij,...jk->...ik", [(6, 2, 3, 4), (6, 2, 4, 5)]),
        ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
        ("ij,ij->ij", [(3, 4), (3, 4)]),
        ("ijk,k", [(2, 3, 4), (4,)]),
    ],
)
def test_einsum_matches_flop_counter(equation, shapes):
    class Einsum(nn.Module):
        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.einsum(equation, *xs)

    xs = tuple(torch.randn(s) for s in shapes)
    graph = hwsim.trace(Einsum(), example_inputs=xs)
    assert graph.unsupported == []
    assert graph.macs == _flop_counter_macs(Einsum(), *xs)


def test_einsum_with_a_weight_prices_as_a_gemm_everywhere():
    """x (2, 5, 16) against W (8, 16): one product, M = 10, N = 8, K = 16."""

    class Project(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 16))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.einsum("bij,kj->bik", x, self.w)

    graph = hwsim.trace(Project(), example_inputs=(torch.randn(2, 5, 16),))
    op = _only(graph, OpKind.GEMM)
    assert op.attr("gemms") == ((10, 8, 16, 1),)
    assert op.weight is not None and op.weight.shape == (8, 16)
    for hw in CLASSES:
        assert hwsim.estimate(graph, hw).unsupported == []


class ViewsAndSorts(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = x.reshape_as(x.clone())
        values, _ = torch.sort(y, dim=-1)
        top, _ = torch.topk(y, 3)
        return values, top, torch.argsort(y, dim=1)


def test_reshape_as_is_a_view_and_sorts_are_priced():
    """sort over 16 elements: ceil(log2 16) = 4 compares per element, 2 x 4 x 16 x 4 = 512;
    topk with k = 3: ceil(log2 3) = 2 per element read, 256; argsort over 4: 2 x 128 = 256."""
    graph = hwsim.trace(ViewsAndSorts(), example_inputs=(torch.randn(2, 4, 16),))
    assert graph.unsupported == []
    assert next(op for op in graph if op.target == "aten.reshape_as").kind is OpKind.VIEW
    flops = {op.target: op.flops for op in graph if op.kind is OpKind.REDUCE}
    assert flops == {"aten.sort": 512, "aten.topk": 256, "aten.argsort": 256}
    for hw in CLASSES:
        est = hwsim.estimate(graph, hw)
        assert est.unsupported == []
        assert est.latency_s > 0


# --- parameters ---------------------------------------------------------------------------


class Tied(nn.Module):
    """An embedding and a head sharing one weight, a buffer of positions, and a batch-norm."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.head = nn.Linear(8, 50, bias=False)
        self.head.weight = self.embed.weight
        self.register_buffer("positions", torch.arange(16))
        self.mix = nn.Conv1d(8, 8, 1, bias=False)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens) + self.positions[: tokens.shape[1], None].float()
        h = self.bn(self.mix(h.transpose(1, 2))).transpose(1, 2)
        return self.head(h)


def test_parameters_counted_once_per_stored_tensor():
    """embed/head 50 x 8 = 400 (tied: once), conv 8 x 8 = 64, batch-norm scale and shift 16:
    480, as model.parameters() counts. The positions buffer and the running statistics are
    not parameters. Folding the batch-norm into the conv does not change the count."""
    model = Tied().eval()
    graph = hwsim.trace(model, example_inputs=(torch.randint(0, 50, (2, 16)),))
    assert graph.param_count == 480 == sum(p.numel() for p in model.parameters())
    unfolded = hwsim.trace(model, example_inputs=(torch.randint(0, 50, (2, 16)),), fold_bn=False)
    assert unfolded.param_count == 480


def test_channel_pruning_shrinks_the_parameter_count():
    """Conv 3->16 (3x3, bias) then conv 16->8 (1x1, no bias): 448 + 128 = 576 parameters.
    Removing half of the first conv's 16 output channels leaves 8 x 27 + 8 = 224 and
    8 x 8 = 64: 288."""
    from hwsim.compression import compress
    from hwsim.compression.spec import parse_variant

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 8, 1, bias=False)).eval()
    graph = hwsim.trace(model, example_inputs=(torch.randn(1, 3, 8, 8),))
    assert graph.param_count == 576
    pruned = compress(graph, parse_variant("channel:0.5", layers="^0$").rules)
    assert pruned.param_count == 288


# --- degenerate and data-dependent shapes --------------------------------------------------


def test_empty_layer_is_a_free_op():
    """nn.Linear(16, 0) has no outputs: nothing to compute or move, on every class."""
    graph = hwsim.trace(nn.Linear(16, 0), input_shapes="2,16")
    assert graph.macs == 0
    assert all(op.kind is OpKind.VIEW for op in graph)
    for hw in CLASSES:
        hwsim.estimate(graph, hw)


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.fc(y)
        return z[z > 0] * 2, torch.nonzero(y)


def test_data_dependent_sizes_are_priced_at_their_bound():
    """z[z > 0] keeps at most all 2 x 4 = 8 elements; nonzero at most 8 rows of 2 indices."""
    graph = hwsim.trace(Masked(), example_inputs=(torch.randn(2, 4),))
    assert graph.unsupported == []
    flagged = [op for op in graph if op.attr("data_dependent")]
    assert {op.target for op in flagged} >= {"aten.index", "aten.nonzero"}
    assert next(op for op in flagged if op.target == "aten.nonzero").outputs[0].shape == (8, 2)
    assert any("upper bound" in note for note in graph.info.notes)
    for hw in ["cpu_arm_a76", "gpu_a100", "tpu_edge", "eyeriss", "fpga_zcu104_dpu"]:
        assert hwsim.estimate(graph, hw).latency_s > 0


def test_weightless_pt2_prices_as_dense(tmp_path):
    """An archive whose weights are fake (torch writes empty records for them, as for a large
    model exported under FakeTensorMode) loads without allocating them; no weight statistics,
    so the weights price as dense."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() as mode:
        model = nn.Linear(64, 32)
        x = torch.empty(4, 64)
    program = torch.export.export(model, (x,), strict=False)
    path = tmp_path / "fake_weights.pt2"
    torch.export.save(program, str(path))
    del mode
    graph = hwsim.trace(str(path))
    op = _only(graph, OpKind.GEMM)
    assert op.macs == 4 * 32 * 64
    assert op.weight_stats is None
    assert hwsim.estimate(graph, "gpu_a100").latency_s > 0
