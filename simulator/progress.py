"""Progress of long jobs (calibration, ``compare --sqnr``, fits, sweeps) on stderr.

Library code never draws: a long job takes a ``Progress`` callback and calls it with a short
description as each step starts (``calibrate``, ``compare`` already do). The command line
turns that into a bar with ``progress_bar``, which draws on stderr only when stderr is a
terminal: piped or redirected output, CI logs and tests stay quiet, and stdout (JSON, CSV)
is never touched. ``HWSIM_PROGRESS=0`` silences it on a terminal too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

Progress = Callable[[str], None]  # called with a step's description as the step starts

T = TypeVar("T")


def _silenced() -> bool:
    return os.environ.get("HWSIM_PROGRESS", "") in ("0", "false", "no")


def wanted(stream: IO[str] | None = None) -> bool:
    """Whether to draw: on a terminal, unless HWSIM_PROGRESS=0."""
    stream = stream if stream is not None else sys.stderr
    if _silenced():
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def progress_bar(
    description: str, total: int | None = None, *, console: Any = None
) -> Iterator[Progress]:
    """A ``Progress`` callback that advances a bar by one step per call (``total`` steps; a
    spinner with the elapsed time when the count is unknown). ``console`` is a rich
    ``Console``; by default one on stderr, and nothing is drawn unless it is a terminal."""
    if not wanted() if console is None else _silenced() or not console.is_terminal:
        yield _ignore
        return
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Bar(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        started = False

        def step(what: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=f"{description}: {what}")

        yield step
        if started:
            bar.advance(task)


def track(
    items: Iterable[T], description: str, total: int | None = None, *, console: Any = None
) -> Iterator[T]:
    """``items`` with a bar that advances as each is taken (quiet off a terminal)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(description, total, console=console) as step:
        for i, item in enumerate(items):
            step(f"{i + 1}")
            yield item


def _ignore(_: str) -> None:
    return None
