"""Write a fitted profile: the base profile's data with the fitted values set, and in its
``info.fit`` section what was fitted, from what, and how well it holds.

The file is an ordinary profile (``--hw OUT.yaml`` loads it like any preset, and it is
checked by the same validation before it is written). ``info`` is the free-form section no
cost model reads, so the record travels with the numbers it explains: the parameters with
their keys, start and fitted values and bounds; each training file with its SHA-256; the
agreement before and after; the cross-validated error; and every row's residual.
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ..digest import file_sha256
from ..profile import load_profile
from .solver import ROWS_PER_PARAM, FitResult


def _version() -> str:
    try:
        return metadata.version("hwsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def fit_record(result: FitResult) -> dict[str, Any]:
    """The ``info.fit`` section describing ``result``."""
    files: dict[str, int] = {}
    for case in result.cases:
        files[case.measurement.file] = files.get(case.measurement.file, 0) + 1
    record: dict[str, Any] = {
        "base": result.base.name,
        "base_source": result.base.source,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "hwsim": _version(),
        "method": "least squares on log latency (scipy.optimize.least_squares, trf, bounded)",
        "rule": f"at most one parameter per {ROWS_PER_PARAM} measured rows, and only "
        "parameters some row's prediction depends on",
        "threads": result.threads,
        "params": {
            fp.param.name: {
                "keys": list(fp.keys),
                "start": fp.start,
                "value": fp.value,
                "bounds": [fp.param.lower, fp.param.upper],
                "why": fp.param.why,
            }
            for fp in result.params
        },
        "training": [
            {
                "file": name,
                "sha256": file_sha256(name) if Path(name).is_file() else None,
                "rows": rows,
            }
            for name, rows in files.items()
        ],
        "before": result.before.to_dict(),
        "after": result.after.to_dict(),
        "cross_validation": None,
        "residuals": [
            {
                "file": c.measurement.file,
                "row": c.measurement.row,
                "model": c.measurement.model,
                "measured_ms": c.measurement.latency_ms,
                "predicted_ms": after,
                "ratio": after / c.measurement.latency_ms,
            }
            for c, after in zip(result.cases, result.after_ms, strict=True)
        ],
    }
    cv = result.cross_validation
    if cv is not None:
        record["cross_validation"] = {
            "method": cv.method,
            "folds": cv.folds,
            **cv.agreement.to_dict(),
        }
    return record


def write_fitted_profile(result: FitResult, path: str | Path, name: str | None = None) -> Path:
    """Write the fitted profile to ``path`` (named ``name``, default: the file's stem), after
    checking that it loads as a profile."""
    target = Path(path)
    data = result.fitted.to_data()
    data["name"] = name or target.stem
    base = result.base.description or result.base.name
    data["description"] = f"{base} (fitted by hwsim fit: {', '.join(result.fitted_names())})"
    info = dict(data.get("info") or {})
    info["fit"] = fit_record(result)
    data["info"] = info
    header = (
        f"# Fitted by 'hwsim fit' from {result.base.name} on "
        f"{', '.join(sorted({c.measurement.file for c in result.cases}))}.\n"
        "# info.fit records the fitted parameters, the training files (SHA-256), the agreement\n"
        "# before and after, the cross-validated error and every row's residual.\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.yaml")
    tmp.write_text(text)
    try:
        load_profile(tmp)
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return target
