"""Validation and fit results as rich tables for people (JSON and CSV come from the values'
own ``to_dict``/``to_csv``)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .metrics import Agreement
from .solver import FitResult
from .validation import Validation


def _ms(value: float) -> str:
    return f"{value:.4g}"


def validation_table(result: Validation) -> Group:
    """One row per measurement (measured, predicted, ratio), then the agreement."""
    table = Table(title=f"validation on {result.profile}", header_style="bold")
    for column in ("row", "model", "measured ms", "predicted ms", "ratio"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in result.rows:
        m = row.measurement
        model = m.model if len(m.model) <= 60 else m.model[:57] + "..."
        table.add_row(
            str(m.row), model, _ms(m.latency_ms), _ms(row.predicted_ms), f"{row.ratio:.2f}"
        )
    return Group(table, Text(result.agreement.summary()))


def _line(label: str, a: Agreement) -> str:
    return f"{label:<28}{a.summary()}"


def fit_summary(result: FitResult) -> Group:
    """The fitted parameters (start -> value) and the agreement before, after and held out."""
    table = Table(title=f"fit of {result.base.name}", header_style="bold")
    for column in ("parameter", "keys", "start", "fitted"):
        table.add_column(column)
    for fp in result.params:
        table.add_row(fp.param.name, ", ".join(fp.keys), f"{fp.start:.4g}", f"{fp.value:.4g}")
    lines = [*result.notes, _line("before (training rows):", result.before)]
    lines.append(_line("after (training rows):", result.after))
    cv = result.cross_validation
    if cv is not None:
        lines.append(_line(f"held out ({cv.method}):", cv.agreement))
    lines.append(f"{result.evaluations} pricings of all rows")
    return Group(table, Text("\n".join(lines)))
