"""The per-layer table: one line per op, names shortened in the middle, within the width."""

from __future__ import annotations

import pytest
from rich.console import Console

import hwsim
from hwsim.compression import compress, parse_prune
from hwsim.compression.spec import Rule
from hwsim.ops import OpKind
from hwsim.render import layer_table, shorten_middle


@pytest.mark.parametrize("width", [8, 20, 34, 46])
def test_shorten_middle_keeps_whole_tail_components(width):
    name = "encoder.layer.11.attention.self.query/linear_33"
    short = shorten_middle(name, width)
    assert len(short) == width and "…" in short
    head, _, tail = short.partition("…")
    assert name.startswith(head) and name.endswith(tail)
    if width >= 20:  # room for a whole component: the cut falls on a separator
        assert name[len(name) - len(tail) - 1] in "./"


def test_short_names_are_untouched():
    assert shorten_middle("fc", 10) == "fc"


def _render(est, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(layer_table(est, width=width))
    return console.export_text().splitlines()


@pytest.mark.parametrize("hw", ["tpu_edge", "gpu_a100", "fpga_zcu104", "cpu_x86_avx2"])
@pytest.mark.parametrize("width", [100, 160])
def test_table_fits_and_keeps_each_op_on_one_line(graph_of, hw, width):
    graph = graph_of("mobilenet_v2")
    compressed = compress(graph, [Rule(prune=parse_prune("2:4"))]) if hw == "gpu_a100" else graph
    est = hwsim.estimate(compressed, hw)
    lines = _render(est, width)
    assert max(len(line) for line in lines) <= width
    shown = [op for op in graph if op.kind is not OpKind.VIEW]
    header = next(i for i, line in enumerate(lines) if line.startswith("layer"))
    body = lines[header + 2 : header + 2 + len(shown)]
    # Each row starts with its (possibly shortened) name and nothing wraps onto a next line.
    prefix = "model."
    for op, line in zip(shown, body, strict=True):
        name = op.name.removeprefix(prefix)
        first = line.split("  ")[0]
        assert first == name or ("…" in first and name.endswith(first.partition("…")[2]))
    assert lines[header + 2 + len(shown)].strip() == ""  # then the blank line before totals
