"""The same model through both frontends: torch.export (.pt2) and hwsim's ONNX op table.

For each built-in workload, the model is exported once to ``.pt2`` (torch.export) and once to
ONNX with torch's TorchScript-based exporter (``dynamo=False``, opset 17; the dynamo exporter
needs onnxscript, which hwsim does not depend on), keeping BatchNormalization nodes
(``training=PRESERVE``) so the ONNX file holds the same ops as the ``.pt2``. Both are traced
and priced on every preset profile. Printed and written to
``benchmarks/results/onnx_parity.csv``: MACs, parameters, and the latency ratio ONNX / .pt2
per profile (1.000 is the same estimate).

Run: ``/work/bin/heavy python benchmarks/onnx_parity.py [workload ...]`` (a few minutes).
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch
from result_rows import write_rows

import hwsim
from hwsim.frontend.export_workload import export_workload
from hwsim.profile import load_profile, preset_names
from hwsim.workloads import get_workload, workload_names

RESULTS = Path(__file__).resolve().parent / "results" / "onnx_parity.csv"


def export_onnx(name: str, path: Path) -> None:
    workload = get_workload(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            workload.build().eval(),
            workload.make_inputs(1),
            str(path),
            dynamo=False,
            opset_version=17,
            training=torch.onnx.TrainingMode.PRESERVE,
        )


def main(names: list[str]) -> int:
    rows = []
    profiles = [load_profile(p) for p in preset_names()]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            pt2, onnx = Path(tmp) / f"{name}.pt2", Path(tmp) / f"{name}.onnx"
            export_workload(name, pt2)
            export_onnx(name, onnx)
            a = hwsim.trace(str(pt2), cache=False)
            b = hwsim.trace(str(onnx), cache=False)
            for profile in profiles:
                ea, eb = hwsim.estimate(a, profile), hwsim.estimate(b, profile)
                rows.append(
                    {
                        "workload": name,
                        "hw": profile.name,
                        "hw_class": profile.hw_class,
                        "macs_pt2": a.macs,
                        "macs_onnx": b.macs,
                        "params_pt2": a.param_count,
                        "params_onnx": b.param_count,
                        "latency_pt2_s": ea.latency_s,
                        "latency_onnx_s": eb.latency_s,
                        "ratio": eb.latency_s / ea.latency_s,
                        "unsupported_onnx": len(eb.unsupported),
                    }
                )
            worst = max(
                (r for r in rows if r["workload"] == name), key=lambda r: abs(r["ratio"] - 1)
            )
            print(
                f"{name:20} MACs {'equal' if a.macs == b.macs else 'DIFFER'} ({a.macs:,})  "
                f"params {a.param_count:,} / {b.param_count:,}  "
                f"worst latency ratio {worst['ratio']:.4f} on {worst['hw']}"
            )
    write_rows(RESULTS, rows)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or workload_names()))
