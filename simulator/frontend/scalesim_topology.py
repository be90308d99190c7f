"""Read a SCALE-Sim topology CSV (conv or GEMM form) as an ``OpGraph``, one op per row."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import networkx as nx

from ..errors import ModelLoadError
from ..graph import OpGraph
from ..ops import GraphInfo, Op, OpKind, TensorSpec


def _rows(path: Path) -> list[list[str]]:
    try:
        with path.open(newline="") as f:
            rows = [[c.strip() for c in row] for row in csv.reader(f)]
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read topology ({exc.strerror})") from None
    out = []
    for row in rows[1:]:  # SCALE-Sim always skips the header line
        while row and row[-1] == "":
            row = row[:-1]
        if row:
            out.append(row)
    return out


def _is_gemm(path: Path, header: list[str], width: int) -> bool:
    names = [h.strip().lower() for h in header if h.strip()]
    return names[1:4] == ["m", "n", "k"] or width in (4, 5)


def _conv_op(index: int, row: list[str], path: Path) -> Op:
    try:
        h, w, r, s, c, n, stride = (int(v) for v in row[1:8])
    except ValueError:
        raise ModelLoadError(f"{path}: layer '{row[0]}': expected 7 integers") from None
    if r > h or s > w:
        raise ModelLoadError(f"{path}: layer '{row[0]}': filter larger than its ifmap")
    e = math.ceil((h - r + stride) / stride)
    f = math.ceil((w - s + stride) / stride)
    depthwise = "DP" in row[0]  # SCALE-Sim: one layer per channel, each with all the filters
    groups = c if depthwise else 1
    weight = (n * c, 1, r, s) if depthwise else (n, c, r, s)
    out_channels = n * c if depthwise else n
    macs = e * f * r * s * c * n
    # SCALE-Sim rounds the output size up, so the last window can run past the ifmap edge;
    # those im2col entries are empty (never fetched).
    valid_h = sum(1 for i in range(e) for j in range(r) if i * stride + j < h) / (e * r)
    valid_w = sum(1 for i in range(f) for j in range(s) if i * stride + j < w) / (f * s)
    inputs = (TensorSpec((1, c, h, w), "int8"),)
    outputs = (TensorSpec((1, out_channels, e, f), "int8"),)
    return Op(
        id=f"layer{index}",
        name=row[0],
        kind=OpKind.CONV,
        target="scalesim.conv",
        inputs=inputs,
        outputs=outputs,
        params=(TensorSpec(weight, "int8"),),
        macs=macs,
        flops=2 * macs,
        read_bytes=inputs[0].nbytes,
        write_bytes=outputs[0].nbytes,
        attrs=(
            ("groups", groups),
            ("stride", (stride, stride)),
            ("kernel", (r, s)),
            ("scalesim_valid_fraction", valid_h * valid_w),
        ),
    )


def _gemm_op(index: int, row: list[str], path: Path) -> Op:
    try:
        m, n, k = (int(v) for v in row[1:4])
    except ValueError:
        raise ModelLoadError(f"{path}: layer '{row[0]}': expected M, N, K integers") from None
    inputs = (TensorSpec((m, k), "int8"),)
    outputs = (TensorSpec((m, n), "int8"),)
    return Op(
        id=f"layer{index}",
        name=row[0],
        kind=OpKind.GEMM,
        target="scalesim.gemm",
        inputs=inputs,
        outputs=outputs,
        params=(TensorSpec((n, k), "int8"),),
        macs=m * n * k,
        flops=2 * m * n * k,
        read_bytes=inputs[0].nbytes,
        write_bytes=outputs[0].nbytes,
        attrs=(("k", k),),
    )


def graph_from_topology(path: str | Path, *, gemm: bool | None = None) -> OpGraph:
    """An ``OpGraph`` with one op per topology row, chained in file order.

    Conv form: name, ifmap H, W, filter R, S, channels, filters, stride (no padding, as in
    SCALE-Sim; a name containing ``DP`` is depthwise, one GEMM per channel). GEMM form
    (header ``Layer, M, N, K``): an (M x K) @ (K x N) product. ``gemm`` forces the form.
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: topology file not found")
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    rows = _rows(path)
    if not rows:
        raise ModelLoadError(f"{path}: topology has no layers")
    as_gemm = _is_gemm(path, header, len(rows[0])) if gemm is None else gemm
    dag = nx.DiGraph()
    previous = None
    for i, row in enumerate(rows):
        op = _gemm_op(i, row, path) if as_gemm else _conv_op(i, row, path)
        dag.add_node(op.id, op=op, position=i)
        if previous is not None:
            dag.add_edge(previous.id, op.id, bytes=previous.output_bytes)
        previous = op
    first = dag.nodes["layer0"]["op"]
    info = GraphInfo(
        source=str(path),
        inputs=first.inputs,
        batch=1,
        notes=("SCALE-Sim topology: layers priced one after another, as SCALE-Sim runs them",),
    )
    return OpGraph(dag=dag, info=info)
