"""The injected clock: lab time and wall time (architecture.md, "Time").

A lab minute lasts ``60 / time_scale`` wall seconds (default 12: a lab minute is 5 s). Every
controller takes a :class:`Clock` (or its ``now()``) instead of reading the time itself, so
CloudWatch periods, cooldowns and health-check intervals are counted in lab seconds, and tests
drive time with :class:`ManualClock`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

DEFAULT_TIME_SCALE = 12.0
PERIOD = 60.0  # lab seconds: one lab minute, CloudWatch's period for the kit's metrics


def minute_of(now: float) -> float:
    """The start (lab seconds) of the lab minute holding ``now``."""
    return math.floor(now / PERIOD) * PERIOD


def is_new_minute(now: float, last: float | None) -> bool:
    """Whether ``now`` is in a later lab minute than the one that started at ``last`` (None:
    no minute seen yet, so it is new): the once-per-lab-minute check of every publisher."""
    return last is None or minute_of(now) > last


@runtime_checkable
class Clock(Protocol):
    """What controllers need: lab seconds now, and wall seconds elapsed (for the UI)."""

    def now(self) -> float:
        """Lab seconds (the time controllers reason in)."""
        ...

    def wall(self) -> float:
        """Wall seconds elapsed since the clock started (monotonic; not the epoch)."""
        ...


def _checked_scale(time_scale: float) -> float:
    scale = float(time_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"time_scale must be a finite number > 0 (a lab minute lasts "
                         f"60/time_scale wall seconds); got {time_scale!r}")
    return scale


class _Scaled:
    """Conversions shared by both clocks."""

    time_scale: float

    @property
    def lab_minute_wall_seconds(self) -> float:
        """How many wall seconds one lab minute lasts (5.0 at the default scale 12)."""
        return 60.0 / self.time_scale

    def to_wall(self, lab_seconds: float) -> float:
        """A lab duration in wall seconds (e.g. to wait for it)."""
        return lab_seconds / self.time_scale

    def to_lab(self, wall_seconds: float) -> float:
        """A wall duration in lab seconds."""
        return wall_seconds * self.time_scale


class LabClock(_Scaled):
    """Lab time running ``time_scale`` times faster than ``time.monotonic``.

    ``start`` is the lab time at creation. ``monotonic`` is injectable only so the arithmetic
    can be tested without sleeping; in use it is ``time.monotonic``.
    """

    def __init__(self, time_scale: float = DEFAULT_TIME_SCALE, start: float = 0.0, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.time_scale = _checked_scale(time_scale)
        self.start = float(start)
        self._monotonic = monotonic
        self._origin = monotonic()
        self._wall_before = 0.0  # wall seconds elapsed before the last rescale
        self._lab_at_origin = self.start

    def wall(self) -> float:
        return self._wall_before + (self._monotonic() - self._origin)

    def now(self) -> float:
        return self._lab_at_origin + (self._monotonic() - self._origin) * self.time_scale

    def set_time_scale(self, time_scale: float) -> None:
        """Change speed from now on; lab time stays continuous (no jump)."""
        scale = _checked_scale(time_scale)
        tick = self._monotonic()
        self._lab_at_origin += (tick - self._origin) * self.time_scale
        self._wall_before += tick - self._origin
        self._origin = tick
        self.time_scale = scale


class ManualClock(_Scaled):
    """A clock that moves only when told to (tests, replays)."""

    def __init__(self, start: float = 0.0, time_scale: float = DEFAULT_TIME_SCALE) -> None:
        self.time_scale = _checked_scale(time_scale)
        self.start = float(start)
        self._now = self.start

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return (self._now - self.start) / self.time_scale

    def advance(self, seconds: float) -> float:
        """Move lab time forward by ``seconds`` (>= 0); returns the new lab time."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"a clock only moves forward: advance({seconds!r})")
        self._now += seconds
        return self._now


def lab_to_epoch(clock: Clock, lab: float) -> float:
    """A lab timestamp as wall epoch seconds (for AWS timestamps): ``lab`` was
    ``(now - lab) / time_scale`` wall seconds ago."""
    scale = max(float(getattr(clock, "time_scale", 1.0)), 1e-9)
    return time.time() - (clock.now() - lab) / scale


class PassClock:
    """One lab instant for a whole loop pass: ``freeze()`` at the start of the pass,
    ``release()`` at its end; meanwhile every ``now()`` answers the frozen instant.

    Components that each decide "a new lab minute has begun" (the ALB metrics, the service
    metrics, target tracking) then agree on which minute it is, even when a minute boundary
    falls between two of their calls. Everything else is the wrapped clock's.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._frozen: float | None = None

    def freeze(self) -> float:
        self._frozen = self.clock.now()
        return self._frozen

    def release(self) -> None:
        self._frozen = None

    def now(self) -> float:
        return self._frozen if self._frozen is not None else self.clock.now()

    def wall(self) -> float:
        return self.clock.wall()

    def __getattr__(self, name: str) -> object:  # time_scale, to_wall, set_time_scale …
        return getattr(self.clock, name)
