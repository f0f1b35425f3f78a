"""The injected clock: lab time = wall time × time_scale (architecture.md, "Time")."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from cloud.core.clock import Clock, LabClock, ManualClock


class FakeMonotonic:
    """A stand-in for time.monotonic that moves only when told."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_default_scale_makes_a_lab_minute_five_wall_seconds() -> None:
    clock = ManualClock()
    assert clock.time_scale == 12.0
    assert clock.lab_minute_wall_seconds == 5.0
    assert clock.advance(60) == 60.0
    assert clock.now() == 60.0
    assert clock.wall() == 5.0


def test_manual_clock_counts_wall_from_its_start_and_converts_durations() -> None:
    clock = ManualClock(start=3600.0, time_scale=30.0)
    assert clock.now() == 3600.0 and clock.wall() == 0.0
    clock.advance(300)  # five lab minutes
    assert clock.now() == 3900.0
    assert clock.wall() == 10.0  # 300 / 30
    assert clock.to_wall(900) == 30.0  # a 15-min lab throttle lasts 30 wall seconds
    assert clock.to_lab(2.0) == 60.0
    assert clock.lab_minute_wall_seconds == 2.0


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf])
def test_manual_clock_only_moves_forward(seconds: float) -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds)
    assert clock.now() == 0.0


@pytest.mark.parametrize("scale", [0, -12, math.nan, math.inf])
@pytest.mark.parametrize("factory", [LabClock, lambda s: ManualClock(time_scale=s)])
def test_time_scale_must_be_positive(factory: Callable[[float], object], scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale must be a finite number > 0"):
        factory(scale)


def test_lab_clock_runs_time_scale_times_faster_than_monotonic() -> None:
    tick = FakeMonotonic(1000.0)
    clock = LabClock(time_scale=12.0, start=50.0, monotonic=tick)
    assert clock.now() == 50.0 and clock.wall() == 0.0
    tick.t += 5.0
    assert clock.wall() == 5.0
    assert clock.now() == 50.0 + 60.0  # one lab minute per 5 wall seconds
    tick.t += 2.5
    assert clock.now() == 140.0


def test_lab_clock_rescale_keeps_lab_time_continuous() -> None:
    tick = FakeMonotonic(0.0)
    clock = LabClock(monotonic=tick)
    tick.t = 5.0
    assert clock.now() == 60.0
    clock.set_time_scale(60.0)  # an instructor speeds the lab up
    assert clock.now() == 60.0  # no jump
    tick.t = 6.0
    assert clock.now() == 120.0  # one more wall second is now a lab minute
    assert clock.wall() == 6.0
    with pytest.raises(ValueError):
        clock.set_time_scale(0)
    assert clock.time_scale == 60.0


def test_lab_clock_on_the_real_monotonic_never_goes_backwards() -> None:
    clock = LabClock(start=10.0)
    readings = [clock.now() for _ in range(100)]
    assert readings[0] >= 10.0
    assert readings == sorted(readings)


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(ManualClock(), Clock)
    assert isinstance(LabClock(), Clock)
