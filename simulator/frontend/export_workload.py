"""Save a built-in workload as a ``.pt2`` so users and tests exercise the file path."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import ModelLoadError, WorkloadError
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
    write_archive(output, buffer.getbuffer())


def check_writable(output: Path) -> None:
    """Fail before the (slow) export on paths that can never be written: a directory, a
    missing parent directory."""
    try:
        is_dir, parent_is_dir = output.is_dir(), output.parent.is_dir()
    except OSError as exc:  # a name too long, a path the OS refuses to look up
        raise ModelLoadError(f"{output}: cannot write ({exc.strerror})") from None
    if is_dir:
        raise ModelLoadError(f"{output}: is a directory; give a file name such as model.pt2")
    if not parent_is_dir:
        raise ModelLoadError(f"{output}: no such directory '{output.parent}'")


def write_archive(output: Path, data: memoryview) -> None:
    """Write ``data`` to ``output``; on failure, one line and no partial file left behind."""
    created = not output.exists()
    try:
        with output.open("wb") as f:
            f.write(data)
    except OSError as exc:
        if created and output.is_file():
            output.unlink(missing_ok=True)
        raise ModelLoadError(f"{output}: cannot write ({exc.strerror})") from None
