"""A benchmark's result rows as a CSV file under ``benchmarks/results/``.

Every comparison script writes its rows the same way (a header, then one line per row), and
docs and tests read those files back; one writer keeps them alike.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path


def write_rows(
    path: Path, rows: Sequence[Mapping[str, object]], fields: Sequence[str] | None = None
) -> None:
    """``rows`` under a header of ``fields`` (default: the first row's keys), creating the
    results directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields if fields is not None else rows[0]))
        writer.writeheader()
        writer.writerows(rows)
