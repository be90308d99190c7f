"""Run SCALE-Sim 3.0.0 on small layers and record its per-layer accounting as golden CSVs.

SCALE-Sim must live in its own virtualenv (it needs numpy < 2); this script is the only file in
the project that touches it, and it does so by running that venv's interpreter in a subprocess::

    python3 -m venv /tmp/scalesim_venv
    /tmp/scalesim_venv/bin/pip install scalesim==3.0.0 'numpy<2'
    python benchmarks/scalesim/generate_golden.py /tmp/scalesim_venv

Outputs (small, committed) in ``tests/golden/scalesim/``:
- ``configs/<name>.cfg``: the SCALE-Sim config files used (hwsim reads them too);
- ``topologies/<name>.csv``: the conv-form and GEMM (MNK) topologies;
- ``golden.csv``: one row per (config, topology, layer) with SCALE-Sim's COMPUTE_REPORT and
  DETAILED_ACCESS_REPORT columns;
- ``timings.csv``: SCALE-Sim's wall time per run, and per ResNet-18 layer for the speed figures.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "golden" / "scalesim"

# name: (rows, cols, dataflow, ifmap kB, filter kB, ofmap kB, bandwidth mode, user bw, held_out)
# user bw = (ifmap SRAM-bank bandwidth, filter SRAM-bank bandwidth, ofmap Bandwidth) words/cycle:
# SCALE-Sim 3.0.0 in USER mode feeds the ifmap and filter buffers at the [layout] bank
# bandwidths and drains the ofmap buffer at [architecture_presets] Bandwidth.
CONFIGS: dict[str, tuple[int, int, str, int, int, int, str, tuple[int, int, int], bool]] = {
    "a8x8_ws": (8, 8, "ws", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a8x8_os": (8, 8, "os", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a8x8_is": (8, 8, "is", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a16x16_ws": (16, 16, "ws", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a16x16_os": (16, 16, "os", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a16x16_is": (16, 16, "is", 64, 64, 32, "CALC", (10, 10, 10), False),
    "a8x8_ws_user_bw2": (8, 8, "ws", 2, 2, 2, "USER", (2, 2, 4), False),
    # held out: never looked at while writing the model
    "a32x32_ws": (32, 32, "ws", 128, 128, 64, "CALC", (10, 10, 10), True),
    "a32x32_os": (32, 32, "os", 128, 128, 64, "CALC", (10, 10, 10), True),
    "a16x32_is": (16, 32, "is", 64, 64, 32, "CALC", (10, 10, 10), True),
    "a16x32_ws": (16, 32, "ws", 64, 64, 32, "CALC", (10, 10, 10), True),
    "a16x16_os_user_bw4": (16, 16, "os", 4, 4, 4, "USER", (4, 4, 8), True),
    "a16x16_is_user_bw2": (16, 16, "is", 2, 2, 2, "USER", (2, 2, 2), True),
    # added after the USER read buffers were modelled request by request; held out from that
    # work (run once, compared, never tuned against)
    "a8x8_is_user_bw4": (8, 8, "is", 1, 2, 2, "USER", (4, 3, 4), True),
    "a16x8_ws_user_bw3": (16, 8, "ws", 2, 1, 1, "USER", (3, 2, 2), True),
    "a8x16_os_user_bw2": (8, 16, "os", 1, 1, 2, "USER", (2, 2, 4), True),
    # a small WS array fed at 4 words/cycle, where the ofmap write buffer sets the stalls: used
    # to replace the ofmap port's closed form by SCALE-Sim's write buffer, line by line
    "a8x32_ws_user_bw4": (8, 32, "ws", 2, 2, 2, "USER", (4, 4, 4), False),
    "a8x32_ws_user_bw4_8k": (8, 32, "ws", 8, 8, 8, "USER", (4, 4, 4), False),
    # added after that change and run once against it (held out)
    "a8x32_os_user_bw4": (8, 32, "os", 2, 4, 2, "USER", (4, 4, 4), True),
    "a8x32_is_user_bw4": (8, 32, "is", 4, 2, 1, "USER", (4, 4, 4), True),
    "a12x20_ws_user_bw4": (12, 20, "ws", 1, 4, 4, "USER", (4, 3, 4), True),
}

# SCALE-Sim conv form: name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride.
# No padding (SCALE-Sim's ofmap is ceil((H - R + S) / S)).
CONV_LAYERS = [
    ("conv_a", 16, 16, 3, 3, 8, 16, 1),
    ("conv_b", 12, 12, 3, 3, 16, 32, 2),
    ("conv_c", 8, 8, 1, 1, 32, 24, 1),
    ("conv_d", 10, 10, 5, 5, 4, 40, 1),
]
# GEMM (MNK) form: name, M, N, K.
GEMM_LAYERS = [
    ("gemm_a", 64, 48, 80),
    ("gemm_b", 17, 100, 33),
    ("gemm_c", 96, 16, 200),
]
# GEMMs whose M, N and K are multiples of no array side here (run on every configuration).
GEMM_ODD_LAYERS = [
    ("odd_a", 100, 50, 70),
    ("odd_b", 37, 45, 21),
    ("odd_c", 130, 70, 19),
    ("odd_d", 23, 90, 45),
]
# Two ResNet-18 layers (1x1 downsample convs), timed for the speed comparison only.
RESNET18_LAYERS = [
    ("layer3.0.downsample", 28, 28, 1, 1, 128, 256, 2),
    ("layer4.0.downsample", 14, 14, 1, 1, 256, 512, 2),
]
RESNET18_CONFIG = "a32x32_ws"

_RUNNER = r"""
import sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, gemm = sys.argv[1:6]
start = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=gemm == "1")
s.run_scale(top_path=out)
print("SECONDS", time.perf_counter() - start)
"""


def config_text(name: str) -> str:
    rows, cols, df, ikb, fkb, okb, mode, (ibw, fbw, obw), _ = CONFIGS[name]
    return f"""[general]
