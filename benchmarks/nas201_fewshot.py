"""Few-shot: fit the host profile on 10 measured NAS-Bench-201 networks, validate on the others.

The measurements are ``results/nas201_cpu_1t_train.csv`` (10 networks) and
``results/nas201_cpu_1t_val.csv`` (the rest), made and split by ``nas201_latency.py`` before
any fit. This script:

1. fits the base profile (default ``--hw host``, the calibrated profile of this machine) on the
   training rows with ``hwsim.fit`` (the parameters ``hwsim fit`` chooses by default, at most
   one per 3 rows) and writes the fitted profile to ``results/nas201_fitted_profile.yaml``;
2. validates the base and the fitted profile on the validation rows (never seen by the fit):
   MAPE, Kendall tau, Spearman rho, share within 10%/25%;
3. for comparison, ranks the validation networks by MACs alone (what a FLOPs proxy gives);
4. writes the per-row results to ``results/nas201_fewshot_val.csv`` and a plot.

Targets (issue 12): Spearman >= 0.95 and MAPE <= 15% on the validation rows.

Run: ``python benchmarks/nas201_fewshot.py [--hw PROFILE]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from scipy.stats import kendalltau, spearmanr

import hwsim
from hwsim.fit import fit, plot_validation, read_measurements, trace_cases, validate
from hwsim.fit.record import write_fitted_profile
from hwsim.fit.report import fit_summary

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="host", help="base profile (default: host)")
    args = parser.parse_args()
    base = hwsim.load_profile(args.hw)
    start = time.perf_counter()
    train = trace_cases(read_measurements(RESULTS / "nas201_cpu_1t_train.csv"))
    val = trace_cases(read_measurements(RESULTS / "nas201_cpu_1t_val.csv"))
    print(f"traced {len(train)} + {len(val)} networks in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    result = fit(base, train)
    print(f"fit in {time.perf_counter() - start:.1f} s ({result.evaluations} pricings)")
    Console().print(fit_summary(result))
    path = write_fitted_profile(result, RESULTS / "nas201_fitted_profile.yaml")
    print(f"wrote {path}")
    fitted = hwsim.load_profile(path)
    before = validate(val, base)
    after = validate(val, fitted)
    print(f"validation ({len(val)} networks), base {base.name}: {before.agreement.summary()}")
    print(f"validation ({len(val)} networks), fitted:     {after.agreement.summary()}")
    measured = [c.measurement.latency_ms for c in val]
    macs = [c.graph.macs for c in val]
    print(
        f"MACs alone: Spearman {spearmanr(macs, measured).statistic:.3f}, "
        f"Kendall tau {kendalltau(macs, measured).statistic:.3f}"
    )
    worst = sorted(after.rows, key=lambda r: abs(r.ratio - 1), reverse=True)[:5]
    for row in worst:
        print(f"  miss: ratio {row.ratio:.2f}  {row.measurement.model}")
    (RESULTS / "nas201_fewshot_val.csv").write_text(after.to_csv())
    plot_validation(after, RESULTS / "nas201_fewshot_val.png")


if __name__ == "__main__":
    main()
