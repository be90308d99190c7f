"""Progress bars draw on a terminal's stderr and stay silent anywhere else."""

from __future__ import annotations

import io

from rich.console import Console

from hwsim.progress import progress_bar, track, wanted


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=80), buffer


def test_quiet_when_not_a_terminal(capsys):
    with progress_bar("calibrating", total=3) as step:
        for name in ("dispatch", "gemm", "kernels"):
            step(name)
    assert list(track(range(4), "sweeping")) == [0, 1, 2, 3]
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_quiet_console_is_silent():
    buffer = io.StringIO()
    with progress_bar("x", total=2, console=Console(file=buffer, force_terminal=False)) as step:
        step("a")
    assert buffer.getvalue() == ""


def test_draws_steps_on_a_terminal():
    console, buffer = _terminal()
    with progress_bar("compare", total=2, console=console) as step:
        step("variant 2:4")
        console.file.flush()
        step("variant int8")
    text = buffer.getvalue()
    assert "compare: variant" in text
    assert "/2" in text


def test_track_counts_items_on_a_terminal():
    console, buffer = _terminal()
    assert list(track(["a", "b", "c"], "fit", console=console)) == ["a", "b", "c"]
    assert "fit" in buffer.getvalue()


def test_environment_can_silence_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wanted(Tty())
    monkeypatch.setenv("HWSIM_PROGRESS", "0")
    assert not wanted(Tty())


def test_environment_silences_a_given_terminal_console(monkeypatch):
    console, buffer = _terminal()
    monkeypatch.setenv("HWSIM_PROGRESS", "0")
    with progress_bar("calibrating", total=2, console=console) as step:
        step("dispatch")
    assert buffer.getvalue() == ""
