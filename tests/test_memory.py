"""Peak activation memory per schedule, hand-counted on small graphs.

Every graph here is int8, so a tensor of ``n`` elements takes ``n`` bytes; each docstring
writes out, step by step, the bytes alive while each kernel runs (its inputs, its output, and
everything written earlier that a later kernel still reads).
"""

from __future__ import annotations

import json

import pytest
import torch
from memory_graphs import INPUT, Node, build

import hwsim
from hwsim.compare import compare
from hwsim.errors import HwsimError
from hwsim.memory import (
    INPUTS,
    greedy_arena,
    lifetimes,
    min_peak_order,
    plan_memory,
)
from hwsim.memory.lifetimes import TensorLife
from hwsim.memory_chart import lifetime_figure, save_chart
from hwsim.memory_report import memory_report
from hwsim.ops import OpKind

VIEW = OpKind.VIEW
POINTWISE = OpKind.POINTWISE


def live_by_kernel(plan):
    """Bytes alive while each kernel runs, by kernel name."""
    steps = plan.problem.steps
    return {
        steps[s].name: b for s, b in zip(plan.step_order, plan.lifetimes.live_bytes, strict=True)
    }


def test_chain():
    """x(100) -> A(200) -> B(50) -> C(10).
    A: x 100 + A 200 = 300;  B: A 200 + B 50 = 250;  C: B 50 + C 10 = 60.  Peak 300 at A."""
    graph = build(
        [Node("A", (INPUT,), 200), Node("B", ("A",), 50), Node("C", ("B",), 10)], input_bytes=100
    )
    plan = plan_memory(graph)
    assert live_by_kernel(plan) == {"A": 300, "B": 250, "C": 60}
    assert plan.peak_bytes == 300
    assert plan.peak_kernel == "A"
    assert {t.name for t in plan.alive_at_peak} == {INPUTS, "A"}
    assert plan.order == ("A", "B", "C")


def test_a_view_keeps_its_source_alive():
    """x(10) -> A(128); V = view(A); B(32) <- A; C(32) <- B; D(16) <- V, C.
    V aliases A's storage, so A lives until D, its view's reader:
    A: x 10 + A 128 = 138;  B: A 128 + B 32 = 160;  C: A 128 + B 32 + C 32 = 192;
    D: A 128 + C 32 + D 16 = 176.  Peak 192 at C (64 if the view were thought to free A)."""
    graph = build(
        [
            Node("A", (INPUT,), 128),
            Node("V", ("A",), 128, kind=VIEW),
            Node("B", ("A",), 32),
            Node("C", ("B",), 32),
            Node("D", ("V", "C"), 16),
        ],
        input_bytes=10,
    )
    plan = plan_memory(graph)
    assert live_by_kernel(plan) == {"A": 138, "B": 160, "C": 192, "D": 176}
    assert plan.peak_kernel == "C"
    assert {t.name for t in plan.alive_at_peak} == {"A", "B", "C"}
    assert "V" not in plan.order  # views are free: not kernels


def test_fused_intermediate_never_reaches_memory():
    """x(10) -> conv A(100) -> relu R(100, fused into A) -> B(20).
    Kernel A+R: x 10 + R 100 = 110 (A's own output stays in registers);  B: R 100 + B 20 = 120.
    Peak 120 (200 if A and R were separate kernels)."""
    graph = build(
        [
            Node("A", (INPUT,), 100),
            Node("R", ("A",), 100, kind=POINTWISE, fused_into="A"),
            Node("B", ("R",), 20),
        ],
        input_bytes=10,
    )
    plan = plan_memory(graph)
    assert live_by_kernel(plan) == {"A": 110, "B": 120}
    assert plan.order == ("A", "R", "B")


