"""The systolic model: SCALE-Sim golden numbers, its inputs, weight spills and sparsity."""

from __future__ import annotations

import csv
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hwsim
from hwsim import estimate
from hwsim.costmodels.gemm_view import GemmShape
from hwsim.costmodels.systolic import array_spec, gemm_timing
from hwsim.costmodels.systolic_arch import ScaleSimPorts
from hwsim.frontend.scalesim_topology import graph_from_topology
from hwsim.kernels import column_nonzeros, column_tile_nonzeros, line_stalls, miss_lines
from hwsim.ops import OpKind
from hwsim.profile import load_profile

GOLDEN = Path(__file__).parent / "golden" / "scalesim"


def _golden_rows() -> list[dict[str, str]]:
    with (GOLDEN / "golden.csv").open() as f:
        return list(csv.DictReader(f))


@cache
def _estimate(config: str, topology: str) -> dict[str, hwsim.OpCost]:
    profile = load_profile(GOLDEN / "configs" / f"{config}.cfg")
    graph = graph_from_topology(GOLDEN / "topologies" / f"{topology}.csv")
    est = estimate(graph, profile)
    return {op.name: cost for op, cost in est.costs if cost is not None}


def _case_id(row: dict[str, str]) -> str:
    return f"{row['config']}-{row['layer']}"


GOLDEN_ROWS = _golden_rows() if (GOLDEN / "golden.csv").exists() else []


@pytest.mark.parametrize("row", GOLDEN_ROWS, ids=_case_id)
def test_compute_cycles_match_scalesim(row):
    """SCALE-Sim's "Total Cycles" is the 0-based index of the last cycle, compute plus stalls:
    the number of compute cycles is ``Total - Stall + 1``. hwsim's folds x (fill + stream +
    drain) must agree within 1% on every layer, held-out configurations included."""
    cost = _estimate(row["config"], row["topology"])[row["layer"]]
    theirs = int(row["total_cycles"]) - int(row["stall_cycles"]) + 1
    assert cost.compute_cycles == pytest.approx(theirs, rel=0.01)


STALLED = [r for r in GOLDEN_ROWS if int(r["stall_cycles"]) > 0]


@pytest.mark.parametrize("row", STALLED, ids=_case_id)
def test_total_cycles_match_scalesim_where_it_stalls(row):
    """Where SCALE-Sim stalls (USER bandwidth), compute plus stall cycles within 5%."""
    cost = _estimate(row["config"], row["topology"])[row["layer"]]
    theirs = int(row["total_cycles"]) + 1
    assert cost.cycles == pytest.approx(theirs, rel=0.05)


USER_ROWS = [r for r in GOLDEN_ROWS if "_user_" in r["config"]]


@pytest.mark.parametrize("row", USER_ROWS, ids=_case_id)
def test_total_incl_prefetch_matches_scalesim_in_user_mode(row):
    """In USER bandwidth mode SCALE-Sim's "Total Cycles (incl. prefetch)" runs from the first
    fill of the read buffers' active halves to the ofmap write buffer's last drain; hwsim
    replays the write buffer line by line, so it must agree within 1%."""
    cost = _estimate(row["config"], row["topology"])[row["layer"]]
    note = next(n for n in cost.notes if n.startswith("scalesim:"))
    ours = float(note.split("prefetch ")[1].split(" cycles")[0].replace(",", ""))
    assert ours == pytest.approx(int(row["total_cycles_incl_prefetch"]), rel=0.01)


@pytest.mark.parametrize("row", GOLDEN_ROWS, ids=_case_id)
def test_sram_accesses_and_mapping_match_scalesim(row):
    """SRAM reads and writes per operand follow SCALE-Sim's demand matrices exactly, and the
    mapping efficiency is the same closed form."""
    cost = _estimate(row["config"], row["topology"])[row["layer"]]
    assert cost.bytes_read["ifmap_sram"] == int(row["ifmap_sram_reads"])
    assert cost.bytes_read["filter_sram"] == int(row["filter_sram_reads"])
    assert cost.bytes_written["ofmap_sram"] == int(row["ofmap_sram_writes"])
    note = next(n for n in cost.notes if n.startswith("scalesim:"))
    mapping = float(note.split("mapping ")[1].split("%")[0])
    assert mapping == pytest.approx(float(row["mapping_eff_pct"]), abs=0.1)


