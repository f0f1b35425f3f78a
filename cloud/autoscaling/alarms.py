"""Per-minute CloudWatch datapoints and M-of-N alarm windows (pure; lab seconds throughout).

ECS sends its metrics every minute, several samples aggregated into one datapoint (fact sheet
§7). Target-tracking alarms use a 60-s period and need every datapoint of their window to breach
(AlarmHigh 3 of 3, AlarmLow 15 of 15, §7). kit: a minute without a datapoint counts as missing
("insufficient data"): it never breaches and it breaks a run of breaching minutes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from cloud.core.clock import PERIOD, minute_of  # one datapoint per lab minute (§7)

HISTORY = 60  # kit: datapoints kept per metric (an hour of lab minutes, for the UI)
STATISTICS = ("Average", "Sum")

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Datapoint:
    """One lab minute of a metric: the minute's start, its value and how many samples made it."""

    at: float
    value: float
    samples: int = 1


def add_sample(series: Sequence[Datapoint], value: float, now: float, statistic: str,
               keep: int = HISTORY) -> tuple[Datapoint, ...]:
    """``series`` with ``value`` added to the datapoint of ``now``'s minute.

    Samples in one minute are aggregated by ``statistic``: "Average" (their mean) or "Sum".
    Minutes only move forward: a sample for a minute older than the newest one is refused.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}; got {statistic!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a datapoint value must be a number; got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"a datapoint value must be finite and >= 0; got {value!r}")
    minute = minute_of(now)
    last = series[-1] if series else None
    if last is not None and minute < last.at:
        raise ValueError(f"minute {minute:g} s is older than the newest datapoint "
                         f"({last.at:g} s): lab time only moves forward")
    if last is not None and minute == last.at:
        n = last.samples + 1
        merged = (last.value + value if statistic == "Sum"
                  else last.value + (value - last.value) / n)
        return (*series[:-1], replace(last, value=merged, samples=n))[-keep:]
    return (*series, Datapoint(minute, float(value)))[-keep:]


def value_at(series: Sequence[Datapoint], minute: float) -> float | None:
    """The datapoint of ``minute``, or None when that minute has none."""
    for dp in reversed(series):
        if dp.at == minute:
            return dp.value
        if dp.at < minute:
            return None
    return None


def run_back(series: Sequence[Datapoint], end: float, breaches: Callable[[float], bool],
             limit: int) -> int:
    """Consecutive minutes ending at minute ``end`` whose datapoint breaches (at most ``limit``).

    A missing minute stops the run, as does a datapoint that does not breach.
    """
    run = 0
    while run < limit:
        value = value_at(series, end - run * PERIOD)
        if value is None or not breaches(value):
            break
        run += 1
    return run


def alarm_state(series: Sequence[Datapoint], end: float, breaches: Callable[[float], bool],
                datapoints: int) -> tuple[str, int]:
    """(state, breaching run) of an N-of-N alarm evaluated at minute ``end``.

    ALARM when the last ``datapoints`` minutes all breach; INSUFFICIENT_DATA when minute ``end``
    has no datapoint (kit: the newest period decides, as for a fresh alarm); OK otherwise.
    """
    if value_at(series, end) is None:
        return INSUFFICIENT_DATA, 0
    run = run_back(series, end, breaches, datapoints)
    return (ALARM if run >= datapoints else OK), run
