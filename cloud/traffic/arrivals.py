"""Poisson arrival times for a (possibly time-varying) rate, from an injected ``random.Random``.

A constant rate gives exponential gaps; a varying one is thinned (Lewis & Shedler): candidates
at the profile's ``peak`` rate, each kept with probability ``rate(t) / peak``. Pure: the same
seed gives the same times.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from cloud.traffic.profiles import RateProfile


def next_arrival(now: float, profile: RateProfile, rng: random.Random,
                 horizon: float = math.inf) -> float | None:
    """The first arrival after ``now``, or ``None`` if none comes before ``horizon``.

    Poisson processes forget the past, so a caller that got ``None`` may go on from
    ``horizon`` (e.g. after the profile changed) without biasing the process.
    """
    peak = profile.peak
    if not (math.isfinite(peak) and peak >= 0):
        raise ValueError(f"profile peak must be a finite rate >= 0, got {peak!r}")
    if peak == 0:
        return None
    t = now
    while True:
        t += rng.expovariate(peak)
        if t >= horizon:
            return None
        r = profile.rate(t)
        if r >= peak or rng.random() * peak < r:
            return t


def arrival_times(profile: RateProfile, rng: random.Random, start: float,
                  end: float) -> Iterator[float]:
    """Every arrival in [start, end), in order."""
    t: float | None = start
    while (t := next_arrival(t, profile, rng, horizon=end)) is not None:
        yield t