def test_fused_residual_add_runs_after_its_shortcut():
    """x(10) -> A(50); B(40) <- A; C(50) <- B; S(50) <- A (the shortcut conv, traced after C);
    ADD(50) <- C, S fused into C. The kernel C+ADD needs S, so the traced schedule is
    A, B, S, C+ADD:
    A: 10 + 50 = 60;  B: A 50 + B 40 = 90;  S: A 50 + B 40 + S 50 = 140;
    C+ADD: B 40 + S 50 + ADD 50 = 140.  Peak 140."""
    graph = build(
        [
            Node("A", (INPUT,), 50),
            Node("B", ("A",), 40),
            Node("C", ("B",), 50),
            Node("S", ("A",), 50),
            Node("ADD", ("C", "S"), 50, kind=POINTWISE, fused_into="C"),
        ],
        input_bytes=10,
    )
    plan = plan_memory(graph)
    assert plan.order == ("A", "B", "S", "C", "ADD")
    assert list(plan.lifetimes.live_bytes) == [60, 90, 140, 140]


def two_branches():
    """x(10) -> A(100); branch 1: P(300) <- A, Q(50) <- P; branch 2: R(200) <- A, T(5) <- R;
    J(1) <- Q, T. Traced order A, P, Q, R, T, J."""
    return build(
        [
            Node("A", (INPUT,), 100),
            Node("P", ("A",), 300),
            Node("Q", ("P",), 50),
            Node("R", ("A",), 200),
            Node("T", ("R",), 5),
            Node("J", ("Q", "T"), 1),
        ],
        input_bytes=10,
    )


def test_traced_order_of_two_branches():
    """A: 10 + 100 = 110;  P: A 100 + P 300 = 400;  Q: A 100 + P 300 + Q 50 = 450;
    R: A 100 + Q 50 + R 200 = 350;  T: Q 50 + R 200 + T 5 = 255;  J: Q 50 + T 5 + J 1 = 56.
    Peak 450 at Q."""
    plan = plan_memory(two_branches())
    assert list(plan.lifetimes.live_bytes) == [110, 400, 450, 350, 255, 56]
    assert plan.method == "traced"


def test_memory_schedule_runs_the_small_leftover_branch_first():
    """Running branch 2 first leaves only T (5 B) behind while branch 1 runs:
    A 110;  R: A 100 + R 200 = 300;  T: A 100 + R 200 + T 5 = 305;
    P: A 100 + T 5 + P 300 = 405;  Q: T 5 + P 300 + Q 50 = 355;  J: 56.  Peak 405 < 450.
    Interleaving is worse (P then R holds A, P and R: 600), so 405 is the optimum."""
    plan = plan_memory(two_branches(), "memory")
    assert plan.peak_bytes == 405
    assert plan.order == ("A", "R", "T", "P", "Q", "J")
    assert plan.method == "exact"


def test_in_place_kernel_writes_over_its_dying_input():
    """x(10) -> A(100) -> relu B(100, in place) -> C(10).
    A: 110;  B: A 100 (B's output is written over it) = 100;  C: B 100 + C 10 = 110.
    Peak 110; without in-place execution B needs A 100 + B 100 = 200."""
    graph = build(
        [Node("A", (INPUT,), 100), Node("B", ("A",), 100, kind=POINTWISE), Node("C", ("B",), 10)],
        input_bytes=10,
    )
    relu_in_place = plan_memory(graph, in_place=lambda op: op.kind is POINTWISE)
    assert list(relu_in_place.lifetimes.live_bytes) == [110, 100, 110]
    assert list(plan_memory(graph).lifetimes.live_bytes) == [110, 200, 110]


def test_in_place_needs_the_input_to_die_there():
    """As above, but D(1) <- A, C reads A after B: B cannot overwrite A.
    B: A 100 + B 100 = 200 even in place."""
    graph = build(
        [
            Node("A", (INPUT,), 100),
            Node("B", ("A",), 100, kind=POINTWISE),
            Node("C", ("B",), 10),
            Node("D", ("A", "C"), 1),
        ],
        input_bytes=10,
    )
    plan = plan_memory(graph, in_place=lambda op: op.kind is POINTWISE)
    assert plan.lifetimes.live_bytes[1] == 200


