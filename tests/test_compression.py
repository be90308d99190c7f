"""What-if compression: specs, magnitude pruning, quantization, recipes, storage formats,
``hwsim compare`` and the SQNR accuracy proxy.

References are independent of hwsim: ``torch.nn.utils.prune`` masks, hand counts of MACs and
bytes, and a quantizer written out in the test.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

import hwsim
from hwsim.compare import compare
from hwsim.compression import (
    CompressionError,
    compress,
    load_recipe,
    parse_prune,
    parse_quant,
    parse_variant,
)
from hwsim.compression.sqnr import output_sqnr, sample_inputs
from hwsim.costmodels.roofline import device_weight_bytes
from hwsim.costmodels.weight_storage import weight_format
from hwsim.ops import OpKind


def _trace(model: nn.Module, *shape: int) -> hwsim.OpGraph:
    return hwsim.trace(model.eval(), example_inputs=(torch.zeros(*shape),))


def _macs_ops(graph):
    return [op for op in graph if op.kind in (OpKind.CONV, OpKind.GEMM)]


def _seeded(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for p in model.parameters():
        nn.init.normal_(p)
    return model.eval()


# --- specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pattern", "sparsity"),
    [
        ("0.8", "unstructured", 0.8),
        ("2:4", "n:m", 0.5),
        ("4:8", "n:m", 0.5),
        ("block4x4:0.75", "block4x4", 0.75),
        ("block1x4:0.5", "block1x4", 0.5),
        ("channel:0.5", "channel", 0.5),
    ],
)
def test_prune_specs_parse(text, pattern, sparsity):
    spec = parse_prune(text)
    assert (spec.pattern, spec.sparsity) == (pattern, sparsity)


@pytest.mark.parametrize(
    ("text", "bits"),
    [("int8", (8, 8)), ("int4", (4, 4)), ("binary", (1, 1)), ("w4a8", (4, 8)), ("W1A2", (1, 2))],
)
def test_quant_specs_parse(text, bits):
    spec = parse_quant(text)
    assert (spec.weight_bits, spec.act_bits) == bits


@pytest.mark.parametrize("text", ["1.5", "0", "3:2", "block8x8:0.5", "channel", "sparse"])
def test_bad_prune_spec_is_one_clear_error(text):
    with pytest.raises(CompressionError, match=f"--prune '{text}'|--prune channel"):
        parse_prune(text)


@pytest.mark.parametrize("text", ["w4", "4a4", "w0a4", "w9a8", "int2"])
def test_bad_quant_spec_is_one_clear_error(text):
    with pytest.raises(CompressionError, match=f"--quant '{text}'"):
        parse_quant(text)


def test_variant_combines_quant_and_prune():
    (rule,) = parse_variant("int8+2:4").rules
    assert rule.quant.label == "int8" and rule.prune.label == "2:4"
    assert parse_variant("dense").is_dense
    with pytest.raises(CompressionError, match="two pruning specs"):
        parse_variant("2:4+0.5")


# --- pruning --------------------------------------------------------------------------------


def test_unstructured_pruning_matches_torch_l1_unstructured():
    """Magnitude pruning per layer is what ``torch.nn.utils.prune.l1_unstructured`` does: the
    same 80% of weights are zeroed (random normal weights have no ties)."""
    model = _seeded(nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 10)))
    graph = _trace(model, 1, 8, 4, 4)
    compressed = compress(graph, parse_variant("0.8").rules)
    reference = _seeded(
        nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 10))
    )
    for layer in (reference[0], reference[3]):
        torch_prune.l1_unstructured(layer, "weight", amount=0.8)
    ours = [compressed.dag.nodes[op.id]["weight"] for op in _macs_ops(compressed)]
    for mine, layer in zip(ours, (reference[0], reference[3]), strict=True):
        assert torch.equal(mine != 0, layer.weight_mask.bool())


def test_detected_and_what_if_pruning_price_the_same():
    """A model pruned with torch.nn.utils.prune (detected from its weight_orig * mask) and the
    unpruned model with ``--prune 0.8`` carry identical weight statistics and estimates."""
    pruned = _seeded(nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3)))
    for layer in (pruned[0], pruned[2]):
        torch_prune.l1_unstructured(layer, "weight", amount=0.8)
    detected = _trace(pruned, 1, 16, 12, 12)
    what_if = compress(
        _trace(
            _seeded(nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3))),
            1,
            16,
            12,
            12,
        ),
        parse_variant("0.8").rules,
    )
    for a, b in zip(_macs_ops(detected), _macs_ops(what_if), strict=True):
        assert a.weight_stats == b.weight_stats
        assert a.weight_stats.density == pytest.approx(0.2, abs=1e-3)
    for hw in ("eyeriss", "tpu_edge", "cpu_arm_a76"):
        assert hwsim.estimate(detected, hw).latency_s == hwsim.estimate(what_if, hw).latency_s


def test_two_four_keeps_the_two_largest_of_each_group():
    """Groups run along input channels (the reduction axis): for the row
    [1, -5, 3, 0.5 | 2, 2.5, -0.1, 4] the 2:4 mask keeps -5, 3 and 2.5, 4."""
    linear = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1, -5, 3, 0.5, 2, 2.5, -0.1, 4]]))
    graph = compress(_trace(linear, 1, 8), parse_variant("2:4").rules)
    (op,) = _macs_ops(graph)
    weight = graph.dag.nodes[op.id]["weight"]
    assert weight.tolist() == [[0, -5, 3, 0, 0, 2.5, 0, 4]]
    assert op.weight_stats.is_2_4 and op.weight_stats.density == 0.5


def test_block_pruning_zeroes_whole_blocks():
    model = _seeded(nn.Linear(32, 16, bias=False))
    graph = compress(_trace(model, 1, 32), parse_variant("block4x4:0.75").rules)
    (op,) = _macs_ops(graph)
    # 16x32 has 4 x 8 = 32 blocks of 4x4; 75% removed leaves 8 blocks = 128 of 512 weights.
    assert op.weight_stats.block_4x4_density == 0.25
    assert op.weight_stats.density == 0.25


def test_original_graph_is_untouched():
    graph = _trace(_seeded(nn.Linear(32, 16)), 1, 32)
    before = [(op, graph.dag.nodes[op.id]["weight"].clone()) for op in _macs_ops(graph)]
    compress(graph, parse_variant("int4+2:4").rules)
    for op, weight in before:
        assert graph[op.id] is op and op.weight_stats.density == 1.0
        assert torch.equal(graph.dag.nodes[op.id]["weight"], weight)


# --- structural channel pruning -------------------------------------------------------------


def test_channel_pruning_shrinks_the_layer_and_its_reader():
    """Linear(16->8) -> ReLU -> Linear(8->4), half the 8 channels removed: the first layer
    does 16 x 4 MACs, the second 4 x 4 (hand count), and the second's weight is 4 x 4."""
    model = _seeded(nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)))
    graph = compress(_trace(model, 1, 16), parse_variant("channel:0.5", layers=r"^0$").rules)
    first, second = _macs_ops(graph)
    assert (first.macs, second.macs) == (16 * 4, 4 * 4)
    assert first.weight.shape == (4, 16) and second.weight.shape == (4, 4)
    assert graph.dag.nodes[second.id]["weight"].shape == (4, 4)
    assert "removed 4 of 8" in graph.dag.nodes[first.id]["compression"].note


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(8, 8, 1)
        self.b = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)) + x)


