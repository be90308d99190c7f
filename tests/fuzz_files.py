"""Driver for ``test_fuzz.test_fuzz_model_files``: runs ``hwsim`` on each planned model file in
a forked child, so a file that makes torch's C++ readers abort fails its own case instead of
the test run. Not a test module (pytest collects ``test_*.py`` only).

Usage: ``python fuzz_files.py PLAN.json SECONDS``, the plan ``{"warmup": argv, "cases": [{id,
argv, out, err}...]}``; prints ``{case id: exit status}`` as JSON (a child killed by a signal
reports ``128 + signal``, as a shell does). The warm-up run (a valid file) is done in this
process before any fork, so each child starts with hwsim's lazy imports and caches filled
instead of paying for them again (about 10x less time per case).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import torch


def run_case(argv: list[str], out: str, err: str, seconds: int) -> int:
    pid = os.fork()
    if pid == 0:  # the child: hwsim on one file, its output into two files
        signal.alarm(seconds)  # a hang ends as SIGALRM, reported as 142
        with open(out, "w") as stdout, open(err, "w") as stderr:
            os.dup2(stdout.fileno(), 1)
            os.dup2(stderr.fileno(), 2)
            sys.stdout, sys.stderr = stdout, stderr
            code = 1
            try:
                from hwsim import cli

                cli.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return (
        os.waitstatus_to_exitcode(status) % 256
        if os.WIFEXITED(status)
        else (128 + os.WTERMSIG(status))
    )


def main() -> None:
    plan_path, seconds = sys.argv[1], int(sys.argv[2])
    # One intra-op thread before any torch work: a fork never inherits a busy thread pool.
    torch.set_num_threads(1)
    from hwsim import cli

    with open(plan_path) as f:
        plan = json.load(f)
    with open(os.devnull, "w") as devnull:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull
        try:
            cli.main(plan["warmup"])
        except SystemExit as exc:
            if exc.code != 0:
                raise RuntimeError(f"the warm-up run {plan['warmup']} failed") from None
        finally:
            sys.stdout, sys.stderr = stdout, stderr
    codes = {
        case["id"]: run_case(case["argv"], case["out"], case["err"], seconds)
        for case in plan["cases"]
    }
    sys.stdout.write(json.dumps(codes))


if __name__ == "__main__":
    main()
