"""Save a built-in workload as a ``.pt2`` so users and tests exercise the file path."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import WorkloadError
from ..outfile import check_writable, write_output
from .loader import with_batch

MAX_SAMPLE_INPUT_BYTES = 64 * 1024 * 1024


def export_workload(name: str, output: Path, *, batch: int = 1) -> None:
    from ..workloads import get_workload, workload_names

    try:
        workload = get_workload(name)
    except KeyError:
        raise WorkloadError(
            f"unknown workload '{name}' (built-in: {', '.join(workload_names())})"
        ) from None
    check_writable(output)
    model = workload.build()
    # Exported from fake inputs, so a large --batch is never allocated; the archive carries
    # real (zero) sample inputs only when they are small, else none (the shapes are in it).
    inputs = with_batch(workload.make_inputs(1), batch)
    with torch.no_grad():
        program = torch.export.export(model, inputs, strict=False)
    size = sum(t.numel() * t.element_size() for t in inputs)
    program.example_inputs = (
        (tuple(torch.zeros(t.shape, dtype=t.dtype) for t in inputs), {})
        if size <= MAX_SAMPLE_INPUT_BYTES
        else None
    )
    # Serialized in memory and written by Python: torch's file writer aborts the process
    # (SIGABRT) when a write fails midway, as on a full disk.
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    write_output(output, buffer.getbuffer())