def test_channel_pruning_stops_at_a_residual_add():
    """a's channels are added to x: removing them would change the add's other branch, so
    they stay (zeroed), the MACs stay 8 x 8 x 16, and the note says why."""
    graph = compress(_trace(_seeded(_Residual()), 1, 8, 4, 4), parse_variant("channel:0.5").rules)
    a = next(op for op in _macs_ops(graph) if op.name.startswith("a"))
    assert a.macs == 8 * 8 * 16
    assert a.weight_stats.zero_output_channels == 4
    assert "ties them to another branch" in graph.dag.nodes[a.id]["compression"].note


# --- quantization and storage ---------------------------------------------------------------


def test_int8_and_w4a8_weights_on_a_gpu():
    """fp32 Linear(64->32) with bias = 2080 params. int8 stores 1 byte each; w4a8 computes in
    int8 and the GPU kernels unpack 4-bit weights, so 1040 bytes; int8 on eyeriss (16-bit
    fixed point) still stores 2 bytes."""
    graph = _trace(_seeded(nn.Linear(64, 32)), 1, 64)
    a100, eyeriss = hwsim.load_profile("gpu_a100"), hwsim.load_profile("eyeriss")
    (int8,) = _macs_ops(compress(graph, parse_variant("int8").rules))
    (w4a8,) = _macs_ops(compress(graph, parse_variant("w4a8").rules))
    assert int8.precision == w4a8.precision == "int8"
    assert device_weight_bytes(int8, a100, None) == 2080
    assert device_weight_bytes(w4a8, a100, None) == 1040
    assert device_weight_bytes(int8, eyeriss, None) == 2080 * 2


