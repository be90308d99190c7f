"""Why 2-thread timings on a shared 2-core machine can cost whole scheduler ticks per op.

Times tiny eager ops (a native 3x3 conv, a oneDNN 5x5 conv, batch-norm, ReLU) on 2 torch
threads in fresh processes: alone, next to a busy process (pinned to core 1, to core 0, or
free to move), with the team pinned so that the busy process shares the worker's core (or
the caller's), and the same with ``OMP_WAIT_POLICY=PASSIVE`` (team threads sleep at the
barrier instead of spinning). The busy process is a Python loop, as another user's job would
be. Each case prints the median and 90th percentile of 300 calls (at most 0.6 s) and the
process's involuntary context switches per second.

Reading (docs/validation.md, host CPU, 2 threads): an op that opens a parallel region (conv,
batch-norm) takes 5-50 us with the team on both cores, busy process or not, and two 4 ms
ticks per region when both team threads sit on one core, where the worker waits for the
spinning caller to be preempted (the calibrations' 8, 16 and 24 ms); whether a free-to-move
team ends up there next to a busy process depends on the scheduler's placement, so those
cases stall in some runs and not in others. ReLU on a tiny tensor never opens a region and is
unaffected; PASSIVE removes the stalls but costs every region a futex wake.

Run: ``python benchmarks/thread_stalls.py`` (through /work/bin/quiet); output in
``benchmarks/results/thread_stalls.txt``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "thread_stalls.txt"
BUSY_S = 8.0


def pin_team(worker_core: int) -> None:
    """Pin this thread (the caller of every parallel region) to core 0 and every other thread
    of the process (the OpenMP worker, started by a first region) to ``worker_core``: a
    placement chosen here instead of by the scheduler. Pinned after the team started, so
    libgomp still believes it has both cores and spins at its barriers as it would there."""
    import threading

    main = threading.get_native_id()
    for task in Path("/proc/self/task").iterdir():
        tid = int(task.name)
        os.sched_setaffinity(tid, {0} if tid == main else {worker_core})


def probe(worker_core: int | None) -> dict[str, str]:
    """The tiny ops on 2 threads in this process (the team pinned by ``pin_team`` unless
    ``worker_core`` is None)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    x, w, w5 = torch.randn(1, 8, 4, 4), torch.randn(8, 8, 3, 3), torch.randn(8, 8, 5, 5)
    ones, zeros = torch.ones(8), torch.zeros(8)
    with torch.inference_mode():
        F.batch_norm(x, zeros, ones, ones, zeros, False, 0.1, 1e-5)  # starts the team
    if worker_core is not None:
        pin_team(worker_core)
    calls = {
        "conv": lambda: torch.conv2d(x, w, padding=1),
        "conv_onednn": lambda: torch.conv2d(x, w5, padding=2),
        "norm": lambda: F.batch_norm(x, zeros, ones, ones, zeros, False, 0.1, 1e-5),
        "relu": lambda: torch.relu(x),
    }
    out = {}
    with torch.inference_mode():
        for key, call in calls.items():
            call()
            call()
            times: list[float] = []
            before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            while time.perf_counter() - start < 0.6 and len(times) < 300:
                t = time.perf_counter()
                call()
                times.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - start
            switches = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before.ru_nivcsw
            times.sort()
            out[key] = (
                f"median {statistics.median(times) * 1e6:.0f} us, "
                f"p90 {times[len(times) * 9 // 10] * 1e6:.0f} us, {len(times)} calls, "
                f"{switches / elapsed:.0f} invol. switches/s"
            )
    return out


def busy(cpu: int | None) -> subprocess.Popen[bytes]:
    """A Python busy loop for ``BUSY_S`` seconds, pinned to ``cpu`` unless None."""
    pin = f"import os; os.sched_setaffinity(0, {{{cpu}}}); " if cpu is not None else ""
    code = f"{pin}import time; t = time.time() + {BUSY_S}\nwhile time.time() < t: pass"
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)
    return proc


def run_case(
    name: str, cpu: int | str | None, passive: bool, worker_core: int | None = None
) -> str:
    env = dict(os.environ)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    hog = busy(cpu) if cpu != "none" else None
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--probe", str(worker_core)],
            capture_output=True,
            text=True,
            env=env,
        )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    policy = "PASSIVE" if passive else "default"
    head = f"{name} (OMP wait policy {policy}):"
    return "\n".join([head] + [f"  {k}: {v}" for k, v in result.items()])


def main() -> None:
    if sys.argv[1:2] == ["--probe"]:
        print(json.dumps(probe(None if sys.argv[2] == "None" else int(sys.argv[2]))))
        return
    cases = [
        ("alone", "none", False),
        ("alone", "none", True),
        ("busy process pinned to core 1", 1, False),
        ("busy process pinned to core 1", 1, True),
        ("busy process pinned to core 0", 0, False),
        ("busy process free to move", None, False),
        ("busy process free to move", None, True),
        ("busy process pinned to core 1, again", 1, False),
        ("team pinned (caller core 0, worker core 1), alone", "none", False, 1),
        ("team pinned, busy process on the worker's core 1", 1, False, 1),
        ("team pinned, busy process on the caller's core 0", 0, False, 1),
        ("team pinned to one core (caller and worker on core 0), alone", "none", False, 0),
        ("team on core 0, busy process on core 1", 1, False, 0),
        ("team on core 0, busy process on core 1", 1, True, 0),
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# benchmarks/thread_stalls.py, {stamp}, load average {os.getloadavg()[0]:.2f}"]
    for case in cases:
        lines.append(run_case(*case))
        print(lines[-1], flush=True)
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
