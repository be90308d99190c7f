"""Save a built-in workload as a ``.pt2`` so users and tests exercise the file path."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelLoadError, WorkloadError


def export_workload(name: str, output: Path, *, batch: int = 1) -> None:
    from ..workloads import get_workload, workload_names

    try:
        workload = get_workload(name)
    except KeyError:
        raise WorkloadError(
            f"unknown workload '{name}' (built-in: {', '.join(workload_names())})"
        ) from None
    model = workload.build()
    with torch.no_grad():
        program = torch.export.export(model, workload.make_inputs(batch), strict=False)
    try:
        torch.export.save(program, str(output))
    except OSError as exc:
        raise ModelLoadError(f"{output}: cannot write ({exc.strerror})") from None