def test_fp16_what_if_halves_every_tensor():
    """``--quant fp16`` is ``model.half()``: a 1x64 -> 1x32 linear reads 128 bytes and
    writes 64."""
    graph = compress(_trace(_seeded(nn.Linear(64, 32)), 1, 64), parse_variant("fp16").rules)
    (op,) = _macs_ops(graph)
    assert op.precision == "fp16"
    assert (op.input_bytes, op.output_bytes, op.weight_bytes) == (128, 64, 2080 * 2)


def test_two_four_storage_on_sparse_tensor_cores():
    """fp16 2:4 on A100: half the values plus 2 bits of metadata per kept value,
    0.5 x (16 + 2) / 16 = 0.5625 of the dense bytes."""
    graph = compress(
        _trace(_seeded(nn.Linear(64, 32, bias=False)), 1, 64), parse_variant("2:4").rules
    )
    (op,) = _macs_ops(graph)
    fmt = weight_format(op, hwsim.load_profile("gpu_a100"), "fp16")
    assert (fmt.fmt, fmt.fraction) == ("2:4", 0.5625)


def test_bitmap_storage_where_unstructured_zeros_are_read_compressed():
    """80% of 2048 weights is 1638.4, so 1638 go and 410 stay; at int8 a bitmap stores the
    410 values plus 1 bit per weight: 410/2048 + 1/8 of the dense bytes."""
    graph = compress(
        _trace(_seeded(nn.Linear(64, 32, bias=False)), 1, 64), parse_variant("0.8").rules
    )
    (op,) = _macs_ops(graph)
    profile = dataclasses.replace(
        hwsim.load_profile("tpu_edge"),
        sparsity_patterns=frozenset({"unstructured"}),
        compressed_weights=True,
    )
    fmt = weight_format(op, profile, "int8")
    assert fmt.fmt == "bitmap" and fmt.fraction == pytest.approx(410 / 2048 + 1 / 8)


def test_unexploited_zeros_say_why():
    graph = compress(_trace(_seeded(nn.Linear(256, 256)), 1, 256), parse_variant("0.8").rules)
    (op,) = _macs_ops(graph)
    tpu = hwsim.estimate(graph, "tpu_edge").table.set_index("id").loc[op.id, "notes"]
    a100 = hwsim.estimate(graph, "gpu_a100").table.set_index("id").loc[op.id, "notes"]
    assert "80% zero weights not exploited: tpu_edge has no sparse execution" in tpu
    assert "not 2:4" in a100  # the GPU model's own reason: no 2:4 pattern, dense rate


# --- recipes --------------------------------------------------------------------------------


def test_recipe_first_matching_rule_wins(tmp_path):
    recipe = tmp_path / "mixed.yaml"
    recipe.write_text(
        "rules:\n"
        "  - layers: '^0$'\n"
        "    skip: true\n"
        "  - layers: '^2$'\n"
        "    prune: 2:4\n"
        "    quant: int8\n"
        "  - quant: int4\n"
    )
    rules = load_recipe(recipe)
    model = _seeded(
        nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16), nn.Linear(16, 8))
    )
    graph = compress(_trace(model, 1, 16), rules)
    first, second, third = _macs_ops(graph)
    assert (first.precision, first.weight_stats.density) == ("fp32", 1.0)
    assert second.precision == "int8" and second.weight_stats.is_2_4
    assert third.precision == "int4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - layer: x\n    quant: int8\n", "rules\\[0\\]: unknown field 'layer'"),
        ("rules:\n  - prune: 0.8\n  - prune: 7:4\n", "rules\\[1\\]: --prune '7:4'"),
        ("rules:\n  - layers: x\n", "rules\\[0\\]: the rule neither prunes"),
        ("rules: []\n", "non-empty list of rules"),
    ],
)
def test_bad_recipe_names_file_and_rule(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CompressionError, match=message) as info:
        load_recipe(path)
    assert str(path) in str(info.value)


