"""How fast ``hwsim sweep`` prices design points, and how it scales from 1 to 2 workers.

ResNet-50 at batch 1 on ``tpu_edge`` variants: 10 array heights x 10 widths (peak = rows x
cols) x 4 clocks x 5 host bandwidths x 5 filter-buffer sizes = 10,000 points. ResNet-50 is
traced once, before any timing. Each run starts its own LocalCluster (1 or 2 worker
processes, one thread each) into a fresh directory; the runs alternate (1, 2, 1, 2...) so
drift on this VM hits both alike.

Printed per run: the cluster's start-up, the sweep's wall time (shipping the graph, pricing,
writing parts and the final tables), the pricing rate between the first and the last finished
chunk, and the cores used meanwhile by the workers, by this driver process, and by everything
else on the machine (from /proc/stat: other helpers' jobs share these 2 cores). Then the
median points/s per worker count and the 2-vs-1 speedup (targets: >= 200 points/s on this
2-core machine, >= 1.7x).

And where one point's time goes, in this process: building the profile (``with_params``),
its area, pricing the graph (``estimate.price``), and totalling it.

Run: ``/work/bin/quiet python benchmarks/sweep_speed.py [--points N] [--repeats R]``
(``--points`` samples N of the 10,000 at random, for a quicker look).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from hwsim.area import area_of
from hwsim.estimate import price
from hwsim.profile import load_profile
from hwsim.sweep import build_payload, load_spec, run_sweep
from hwsim.sweep.derive import apply
from hwsim.sweep.points import grid_params

SPEC = {
    "base": "tpu_edge",
    "workloads": ["resnet50"],
    "params": {
        "arch.rows": [8, 16, 24, 32, 48, 64, 96, 128, 192, 256],
        "arch.cols": [8, 16, 24, 32, 48, 64, 96, 128, 192, 256],
        "clock_hz": [2.5e8, 5.0e8, 7.5e8, 1.0e9],
        "memory.host.bandwidth_bytes_per_s": [2.5e8, 5.0e8, 1.0e9, 2.0e9, 4.0e9],
        "arch.filter_sram_bytes": [1048576, 2097152, 4194304, 6291456, 8388608],
    },
    "derived": {"peak_macs_per_cycle.int8": "arch.rows * arch.cols"},
}


def _busy_jiffies() -> tuple[float, float]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def one_run(spec_path: Path, workers: int, payload: object) -> dict[str, float]:
    """One sweep into a fresh directory on a LocalCluster of ``workers`` processes started
    here (so the workers' CPU time can be read): start-up, sweep wall time, pricing rate, the
    cores the workers used, and the cores everything else on the machine used meanwhile."""
    from dask.distributed import Client, LocalCluster

    spec = load_spec(spec_path)
    stamps: list[tuple[float, int]] = []
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.perf_counter()
        cpu0 = sum(client.run(time.process_time).values())
        busy0, total0 = _busy_jiffies()
        own0 = time.process_time()
        result = run_sweep(
            spec,
            Path(tmp) / "out",
            scheduler=cluster.scheduler_address,
            payload=payload,  # type: ignore[arg-type]
            progress=lambda done, _total: stamps.append((time.perf_counter(), done)),
        )
        wall = time.perf_counter() - started
        cpu = sum(client.run(time.process_time).values()) - cpu0
        own = time.process_time() - own0
        busy1, total1 = _busy_jiffies()
    machine = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
    (t0, d0), (t1, d1) = stamps[1], stamps[-1]  # stamps[0] is the 0-done call
    return {
        "points": result.points,
        "startup_s": started - start,
        "wall_s": wall,
        "rate": (d1 - d0) / (t1 - t0) if t1 > t0 else float("nan"),
        "worker_cores": cpu / wall,
        "driver_cores": own / wall,
        "other_cores": machine - cpu / wall - own / wall,
    }


def per_point_breakdown(spec_path: Path, payload: object, n: int = 40) -> dict[str, float]:
    """Median ms per point of each step, in this process."""
    spec = load_spec(spec_path)
    base = load_profile(spec.base)
    (_, graph) = payload.cases[0]  # type: ignore[attr-defined]
    steps: dict[str, list[float]] = {"with_params": [], "area": [], "price": [], "total": []}
    for i in range(n):
        params = apply(spec.derived, grid_params(spec, (i * 2477) % spec.grid_size))
        t0 = time.perf_counter()
        profile = base.with_params(params)
        t1 = time.perf_counter()
        area_of(profile)
        t2 = time.perf_counter()
        est = price(graph, profile)
        t3 = time.perf_counter()
        _ = est.total.total_energy_j
        t4 = time.perf_counter()
        for key, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            steps[key].append(seconds * 1e3)
    return {k: statistics.median(v) for k, v in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=None, help="random:N of the 10,000")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    spec = dict(SPEC)
    if args.points:
        spec["sample"] = f"random:{args.points}"
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.yaml"
        spec_path.write_text(json.dumps(spec))
        start = time.perf_counter()
        payload = build_payload(load_spec(spec_path))
        print(f"traced resnet50 once: {time.perf_counter() - start:.1f} s")
        steps = per_point_breakdown(spec_path, payload)
        per_point = sum(steps.values())
        print(
            "one point in this process: "
            + ", ".join(f"{k} {v:.2f} ms" for k, v in steps.items())
            + f" (sum {per_point:.1f} ms = {1e3 / per_point:.0f} points/s on one core)"
        )
        walls: dict[int, list[float]] = {1: [], 2: []}
        rates: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for workers in (1, 2):
                run = one_run(spec_path, workers, payload)
                walls[workers].append(run["points"] / (run["wall_s"] + run["startup_s"]))
                rates[workers].append(run["rate"])
                print(
                    f"{workers} worker(s): {run['points']:.0f} points, start-up "
                    f"{run['startup_s']:.1f} s + sweep {run['wall_s']:.1f} s = "
                    f"{walls[workers][-1]:.0f} points/s end to end; pricing {run['rate']:.0f} "
                    f"points/s; cores used: workers {run['worker_cores']:.2f}, driver "
                    f"{run['driver_cores']:.2f}, rest of the machine {run['other_cores']:.2f}; "
                    f"{run['rate'] / run['worker_cores']:.0f} points per worker CPU-second"
                )
    for label, table in (("end to end", walls), ("pricing", rates)):
        one, two = statistics.median(table[1]), statistics.median(table[2])
        spread = ""
        if args.repeats > 1:
            spread = f" (ranges: {min(table[1]):.0f}-{max(table[1]):.0f}, "
            spread += f"{min(table[2]):.0f}-{max(table[2]):.0f})"
        print(
            f"{label}: 1 worker {one:.0f} points/s, 2 workers {two:.0f} points/s{spread}; "
            f"2 vs 1: {two / one:.2f}x (targets: >= 200 points/s, >= 1.7x)"
        )


if __name__ == "__main__":
    main()
