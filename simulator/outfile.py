"""Files hwsim writes where the user says (``export -o``, ``memory --plot``): a path that can
never be written fails before the slow work, and a write that fails midway (a full disk, a
read-only directory) is one line with no partial file left behind. The bytes are produced in
memory first and written here by Python, because writers in C (torch's archive writer) abort
the process on a failed write instead of raising."""

from __future__ import annotations

from pathlib import Path

from .errors import OutputError


def check_writable(output: Path) -> None:
    """Refuse paths that can never be written: a directory, a missing parent directory, a
    name the OS refuses to look up (too long)."""
    try:
        is_dir, parent_is_dir = output.is_dir(), output.parent.is_dir()
    except OSError as exc:
        raise OutputError(f"{output}: cannot write ({exc.strerror})") from None
    if is_dir:
        raise OutputError(f"{output}: is a directory; give a file name")
    if not parent_is_dir:
        raise OutputError(f"{output}: no such directory '{output.parent}'")


def write_output(output: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``output``; on failure, one line and no partial file."""
    created = not output.exists()
    try:
        with output.open("wb") as f:
            f.write(data)
    except OSError as exc:
        if created and output.is_file():
            output.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ({exc.strerror})") from None
