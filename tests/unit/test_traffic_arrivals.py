"""Poisson arrivals: mean rate, exponential gaps, thinning following the profile."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from cloud.traffic.arrivals import arrival_times, next_arrival
from cloud.traffic.profiles import ramp, spike, steady


def test_deterministic_for_a_seed() -> None:
    a = list(arrival_times(steady(20), random.Random(7), 0, 10))
    b = list(arrival_times(steady(20), random.Random(7), 0, 10))
    assert a == b
    assert a != list(arrival_times(steady(20), random.Random(8), 0, 10))


def test_mean_rate_within_tolerance() -> None:
    times = list(arrival_times(steady(50), random.Random(1), 0, 400))
    # 20,000 expected; Poisson sd ~141: 3% is > 4 sd.
    assert len(times) == pytest.approx(50 * 400, rel=0.03)
    assert all(0 <= a < b < 400 for a, b in itertools.pairwise(times))


def test_gaps_are_exponential() -> None:
    times = list(arrival_times(steady(100), random.Random(2), 0, 200))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.01, rel=0.03)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.05)  # CV of exp = 1
    # Memoryless: P(gap > mean) = e^-1.
    assert sum(g > mean for g in gaps) / len(gaps) == pytest.approx(0.368, abs=0.02)


def test_thinning_follows_a_step_change() -> None:
    p = spike(20, factor=10, start=100, duration=100, ramp=0)
    times = list(arrival_times(p, random.Random(3), 0, 300))
    before = sum(t < 100 for t in times)
    during = sum(100 <= t < 200 for t in times)
    after = sum(t >= 200 for t in times)
    assert before == pytest.approx(2000, rel=0.1)
    assert during == pytest.approx(20000, rel=0.05)
    assert after == pytest.approx(2000, rel=0.1)


def test_thinning_follows_a_ramp() -> None:
    times = list(arrival_times(ramp(0, 200, duration=100), random.Random(4), 0, 100))
    # Expected count in [a, b) is the integral of 2t: b^2 - a^2.
    for a, b in ((0, 25), (25, 50), (50, 75), (75, 100)):
        n = sum(a <= t < b for t in times)
        assert n == pytest.approx(b * b - a * a, rel=0.1)


def test_horizon_and_zero_rate() -> None:
    assert next_arrival(0, steady(0), random.Random(0)) is None
    assert next_arrival(5, steady(1), random.Random(0), horizon=5) is None
    t = next_arrival(5, steady(1000), random.Random(0))
    assert t is not None and t > 5


def test_restarting_at_the_horizon_keeps_the_rate() -> None:
    """Chunked draws (what the generator does) give the same rate as one long draw."""
    rng, t, n = random.Random(5), 0.0, 0
    while t < 200:
        nxt = next_arrival(t, steady(40), rng, horizon=t + 0.05)
        if nxt is None:
            t += 0.05
        else:
            t, n = nxt, n + 1
    assert n == pytest.approx(8000, rel=0.04)
