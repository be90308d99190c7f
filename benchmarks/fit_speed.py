"""How long ``hwsim fit`` takes on 20 measured models once they are traced (target: 60 s).

The 20 models are the first 20 NAS-Bench-201 networks of ``results/nas201_cpu_1t.csv``; the
base profile is the committed host calibration (``results/cpu_host_profile.yaml``), so the
run does not depend on this machine's own calibration. Tracing is timed apart (it is done
once, and the graph cache makes it cheaper on later runs). The fit is the full ``hwsim fit``:
the default parameter choice (the data supports up to 6; the CPU table's sensitive ones are
taken in order), least squares, and the cross-validated error (5-fold at 20 rows).

Printed: tracing time, the time of one pricing of all 20 graphs (the unit a fit repeats,
measured in this run), the fit's time, its number of pricings, and the fit's time against the
60 s target.

Run: ``python benchmarks/fit_speed.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import hwsim
from hwsim.fit import fit, predict_ms, read_measurements, trace_cases

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 60.0
MODELS = 20


def main() -> None:
    base = hwsim.load_profile(RESULTS / "cpu_host_profile.yaml")
    rows = read_measurements(RESULTS / "nas201_cpu_1t.csv")[:MODELS]
    start = time.perf_counter()
    cases = trace_cases(rows)
    traced = time.perf_counter() - start
    start = time.perf_counter()
    predict_ms(cases, base, None)
    one = time.perf_counter() - start
    start = time.perf_counter()
    result = fit(base, cases)
    took = time.perf_counter() - start
    print(f"traced {len(cases)} models in {traced:.1f} s")
    print(f"one pricing of all {len(cases)} graphs: {one * 1e3:.0f} ms")
    print(
        f"fit ({', '.join(result.fitted_names())}, with cross-validation): {took:.1f} s, "
        f"{result.evaluations} pricings ({took / one:.0f}x one pricing)"
    )
    print(f"fit time / {TARGET_S:.0f} s target: {took / TARGET_S:.2f}")


if __name__ == "__main__":
    main()