def test_model_output_stays_alive_to_the_end():
    """x(10) -> A(50); the model returns view(A); B(20) <- A; C(30) <- B.
    A: 60;  B: A 50 + B 20 = 70;  C: A 50 (returned) + B 20 + C 30 = 100."""
    graph = build(
        [
            Node("A", (INPUT,), 50),
            Node("V", ("A",), 50, kind=VIEW),
            Node("B", ("A",), 20),
            Node("C", ("B",), 30),
        ],
        input_bytes=10,
    )
    assert list(plan_memory(graph).lifetimes.live_bytes) == [60, 70, 100]


def test_model_input_lives_until_its_last_reader():
    """x(100) -> A(10) -> B(10); C(10) <- x, B.
    A: x 100 + A 10 = 110;  B: x 100 + A 10 + B 10 = 120;  C: x 100 + B 10 + C 10 = 120."""
    graph = build(
        [Node("A", (INPUT,), 10), Node("B", ("A",), 10), Node("C", (INPUT, "B"), 10)],
        input_bytes=100,
    )
    plan = plan_memory(graph)
    assert list(plan.lifetimes.live_bytes) == [110, 120, 120]
    assert plan.peak_step == 1


def test_byte_scale_applies_the_precision_each_op_runs_at():
    """The chain of test_chain with A run at half width (an int4 what-if) and the rest as is.
    A writes 100 bytes, and the model input is stored at the width of the op reading it:
    A: x 50 + A 100 = 150;  B: A 100 + B 50 = 150;  C: B 50 + C 10 = 60."""
    graph = build(
        [Node("A", (INPUT,), 200), Node("B", ("A",), 50), Node("C", ("B",), 10)], input_bytes=100
    )
    plan = plan_memory(graph, byte_scale=lambda op: 0.5 if op.id == "A" else 1.0)
    assert list(plan.lifetimes.live_bytes) == [150, 150, 60]


def test_unknown_schedule_is_a_user_error():
    graph = build([Node("A", (INPUT,), 1)], input_bytes=1)
    with pytest.raises(HwsimError, match="unknown schedule 'fastest'"):
        plan_memory(graph, "fastest")


def test_an_order_that_breaks_a_dependency_is_refused():
    plan = plan_memory(two_branches())
    with pytest.raises(HwsimError, match="before"):
        lifetimes(plan.problem, (1, 0, 2, 3, 4, 5))


