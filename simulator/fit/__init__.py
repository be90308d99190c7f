"""Bring hwsim to measured devices: ``hwsim validate`` compares a profile's predictions with
measured latencies; ``hwsim fit`` moves a few physical parameters of a profile to match them
and writes the result as a profile (docs/fit.md; figures in docs/validation.md)."""

from __future__ import annotations

from .measurements import (
    Case,
    Measurement,
    MeasurementError,
    predict_ms,
    read_measurements,
    trace_cases,
)
from .metrics import Agreement, agreement
from .params import PARAMS, FitParam, params_of
from .record import write_fitted_profile
from .solver import FitError, FitResult, fit
from .validation import Validation, plot_validation, validate

__all__ = [
    "PARAMS",
    "Agreement",
    "Case",
    "FitError",
    "FitParam",
    "FitResult",
    "Measurement",
    "MeasurementError",
    "Validation",
    "agreement",
    "fit",
    "params_of",
    "plot_validation",
    "predict_ms",
    "read_measurements",
    "trace_cases",
    "validate",
    "write_fitted_profile",
]
