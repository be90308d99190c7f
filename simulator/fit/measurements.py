"""Measured latencies as hwsim reads them: the MEAS.csv format, checked row by row, and each
row's model traced once.

A measurement file is a CSV with a header. ``model`` (a model file, relative to the CSV or
absolute, or a built-in workload name such as ``resnet18`` or ``nas201:|...|``) and
``latency_ms`` are required; ``input_shape``, ``batch``, ``quant``, ``prune``, ``threads`` and
``precision`` say how the model ran (as the ``hwsim estimate`` options of the same names);
``source`` and ``note`` are free text carried into the output. Any other column is an error:
a misspelt column silently ignored would change what is compared. Every bad value is one
``MeasurementError`` naming the file, the row and the column.

Rows that share a model, input shape, batch and compression share one traced graph: tracing
is the slow step (seconds per model), pricing is milliseconds, and a fit prices every graph
many times.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compression import compress
from ..compression.spec import CompressionError, parse_prune, parse_quant
from ..costmodels.base import UserOptions
from ..costmodels.registry import hw_class
from ..errors import HwsimError
from ..estimate import Estimate, compression_rules, price
from ..frontend.shapes import parse_input_shapes
from ..frontend.trace import trace
from ..graph import OpGraph
from ..hardware import Profile

REQUIRED = ("model", "latency_ms")
OPTIONS = ("input_shape", "batch", "quant", "prune", "threads", "precision")
FREE_TEXT = ("source", "note")
COLUMNS = (*REQUIRED, *OPTIONS, *FREE_TEXT)


class MeasurementError(HwsimError):
    """A measurement file, row or value hwsim cannot use."""


@dataclass(frozen=True)
class Measurement:
    """One measured row: what ran, how, and how long it took."""

    file: str
    row: int  # 1-based data row (the header is not counted)
    model: str
    latency_ms: float
    input_shape: str | None = None
    batch: int | None = None
    quant: str | None = None
    prune: str | None = None
    threads: int | None = None
    precision: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # every column as written, for the output

    @property
    def where(self) -> str:
        return f"{self.file} row {self.row}"

    @property
    def graph_key(self) -> tuple[str, str | None, int | None, str | None, str | None]:
        """Rows with the same key price the same graph."""
        return (self.model, self.input_shape, self.batch, self.quant, self.prune)


def _positive_int(text: str, where: str, column: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip().lstrip("+"):
        raise MeasurementError(f"{where}, column '{column}': '{text}' is not a positive integer")
    return value


def _latency(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise MeasurementError(
            f"{where}, column 'latency_ms': '{text}' is not a positive number of milliseconds"
        )
    return value


def _checked(check: Callable[[str], object], text: str, where: str, column: str) -> str:
    """``text`` if ``check`` accepts it; its complaint, prefixed with the row and column."""
    try:
        check(text)
    except (CompressionError, HwsimError) as exc:
        raise MeasurementError(f"{where}, column '{column}': {exc}") from None
    return text


def parse_row(values: Mapping[str, str], file: str, row: int) -> Measurement:
    """One data row as a ``Measurement``, or a ``MeasurementError`` naming its bad column."""
    where = f"{file} row {row}"
    get = {k: (v or "").strip() for k, v in values.items()}
    for column in REQUIRED:
        if not get.get(column):
            raise MeasurementError(f"{where}, column '{column}': empty (a value is required)")
    optional = {c: get.get(c) or None for c in OPTIONS}
    shape = optional["input_shape"]
    quant, prune = optional["quant"], optional["prune"]
    return Measurement(
        file=file,
        row=row,
        model=get["model"],
        latency_ms=_latency(get["latency_ms"], where),
        input_shape=_checked(parse_input_shapes, shape, where, "input_shape") if shape else None,
        batch=_positive_int(b, where, "batch") if (b := optional["batch"]) else None,
        quant=_checked(parse_quant, quant, where, "quant") if quant else None,
        prune=_checked(parse_prune, prune, where, "prune") if prune else None,
        threads=_positive_int(t, where, "threads") if (t := optional["threads"]) else None,
        precision=optional["precision"],
        columns=tuple((c, get[c]) for c in COLUMNS if c in get),
    )


def read_measurements(path: str | Path) -> tuple[Measurement, ...]:
    """Every row of a measurement CSV, checked (module doc)."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MeasurementError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MeasurementError(f"{name}: cannot read it as a text CSV ({exc})") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise MeasurementError(f"{name}: empty; expected a header with columns model,latency_ms")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise MeasurementError(
            f"{name} header, column '{unknown[0]}': unknown column (known: {', '.join(COLUMNS)})"
        )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise MeasurementError(f"{name} header: required column '{missing[0]}' is missing")
    if len(set(header)) != len(header):
        twice = next(h for h in header if header.count(h) > 1)
        raise MeasurementError(f"{name} header, column '{twice}': appears twice")
    rows = []
    for number, values in enumerate(reader, start=1):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise MeasurementError(
                f"{name} row {number}: {len(values)} values for {len(header)} columns"
            )
        rows.append(parse_row(dict(zip(header, values, strict=True)), name, number))
    if not rows:
        raise MeasurementError(f"{name}: no data rows under the header")
    return tuple(rows)


