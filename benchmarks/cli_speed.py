"""How long the command line keeps a user waiting, with and without the graph cache.

Targets (issue 19): a repeated ``hwsim estimate FILE.pt2 --hw tpu_edge`` within 3 s, and
``hwsim profiles`` within 1 s. Every run is a fresh ``hwsim`` process, as a user types it,
timed wall-clock from this process (so both kinds of run share one process tree and one
machine state). Uncached runs (``HWSIM_NO_CACHE=1``: trace every time, the behaviour before
the cache) are interleaved with cached ones, so the VM's drift hits both; the ratio of their
medians is the speed-up measured in the same run. Also timed: ``hwsim --help``, and the first
estimate of the same model exported to ONNX (hwsim's ONNX frontend does not import torch).

``--baseline REF`` also times ``import hwsim``, ``hwsim --help`` and ``hwsim profiles`` from the
sources of git revision REF (checked out to a temporary directory and put first on the path),
interleaved with this tree's, for a before/after of the start-up cost in the same run.

Run through ``/work/bin/quiet`` (timing-sensitive):
``python benchmarks/cli_speed.py [--model mobilenet_v2] [--repeats 5] [--baseline main]``.
Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TARGETS_S = {"estimate (cached)": 3.0, "profiles": 1.0}


def _hwsim() -> str:
    return str(Path(sys.executable).with_name("hwsim"))


def _timed(args: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed


ROOT = Path(__file__).resolve().parents[1]


def _baseline_tree(ref: str, folder: Path) -> Path:
    """REF's ``hwsim`` package laid out as the install maps it (``simulator/`` with its
    ``workloads`` and ``hw_profiles`` packages inside), to put first on PYTHONPATH."""
    tree = folder / "baseline-src"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    for sub in ("workloads", "hw_profiles"):  # subpackages the install maps into hwsim
        (tree / "simulator" / sub).symlink_to(tree / sub)
    shim = folder / "baseline-path"
    shim.mkdir()
    (shim / "hwsim").symlink_to(tree / "simulator")
    return shim


def _startup() -> dict[str, list[str]]:
    """The start-up commands, run as ``python -c`` so PYTHONPATH picks the sources."""
    cli = "import sys; from hwsim.cli import main; sys.argv[0] = 'hwsim'; main()"
    return {
        "import hwsim": [sys.executable, "-c", "import hwsim"],
        "hwsim --help": [sys.executable, "-c", cli, "--help"],
        "hwsim profiles": [sys.executable, "-c", cli, "profiles"],
    }


def _export(model: str, folder: Path, env: dict[str, str], onnx: bool) -> tuple[Path, Path | None]:
    pt2 = folder / f"{model}.pt2"
    subprocess.run([_hwsim(), "export", model, "-o", str(pt2)], env=env, check=True)
    if not onnx:
        return pt2, None
    import warnings

    import torch

    from hwsim.workloads import get_workload

    workload = get_workload(model)
    path = folder / f"{model}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(workload.build().eval(), workload.make_inputs(1), str(path), dynamo=False)
    return pt2, path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--hw", default="tpu_edge")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX timing")
    parser.add_argument("--baseline", help="git revision whose start-up to time alongside")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwsim-cli-speed-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache"), "HWSIM_PROGRESS": "0"}
        uncached_env = {**env, "HWSIM_NO_CACHE": "1"}
        pt2, onnx = _export(opts.model, folder, env, not opts.no_onnx)
        estimate = [_hwsim(), "estimate", str(pt2), "--hw", opts.hw]
        runs: dict[str, list[float]] = {
            "estimate (uncached)": [],
            "estimate (cached)": [],
            "profiles": [],
            "--help": [],
        }
        _timed(estimate, env)  # fills the cache (and the OS page cache)
        for _ in range(opts.repeats):
            runs["estimate (uncached)"].append(_timed(estimate, uncached_env))
            runs["estimate (cached)"].append(_timed(estimate, env))
            runs["profiles"].append(_timed([_hwsim(), "profiles"], env))
            runs["--help"].append(_timed([_hwsim(), "--help"], env))
        if onnx is not None:
            onnx_run = [_hwsim(), "estimate", str(onnx), "--hw", opts.hw]
            runs["estimate .onnx (uncached)"] = [
                _timed(onnx_run, uncached_env) for _ in range(opts.repeats)
            ]
        if opts.baseline:
            shim = _baseline_tree(opts.baseline, folder)
            old_env = {**env, "PYTHONPATH": str(shim)}
            try:
                for _ in range(opts.repeats):
                    for name, args in _startup().items():
                        runs.setdefault(f"{name} (this tree)", []).append(_timed(args, env))
                        key = f"{name} ({opts.baseline})"
                        runs.setdefault(key, []).append(_timed(args, old_env))
            finally:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(folder / "baseline-src"),
                    ],
                    check=False,
                )
    print(f"{opts.model} on {opts.hw}, {opts.repeats} fresh processes each (seconds)")
    print(f"{'command':28} {'median':>7} {'min':>7} {'max':>7}  target")
    failed = False
    for name, times in runs.items():
        median = statistics.median(times)
        target = TARGETS_S.get(name)
        verdict = ""
        if target is not None:
            ok = median <= target
            failed |= not ok
            verdict = f"<= {target:.0f} s {'ok' if ok else 'MISSED'}"
        print(f"{name:28} {median:7.2f} {min(times):7.2f} {max(times):7.2f}  {verdict}")
    ratio = statistics.median(runs["estimate (uncached)"]) / statistics.median(
        runs["estimate (cached)"]
    )
    print(f"cached estimate is {ratio:.1f}x faster than tracing again (same run, interleaved)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
