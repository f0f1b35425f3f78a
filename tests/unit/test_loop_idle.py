"""When the local cloud's loop may wait longer between passes (cloud.server.localcloud)."""

from __future__ import annotations

import pytest

from cloud.server.localcloud import IDLE_TICK_SECONDS, MINUTE_MARGIN, TICK_SECONDS, next_pass_in

SCALE = 12.0  # a lab minute is 5 wall seconds


def wait(**kw: object) -> float:
    args = {"events_wake": True, "changed": False, "steady": True, "lab_now": 0.0,
            "time_scale": SCALE, **kw}
    return next_pass_in(**args)[0]  # type: ignore[arg-type]


def test_idle_waits_longer() -> None:
    assert wait() == IDLE_TICK_SECONDS > TICK_SECONDS


@pytest.mark.parametrize("kw", [{"changed": True}, {"steady": False},
                                {"events_wake": False}])
def test_a_pass_that_changed_a_service_not_steady_or_no_wake_up_ticks(kw) -> None:
    assert wait(**kw) == TICK_SECONDS


def test_idle_wakes_at_the_next_lab_minute() -> None:
    # 6 lab seconds before the minute: 0.5 wall seconds, plus the margin
    assert wait(lab_now=54.0) == pytest.approx(0.5 + MINUTE_MARGIN)
    # too close to the minute: one tick, as the loop did before
    assert wait(lab_now=59.9) == TICK_SECONDS


def test_the_reason_is_said() -> None:
    assert "idle" in next_pass_in(events_wake=True, changed=False, steady=True, lab_now=0.0,
                                  time_scale=SCALE)[1]