def test_golden_covers_shapes_dataflows_and_held_out_configs():
    configs = {r["config"] for r in GOLDEN_ROWS}
    assert len(GOLDEN_ROWS) >= 60
    assert {"a8x8_ws", "a16x16_os", "a16x16_is", "a32x32_ws", "a16x32_is"} <= configs
    assert any(r["held_out"] == "True" for r in GOLDEN_ROWS)
    assert len(STALLED) >= 15, "the bandwidth-starved configurations must stall"


# --- SCALE-Sim inputs --------------------------------------------------------------------------


def test_cfg_becomes_a_systolic_profile():
    profile = hwsim.load_profile(GOLDEN / "configs" / "a8x8_ws_user_bw2.cfg")
    assert profile.hw_class == "systolic"
    assert profile.peak_macs_per_cycle == {"int8": 64.0}
    spec = array_spec(profile)
    assert (spec.rows, spec.cols, spec.dataflow) == (8, 8, "ws")
    assert spec.sram_words == {"ifmap": 2048, "filter": 2048, "ofmap": 2048}
    assert spec.scalesim == ScaleSimPorts(mode="USER", ifmap_bw=2.0, filter_bw=2.0, ofmap_bw=4.0)
    assert "assumed" in profile.description


def test_topology_rows_become_ops(tmp_path):
    conv = hwsim.trace(GOLDEN / "topologies" / "conv_small.csv")
    ops = conv.ops
    assert [op.name for op in ops] == ["conv_a", "conv_b", "conv_c", "conv_d"]
    # conv_b: 12x12x16, 3x3, 32 filters, stride 2, no padding -> ceil((12 - 3 + 2) / 2) = 6
    assert ops[1].outputs[0].shape == (1, 32, 6, 6)
    assert ops[1].macs == 6 * 6 * 3 * 3 * 16 * 32
    gemm = hwsim.trace(GOLDEN / "topologies" / "gemm_small.csv")
    assert [op.kind for op in gemm.ops] == [OpKind.GEMM] * 3
    assert gemm.ops[1].macs == 17 * 100 * 33
    dw = tmp_path / "dw.csv"
    dw.write_text("Layer,H,W,R,S,C,N,Stride,\nDP_conv,10,10,3,3,8,1,1,\n")
    (op,) = hwsim.trace(dw).ops
    assert op.is_depthwise and op.macs == 8 * 8 * 9 * 8


