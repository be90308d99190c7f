"""How well predicted latencies agree with measured ones: error size and ranking.

A latency model serves two uses. Someone sizing a deployment needs the magnitude (MAPE, the
share of rows within 10% and 25%); a NAS loop needs the order (Kendall's tau, Spearman's
rho). Both are reported everywhere hwsim compares itself with measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import kendalltau, spearmanr


@dataclass(frozen=True)
class Agreement:
    """Predicted against measured over ``n`` rows. Fractions, not percents: ``mape`` 0.12 is
    12%. A rank statistic is None when it is undefined (fewer than 2 rows, or all equal)."""

    n: int
    mape: float
    kendall_tau: float | None
    spearman: float | None
    within_10pct: float
    within_25pct: float
    median_ratio: float  # predicted / measured

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        def rank(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.3f}"

        return (
            f"MAPE {self.mape:.1%}, Kendall tau {rank(self.kendall_tau)}, Spearman "
            f"{rank(self.spearman)}, within 10% {self.within_10pct:.0%}, within 25% "
            f"{self.within_25pct:.0%} ({self.n} rows)"
        )


def _rank_stat(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


Values = Sequence[float] | npt.NDArray[np.float64]


def agreement(measured: Values, predicted: Values) -> Agreement:
    """The agreement of ``predicted`` with ``measured`` (same order, positive values)."""
    meas = np.asarray(measured, dtype=np.float64)
    pred = np.asarray(predicted, dtype=np.float64)
    if meas.shape != pred.shape or meas.size == 0:
        raise ValueError("agreement needs as many predictions as measurements, at least one")
    error = np.abs(pred - meas) / meas
    ranked = meas.size >= 2 and np.ptp(meas) > 0 and np.ptp(pred) > 0
    return Agreement(
        n=int(meas.size),
        mape=float(error.mean()),
        kendall_tau=_rank_stat(kendalltau(pred, meas).statistic) if ranked else None,
        spearman=_rank_stat(spearmanr(pred, meas).statistic) if ranked else None,
        within_10pct=float((error <= 0.10).mean()),
        within_25pct=float((error <= 0.25).mean()),
        median_ratio=float(np.median(pred / meas)),
    )
