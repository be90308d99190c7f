"""``hwsim validate``: a profile's predictions against measured latencies, row by row.

The result carries every row (its input columns, measured and predicted milliseconds, and
their ratio) and the agreement over all rows (``metrics.Agreement``), as a value the CLI
renders as a table, JSON (the contract in docs/fit.md) or CSV, and as a log-log plot
of predicted against measured with the 1:1 line and a +-25% band.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hardware import Profile
from .measurements import Case, Measurement, predict_ms
from .metrics import Agreement, agreement


@dataclass(frozen=True)
class ValidatedRow:
    measurement: Measurement
    predicted_ms: float

    @property
    def ratio(self) -> float:
        """Predicted over measured: above 1 the model is too slow, below 1 too fast."""
        return self.predicted_ms / self.measurement.latency_ms

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            **dict(m.columns),
            "measured_ms": m.latency_ms,
            "predicted_ms": self.predicted_ms,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Validation:
    """Every row of the measurement files priced on ``profile``."""

    profile: str
    rows: tuple[ValidatedRow, ...]
    agreement: Agreement

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: rows, then the agreement figures at the top level."""
        a = self.agreement
        return {
            "hw": self.profile,
            "rows": [r.to_dict() for r in self.rows],
            "n": a.n,
            "mape": a.mape,
            "kendall_tau": a.kendall_tau,
            "spearman": a.spearman,
            "within_10pct": a.within_10pct,
            "within_25pct": a.within_25pct,
            "median_ratio": a.median_ratio,
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        rows = [r.to_dict() for r in self.rows]
        fields = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def validate(cases: Sequence[Case], profile: Profile, threads: int | None = None) -> Validation:
    """Price every case on ``profile`` and compare with its measured latency."""
    predicted = predict_ms(cases, profile, threads)
    rows = tuple(ValidatedRow(c.measurement, p) for c, p in zip(cases, predicted, strict=True))
    return Validation(
        profile=profile.name,
        rows=rows,
        agreement=agreement([c.measurement.latency_ms for c in cases], predicted),
    )


def plot_validation(validation: Validation, path: str | Path, title: str | None = None) -> None:
    """Predicted against measured latency, log-log, with the 1:1 line and the +-25% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r.measurement.latency_ms for r in validation.rows]
    predicted = [r.predicted_ms for r in validation.rows]
    low = min(*measured, *predicted) / 1.5
    high = max(*measured, *predicted) * 1.5
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    line = [low, high]
    ax.plot(line, line, color="black", lw=1, label="1:1")
    ax.fill_between(
        line, [v * 0.75 for v in line], [v * 1.25 for v in line], color="0.85", label="within 25%"
    )
    ax.scatter(measured, predicted, s=14, color="tab:blue", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel(f"predicted latency on {validation.profile} (ms)")
    ax.set_title(title or validation.agreement.summary(), fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
