"""Rate profiles: requests per wall second as a function of lab seconds since traffic began.

Rates are what the learner reads on the chart (req/s); times (spike start, ramp duration) are
lab seconds, so a Black Friday that lasts two lab minutes lasts 10 wall seconds at the default
time scale. Every profile is a frozen dataclass with ``rate(t)`` and ``peak`` (its highest
rate, the bound that thinning draws candidates from).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

BLACK_FRIDAY = 10.0
"""Spike factor of the "Black Friday" lab (a mild surge uses 3)."""

PROFILE_NAMES = ("steady", "spike", "ramp")
SPIKE_DEFAULTS = {"factor": BLACK_FRIDAY, "start": 60.0, "duration": 240.0, "ramp": 30.0}
RAMP_DEFAULT_DURATION = 300.0


@runtime_checkable
class RateProfile(Protocol):
    """What arrivals need: the rate at time ``t`` and an upper bound of it."""

    @property
    def peak(self) -> float: ...

    def rate(self, t: float) -> float: ...


def _rate(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite rate >= 0 requests/s, got {value!r}")
    return v


def _seconds(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number of lab seconds >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class Steady:
    """The same rate all the time."""

    base: float

    @property
    def peak(self) -> float:
        return self.base

    def rate(self, t: float) -> float:
        return self.base

    def describe(self) -> dict:
        return {"name": "steady", **asdict(self)}


@dataclass(frozen=True)
class Spike:
    """``base``, then ``base × factor`` during [start, start + duration).

    The rise takes ``ramp`` seconds from ``start`` and the fall the last ``ramp`` seconds of
    the window (``ramp = 0``: a square step); back to ``base`` at ``start + duration``.
    """

    base: float
    factor: float
    start: float
    duration: float
    ramp: float

    @property
    def peak(self) -> float:
        return self.base * self.factor

    @property
    def end(self) -> float:
        return self.start + self.duration

    def rate(self, t: float) -> float:
        if t < self.start or t >= self.end:
            return self.base
        into, left = t - self.start, self.end - t
        if self.ramp > 0 and min(into, left) < self.ramp:
            share = min(into, left) / self.ramp
            return self.base + (self.peak - self.base) * share
        return self.peak

    def describe(self) -> dict:
        return {"name": "spike", **asdict(self)}


@dataclass(frozen=True)
class Ramp:
    """Linear from ``start_rate`` at t = 0 to ``end_rate`` at ``duration``, then held."""

    start_rate: float
    end_rate: float
    duration: float

    @property
    def peak(self) -> float:
        return max(self.start_rate, self.end_rate)

    def rate(self, t: float) -> float:
        if t <= 0:
            return self.start_rate
        if t >= self.duration:
            return self.end_rate
        return self.start_rate + (self.end_rate - self.start_rate) * t / self.duration

    def describe(self) -> dict:
        return {"name": "ramp", **asdict(self)}


Profile = Steady | Spike | Ramp


def steady(rate: float) -> Steady:
    """``rate`` requests/s, always."""
    return Steady(_rate("rate", rate))


def spike(rate: float, factor: float = BLACK_FRIDAY, start: float = SPIKE_DEFAULTS["start"],
          duration: float = SPIKE_DEFAULTS["duration"],
          ramp: float = SPIKE_DEFAULTS["ramp"]) -> Spike:
    """A surge to ``rate × factor`` (10: Black Friday; 3: a busy lunch hour)."""
    f = float(factor)
    if not (math.isfinite(f) and f >= 1):
        raise ValueError(f"spike factor must be a finite number >= 1 (a spike raises the rate), "
                         f"got {factor!r}")
    dur, rise = _seconds("spike duration", duration), _seconds("spike ramp", ramp)
    if dur <= 0:
        raise ValueError(f"spike duration must be > 0 lab seconds, got {duration!r}")
    if 2 * rise > dur:
        raise ValueError(f"spike ramp ({rise:g} s) must fit twice in its duration ({dur:g} s): "
                         "up at the start, down at the end")
    return Spike(_rate("rate", rate), f, _seconds("spike start", start), dur, rise)


def ramp(from_rate: float, to_rate: float, duration: float = RAMP_DEFAULT_DURATION) -> Ramp:
    """From ``from_rate`` to ``to_rate`` linearly over ``duration`` lab seconds, then held."""
    dur = _seconds("ramp duration", duration)
    if dur <= 0:
        raise ValueError(f"ramp duration must be > 0 lab seconds, got {duration!r}")
    return Ramp(_rate("ramp from", from_rate), _rate("ramp to", to_rate), dur)


def rate_at(profile: RateProfile, t: float) -> float:
    """The rate (requests/s) of ``profile`` at lab time ``t`` (seconds since it began)."""
    if not math.isfinite(t):
        raise ValueError(f"time must be finite, got {t!r}")
    return profile.rate(t)


def parse_profile(text: str, rate: float) -> Profile:
    """A profile from a CLI string and the base ``--rate``.

    ``steady``; ``spike[:factor[:start[:duration[:ramp]]]]`` (e.g. ``spike:10``, ``spike:3:30``);
    ``ramp[:to[:duration]]`` (from ``rate`` to ``to``, default ``10 × rate``). Times in lab s.
    """
    name, *raw = (part.strip() for part in text.strip().split(":"))
    name = name.lower()
    try:
        args = [float(a) for a in raw]
    except ValueError:
        raise ValueError(f"profile {text!r}: arguments after ':' must be numbers") from None
    limits = {"steady": 0, "spike": 4, "ramp": 2}
    if name not in limits:
        raise ValueError(f"unknown traffic profile {name!r} in {text!r}; "
                         f"choose one of {', '.join(PROFILE_NAMES)} (e.g. spike:10)")
    if len(args) > limits[name]:
        raise ValueError(f"profile {name!r} takes at most {limits[name]} argument(s), "
                         f"got {len(args)} in {text!r}")
    if name == "steady":
        return steady(rate)
    if name == "spike":
        keys = ("factor", "start", "duration", "ramp")
        return spike(rate, **dict(zip(keys, args, strict=False)))
    to_rate = args[0] if args else 10 * float(rate)
    return ramp(rate, to_rate, *args[1:])
