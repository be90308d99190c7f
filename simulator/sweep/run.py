"""Running a sweep: trace each workload once, ship the graphs to the workers once, price the
design points in chunks, stream each finished chunk to disk, then total up.

Workers are Dask processes: an embedded ``LocalCluster`` (``workers`` processes, one thread
each: pricing is pure Python and holds the GIL) or an existing cluster at ``scheduler``.
``workers=0`` prices in this process, without Dask (debugging, tests). Grid and random sweeps
submit every remaining chunk at once; an Optuna sweep asks NSGA-II for a population of
trials at a time, prices the new points and tells it the results.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from ..compression import compress, parse_variant
from ..frontend.trace import trace
from ..profile import load_profile
from . import store
from .evaluate import Case, Payload, objectives, price_points, pricing_graph
from .pareto import feasible, pareto
from .points import chunk_size, chunks, grid_digits, grid_index, planned_points
from .spec import SweepError, SweepSpec

Progress = Callable[[int, int], None]  # (points done, points planned)
Columns = dict[str, list[Any]]

# How long to try reaching a --scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SweepResult:
    rows: pd.DataFrame
    points: int  # design points in the results
    priced: int  # of which priced by this run (the rest were resumed from disk)


def build_payload(spec: SweepSpec, status: Callable[[str], None] | None = None) -> Payload:
    """Trace each (workload, batch) once, compress it once per variant, and keep what
    pricing needs (weights only where a swept profile may exploit unstructured sparsity)."""
    base = load_profile(spec.base)
    keep_weights = "unstructured" in base.sparsity_patterns or any(
        key.startswith("sparsity") for key in spec.columns
    )
    cases: list[tuple[Case, Any]] = []
    for workload in spec.workloads:
        for batch in spec.batch:
            if status is not None:
                status(f"tracing {Path(workload).name} at batch {batch}")
            graph = trace(workload, batch=batch)
            for name in spec.variants:
                variant = parse_variant(name, ".*")
                priced = graph if variant.is_dense else compress(graph, variant.rules)
                cases.append(
                    (
                        Case(workload_label(workload), name, batch),
                        pricing_graph(priced, keep_weights=keep_weights),
                    )
                )
    values = tuple(values for _, values in spec.params)
    return Payload(
        base=base, keys=spec.keys, values=values, derived=spec.derived, cases=tuple(cases)
    )


class _InProcess(AbstractContextManager["_InProcess"]):
    """Chunks priced one after another in this process."""

    def __init__(self) -> None:
        self.payload: Payload | None = None
        self.workers = 1

    def ship(self, payload: Payload) -> None:
        self.payload = payload

    def map(self, work: Iterable[tuple[int, ...]]) -> Iterator[tuple[tuple[int, ...], Columns]]:
        assert self.payload is not None, "ship() the payload first"
        for chunk in work:
            yield chunk, price_points(self.payload, chunk)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _Dask(AbstractContextManager["_Dask"]):
    """Chunks priced by Dask workers; the payload is scattered to every worker once."""

    def __init__(self, workers: int, scheduler: str | None) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if scheduler is None:
            with _children_ignore_interrupts():
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: not an address
                raise SweepError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        self.workers = max(len(self.client.scheduler_info().get("workers", {})), 1)
        self.payload: Any = None

    def ship(self, payload: Payload) -> None:
        """Scatter the graphs and the base profile to every worker, once."""
        self.payload = self.client.scatter(payload, broadcast=True)

    def map(self, work: Iterable[tuple[int, ...]]) -> Iterator[tuple[tuple[int, ...], Columns]]:
        from dask.distributed import as_completed

        futures = {
            self.client.submit(price_points, self.payload, chunk, pure=False): chunk
            for chunk in work
        }
        for future in as_completed(futures):
            yield futures[future], future.result()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


@contextmanager
def _children_ignore_interrupts() -> Iterator[None]:
    """Processes started inside inherit an ignored SIGINT (kept across exec). Ctrl-C in a
    terminal signals the whole process group: the driver alone should stop, and closing its
    cluster ends the workers; otherwise every worker prints a KeyboardInterrupt traceback.
    A Ctrl-C while the workers start is ignored too (a few seconds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_sweep(
    spec: SweepSpec,
    outdir: Path,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Progress | None = None,
    status: Callable[[str], None] | None = None,
    payload: Payload | None = None,
) -> SweepResult:
    """Run (or resume) ``spec`` into ``outdir`` and return every row, with ``feasible`` and
    ``pareto`` set. ``payload`` skips tracing (benchmarks that trace once and run twice)."""
    store.open_outdir(outdir, spec)
    kinds = store.column_kinds(spec)
    done = store.done_points(outdir)
    if spec.sample.kind != "optuna" and done.issuperset(planned_points(spec)):
        frame = finish(spec, outdir)  # all done: nothing to trace or start
        return SweepResult(rows=frame, points=int(frame["point"].nunique()), priced=0)
    if status is not None and (workers or scheduler):
        status("starting workers")
    # Workers first: a scheduler that cannot be reached fails before minutes of tracing.
    executor: _InProcess | _Dask = (
        _InProcess() if workers == 0 and scheduler is None else _Dask(workers, scheduler)
    )
    with executor:
        executor.ship(payload or build_payload(spec, status))
        if spec.sample.kind == "optuna":
            with _quiet_optuna():
                priced = _optuna(spec, outdir, executor, kinds, done, progress)
        else:
            priced = _planned(spec, outdir, executor, kinds, done, progress)
    frame = finish(spec, outdir)
    return SweepResult(rows=frame, points=int(frame["point"].nunique()), priced=priced)


def _planned(
    spec: SweepSpec,
    outdir: Path,
    executor: _InProcess | _Dask,
    kinds: dict[str, str],
    done: set[int],
    progress: Progress | None,
) -> int:
    planned = planned_points(spec)
    todo = [p for p in planned if p not in done]
    finished = len(planned) - len(todo)
    if progress is not None:
        progress(finished, len(planned))
    size = chunk_size(len(todo), executor.workers)
    for chunk, columns in executor.map(chunks(todo, size)):
        store.write_part(outdir, columns, kinds)
        finished += len(chunk)
        if progress is not None:
            progress(finished, len(planned))
    return len(todo)


def _optuna(
    spec: SweepSpec,
    outdir: Path,
    executor: _InProcess | _Dask,
    kinds: dict[str, str],
    done: set[int],
    progress: Progress | None,
) -> int:
    """NSGA-II over the spec's values (each key a categorical choice among its indices);
    objectives are the geometric mean latency and energy over the cases, and the area."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    assert spec.sample.n is not None
    trials = spec.sample.n
    population = min(50, max(4, trials // 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Optuna 5 deprecates constraints_func for Trial.set_constraint (removal planned for
        # 7); constraints_func is what every version pyproject allows (>= 3.5) understands.
        warnings.filterwarnings("ignore", message=".*constraints_func", category=FutureWarning)
        sampler = optuna.samplers.NSGAIISampler(
            population_size=population,
            seed=spec.seed,
            constraints_func=(lambda t: t.user_attrs["violation"]) if spec.constraints else None,
        )
        study = optuna.create_study(directions=["minimize"] * 3, sampler=sampler)
    dists: dict[str, BaseDistribution] = {
        key: CategoricalDistribution(list(range(len(values)))) for key, values in spec.params
    }
    known: dict[int, tuple[tuple[float, float, float], list[float]]] = {}
    previous = store.read_parts(outdir)
    if previous is not None:
        for point in sorted(done):
            cols = _point_columns(previous, point)
            known[point] = _score(spec, cols, point)
            study.add_trial(
                optuna.trial.create_trial(
                    params=_digits_params(spec, point),
                    distributions=dists,
                    values=list(known[point][0]),
                    user_attrs={"violation": known[point][1]},
                )
            )
    told = len(known)
    priced = 0
    if progress is not None:
        progress(min(told, trials), trials)
    while told < trials:
        batch = [study.ask(dists) for _ in range(min(population, trials - told))]
        wanted = [grid_index(spec, [t.params[k] for k in spec.keys]) for t in batch]
        new = sorted({p for p in wanted if p not in known})
        size = max(1, math.ceil(len(new) / max(executor.workers, 1)))
        for chunk, columns in executor.map(chunks(new, size)):
            store.write_part(outdir, columns, kinds)
            for point in chunk:
                known[point] = _score(spec, columns, point)
            priced += len(chunk)
        for trial, point in zip(batch, wanted, strict=True):
            values, violation = known[point]
            trial.set_user_attr("violation", violation)
            study.tell(trial, list(values))
        told += len(batch)
        if progress is not None:
            progress(told, trials)
    return priced


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs a line per study and per trial at INFO on stderr; the progress bar says
    what the sweep is doing."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _digits_params(spec: SweepSpec, point: int) -> dict[str, int]:
    digits = grid_digits(point, [len(values) for _, values in spec.params])
    return dict(zip(spec.keys, digits, strict=True))


def _point_columns(frame: pd.DataFrame, point: int) -> Columns:
    rows = frame[frame["point"] == point]
    return {name: rows[name].tolist() for name in rows.columns}


def _score(
    spec: SweepSpec, columns: Columns, point: int
) -> tuple[tuple[float, float, float], list[float]]:
    """A point's objectives and its constraint violations (the worst over its cases)."""
    lat, energy, area = objectives(columns, point)
    area_value = area if math.isfinite(area) else 0.0
    rows = [i for i, p in enumerate(columns["point"]) if p == point]
    violation = [
        max(c.violation(float(columns[c.metric][i])) for i in rows) for c in spec.constraints
    ]
    return (lat, energy, area_value), violation


def finish(spec: SweepSpec, outdir: Path) -> pd.DataFrame:
    """Every row on disk, ordered by point and case, with ``feasible`` and ``pareto``; written
    as results.parquet and results.csv."""
    frame = store.read_parts(outdir)
    if frame is None:
        raise SweepError(f"{outdir}: no results were written")
    case_order = {c: i for i, c in enumerate(_case_keys(spec))}
    frame["_case"] = [
        case_order.get((w, v, int(b)), len(case_order))
        for w, v, b in zip(frame["workload"], frame["variant"], frame["batch"], strict=True)
    ]
    frame = frame.sort_values(["point", "_case"]).drop(columns="_case").reset_index(drop=True)
    ok = feasible(frame, spec.constraints)
    frame["feasible"] = ok
    frame["pareto"] = pareto(frame, ok)
    store.write_results(outdir, frame)
    return frame


def _case_keys(spec: SweepSpec) -> Sequence[tuple[str, str, int]]:
    out = []
    for workload in spec.workloads:
        for batch in spec.batch:
            for variant in spec.variants:
                out.append((workload_label(workload), variant, batch))
    return out


def workload_label(workload: str) -> str:
    """A workload's name in the results: a built-in's name, a file's name without folders."""
    return Path(workload).name if Path(workload).suffix else workload
