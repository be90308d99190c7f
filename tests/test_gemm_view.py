"""The GEMM view every class prices from: the frontend's own lowering where the output shape
does not tell it (einsum, a weight-first matmul, recurrent layers), checked against MAC counts
written out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hwsim
from hwsim.costmodels.gemm_view import GemmShape, gemm_shapes
from hwsim.ops import OpKind


class WeightFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.w, x)


class PermutedEinsum(nn.Module):
    """A projection whose output puts the weight's rows before the tokens: out[b, h, s]."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bsd,hd->bhs", x, self.w)


def _gemm_ops(model: nn.Module, *inputs: torch.Tensor) -> list[hwsim.Op]:
    graph = hwsim.trace(model.eval(), example_inputs=inputs)
    return [op for op in graph if op.kind is OpKind.GEMM]


def test_weight_first_matmul_is_the_transposed_product():
    """W (6, 10) @ x (2, 10, 7): hardware runs x^T W^T, M = 2 x 7 = 14 rows, N = 6, K = 10
    (the output shape (2, 6, 7) alone would say N = 7)."""
    (op,) = _gemm_ops(WeightFirst(), torch.randn(2, 10, 7))
    assert gemm_shapes(op) == (GemmShape(m=14, n=6, k=10),)


def test_einsum_with_permuted_output():
    """x (2, 7, 12) against W (6, 12) into (2, 6, 7): M = 14 tokens, N = 6, K = 12."""
    (op,) = _gemm_ops(PermutedEinsum(), torch.randn(2, 7, 12))
    assert gemm_shapes(op) == (GemmShape(m=14, n=6, k=12),)


def test_lstm_products_are_input_and_hidden_gemms():
    """LSTM(5 -> 8) over 9 steps of batch 3: W_ih (32 x 5) on all 27 tokens at once, W_hh
    (32 x 8) on the 3 sequences, step after step (9 groups): 27 x 32 x 5 + 9 x 3 x 32 x 8 =
    4320 + 6912 = 11232 MACs."""
    lstm = nn.LSTM(5, 8, batch_first=True)

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = lstm

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lstm(x)[0]

    (op,) = _gemm_ops(Model(), torch.randn(3, 9, 5))
    assert gemm_shapes(op) == (GemmShape(m=27, n=32, k=5), GemmShape(m=3, n=32, k=8, groups=9))
    assert sum(g.macs for g in gemm_shapes(op)) == op.macs == 11_232


@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("bhqd,bhkd->bhqk", [(2, 3, 5, 4), (2, 3, 7, 4)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
        ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ],
)
def test_einsum_gemms_carry_all_of_its_macs(equation, shapes):
    class Einsum(nn.Module):
        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return torch.einsum(equation, *xs)

    for op in _gemm_ops(Einsum(), *(torch.randn(s) for s in shapes)):
        assert sum(g.macs for g in gemm_shapes(op)) == op.macs