run_name = {name}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ikb}
FilterSramSzkB : {fkb}
OfmapSramSzkB : {okb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {obw}
Dataflow : {df}
MemoryBanks : 1
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {ibw}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {fbw}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {mode}
UseRamulatorTrace : False
"""


def write_inputs() -> None:
    (OUT / "configs").mkdir(parents=True, exist_ok=True)
    (OUT / "topologies").mkdir(parents=True, exist_ok=True)
    for name in CONFIGS:
        (OUT / "configs" / f"{name}.cfg").write_text(config_text(name))
    header = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
    header += "Num Filter, Strides,\n"
    conv = header + "".join(",".join(str(v) for v in row) + ",\n" for row in CONV_LAYERS)
    (OUT / "topologies" / "conv_small.csv").write_text(conv)
    for name, layers in (("gemm_small", GEMM_LAYERS), ("gemm_odd", GEMM_ODD_LAYERS)):
        rows = "".join(f"{n}, {m}, {nn}, {k},\n" for n, m, nn, k in layers)
        (OUT / "topologies" / f"{name}.csv").write_text("Layer, M, N, K,\n" + rows)


def _read_report(path: Path) -> list[list[str]]:
    with path.open() as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f)]
    return [r for r in rows[1:] if r and r[0]]


def run_one(python: str, cfg: Path, topo: Path, gemm: bool, layer_names: list[str]) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout.csv"
        layout.write_text("Layer name,\n")
        cmd = [python, "-c", _RUNNER, str(cfg), str(topo), str(layout), tmp, "1" if gemm else "0"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"SCALE-Sim failed on {cfg.name} / {topo.name}:\n{proc.stderr[-2000:]}")
        run_dir = Path(tmp) / cfg.stem
        compute = _read_report(run_dir / "COMPUTE_REPORT.csv")
        detail = _read_report(run_dir / "DETAILED_ACCESS_REPORT.csv")
    rows = []
    for name, c, d in zip(layer_names, compute, detail, strict=True):
        rows.append(
            {
                "layer": name,
                "total_cycles_incl_prefetch": int(float(c[1])),
                "total_cycles": int(float(c[2])),
                "stall_cycles": int(float(c[3])),
                "overall_util_pct": float(c[4]),
                "mapping_eff_pct": float(c[5]),
                "compute_util_pct": float(c[6]),
                "ifmap_sram_reads": int(float(d[3])),
                "filter_sram_reads": int(float(d[6])),
                "ofmap_sram_writes": int(float(d[9])),
                "ifmap_dram_reads": int(float(d[12])),
                "filter_dram_reads": int(float(d[15])),
                "ofmap_dram_writes": int(float(d[18])),
            }
        )
    return rows, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path, help="virtualenv with scalesim==3.0.0 and numpy<2")
    parser.add_argument("--skip-resnet18", action="store_true", help="skip the timing runs")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(CONFIGS),
        help="run only these configurations and replace their rows in the existing CSVs "
        "(implies --skip-resnet18; the other rows and the ResNet-18 timings are kept)",
    )
    args = parser.parse_args()
    python = str(args.venv / "bin" / "python")
    write_inputs()
    golden: list[dict] = []
    timings: list[dict] = []
    selected = list(CONFIGS)
    if args.only:
        selected, args.skip_resnet18 = args.only, True
        for path, rows in ((OUT / "golden.csv", golden), (OUT / "timings.csv", timings)):
            with path.open(newline="") as f:
                rows += [
                    r
                    for r in csv.DictReader(f)
                    if r["config"] not in selected or r["topology"].startswith("resnet18")
                ]
    topologies = [
        ("conv_small", False, [r[0] for r in CONV_LAYERS]),
        ("gemm_small", True, [r[0] for r in GEMM_LAYERS]),
        ("gemm_odd", True, [r[0] for r in GEMM_ODD_LAYERS]),
    ]
    for cfg_name in selected:
        spec = CONFIGS[cfg_name]
        for topo_name, gemm, names in topologies:
            cfg = OUT / "configs" / f"{cfg_name}.cfg"
            topo = OUT / "topologies" / f"{topo_name}.csv"
            rows, wall = run_one(python, cfg, topo, gemm, names)
            for row in rows:
                golden.append(
                    {"config": cfg_name, "topology": topo_name, "held_out": spec[-1], **row}
                )
            timings.append(
                {"config": cfg_name, "topology": topo_name, "layers": len(rows), "seconds": wall}
            )
            print(f"{cfg_name:22s} {topo_name:12s} {wall:6.1f} s", flush=True)
    if not args.skip_resnet18:
        with tempfile.TemporaryDirectory() as tmp:
            for layer in RESNET18_LAYERS:
                topo = Path(tmp) / f"{layer[0]}.csv"
                topo.write_text(
                    "Layer name,H,W,R,S,C,N,Stride,\n" + ",".join(map(str, layer)) + ",\n"
                )
                cfg = OUT / "configs" / f"{RESNET18_CONFIG}.cfg"
                _, wall = run_one(python, cfg, topo, False, [layer[0]])
                timings.append(
                    {
                        "config": RESNET18_CONFIG,
                        "topology": f"resnet18:{layer[0]}",
                        "layers": 1,
                        "seconds": wall,
                    }
                )
                print(f"resnet18 {layer[0]:22s} {wall:6.1f} s", flush=True)
    order = list(CONFIGS)
    golden.sort(key=lambda r: order.index(r["config"]))
    timings.sort(key=lambda r: (r["topology"].startswith("resnet18"), order.index(r["config"])))
    for path, rows in ((OUT / "golden.csv", golden), (OUT / "timings.csv", timings)):
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
