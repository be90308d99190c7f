"""``hwsim fit``: move a few physical parameters of a profile until it predicts measured
latencies, and say how well that holds on rows the fit did not see.

Method. Residuals are ``log(predicted) - log(measured)`` per row, so a 10% miss weighs the
same on a 1 ms and a 100 ms model; ``scipy.optimize.least_squares`` (trust-region reflective,
bounded) minimises their squares over the chosen parameters (``params.FitParam``: factors and
rates in log space, times linearly). Each model was traced once (``measurements.Case``); every
evaluation prices the same graphs on a ``Profile.with_params`` variant of the base profile,
through the one pricing path every estimate takes.

How many parameters the data supports. A fit is refused when it would move more than one
parameter per ``ROWS_PER_PARAM`` rows, or a parameter no row's prediction depends on (moving
it by a typical step changes no prediction by ``MIN_EFFECT`` or more): such a value would be
set by noise, not by the measurements. Without ``--params`` the class's default order is
walked and the first parameters the data can set are taken, up to that limit.

Held-out error. The same fit is repeated with each fold of the rows left out (leave-one-out
up to ``LOO_MAX_ROWS`` rows, else ``K_FOLDS`` folds), started from the full fit's values, and
every row is predicted by the fit that did not see it: the agreement of those predictions is
the cross-validated error recorded with the profile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..errors import HwsimError
from ..hardware import Profile
from .measurements import Case, predict_ms
from .metrics import Agreement, agreement
from .params import DEFAULT_ORDER, FitParam, params_of

ROWS_PER_PARAM = 3
MIN_EFFECT = 0.005  # a parameter must move some row's prediction by 0.5% per typical step
LOO_MAX_ROWS = 12
K_FOLDS = 5
MAX_EVALUATIONS = 40  # per fit; each prices every graph once per parameter plus one


class FitError(HwsimError):
    """A fit that cannot be done as asked (too many parameters, none the data can set)."""


@dataclass(frozen=True)
class FittedParam:
    param: FitParam
    start: float
    value: float
    keys: tuple[str, ...]


@dataclass(frozen=True)
class CrossValidation:
    method: str  # "leave-one-out" or "k-fold"
    folds: int
    predicted_ms: tuple[float, ...]  # each row by the fit that did not see it
    agreement: Agreement


@dataclass(frozen=True)
class FitResult:
    base: Profile
    fitted: Profile
    params: tuple[FittedParam, ...]
    cases: tuple[Case, ...]
    threads: int | None
    before_ms: tuple[float, ...]
    after_ms: tuple[float, ...]
    before: Agreement
    after: Agreement
    cross_validation: CrossValidation | None
    evaluations: int
    notes: tuple[str, ...] = ()

    def fitted_names(self) -> list[str]:
        return [fp.param.name for fp in self.params]


class _Space:
    """Maps the solver's vector to parameter values and profiles, and prices the cases."""

    def __init__(
        self, base: Profile, params: Sequence[FitParam], cases: Sequence[Case], threads: int | None
    ) -> None:
        self.base = base
        self.params = tuple(params)
        self.cases = tuple(cases)
        self.threads = threads
        self.evaluations = 0

    def to_x(self, values: Sequence[float]) -> np.ndarray:
        return np.array(
            [
                math.log(v) if p.log else v / p.typical
                for p, v in zip(self.params, values, strict=True)
            ]
        )

    def values(self, x: np.ndarray) -> list[float]:
        return [
            math.exp(xi) if p.log else xi * p.typical for p, xi in zip(self.params, x, strict=True)
        ]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.to_x([p.lower for p in self.params]), self.to_x([p.upper for p in self.params])

    def profile(self, values: Sequence[float]) -> Profile:
        assignments: dict[str, float] = {}
        for p, v in zip(self.params, values, strict=True):
            assignments.update(p.assignments(self.base, v))
        return self.base.with_params(assignments) if assignments else self.base

    def predict(self, values: Sequence[float], cases: Sequence[Case] | None = None) -> np.ndarray:
        self.evaluations += 1
        profile = self.profile(values)
        return np.asarray(predict_ms(self.cases if cases is None else cases, profile, self.threads))


def _measured(cases: Sequence[Case]) -> np.ndarray:
    return np.asarray([c.measurement.latency_ms for c in cases])


def _solve(space: _Space, start: Sequence[float], rows: Sequence[int]) -> list[float]:
    """Least squares on log latency over ``rows`` of the space's cases, from ``start``."""
    subset = [space.cases[i] for i in rows]
    target = np.log(_measured(subset))
    low, high = space.bounds()
    # Start a thousandth of the range inside the bounds: from a time whose default is 0 (on
    # its lower bound) the trust region's step test, relative to |x|, stopped after one
    # step of 1e-9 and left the parameter at 0 whatever the rows said.
    inset = 1e-3 * (high - low)
    x0 = np.clip(space.to_x(start), low + inset, high - inset)

    def residuals(x: np.ndarray) -> np.ndarray:
        return np.log(space.predict(space.values(x), subset)) - target

    result = least_squares(
        residuals,
        x0,
        bounds=(low, high),
        method="trf",
        diff_step=1e-2,
        xtol=1e-4,
        ftol=1e-6,
        max_nfev=MAX_EVALUATIONS,
    )
    return [float(v) for v in space.values(result.x)]


