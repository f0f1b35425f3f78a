"""Rate profiles: values at given times, spike window, ramp linearity, validation."""

from __future__ import annotations

import math

import pytest

from cloud.traffic.profiles import (
    BLACK_FRIDAY,
    Ramp,
    Spike,
    Steady,
    parse_profile,
    ramp,
    rate_at,
    spike,
    steady,
)


def test_steady_is_constant() -> None:
    p = steady(50)
    assert [rate_at(p, t) for t in (0, 1.5, 1e6)] == [50, 50, 50]
    assert p.peak == 50
    assert p.describe() == {"name": "steady", "base": 50.0}


def test_spike_defaults_to_black_friday() -> None:
    p = spike(100)
    assert p.factor == BLACK_FRIDAY == 10
    assert p.peak == 1000


def test_spike_start_end_and_ramps() -> None:
    p = spike(100, factor=10, start=60, duration=120, ramp=20)
    assert rate_at(p, 0) == 100
    assert rate_at(p, 59.999) == 100
    assert rate_at(p, 60) == 100  # the rise starts here
    assert rate_at(p, 70) == pytest.approx(550)  # half way up
    assert rate_at(p, 80) == 1000
    assert rate_at(p, 120) == 1000
    assert rate_at(p, 170) == pytest.approx(550)  # half way down
    assert rate_at(p, 180) == 100  # the window is [start, start + duration)
    assert rate_at(p, 1e4) == 100
    assert p.end == 180


def test_square_spike_steps() -> None:
    p = spike(10, factor=3, start=5, duration=10, ramp=0)
    assert rate_at(p, 4.999) == 10
    assert rate_at(p, 5) == 30
    assert rate_at(p, 14.999) == 30
    assert rate_at(p, 15) == 10


def test_ramp_is_linear_then_held() -> None:
    p = ramp(10, 110, duration=100)
    assert rate_at(p, -5) == 10
    for t in (0, 10, 25, 50, 99):
        assert rate_at(p, t) == pytest.approx(10 + t)
    assert rate_at(p, 100) == rate_at(p, 500) == 110
    assert p.peak == 110
    assert ramp(200, 0, 10).peak == 200  # down ramps too


@pytest.mark.parametrize("make", [
    lambda: steady(-1),
    lambda: steady(math.nan),
    lambda: steady(math.inf),
    lambda: spike(-5),
    lambda: spike(10, factor=0.5),
    lambda: spike(10, factor=math.nan),
    lambda: spike(10, duration=0),
    lambda: spike(10, start=-1),
    lambda: spike(10, duration=10, ramp=6),
    lambda: ramp(-1, 10),
    lambda: ramp(1, -10),
    lambda: ramp(1, 10, duration=0),
])
def test_invalid_profiles_raise(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_factor_message_is_clear() -> None:
    with pytest.raises(ValueError, match=r"factor must be .*>= 1"):
        spike(10, factor=0.9)


def test_rate_at_rejects_nan_time() -> None:
    with pytest.raises(ValueError, match="finite"):
        rate_at(steady(1), math.nan)


def test_parse_cli_strings() -> None:
    assert parse_profile("steady", 50) == Steady(50)
    assert parse_profile("spike", 50) == spike(50)
    assert parse_profile("spike:10", 50).peak == 500
    assert parse_profile("SPIKE:3:30", 50) == spike(50, factor=3, start=30)
    assert parse_profile("spike:3:30:60:0", 50) == Spike(50, 3, 30, 60, 0)
    assert parse_profile("ramp", 20) == ramp(20, 200)
    assert parse_profile("ramp:100:60", 20) == Ramp(20, 100, 60)


@pytest.mark.parametrize(("text", "match"), [
    ("burst", "unknown traffic profile 'burst'.*steady, spike, ramp"),
    ("spike:ten", "must be numbers"),
    ("spike:0.5", "factor"),
    ("steady:5", "at most 0"),
    ("ramp:1:2:3", "at most 2"),
    ("", "unknown traffic profile"),
])
def test_parse_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_profile(text, 50)


def test_parse_rejects_negative_base_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        parse_profile("steady", -3)
