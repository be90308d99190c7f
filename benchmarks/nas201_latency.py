"""Measure NAS-Bench-201 cell networks on this CPU at 1 thread: the few-shot fitting data.

``hwsim.workloads.nas201`` builds any of the 15,625 networks of the NAS-Bench-201 space from
its architecture string. This script draws ``COUNT`` of them uniformly (seeded, so the draw is
the same on every machine) and times each in eager PyTorch, fp32, batch 1, one thread:

- each network in a fresh Python process, after ``settle_allocator()`` (the allocator state
  every hwsim CPU measurement starts from: blocks up to 31 MiB come from reused heap pages);
- ``WARMUP_RUNS`` untimed forwards, then as many timed forwards as fill ``TARGET_TIMED_S``
  (at least ``MIN_RUNS``), each followed by a forward of a fixed ``REFERENCE`` network of the
  family, timed too. On this shared 2-vCPU VM a network's median latency moved by 16% (median;
  up to 78%) between two fresh processes minutes apart, and two passes over all networks
  ranked them with a Spearman rho of only 0.77; the ratio of a network's time to the
  reference's, timed forward by forward in the same process, moved by 1.4-2.2% (coefficient
  of variation over 6 processes, 3 networks). So the ratio is what is kept per process;
  ``--summarize`` turns it into milliseconds with the reference's median latency over all
  processes (the machine's typical speed for it). The network and the reference share the
  caches: each forward starts with the other's data in L2, as a real serving loop does not
  (the weights, 0.1-1.5 MB per network, stay in the last-level cache either way).
- ``--pass`` runs time every network once, in an order shuffled per pass (seeded); the
  1-minute load average is read before each child.

Run each pass alone on the machine, in two halves (``/work/bin/quiet``: a half takes about 8
minutes on the 2-vCPU test VM)::

    /work/bin/quiet python benchmarks/nas201_latency.py --pass 1 --part 1/2
    /work/bin/quiet python benchmarks/nas201_latency.py --pass 1 --part 2/2
    ... passes 2 and 3 alike ...
    python benchmarks/nas201_latency.py --summarize

Passes append to ``results/nas201_cpu_1t_raw.csv``; ``--summarize`` writes
``results/nas201_cpu_1t.csv`` (every network, in hwsim's measurement format: ``hwsim
validate``/``hwsim fit`` read it as is) and its split into ``nas201_cpu_1t_train.csv``
(``TRAIN`` networks, a seeded draw) and ``nas201_cpu_1t_val.csv`` (the others). The split is
made once, here, before any fit is run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import statistics
import subprocess
import sys
from pathlib import Path

from result_rows import write_rows

COUNT = 120
SEED = 201
TRAIN = 10
WARMUP_RUNS = 5
TARGET_TIMED_S = 1.5
MIN_RUNS = 20
# Timed in alternation with every network (``time_one``): a network of the family with every
# kind of operation (3x3 and 1x1 convs, pooling, skip, zero).
REFERENCE = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
)
RESULTS = Path(__file__).resolve().parent / "results"
RAW = RESULTS / "nas201_cpu_1t_raw.csv"
RAW_FIELDS = (
    "pass",
    "order",
    "arch",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "ref_median_ms",
    "ratio",
    "runs",
    "faults_per_run",
    "load_1m",
    "utc",
)


def archs() -> list[str]:
    from hwsim.workloads import nas201

    return nas201.sample_archs(COUNT, seed=SEED)


def time_one(arch: str) -> dict[str, object]:
    """Median latency of one network in this (fresh) process, and of ``REFERENCE`` timed in
    alternation with it: forward of the network, forward of the reference, and so on, so the
    two see the same moments of the machine. Their ratio per pair, whose median is kept,
    does not move with the other vCPU's load the way each latency does."""
    import torch

    from hwsim.calibrate import settle_allocator
    from hwsim.calibrate_e2e import time_pairs
    from hwsim.workloads import nas201

    settle_allocator()
    torch.set_num_threads(1)
    model, reference = nas201.build(arch), nas201.build(REFERENCE)
    inputs = nas201.example_input()
    pairs = time_pairs(model, inputs, reference, inputs, TARGET_TIMED_S, MIN_RUNS, WARMUP_RUNS)
    return {
        "median_ms": pairs.median_ms,
        "p10_ms": pairs.decile_ms(1),
        "p90_ms": pairs.decile_ms(9),
        "ref_median_ms": statistics.median(pairs.ref_times) * 1e3,
        "ratio": pairs.ratio,
        "runs": len(pairs.times),
        "faults_per_run": pairs.minor_faults / len(pairs.times),
    }