def test_traced_resnet_block_by_hand():
    """A real torch block, traced: x + relu(conv(x)), a 4 -> 4 channel 3x3 conv on a fp32
    1x4x8x8 input, so every tensor is 4*8*8*4 = 1024 bytes. The relu fuses into the conv and
    the add into that kernel, so there is one kernel: it reads x (1024) and writes the sum
    (1024). Peak 2048."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + torch.relu(self.conv(x))

    graph = hwsim.trace(Block().eval(), example_inputs=(torch.zeros(1, 4, 8, 8),))
    plan = plan_memory(graph)
    assert len(plan.problem) == 1
    assert plan.peak_bytes == 2048


def test_memory_schedule_never_worse_than_traced(graph_of):
    """On every built-in workload the searched order's peak is at most the traced one's."""
    for name in ("resnet18", "mobilenet_v2"):
        graph = graph_of(name)
        assert plan_memory(graph, "memory").peak_bytes <= plan_memory(graph).peak_bytes


def test_mobilenet_v2_peak_is_the_first_inverted_residual(graph_of):
    """MobileNetV2 at 224, fp32: the first block's 1x1 expansion writes 96x112x112 and its
    stride-2 depthwise conv 96x56x56; the depthwise kernel holds both:
    (96*112*112 + 96*56*56) * 4 bytes = (1,204,224 + 301,056) * 4 = 6,021,120."""
    plan = plan_memory(graph_of("mobilenet_v2"))
    assert plan.peak_bytes == 6_021_120
    assert plan.peak_kernel.endswith("layer.0.conv_3x3.convolution")


def test_search_prunes_to_the_beam_and_says_so():
    """Width 1 keeps one state per level: still a valid order, reported as a beam search."""
    plan = plan_memory(two_branches())
    found = min_peak_order(plan.problem, beam_width=1)
    assert found.method == "beam"
    assert sorted(found.order) == list(range(6))
    assert found.peak_bytes >= 405


def test_greedy_arena_by_hand():
    """a(100, steps 0-1), b(50, 1-2), c(100, 2-3). Largest first (a, then c: ties keep
    order): a at 0; c at 0 (not alive with a); b is alive with both, so after them at 100.
    Arena 150."""
    tensors = [
        TensorLife("a", 100, 0, 1),
        TensorLife("b", 50, 1, 2),
        TensorLife("c", 100, 2, 3),
    ]
    plan = greedy_arena(tensors)
    assert plan.offsets == (0, 100, 0)
    assert plan.arena_bytes == 150


def test_greedy_arena_uses_the_first_gap_that_fits():
    """w(31, 0), v(31, 3), x(30, 0-1), y(30, 1-2), z(30, 2-3): w and v at 0; x after w at 31;
    y fits below x (gap 0-31 holds 30, w is gone by step 1); z is alive with v and y (both at
    0), so at 31 (x is gone). Arena 61."""
    tensors = [
        TensorLife("w", 31, 0, 0),
        TensorLife("v", 31, 3, 3),
        TensorLife("x", 30, 0, 1),
        TensorLife("y", 30, 1, 2),
        TensorLife("z", 30, 2, 3),
    ]
    plan = greedy_arena(tensors)
    assert plan.offsets == (0, 0, 31, 0, 31)
    assert plan.arena_bytes == 61


def test_arena_alignment_rounds_each_tensor_up():
    tensors = [TensorLife("a", 10, 0, 0), TensorLife("b", 1, 0, 0)]
    plan = greedy_arena(tensors, alignment=16)
    assert plan.sizes == (16, 16)
    assert plan.arena_bytes == 32


def test_report_lists_the_tensors_alive_at_the_peak():
    """The two-branch graph under the memory schedule peaks at P (405 B): A, T and P alive."""
    report = memory_report(plan_memory(two_branches(), "memory"), sram_bytes=400)
    assert report["peak_activation_bytes"] == 405
    assert report["peak_kernel"] == "P"
    assert {(t["name"], t["bytes"]) for t in report["alive_at_peak"]} == {
        ("A", 100),
        ("T", 5),
        ("P", 300),
    }
    assert report["fits"] is False
    assert report["order"] == ["A", "R", "T", "P", "Q", "J"]


def test_lifetime_chart_draws_a_bar_per_tensor_and_the_sram_line(tmp_path):
    plan = plan_memory(two_branches())
    figure = lifetime_figure(plan, sram_bytes=512)
    ax = figure.axes[0]
    bars = [p for p in ax.patches if p.get_label() in {t.name for t in plan.lifetimes.tensors}]
    assert len(bars) == len(plan.lifetimes.tensors)  # x, A, P, Q, R, T, J
    assert any(list(line.get_ydata()) == [0.5, 0.5] for line in ax.lines)  # 512 B in KiB
    path = save_chart(plan, tmp_path / "life.png", sram_bytes=512)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the schedule through estimate, compare and the CLI ------------------------------------------


class _TwoConvBranches(torch.nn.Module):
    """x (1x4x8x8) -> A 1x1 to 4 -> (P 1x1 to 12 -> Q 1x1 to 2) and (R 1x1 to 8 -> T 1x1 to
    1) -> cat(Q, T): the two-branch graph above as a traced model."""

    def __init__(self) -> None:
        super().__init__()
        conv = torch.nn.Conv2d
        self.a, self.p, self.q = conv(4, 4, 1), conv(4, 12, 1), conv(12, 2, 1)
        self.r, self.t = conv(4, 8, 1), conv(8, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        return torch.cat([self.q(self.p(a)), self.t(self.r(a))], dim=1)


@pytest.fixture(scope="module")
def conv_branches():
    return hwsim.trace(_TwoConvBranches().eval(), example_inputs=(torch.zeros(1, 4, 8, 8),))


def test_estimate_and_compare_report_the_same_peak_per_schedule(conv_branches):
    """fp32, 64 pixels: x 1,024 B, A 1,024, P 3,072, Q 512, R 2,048, T 256, cat 768.
    Traced (A, P, Q, R, T, cat): A 2,048; P 1,024 + 3,072 = 4,096; Q + A = 4,608; R: A + Q +
    R = 3,584; T: Q + R + T = 2,816; cat: Q + T + 768 = 1,536. Peak 4,608.
    Memory (A, R, T, P, Q, cat): R: A + R = 3,072; T: 3,328; P: A + T + P = 4,352; Q: T + P +
    Q = 3,840. Peak 4,352. On an int8 profile (tpu_edge runs fp32 as int8) every tensor is a
    quarter: 1,152 and 1,088."""
    expected = {
        ("cpu_x86_avx2", "traced"): 4608,
        ("cpu_x86_avx2", "memory"): 4352,
        ("tpu_edge", "traced"): 1152,
        ("tpu_edge", "memory"): 1088,
    }
    for (hw, schedule), peak in expected.items():
        est = hwsim.estimate(conv_branches, hw, schedule=schedule)
        total = est.to_dict()["total"]
        assert total["peak_activation_bytes"] == peak, (hw, schedule)
        assert total["schedule"] == schedule
        frame = compare(conv_branches, [hw], ["dense"], schedule=schedule)
        assert frame["peak_activation_bytes"].tolist() == [peak], (hw, schedule)
    order = hwsim.estimate(conv_branches, "tpu_edge", schedule="memory").to_dict()["total"]["order"]
    assert order == ["a", "r", "t", "p", "q", "cat"]


def test_unknown_schedule_through_estimate_is_one_error(conv_branches):
    with pytest.raises(HwsimError, match="--schedule 'fastest': expected one of traced, memory"):
        hwsim.estimate(conv_branches, "tpu_edge", schedule="fastest")


def test_cli_schedule_orders_every_layer_once(hwsim_cli):
    """``--schedule memory`` in the JSON: the order names every op that does work (the layers
    the JSON lists) once, and its peak is no larger than the traced order's."""
    peaks = {}
    for schedule in ("traced", "memory"):
        code, out, err = hwsim_cli(
            "estimate", "ds_cnn_kws", "--hw", "tpu_edge", "--schedule", schedule, "--format", "json"
        )
        assert code == 0, err
        (d,) = [json.loads(out)] if out.lstrip().startswith("{") else json.loads(out)
        total = d["total"]
        assert total["schedule"] == schedule
        assert sorted(total["order"]) == sorted(layer["name"] for layer in d["layers"])
        peaks[schedule] = total["peak_activation_bytes"]
    assert peaks["memory"] <= peaks["traced"]
    code, _, err = hwsim_cli("estimate", "ds_cnn_kws", "--hw", "tpu_edge", "--schedule", "best")
    assert code == 2 and err.strip() == "error: --schedule 'best': expected one of traced, memory"


def test_a_fused_op_the_runtime_runs_apart_starts_its_own_kernel():
    """x(10) -> A(100); P = add(A, x) fused into A; R = relu(P) fused into A.
    Every fusion held: one kernel A+P+R writing R: x 10 + R 100 = 110.
    A runtime that runs only activations inside a kernel (the add apart): kernels A and P+R.
    A: x 10 + A 100 = 110; P+R: A 100 + x 10 + R 100 = 210. Peak 210."""
    graph = build(
        [
            Node("A", (INPUT,), 100),
            Node("P", ("A", INPUT), 100, kind=POINTWISE, fused_into="A"),
            Node("R", ("P",), 100, kind=POINTWISE, fused_into="A"),
        ],
        input_bytes=10,
    )
    assert plan_memory(graph).peak_bytes == 110
    apart = plan_memory(graph, fuses=lambda op: op.id == "R")
    assert [step.ops for step in apart.problem.steps] == [("A",), ("P", "R")]
    assert list(apart.lifetimes.live_bytes) == [110, 210]
