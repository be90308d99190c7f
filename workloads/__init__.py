"""Built-in reference models, importable as ``hwsim.workloads``."""

from __future__ import annotations

from .registry import (
    FAMILY_EXAMPLES,
    get_workload,
    is_workload_name,
    reference_names,
    workload_names,
)
from .spec import Workload

__all__ = [
    "FAMILY_EXAMPLES",
    "Workload",
    "get_workload",
    "is_workload_name",
    "reference_names",
    "workload_names",
]
