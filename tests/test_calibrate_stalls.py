"""``calibrate.uncontended``: multi-thread measurements are taken between clean scheduler-stall
probes and repeated when a probe after them finds another process on a core."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hwsim import calibrate


def _probes(monkeypatch: pytest.MonkeyPatch, results: list[int]) -> Iterator[int]:
    feed = iter(results)
    monkeypatch.setattr(calibrate, "scheduler_stalls", lambda *a, **k: next(feed))
    monkeypatch.setattr(calibrate, "STALL_PAUSE_S", 0.0)
    return feed


def test_one_thread_is_measured_once_without_probes(monkeypatch):
    _probes(monkeypatch, [])  # any probe would raise StopIteration
    log = calibrate.StallLog()
    calls = []
    assert calibrate.uncontended(lambda: calls.append(1) or 7, 1, log) == 7
    assert calls == [1] and log.probes == 0


def test_waits_for_a_clean_probe_and_repeats_a_stalled_measurement(monkeypatch):
    # stalled before (wait), clean before, measure, stalled after (repeat), clean, measure, clean
    _probes(monkeypatch, [5, 0, 3, 0, 0])
    log = calibrate.StallLog()
    results = iter(["contended", "clean"])
    assert calibrate.uncontended(lambda: next(results), 2, log) == "clean"
    assert (log.probes, log.stalled_probes, log.repeats, log.contended) == (5, 2, 1, 0)


def test_keeps_the_last_result_when_never_clean(monkeypatch):
    monkeypatch.setattr(calibrate, "STALL_TRIES", 3)
    _probes(monkeypatch, [0, 1, 0, 1, 0, 1])
    log = calibrate.StallLog()
    runs = iter(range(10))
    assert calibrate.uncontended(lambda: next(runs), 2, log) == 2
    assert (log.repeats, log.contended) == (3, 1)
