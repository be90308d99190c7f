"""Read a SCALE-Sim topology CSV (conv or GEMM form) as an ``OpGraph``, one op per row.

Every field is checked before anything is computed from it, and a bad one is one line naming
the file, the line and the column: SCALE-Sim itself accepts a negative filter and prints
negative MACs. Sizes are bounded (``MAX_DIM`` per dimension, ``MAX_ELEMENTS`` per operand),
so a one-line file cannot ask the cost models for a layer they would take hours to walk.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import networkx as nx

from ..errors import ModelLoadError
from ..graph import OpGraph
from ..ops import GraphInfo, Op, OpKind, TensorSpec

MAX_DIM = 1 << 20  # any one size: far above any real layer (a 4K image is 4096 wide)
MAX_ELEMENTS = 1 << 28  # elements of one operand (ifmap, filter, ofmap, im2col rows x K)
MAX_BYTES = 64 * 1024 * 1024
# Layers in one topology: far above real networks (SCALE-Sim's own topologies have tens to a
# few hundred rows; GPT-3's 96 blocks as GEMMs are under 1,000) and priced in seconds; a
# 64 MiB file of two million tiny rows took tens of minutes.
MAX_LAYERS = 20_000
_CONV_COLUMNS: tuple[str, ...] = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width")
_CONV_COLUMNS += ("Channels", "Num Filter", "Strides")
_GEMM_COLUMNS = ("M", "N", "K")


def _read(path: Path) -> list[list[str]]:
    """The file's rows (the header included), read as text; one line for anything else."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ModelLoadError(f"{path}: topology larger than {MAX_BYTES // 2**20} MiB")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read topology ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ModelLoadError(
            f"{path}: not a text topology (byte {exc.start} is not UTF-8; is it binary?)"
        ) from None
    if "\x00" in text:
        raise ModelLoadError(f"{path}: not a text topology (it contains NUL bytes)")
    try:
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise ModelLoadError(f"{path}: not a readable CSV topology ({exc})") from None


def _layers(rows: list[list[str]]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each layer row; SCALE-Sim always skips the header line."""
    out = []
    for line, row in enumerate(rows[1:], start=2):
        while row and row[-1] == "":
            row = row[:-1]
        if row:
            out.append((line, row))
    return out


def _is_gemm(header: list[str], width: int) -> bool:
    names = [h.strip().lower() for h in header if h.strip()]
    return names[1:4] == ["m", "n", "k"] or width in (4, 5)


def _sizes(path: Path, line: int, row: list[str], columns: tuple[str, ...]) -> list[int]:
    """The row's integer fields after the name, each positive and at most ``MAX_DIM``."""
    where = f"{path}: line {line} (layer '{row[0][:40]}')"
    if len(row) < 1 + len(columns):
        raise ModelLoadError(
            f"{where}: {len(row) - 1} values, expected {len(columns)} ({', '.join(columns)})"
        )
    values = []
    for column, text in zip(columns, row[1 : 1 + len(columns)], strict=True):
        try:
            value = int(text)
        except ValueError:
            raise ModelLoadError(f"{where}: {column} '{text[:20]}' is not an integer") from None
        if value < 1:
            raise ModelLoadError(f"{where}: {column} is {value}; it must be at least 1")
        if value > MAX_DIM:
            raise ModelLoadError(
                f"{where}: {column} {value} is larger than hwsim accepts ({MAX_DIM:,})"
            )
        values.append(value)
    return values


def _bounded(path: Path, line: int, name: str, operands: dict[str, int]) -> None:
    for operand, elements in operands.items():
        if elements > MAX_ELEMENTS:
            raise ModelLoadError(
                f"{path}: line {line} (layer '{name[:40]}'): the {operand} would hold "
                f"{elements:.3g} elements, more than hwsim accepts ({MAX_ELEMENTS:.3g})"
            )


def _valid_taps(size: int, kernel: int, stride: int, outputs: int) -> int:
    """Window taps that land inside an edge of ``size``: output ``i``'s window covers
    ``min(kernel, size - i*stride)`` of them (SCALE-Sim rounds the output count up, so the
    last windows can run past the edge). Closed form, so a huge ifmap costs nothing."""
    full = min(outputs, (size - kernel) // stride + 1)  # windows entirely inside
    inside = min(outputs, -(-size // stride))  # windows that start inside
    rest = inside - full  # window i of these covers size - i*stride taps
    return full * kernel + rest * size - stride * (full + inside - 1) * rest // 2


def _conv_op(index: int, line: int, row: list[str], path: Path) -> Op:
    h, w, r, s, c, n, stride = _sizes(path, line, row, _CONV_COLUMNS)
    if r > h or s > w:
        raise ModelLoadError(
            f"{path}: line {line} (layer '{row[0][:40]}'): filter {r}x{s} is larger than its "
            f"{h}x{w} ifmap"
        )
    e = math.ceil((h - r + stride) / stride)
    f = math.ceil((w - s + stride) / stride)
    depthwise = "DP" in row[0]  # SCALE-Sim: one layer per channel, each with all the filters
    _bounded(
        path,
        line,
        row[0],
        {
            "ifmap": h * w * c,
            "filter": r * s * c * n,
            "ofmap": e * f * n * (c if depthwise else 1),
            "im2col matrix": e * f * r * s * c,
        },
    )
    groups = c if depthwise else 1
    weight = (n * c, 1, r, s) if depthwise else (n, c, r, s)
    out_channels = n * c if depthwise else n
    macs = e * f * r * s * c * n
    # SCALE-Sim rounds the output size up, so the last window can run past the ifmap edge;
    # those im2col entries are empty (never fetched).
    valid_h = _valid_taps(h, r, stride, e) / (e * r)
    valid_w = _valid_taps(w, s, stride, f) / (f * s)
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


def _gemm_op(index: int, line: int, row: list[str], path: Path) -> Op:
    m, n, k = _sizes(path, line, row, _GEMM_COLUMNS)
    _bounded(path, line, row[0], {"A (M x K)": m * k, "B (K x N)": k * n, "C (M x N)": m * n})
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
    try:
        found = path.is_file()
    except OSError as exc:
        raise ModelLoadError(f"{str(path)[:80]}: not a usable path ({exc.strerror})") from None
    if not found:
        raise ModelLoadError(f"{path}: topology file not found")
    rows = _read(path)
    layers = _layers(rows)
    if len(layers) > MAX_LAYERS:
        raise ModelLoadError(
            f"{path}: {len(layers):,} layers, more than hwsim prices in one topology "
            f"({MAX_LAYERS:,}); split the file"
        )
    if not layers:
        raise ModelLoadError(f"{path}: topology has no layers")
    as_gemm = _is_gemm(rows[0], len(layers[0][1])) if gemm is None else gemm
    dag = nx.DiGraph()
    previous = None
    for i, (line, row) in enumerate(layers):
        op = _gemm_op(i, line, row, path) if as_gemm else _conv_op(i, line, row, path)
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
