"""Read SCALE-Sim's inputs: a ``.cfg`` becomes a ``Profile``, a topology CSV an ``OpGraph``.

``hwsim estimate topology.csv --hw scale.cfg`` then prices each layer with the systolic model
in its SCALE-Sim mode (one DRAM port per operand, the config's bandwidth mode), so the report
shows SCALE-Sim's cycle accounting next to hwsim's energy. SCALE-Sim has no energy model and
no clock: the energy numbers and the 1 GHz clock below are assumptions, and the profile's
description says so.
"""

from __future__ import annotations

import configparser
import csv
import math
from pathlib import Path
from typing import Any

import networkx as nx

from .errors import ModelLoadError, ProfileError
from .graph import OpGraph
from .ops import GraphInfo, Op, OpKind, TensorSpec
from .profile import Profile, profile_from_data

# Assumed energies (SCALE-Sim has none): Horowitz ISSCC 2014 at 45 nm, scaled by 0.65 to 28 nm.
_ASSUMED_ENERGY = {
    "mac_pj": 0.15,  # 8-bit multiply 0.2 pJ + add 0.03 pJ, x 0.65
    "sram_pj_per_byte": 5.0,  # 64-256 kB SRAM ~8 pJ/B, x 0.65
    "dram_pj_per_byte": 160.0,  # DRAM 1.3-2.6 nJ per 64-bit access -> ~160-325 pJ/B (low end)
    "static_w": 0.0,
}


def _get(cfg: configparser.ConfigParser, section: str, key: str, path: Path) -> str:
    try:
        return cfg.get(section, key).strip()
    except (configparser.NoSectionError, configparser.NoOptionError):
        raise ProfileError(f"{path}: SCALE-Sim config has no '{section}/{key}'") from None


def profile_data_from_cfg(path: str | Path) -> dict[str, Any]:
    """The profile dictionary (validated like any YAML profile) for a SCALE-Sim config."""
    path = Path(path)
    cfg = configparser.ConfigParser()
    try:
        cfg.read_string(path.read_text())
    except (OSError, configparser.Error) as exc:
        raise ProfileError(f"{path}: not a readable SCALE-Sim config ({exc})") from None
    arch = "architecture_presets"
    rows = int(_get(cfg, arch, "ArrayHeight", path))
    cols = int(_get(cfg, arch, "ArrayWidth", path))
    sram_kb = {o: int(_get(cfg, arch, f"{o}SramSzkB", path)) for o in ("Ifmap", "Filter", "Ofmap")}
    dataflow = _get(cfg, arch, "Dataflow", path).lower()
    if dataflow not in ("ws", "os", "is"):
        raise ProfileError(f"{path}: Dataflow '{dataflow}' is not one of ws, os, is")
    mode = _get(cfg, "run_presets", "InterfaceBandwidth", path).upper()
    if mode == "USER":
        # SCALE-Sim 3.0.0 feeds the ifmap and filter buffers at the [layout] SRAM-bank
        # bandwidths and drains the ofmap buffer at the first [architecture_presets] Bandwidth.
        ports = {
            "ifmap_bw": float(_get(cfg, "layout", "IfmapSRAMBankBandwidth", path)),
            "filter_bw": float(_get(cfg, "layout", "FilterSRAMBankBandwidth", path)),
            "ofmap_bw": float(_get(cfg, arch, "Bandwidth", path).split(",")[0]),
        }
    elif mode == "CALC":
        ports = {"ifmap_bw": 10.0, "filter_bw": 10.0, "ofmap_bw": float(cols)}
    else:
        raise ProfileError(f"{path}: InterfaceBandwidth must be USER or CALC, not '{mode}'")
    name = cfg.get("general", "run_name", fallback=path.stem).strip().strip('"') or path.stem
    sram_bytes = {o.lower(): kb * 1024 for o, kb in sram_kb.items()}
    e = _ASSUMED_ENERGY
    return {
        "name": "".join(c if c.isalnum() or c in "_.-" else "_" for c in name),
        "hw_class": "systolic",
        "description": (
            f"SCALE-Sim config {path.name}: {rows}x{cols} {dataflow.upper()} array, "
            f"{mode} bandwidth; clock (1 GHz) and energies are assumed, not from SCALE-Sim"
        ),
        "clock_hz": 1.0e9,
        "peak_macs_per_cycle": {"int8": rows * cols},
        "vector_ops_per_cycle": cols,
        "default_precision": "int8",
        "memory": [
            {
                "name": "sram",
                "capacity_bytes": sum(sram_bytes.values()),
                "bandwidth_bytes_per_cycle": rows + 2 * cols,
                "read_energy_pj_per_byte": e["sram_pj_per_byte"],
            },
            {
                "name": "dram",
                "capacity_bytes": None,
                "bandwidth_bytes_per_cycle": sum(ports.values()),
                "read_energy_pj_per_byte": e["dram_pj_per_byte"],
            },
        ],
        "energy": {
            "mac_pj": {"int8": e["mac_pj"]},
            "vector_op_pj": 0.1,
            "static_power_w": e["static_w"],
        },
        "fuse_pointwise": False,
        "arch": {
            "rows": rows,
            "cols": cols,
            "dataflow": dataflow,
            "ifmap_sram_bytes": sram_bytes["ifmap"],
            "filter_sram_bytes": sram_bytes["filter"],
            "ofmap_sram_bytes": sram_bytes["ofmap"],
            "word_bytes": 1,
            "scalesim": {"mode": mode, **ports},
        },
    }


def profile_from_cfg(path: str | Path) -> Profile:
    return profile_from_data(profile_data_from_cfg(path), str(path))


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