def run_pass(number: int, part: tuple[int, int] = (1, 1)) -> None:
    """Time every network once (``part`` k of n: the k-th n-th of this pass's order, so a
    pass can be split over several quiet windows). Networks the raw file already holds for
    this pass are skipped, so an interrupted part is resumed by running it again."""
    names = archs()
    order = list(range(len(names)))
    random.Random(SEED + number).shuffle(order)
    k, n = part
    size = math.ceil(len(order) / n)
    positions = range((k - 1) * size, min(k * size, len(order)))
    RESULTS.mkdir(exist_ok=True)
    new = not RAW.exists()
    done_here = set()
    if not new:
        with RAW.open() as f:
            done_here = {r["arch"] for r in csv.DictReader(f) if int(r["pass"]) == number}
    with RAW.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RAW_FIELDS)
        if new:
            writer.writeheader()
        for position in positions:
            index = order[position]
            if names[index] in done_here:  # resumed pass: measured already
                continue
            load = os.getloadavg()[0]
            done = subprocess.run(
                [sys.executable, __file__, "--one", names[index]],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                raise RuntimeError(f"{names[index]} failed:\n{done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            row = {
                "pass": number,
                "order": position,
                "arch": names[index],
                **{
                    k: result[k]
                    for k in ("median_ms", "p10_ms", "p90_ms", "ref_median_ms", "ratio", "runs")
                },
                "faults_per_run": result["faults_per_run"],
                "load_1m": load,
                "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
            writer.writerow(row)
            f.flush()
            print(
                f"pass {number} {position + 1:3d}/{len(order)} {result['median_ms']:7.2f} ms "
                f"(load {load:.2f}) {names[index]}",
                flush=True,
            )


def summarize() -> None:
    """Each network's latency: the median over passes of its ratio to the reference, times the
    reference's median latency over every process of every pass (the machine's typical speed
    for it). Absolute medians per pass are kept in the raw file and quoted in the note."""
    with RAW.open() as f:
        raw = list(csv.DictReader(f))
    by_arch: dict[str, list[dict[str, str]]] = {}
    for row in raw:
        by_arch.setdefault(row["arch"], []).append(row)
    names = archs()
    missing = [a for a in names if a not in by_arch]
    if missing:
        raise SystemExit(f"{len(missing)} networks have no measurement yet (run more passes)")
    reference_ms = statistics.median(float(r["ref_median_ms"]) for r in raw)
    rows = []
    spreads = []
    for arch in names:
        runs = sorted(by_arch[arch], key=lambda r: int(r["pass"]))
        ratios = [float(r["ratio"]) for r in runs]
        absolute = "/".join(f"{float(r['median_ms']):.2f}" for r in runs)
        spread = max(ratios) / min(ratios) - 1
        spreads.append(spread)
        rows.append(
            {
                "model": f"nas201:{arch}",
                "latency_ms": f"{statistics.median(ratios) * reference_ms:.4f}",
                "threads": 1,
                "source": "benchmarks/nas201_latency.py on this machine (eager torch, fp32, "
                "batch 1, fresh process, settled allocator, timed against a reference)",
                "note": f"ratio to the reference over {len(ratios)} passes "
                f"{'/'.join(f'{x:.4f}' for x in ratios)} (spread {spread:.1%}); "
                f"absolute medians {absolute} ms",
            }
        )
    train = set(random.Random(SEED).sample(range(len(rows)), TRAIN))
    fields = ["model", "latency_ms", "threads", "source", "note"]
    for name, chosen in (
        ("nas201_cpu_1t.csv", rows),
        ("nas201_cpu_1t_train.csv", [r for i, r in enumerate(rows) if i in train]),
        ("nas201_cpu_1t_val.csv", [r for i, r in enumerate(rows) if i not in train]),
    ):
        write_rows(RESULTS / name, chosen, fields)
        print(f"wrote {RESULTS / name} ({len(chosen)} rows)")
    print(
        f"reference: median {reference_ms:.2f} ms over {len(raw)} processes; spread of a "
        f"network's ratio between passes: median {statistics.median(spreads):.1%}, "
        f"max {max(spreads):.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", metavar="ARCH", help="time one network here, print JSON")
    parser.add_argument("--pass", dest="number", type=int, help="time every network once")
    parser.add_argument("--part", default="1/1", help="with --pass: K/N, the K-th of N parts")
    parser.add_argument("--summarize", action="store_true", help="write the measurement CSVs")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(time_one(args.one)))
    elif args.number is not None:
        k, _, n = args.part.partition("/")
        run_pass(args.number, (int(k), int(n)))
    elif args.summarize:
        summarize()
    else:
        parser.error("give --pass N, --summarize or --one ARCH")


if __name__ == "__main__":
    main()
