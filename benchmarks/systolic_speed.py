"""How fast hwsim prices a systolic array, and how that compares with SCALE-Sim.

1. ResNet-50 at batch 1 on a 32x32 weight-stationary array (``tpu_edge`` with its array
   reshaped to 32x32), graph traced once beforehand: the median time of ``hwsim.estimate``
   (target: under 100 ms).
2. The same ResNet-18 layers SCALE-Sim was timed on: hwsim's time per layer next to SCALE-Sim's.
   SCALE-Sim's times are measured here if ``--scalesim-venv`` is given (1-2 layers, about a
   minute), else read from ``tests/golden/scalesim/timings.csv``, which the golden script
   recorded on this machine; the output says which.

Run: ``python benchmarks/systolic_speed.py [--scalesim-venv /tmp/scalesim_venv]``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hwsim
from hwsim import estimate
from hwsim.frontend.scalesim_topology import graph_from_topology
from hwsim.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "scalesim"
sys.path.insert(0, str(ROOT / "benchmarks" / "scalesim"))
from generate_golden import RESNET18_CONFIG, RESNET18_LAYERS, run_one  # noqa: E402


def _median_s(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def resnet50_on_32x32(repeats: int = 20) -> float:
    profile = hwsim.load_profile("tpu_edge").with_params(
        {"arch.rows": 32, "arch.cols": 32, "peak_macs_per_cycle.int8": 1024}
    )
    graph = hwsim.trace("resnet50")
    estimate(graph, profile)  # warm up (numba, imports)
    return _median_s(lambda: estimate(graph, profile), repeats)


def scalesim_layer_seconds(venv: Path | None) -> tuple[dict[str, float], str]:
    if venv is not None:
        out = {}
        with tempfile.TemporaryDirectory() as tmp:
            for layer in RESNET18_LAYERS:
                topo = Path(tmp) / f"{layer[0]}.csv"
                topo.write_text("Layer,H,W,R,S,C,N,Stride,\n" + ",".join(map(str, layer)) + ",\n")
                cfg = GOLDEN / "configs" / f"{RESNET18_CONFIG}.cfg"
                _, wall = run_one(str(venv / "bin" / "python"), cfg, topo, False, [layer[0]])
                out[layer[0]] = wall
        return out, "measured now (subprocess wall time, includes interpreter start-up)"
    with (GOLDEN / "timings.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["topology"].startswith("resnet18:")]
    out = {r["topology"].split(":", 1)[1]: float(r["seconds"]) for r in rows}
    return out, "recorded by generate_golden.py (subprocess wall time, incl. start-up)"


def hwsim_layer_seconds(repeats: int = 200) -> dict[str, float]:
    profile = load_profile(GOLDEN / "configs" / f"{RESNET18_CONFIG}.cfg")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layer in RESNET18_LAYERS:
            topo = Path(tmp) / f"{layer[0]}.csv"
            topo.write_text("Layer,H,W,R,S,C,N,Stride,\n" + ",".join(map(str, layer)) + ",\n")
            graph = graph_from_topology(topo)
            estimate(graph, profile)
            out[layer[0]] = _median_s(lambda g=graph: estimate(g, profile), repeats)
    return out


def user_mode_conv_small(repeats: int = 20) -> float:
    """``conv_small`` (4 convs) on ``a16x16_is_user_bw2``: the request-level read buffers and
    the line-by-line write buffer included."""
    profile = load_profile(GOLDEN / "configs" / "a16x16_is_user_bw2.cfg")
    graph = graph_from_topology(GOLDEN / "topologies" / "conv_small.csv")
    estimate(graph, profile)
    return _median_s(lambda: estimate(graph, profile), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-venv", type=Path, default=None)
    args = parser.parse_args()
    t50 = resnet50_on_32x32()
    print(f"ResNet-50 batch 1 on a 32x32 WS array (traced graph): {t50 * 1e3:.1f} ms per estimate")
    user = user_mode_conv_small()
    print(f"conv_small on a16x16_is_user_bw2 (USER mode): {user * 1e3:.1f} ms per estimate")
    ours = hwsim_layer_seconds()
    theirs, how = scalesim_layer_seconds(args.scalesim_venv)
    print(f"SCALE-Sim times: {how}")
    print(f"{'ResNet-18 layer':24s} {'SCALE-Sim s':>12s} {'hwsim ms':>10s} {'ratio':>10s}")
    for name, seconds in theirs.items():
        mine = ours[name]
        print(f"{name:24s} {seconds:12.2f} {mine * 1e3:10.3f} {seconds / mine:10.0f}x")


if __name__ == "__main__":
    main()