# --- the accuracy proxy ---------------------------------------------------------------------


def test_sqnr_matches_a_quantizer_written_out_here():
    """int8 on one Linear: weights symmetric per output row (scale max|w|/127), the input per
    tensor (symmetric: it has negatives, scale max|x|/127); SQNR = 10 log10(P_ref / P_err)."""
    model = _seeded(nn.Linear(32, 16))
    graph = _trace(model, 4, 32)
    result = output_sqnr(graph, compress(graph, parse_variant("int8").rules))
    (x,) = sample_inputs(graph)
    w = model.weight.detach()
    w_scale = w.abs().amax(dim=1, keepdim=True) / 127
    wq = torch.round(w / w_scale).clamp(-127, 127) * w_scale
    x_scale = x.abs().max() / 127
    xq = torch.round(x / x_scale).clamp(-127, 127) * x_scale
    ref = model(x).detach().double()
    err = (ref - nn.functional.linear(xq, wq, model.bias).double()).pow(2).sum()
    expected = 10 * math.log10(ref.pow(2).sum().item() / err.item())
    assert result.output_db == pytest.approx(expected, abs=1e-6)
    (op,) = _macs_ops(graph)
    assert result.layers_db[op.id] == pytest.approx(expected, abs=1e-6)


def test_sqnr_orders_precisions():
    """More bits, less noise: fp16 > int8 > int4 end to end (about 6 dB per bit)."""
    model = _seeded(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)))
    graph = _trace(model, 8, 64)
    db = {
        v: output_sqnr(graph, compress(graph, parse_variant(v).rules)).output_db
        for v in ("fp16", "int8", "int4")
    }
    assert db["fp16"] > db["int8"] + 20 > db["int4"] + 20 + 4


# --- compare and the CLI --------------------------------------------------------------------


def test_compare_rows_and_speedups():
    """One row per (hardware, variant); dense speedup is 1; eyeriss runs 16-bit fixed point
    whatever int8 asks, so int8 buys it nothing; int8 weights on the A76 are 1 byte per param."""
    graph = _trace(
        _seeded(nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3))), 1, 16, 16, 16
    )
    frame = compare(graph, ["eyeriss", "cpu_arm_a76"], ["dense", "int8", "2:4"])
    assert len(frame) == 6
    assert set(frame[frame.variant == "dense"].speedup) == {1.0}
    eyeriss = frame.set_index(["hw", "variant"]).loc["eyeriss"]
    assert eyeriss.loc["int8", "speedup"] == 1.0
    params = graph.param_count
    a76 = frame.set_index(["hw", "variant"]).loc["cpu_arm_a76"]
    assert a76.loc["int8", "weight_bytes"] == params
    assert a76.loc["dense", "weight_bytes"] == params * 4


@pytest.fixture
def mlp_file(tmp_path):
    """A two-layer MLP saved with torch.export (layers named "0" and "2")."""
    model = _seeded(nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 8)))
    path = tmp_path / "mlp.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 32),)), path)
    return path


def test_cli_compare_json_contract(hwsim_cli, mlp_file):
    path = mlp_file
    code, out, _ = hwsim_cli(
        "compare",
        str(path),
        "--hw",
        "tpu_edge,cpu_arm_a76",
        "--variants",
        "dense,int8+2:4",
        "--sqnr",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert {(r["hw"], r["variant"]) for r in rows} == {
        (hw, v) for hw in ("tpu_edge", "cpu_arm_a76") for v in ("dense", "int8+2:4")
    }
    required = {"hw", "variant", "latency_s", "energy_j", "weight_bytes", "speedup", "sqnr_db"}
    assert all(required <= set(r) for r in rows)
    assert all(r["sqnr_db"] is not None for r in rows if r["variant"] != "dense")


def test_cli_estimate_with_prune_and_quant(hwsim_cli, mlp_file):
    path = mlp_file
    code, out, _ = hwsim_cli(
        "estimate",
        str(path),
        "--hw",
        "gpu_a100",
        "--prune",
        "2:4",
        "--quant",
        "int8",
        "--layers",
        "^0$",
        "--sqnr",
        "--format",
        "json",
    )
    assert code == 0
    layers = {layer["name"]: layer for layer in json.loads(out)["layers"]}
    assert layers["0"]["compression"] == "int8+2:4" and layers["0"]["precision"] == "int8"
    assert layers["2"]["compression"] is None and layers["2"]["precision"] != "int8"
    assert json.loads(out)["total"]["sqnr_db"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--prune", "0.8.1"), "error: --prune '0.8.1'"),
        (("--quant", "w4"), "error: --quant 'w4'"),
        (("--layers", "conv"), "error: --layers restricts"),
        (("--prune", "2:4", "--layers", "("), "error: --layers: layers '(' is not a regex"),
    ],
)
def test_cli_bad_compression_is_one_error_line(hwsim_cli, tmp_path, args, message):
    path = tmp_path / "lin.pt2"
    torch.export.save(torch.export.export(nn.Linear(4, 4), (torch.zeros(1, 4),)), path)
    code, _, err = hwsim_cli("estimate", str(path), "--hw", "tpu_edge", *args)
    assert code == 2
    assert err.strip().startswith(message) and len(err.strip().splitlines()) == 1


