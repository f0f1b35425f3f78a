"""PassClock: one lab instant per loop pass, so per-minute components agree on the minute."""

from __future__ import annotations

from cloud.core.clock import Clock, ManualClock, PassClock, lab_to_epoch


def test_frozen_for_a_pass_then_live_again() -> None:
    inner = ManualClock(start=59.9, time_scale=60)
    clock = PassClock(inner)
    assert isinstance(clock, Clock)
    assert clock.freeze() == 59.9
    inner.advance(0.2)  # the minute boundary passes during the pass
    assert clock.now() == 59.9
    clock.release()
    assert clock.now() == inner.now()
    assert clock.time_scale == 60 and clock.to_wall(60) == 1.0
    assert clock.wall() == inner.wall()
    assert abs(lab_to_epoch(clock, clock.now()) - lab_to_epoch(inner, inner.now())) < 0.1