@dataclass(frozen=True)
class Case:
    """A measurement and the graph it is priced on. ``variant`` holds profile parameters the
    row's device differs in from the profile being fitted or validated (``with_params`` keys:
    a published figure for the 40 GB part of a GPU fitted as its 80 GB sibling sets the HBM
    bandwidth); the CSV format has no column for it, the Python API does."""

    measurement: Measurement
    graph: OpGraph = field(repr=False)
    variant: tuple[tuple[str, Any], ...] = ()


def _resolve(model: str, base_dir: Path) -> str:
    """A model file relative to the CSV's directory if one is there, else ``model`` as given
    (an absolute path, a file relative to the working directory, or a workload name)."""
    candidate = base_dir / model
    return str(candidate) if candidate.is_file() else model


def trace_cases(
    measurements: Sequence[Measurement],
    progress: Callable[[str], None] | None = None,
) -> tuple[Case, ...]:
    """Each measurement with its graph: every distinct (model, shape, batch, compression)
    traced once, a failure named by the first row that asked for it."""
    say = progress or (lambda _: None)
    graphs: dict[tuple[object, ...], OpGraph] = {}
    out = []
    for m in measurements:
        key = (Path(m.file).resolve().parent, *m.graph_key)
        if key not in graphs:
            say(f"tracing {m.model}" + (f" at batch {m.batch}" if m.batch else ""))
            graphs[key] = _trace_one(m)
        out.append(Case(m, graphs[key]))
    return tuple(out)


def _trace_one(m: Measurement) -> OpGraph:
    try:
        graph = trace(
            _resolve(m.model, Path(m.file).resolve().parent),
            batch=m.batch,
            input_shapes=m.input_shape,
        )
    except HwsimError as exc:
        raise MeasurementError(f"{m.where}, column 'model': {exc}") from None
    rules = compression_rules(prune=m.prune, quant=m.quant)
    return compress(graph, rules) if rules else graph


def check_cases(cases: Sequence[Case], profile: Profile, threads: int | None) -> None:
    """Each row can be priced on ``profile``: its precision is supported, its thread count
    applies (CPU profiles only), and nothing in its graph is left unpriced."""
    for case in cases:
        est = estimate_case(case, profile, threads)
        if not est.complete:
            op = est.unsupported[0]
            raise MeasurementError(
                f"{case.measurement.where}, column 'model': {len(est.unsupported)} op(s) of "
                f"{case.measurement.model} have no price on {profile.name} (first: {op.name}, "
                f"{op.reason}); a latency missing them cannot be compared"
            )


def user_options(m: Measurement, profile: Profile, threads: int | None) -> UserOptions:
    """The row's thread count (else the command's ``--threads``) where the profile takes one."""
    count = m.threads or threads
    if count is not None and "threads" not in hw_class(profile.hw_class).accepts(profile):
        if m.threads is not None:
            raise MeasurementError(
                f"{m.where}, column 'threads': {profile.name} is a {profile.hw_class} profile; "
                "thread counts apply to CPU profiles only"
            )
        count = None
    return UserOptions(threads=count)


def estimate_case(case: Case, profile: Profile, threads: int | None) -> Estimate:
    """The row's estimate on ``profile`` (its precision, its threads)."""
    m = case.measurement
    if case.variant:
        profile = profile.with_params(dict(case.variant))
    try:
        return price(
            case.graph, profile, precision=m.precision, user=user_options(m, profile, threads)
        )
    except MeasurementError:
        raise
    except HwsimError as exc:
        column = "precision" if m.precision and "precision" in str(exc) else "threads"
        raise MeasurementError(f"{m.where}, column '{column}': {exc}") from None


def predict_ms(cases: Sequence[Case], profile: Profile, threads: int | None) -> list[float]:
    """Predicted latency of every case on ``profile``, in milliseconds."""
    return [estimate_case(c, profile, threads).latency_s * 1e3 for c in cases]
