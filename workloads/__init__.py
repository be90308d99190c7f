"""Built-in reference models, importable as ``hwsim.workloads``."""

from __future__ import annotations

from .registry import get_workload, is_workload_name, reference_names, workload_names
from .spec import Workload

__all__ = ["Workload", "get_workload", "is_workload_name", "reference_names", "workload_names"]
