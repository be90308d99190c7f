"""Which systolic array shape suits which workload: a co-design sweep with ``hwsim sweep``.

The Edge-TPU-like profile (``tpu_edge``: int8, weight stationary, 8 MB SRAM) with its array
reshaped: heights and widths of 8 to 256 PEs (36 shapes), the peak moving with the PE count
and the vector unit with the width (one activation per column per cycle, as the preset
assumes), behind two off-chip links: the preset's USB 3 and an LPDDR4X-class DRAM. Each design
is priced on ResNet-50, MobileNetV2 and BERT-base (batch 1) and gets an area from
``hwsim.area``.

Printed (and recorded in docs/codesign.md):
- per link and PE budget (1024, 4096, 16384), the fastest shape per workload, and how much
  slower the square and the worst shape of that budget are;
- per link and workload, the design with the lowest energy-delay product, and the size of the
  Pareto front (latency, energy, area; both links compete).

Run: ``python analysis/codesign_study.py`` (traces three models, then about a minute of
pricing on 2 workers). Writes ``analysis/results/codesign_study.csv`` and the front and
main-effect plots to ``docs/img/codesign/``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

from hwsim.sweep import load_spec, run_sweep, write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "analysis" / "results" / "codesign_study.csv"
PLOTS = ROOT / "docs" / "img" / "codesign"
SIDES = [8, 16, 32, 64, 128, 256]
LINK = "memory.host.bandwidth_bytes_per_s"
SPEC = {
    "base": "tpu_edge",
    "workloads": ["resnet50", "mobilenet_v2", "bert_base"],
    "params": {
        "arch.rows": SIDES,
        "arch.cols": SIDES,
        # The Edge TPU's USB 3 link (the preset), and an LPDDR4X-class DRAM (3200 MT/s x 64 bit
        # = 25.6 GB/s peak, the preset's fitted link efficiency kept).
        LINK: [5.0e8, 2.56e10],
    },
    "derived": {
        "peak_macs_per_cycle.int8": "arch.rows * arch.cols",
        "vector_ops_per_cycle": "arch.cols",
    },
}


def best_shapes(rows: pd.DataFrame) -> pd.DataFrame:
    """Per PE budget and workload, the fastest shape and how much slower the square one is."""
    rows = rows.assign(pes=rows["arch.rows"] * rows["arch.cols"])
    out = []
    for (link, pes, workload), group in rows.groupby([LINK, "pes", "workload"], sort=True):
        if int(pes) not in (1024, 4096, 16384):
            continue
        best = group.loc[group["latency_s"].idxmin()]
        square = group[group["arch.rows"] == group["arch.cols"]]
        worst = group["latency_s"].max()
        entry = {
            "link GB/s": link / 1e9,
            "PEs": int(pes),
            "workload": workload,
            "fastest shape": f"{int(best['arch.rows'])}x{int(best['arch.cols'])}",
            "latency ms": best["latency_s"] * 1e3,
            "square / fastest": float(square["latency_s"].iloc[0] / best["latency_s"]),
            "slowest / fastest": float(worst / best["latency_s"]),
            "shapes": len(group),
        }
        out.append(entry)
    return pd.DataFrame(out)


def min_edp(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (link, workload), group in rows.groupby([LINK, "workload"], sort=False):
        edp = group["latency_s"] * group["energy_j"]
        best = group.loc[edp.idxmin()]
        out.append(
            {
                "link GB/s": link / 1e9,
                "workload": workload,
                "min-EDP shape": f"{int(best['arch.rows'])}x{int(best['arch.cols'])}",
                "latency ms": best["latency_s"] * 1e3,
                "energy mJ": best["energy_j"] * 1e3,
                "area mm2": best["area_mm2"],
                "Pareto points (both links)": int(
                    rows[(rows["workload"] == workload) & rows["pareto"]].shape[0]
                ),
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.yaml"
        spec_path.write_text(json.dumps(SPEC))
        spec = load_spec(spec_path)
        rows = run_sweep(spec, Path(tmp) / "out", workers=workers).rows
        write_report(spec, rows, Path(tmp) / "out")
        PLOTS.mkdir(parents=True, exist_ok=True)
        for png in (Path(tmp) / "out" / "plots").glob("*.png"):
            shutil.copy(png, PLOTS / png.name)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(RESULTS, index=False)
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(best_shapes(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        print()
        print(min_edp(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