def test_pruning_is_deterministic():
    graph = _trace(_seeded(nn.Linear(64, 64)), 1, 64)
    a = compress(graph, parse_variant("0.5").rules)
    b = compress(graph, parse_variant("0.5").rules)
    (op,) = _macs_ops(graph)
    assert np.array_equal(
        a.dag.nodes[op.id]["weight"].numpy(), b.dag.nodes[op.id]["weight"].numpy()
    )


@pytest.mark.parametrize(
    ("recipe", "workload", "compressed"),
    [
        # ResNet-18: 20 convs + fc; all int8, all but the stem conv and fc also 2:4.
        ("resnet_2of4_int8", "resnet18", {"int8": 2, "int8+2:4": 19}),
        # MobileNetV2: 52 convs + classifier; the 34 1x1 convs (16 expand, 17 reduce/project
        # counting the stem's, and the final conv_1x1) get 4x4 blocks; the first conv, the 17
        # depthwise convs and the classifier are int8 only.
        ("mobilenet_int8_pointwise_blocks", "mobilenet_v2", {"int8": 19, "int8+block4x4:0.75": 34}),
    ],
)
def test_builtin_recipes_apply_to_their_workloads(graph_of, recipe, workload, compressed):
    graph = compress(graph_of(workload), load_recipe(recipe))
    labels: dict[str, int] = {}
    for op in _macs_ops(graph):
        applied = graph.dag.nodes[op.id].get("compression")
        if applied is not None:
            labels[applied.label] = labels.get(applied.label, 0) + 1
    assert labels == compressed


def test_a_rule_that_matches_nothing_is_an_error():
    graph = _trace(_seeded(nn.Linear(4, 4)), 1, 4)
    with pytest.raises(CompressionError, match="rule 0 \\(layers 'encoder'\\) matches no op"):
        compress(graph, parse_variant("int8", layers="encoder").rules)


@pytest.mark.parametrize("workload", ["mobilenet_v2", "efficientnet_b0"])
def test_workload_activations_keep_their_scale(graph_of, workload):
    """fp16 keeps an 11-bit significand: rounding noise near 6.02 x 11 + 1.76 = 68 dB below
    the signal, per layer and, through ~50 layers of a random network, still above 30 dB at
    the output. Activations that shrink to 1e-16 (transformers' std-0.02 init with default
    batch-norm statistics) underflow fp16 and read 0 dB instead."""
    graph = graph_of(workload)
    result = output_sqnr(graph, compress(graph, parse_variant("fp16").rules))
    assert float(np.median(list(result.layers_db.values()))) > 60
    assert result.output_db > 30


def test_depthwise_zeros_run_dense_on_the_cpu():
    """hwsim's sparse CPU kernels are GEMMs: a 90%-pruned depthwise conv has no sparse kernel
    and costs what the dense one costs, while a pruned 1x1 conv may use CSR."""
    from pathlib import Path

    host = hwsim.load_profile(
        Path(__file__).resolve().parents[1] / "benchmarks/results/cpu_host_profile.yaml"
    )
    graph = _trace(_seeded(nn.Conv2d(64, 64, 3, padding=1, groups=64)), 1, 64, 56, 56)
    pruned = compress(graph, parse_variant("0.9").rules)
    dense, sparse = hwsim.estimate(graph, host), hwsim.estimate(pruned, host)
    assert sparse.latency_s == dense.latency_s
    assert not any("sparse" in n for _, cost in sparse.costs if cost for n in cost.notes)