def effects(
    base: Profile, params: Sequence[FitParam], cases: Sequence[Case], threads: int | None
) -> dict[str, float]:
    """Per parameter, the largest relative change of any row's prediction when it moves by
    its typical step (up, or down at its upper bound): whether the data can set it."""
    space = _Space(base, params, cases, threads)
    start = [min(max(p.value_in(base), p.lower), p.upper) for p in params]
    reference = space.predict(start)
    out = {}
    for i, p in enumerate(params):
        moved = list(start)
        step = start[i] * (1 + p.typical) if p.log else start[i] + p.typical
        moved[i] = (
            step
            if step <= p.upper
            else (start[i] / (1 + p.typical) if p.log else start[i] - p.typical)
        )
        out[p.name] = float(np.max(np.abs(space.predict(moved) / reference - 1)))
    return out


def choose_params(
    base: Profile,
    cases: Sequence[Case],
    threads: int | None,
    names: Sequence[str] | None = None,
) -> tuple[list[FitParam], tuple[str, ...]]:
    """The parameters to fit and notes on the choice, or a ``FitError`` saying why not."""
    table = params_of(base.hw_class)
    if not table:
        raise FitError(f"{base.name}: the {base.hw_class} class declares no fit parameters")
    allowed = len(cases) // ROWS_PER_PARAM
    if names:
        unknown = [n for n in names if n not in table]
        if unknown:
            raise FitError(
                f"--params: '{unknown[0]}' is not a {base.hw_class} fit parameter "
                f"(known: {', '.join(table)})"
            )
        if len(names) > allowed:
            raise FitError(
                f"--params: {len(names)} parameters on {len(cases)} measured rows; the rule is "
                f"at least {ROWS_PER_PARAM} rows per fitted parameter, so at most {allowed}"
            )
        chosen = [table[n] for n in dict.fromkeys(names)]
        moved = effects(base, chosen, cases, threads)
        flat = [p.name for p in chosen if moved[p.name] < MIN_EFFECT]
        if flat:
            raise FitError(
                f"--params: no measured row depends on '{flat[0]}' (a typical change of it "
                f"moves no prediction by {MIN_EFFECT:.1%}); the data cannot set its value"
            )
        return chosen, ()
    if allowed < 1:
        raise FitError(
            f"{len(cases)} measured row(s): a fit needs at least {ROWS_PER_PARAM} rows per "
            "parameter"
        )
    candidates = [table[n] for n in DEFAULT_ORDER.get(base.hw_class, tuple(table))]
    moved = effects(base, candidates, cases, threads)
    chosen = [p for p in candidates if moved[p.name] >= MIN_EFFECT][:allowed]
    if not chosen:
        raise FitError("no fit parameter moves any measured row's prediction")
    skipped = [p.name for p in candidates if moved[p.name] < MIN_EFFECT]
    notes: tuple[str, ...] = (
        f"fitting {', '.join(p.name for p in chosen)}: at most {allowed} parameter(s) on "
        f"{len(cases)} rows ({ROWS_PER_PARAM} rows per parameter)",
    )
    if skipped:
        notes += (f"no row depends on {', '.join(skipped)}: not fitted",)
    return chosen, notes


def _folds(n: int) -> tuple[str, list[list[int]]]:
    if n <= LOO_MAX_ROWS:
        return "leave-one-out", [[i] for i in range(n)]
    order = list(range(n))
    return "k-fold", [order[k::K_FOLDS] for k in range(K_FOLDS)]


def fit(
    base: Profile,
    cases: Sequence[Case],
    *,
    params: Sequence[str] | None = None,
    threads: int | None = None,
    cross_validate: bool = True,
    progress: Callable[[str], None] | None = None,
) -> FitResult:
    """Fit ``params`` (default: the class's choice, ``choose_params``) of ``base`` to the
    measured ``cases``; see the module doc for the method and the held-out error."""
    say = progress or (lambda _: None)
    chosen, notes = choose_params(base, cases, threads, params)
    space = _Space(base, chosen, cases, threads)
    start = [min(max(p.value_in(base), p.lower), p.upper) for p in chosen]
    before = space.predict(start)
    say(f"fitting {', '.join(p.name for p in chosen)} on {len(cases)} rows")
    values = _solve(space, start, range(len(cases)))
    after = space.predict(values)
    measured = _measured(cases)
    cv = None
    if cross_validate and len(cases) >= 2:
        method, folds = _folds(len(cases))
        held = np.zeros(len(cases))
        for k, left_out in enumerate(folds):
            say(f"cross-validation: fold {k + 1} of {len(folds)}")
            keep = [i for i in range(len(cases)) if i not in left_out]
            fold_values = _solve(space, values, keep)
            held[left_out] = space.predict(fold_values, [cases[i] for i in left_out])
        cv = CrossValidation(
            method, len(folds), tuple(float(v) for v in held), agreement(measured, held)
        )
    fitted = space.profile(values)
    return FitResult(
        base=base,
        fitted=fitted,
        params=tuple(
            FittedParam(p, s, v, p.keys_for(base))
            for p, s, v in zip(chosen, start, values, strict=True)
        ),
        cases=tuple(cases),
        threads=threads,
        before_ms=tuple(float(v) for v in before),
        after_ms=tuple(float(v) for v in after),
        before=agreement(measured, before),
        after=agreement(measured, after),
        cross_validation=cv,
        evaluations=space.evaluations,
        notes=notes,
    )