def test_bad_cfg_says_what_is_missing(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[general]\nrun_name = x\n")
    with pytest.raises(hwsim.ProfileError, match=r"no \[architecture_presets\] section"):
        hwsim.load_profile(bad)


def test_user_replay_too_large_names_the_layer_and_the_way_out(tmp_path):
    """An 8192^3 GEMM on an 8x8 array in USER bandwidth mode walks about 7e10 buffer requests
    (the ifmap's 8192 x 8192 prefetch matrix once for each of 1024 column folds): it ran for
    minutes (46340^3 took 21 GB) before the replay was bounded. CALC mode still prices it."""
    topology = tmp_path / "big.csv"
    topology.write_text("Layer, M, N, K,\nbig, 8192, 8192, 8192,\n")
    graph = hwsim.trace(topology)
    user = load_profile(GOLDEN / "configs" / "a8x8_ws_user_bw2.cfg")
    with pytest.raises(
        hwsim.ProfileError, match=r"layer 'big': .*USER.*'InterfaceBandwidth : CALC'"
    ):
        estimate(graph, user)
    calc = load_profile(GOLDEN / "configs" / "a8x8_ws.cfg")
    assert estimate(graph, calc).total.compute_cycles > 8192**3 / 64


def test_user_replay_of_many_layers_is_bounded_for_the_whole_model(tmp_path):
    """Ten distinct 530x530xK GEMMs (K = 530..521) on the 8x8 WS array are each under the
    layer limit of 2e7 requests. By hand for K = 530: the ifmap's prefetch matrix, M x K with
    K padded to 8 (530 x 536 = 284,080), once for each of ceil(530/8) = 67 column folds,
    19,033,360, plus the filter's K x N padded (284,080) once: 19,317,440. Together they walk
    1.9e8: 17 s of CPU here before the model was bounded as a whole."""
    rows = "".join(f"g{i}, 530, 530, {530 - i},\n" for i in range(10))
    topology = tmp_path / "many.csv"
    topology.write_text("Layer, M, N, K,\n" + rows)
    user = load_profile(GOLDEN / "configs" / "a8x8_ws_user_bw2.cfg")
    with pytest.raises(hwsim.ProfileError, match=r"whole model would walk 1.9\de\+08 .*'g0'"):
        estimate(hwsim.trace(topology), user)


# --- closed forms --------------------------------------------------------------------------------


def test_fold_formulas_per_dataflow():
    """M=100, N=40, K=70 on a 16x8 array.
    WS: (Sr, Sc, T) = (70, 40, 100): 5 x 5 folds of 2*16 + 8 + 100 - 2 = 138 -> 3,450.
    OS: (100, 40, 70): 7 x 5 folds of 16 + 8 + 70 - 2 = 92 -> 3,220.
    IS: (70, 100, 40): 5 x 13 folds of 2*16 + 8 + 40 - 2 = 78 -> 5,070."""
    g = GemmShape(m=100, n=40, k=70)
    profile = load_profile(GOLDEN / "configs" / "a8x8_ws.cfg")
    for df, expected in (("ws", 3450), ("os", 3220), ("is", 5070)):
        spec = array_spec(profile)
        spec = type(spec)(16, 8, df, 1.0, spec.sram_words, spec.scalesim)
        assert gemm_timing(g, spec).compute_cycles == expected


def test_read_buffer_hits_any_copy_of_an_address():
    """A 4-word buffer (sets of 1 word: a 2-set active window moving 2 sets per fetch, 5 sets
    in the cycle) read one stationary column bottom row first. Distinct addresses: row 3 moves
    the window once (line 0), row 1 twice, round the cycle (line 2), row 0 twice (line 3).
    Rows 2 and 3 repeating rows 0 and 1: the copies in the first window serve every request."""
    kwargs = dict(
        diagonal=False, by_col_fold=True, rows=4, row_folds=1, col_folds=1, prefix=0,
        fold_lines=9, buffer_words=4,
    )  # fmt: skip
    distinct = miss_lines(np.arange(4).reshape(4, 1), n_addr=0, **kwargs)
    assert distinct.tolist() == [0, 2, 2, 3, 3]
    assert miss_lines(np.array([[0], [1], [0], [1]]), n_addr=2, **kwargs).size == 0


def test_line_stalls_replay_scalesim_accounting():
    """Fetches of 10 cycles complete at 9, 19, 29, ... Line 0 waits for 9: late by 8, counted
    twice (16). Line 2 (asked at 18) needs fetches 2 and 3: the first is on time, the second
    ends at 29 and counts its 10 cycles twice (stall 20). Line 3 (39): 19 more. Two buffers
    missing on the same line stall it by the worse of the two, not the sum."""
    assert line_stalls(np.array([0, 2, 2, 3, 3]), 10, np.array([], dtype=np.int64), 10) == 55
    assert line_stalls(np.array([0]), 10, np.array([0]), 10) == 16


# --- weights on chip or streamed ------------------------------------------------------------

ARRAY = """
name: small_array
hw_class: systolic
clock_hz: 1.0e9
peak_macs_per_cycle: {int8: 64}
vector_ops_per_cycle: 8
default_precision: int8
memory:
  - {name: sram, capacity_bytes: 65536, bandwidth_bytes_per_cycle: 64, read_energy_pj_per_byte: 1.0}
  - {name: host, capacity_bytes: null, bandwidth_bytes_per_cycle: 4, read_energy_pj_per_byte: 50.0}
energy: {mac_pj: {int8: 0.2}, vector_op_pj: 0.1, static_power_w: 0.0}
sparsity: {patterns: [PATTERNS], compressed_weights: false}
arch: {rows: 8, cols: 8, dataflow: ws, ifmap_sram_bytes: 16384, filter_sram_bytes: 20000,
       ofmap_sram_bytes: 16384, word_bytes: 1}
"""


def _profile(tmp_path: Path, patterns: str = "") -> hwsim.Profile:
    path = tmp_path / "small_array.yaml"
    path.write_text(textwrap.dedent(ARRAY.replace("PATTERNS", patterns)))
    return hwsim.load_profile(path)


def test_layers_past_the_filter_sram_spill(tmp_path):
    """Two 128x128 int8 layers (16 KiB each) and a 20,000 B filter SRAM: the first stays on
    chip, the second streams its 16,384 B from the host at 4 B/cycle on every inference."""
    model = nn.Sequential(nn.Linear(128, 128, bias=False), nn.Linear(128, 128, bias=False))
    graph = hwsim.trace(model, example_inputs=(torch.zeros(1, 128),))
    est = estimate(graph, _profile(tmp_path))
    first, second = (c for o, c in est.costs if o.kind is OpKind.GEMM)
    assert "host" not in first.bytes_read
    assert second.bytes_read["host"] == 128 * 128
    assert any("weights spill" in n for n in second.notes)
    # 16 x 16 folds of 2*8 + 8 + 1 - 2 = 23 cycles = 5,888 compute; the port needs 4,096
    # cycles (hidden) plus the first 8x8 tile it cannot prefetch, 64 B / 4 = 16 cycles.
    assert second.compute_cycles == 5888
    assert second.stall_cycles == pytest.approx(16)


def test_an_input_that_fits_stays_on_chip_when_the_output_does_not(tmp_path):
    """Separate buffers place the input and the output independently: 200 x 64 int8 inputs
    (12,800 B) fit the 16,384 B ifmap SRAM and are read from it, while the 200 x 128 outputs
    (25,600 B) overflow the 16,384 B ofmap SRAM and go to the host; the 8,192 B of weights
    fit the filter SRAM. No byte is read from the host."""
    model = nn.Linear(64, 128, bias=False)
    graph = hwsim.trace(model, example_inputs=(torch.zeros(200, 64),))
    est = estimate(graph, _profile(tmp_path))
    (gemm,) = (c for o, c in est.costs if o.kind is OpKind.GEMM)
    assert gemm.bytes_read.get("host", 0.0) == 0.0
    assert gemm.bytes_written["host"] >= 200 * 128


# --- sparsity ----------------------------------------------------------------------------------


def _pruned_linear(k: int, n: int, keep_every: int, dense_column: bool) -> hwsim.OpGraph:
    layer = nn.Linear(k, n, bias=False)
    with torch.no_grad():
        w = torch.randn(n, k)
        mask = torch.zeros(n, k)
        mask[:, ::keep_every] = 1
        if dense_column:
            mask[0] = 1
        layer.weight.copy_(w * mask)
    return hwsim.trace(layer, example_inputs=(torch.zeros(64, k),))


def test_two_four_sparsity_halves_the_reduction(tmp_path):
    """2:4 weights (two of every four zero along K) on a 2:4 array: K 64 -> 32, so WS runs
    4 x 2 folds instead of 8 x 2 (folds of 2*8 + 8 + 64 - 2 = 86 cycles)."""
    graph = _pruned_linear(64, 16, keep_every=2, dense_column=False)
    dense = estimate(graph, _profile(tmp_path)).total
    sparse = estimate(graph, _profile(tmp_path, '"2:4"')).total
    assert dense.compute_cycles == 8 * 2 * 86
    assert sparse.compute_cycles == 4 * 2 * 86


def test_unstructured_skipping_is_paced_by_the_densest_column(tmp_path):
    """Every 4th weight kept (16 of 64 per column), except one dense column in the first
    column tile: that tile needs all 64 rows (8 row folds) while the second needs 16 (2)."""
    graph = _pruned_linear(64, 16, keep_every=4, dense_column=True)
    est = estimate(graph, _profile(tmp_path, "unstructured"))
    cost = next(c for o, c in est.costs if o.kind is OpKind.GEMM)
    assert cost.compute_cycles == (8 + 2) * 86
    note = next(n for n in cost.notes if "unstructured" in n)
    imbalance = float(note.rsplit(" ", 1)[1])
    assert imbalance == pytest.approx((64 / ((64 + 7 * 16) / 8) + 1) / 2, abs=0.01)
    no_support = estimate(graph, _profile(tmp_path)).total
    assert no_support.compute_cycles == 8 * 2 * 86  # zeros buy nothing without support


def test_tile_nonzero_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((37, 50)) * (rng.random((37, 50)) < 0.3)
    counts = np.count_nonzero(w, axis=1)
    assert np.array_equal(column_nonzeros(w), counts)
    peak, mean = column_tile_nonzeros(w, 8)
    tiles = [counts[i : i + 8] for i in range(0, 37, 8)]
    assert np.array_equal(peak, [t.max() for t in tiles])
    assert np.allclose(mean, [t.mean() for t in tiles])
