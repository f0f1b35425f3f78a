"""The ALB target-health state machine with a ManualClock (ecs-facts.md §6)."""

from __future__ import annotations

import pytest

from cloud.core.clock import ManualClock
from cloud.lb import health as hc
from cloud.lb.health import HealthSettings, ProbeResult, TargetHealth

OK = ProbeResult.ok()
TIMEOUT = ProbeResult(timed_out=True)
REFUSED = ProbeResult(error="ConnectionRefusedError")
DEFAULTS = HealthSettings()


def feed(health: TargetHealth, results: list[ProbeResult], clock: ManualClock,
         settings: HealthSettings = DEFAULTS) -> tuple[TargetHealth, list[str]]:
    reasons = []
    for result in results:
        clock.advance(settings.interval)
        assert hc.due(health, clock.now(), settings)
        health, reason = hc.observe(health, result, clock.now(), settings)
        reasons.append(reason)
    return health, reasons


def test_alb_defaults() -> None:
    assert (DEFAULTS.path, DEFAULTS.interval, DEFAULTS.timeout) == ("/", 30.0, 5.0)
    assert (DEFAULTS.healthy_threshold, DEFAULTS.unhealthy_threshold) == (5, 2)
    assert (DEFAULTS.matcher, DEFAULTS.deregistration_delay) == ("200", 300.0)


def test_registered_target_is_initial_and_one_pass_makes_it_healthy() -> None:
    clock = ManualClock()
    health = hc.register(clock.now())
    assert (health.state, health.reason_code) == ("initial", "Elb.RegistrationInProgress")
    assert hc.due(health, clock.now(), DEFAULTS)  # first check at once
    health, reasons = feed(health, [OK], clock)
    assert health.state == "healthy" and health.reason_code is None
    assert "first health check" in reasons[0]


def test_two_failures_make_it_unhealthy_then_five_passes_healthy_again() -> None:
    clock = ManualClock()
    health, _ = feed(hc.register(0.0), [OK], clock)
    health, reasons = feed(health, [REFUSED], clock)
    assert health.state == "healthy" and "1 of 2 failures" in reasons[0]
    health, reasons = feed(health, [REFUSED], clock)
    assert (health.state, health.reason_code) == ("unhealthy", "Target.FailedHealthChecks")
    assert clock.now() == 90.0  # defaults: ~2 x 30 s after the last good check
    health, reasons = feed(health, [OK] * 4, clock)
    assert health.state == "unhealthy" and "4 of 5" in reasons[-1]
    health, reasons = feed(health, [OK], clock)
    assert health.state == "healthy" and "5 consecutive" in reasons[0]


def test_a_pass_resets_the_failure_count() -> None:
    clock = ManualClock()
    health, _ = feed(hc.register(0.0), [OK, TIMEOUT, OK, TIMEOUT], clock)
    assert health.state == "healthy" and health.failures == 1


def test_timeouts_and_code_mismatches_carry_alb_reason_codes() -> None:
    clock = ManualClock()
    health, _ = feed(hc.register(0.0), [OK, TIMEOUT, TIMEOUT], clock)
    assert (health.state, health.reason_code) == ("unhealthy", "Target.Timeout")
    health, reasons = feed(hc.register(0.0), [OK, ProbeResult(503), ProbeResult(503)], clock)
    assert health.reason_code == "Target.ResponseCodeMismatch"
    assert "[503]" in reasons[-1]


def test_initial_target_that_keeps_failing_becomes_unhealthy() -> None:
    health, _ = feed(hc.register(0.0), [REFUSED, REFUSED], ManualClock())
    assert health.state == "unhealthy"


def test_matcher_codes_and_ranges() -> None:
    ranged = HealthSettings(matcher="200-299")
    listed = HealthSettings(matcher="200,204")
    assert ranged.matches(200) and ranged.matches(204) and ranged.matches(299)
    assert not ranged.matches(301)
    assert listed.matches(204) and not listed.matches(202)
    assert not DEFAULTS.matches(204)
    health, _ = feed(hc.register(0.0), [ProbeResult(204)], ManualClock(), ranged)
    assert health.state == "healthy"
    with pytest.raises(ValueError, match="200-499"):
        HealthSettings(matcher="100-599")
    with pytest.raises(ValueError, match="smaller than the interval"):
        HealthSettings(interval=5, timeout=5)


def test_checks_are_due_every_interval_of_lab_time() -> None:
    clock = ManualClock()
    health, _ = hc.observe(hc.register(0.0), OK, clock.now(), DEFAULTS)
    clock.advance(29.9)
    assert not hc.due(health, clock.now(), DEFAULTS)
    clock.advance(0.1)
    assert hc.due(health, clock.now(), DEFAULTS)


def test_draining_becomes_unused_when_in_flight_reaches_zero() -> None:
    clock = ManualClock()
    health, _ = feed(hc.register(0.0), [OK], clock)
    health, reason = hc.deregister(health, clock.now())
    assert reason.startswith("Target.DeregistrationInProgress")
    assert (health.state, health.reason_code) == ("draining", "Target.DeregistrationInProgress")
    assert not hc.due(health, clock.now() + 100, DEFAULTS)
    clock.advance(10)
    same, why = hc.settle(health, clock.now(), in_flight=2, settings=DEFAULTS)
    assert same.state == "draining" and why is None
    done, why = hc.settle(health, clock.now(), in_flight=0, settings=DEFAULTS)
    assert (done.state, done.reason_code) == ("unused", "Target.NotRegistered")
    assert "no in-flight" in why


def test_draining_becomes_unused_after_the_deregistration_delay() -> None:
    clock = ManualClock()
    health, _ = hc.deregister(hc.register(0.0), clock.now())
    clock.advance(299)
    assert hc.settle(health, clock.now(), 1, DEFAULTS)[0].state == "draining"
    assert not hc.delay_elapsed(health, clock.now(), DEFAULTS)
    clock.advance(1)
    done, why = hc.settle(health, clock.now(), 1, DEFAULTS)
    assert done.state == "unused" and "300 s" in why and "502" in why
    short = HealthSettings(deregistration_delay=5)
    assert hc.settle(health, 5.0, 3, short)[0].state == "unused"


def test_probe_results_are_ignored_while_draining() -> None:
    health, _ = hc.deregister(hc.register(0.0), 0.0)
    after, _ = hc.observe(health, OK, 1.0, DEFAULTS)
    assert after.state == "draining"


def test_every_state_carries_albs_description_with_its_reason_code() -> None:
    clock = ManualClock()
    health = hc.register(0.0)
    assert health.description == "Target registration is in progress"
    health, _ = feed(health, [OK], clock)
    assert (health.reason_code, health.description) == (None, None)
    health, _ = feed(health, [ProbeResult(503)], clock)
    assert health.description is None  # still healthy after 1 of 2 failures
    health, _ = feed(health, [ProbeResult(503)], clock)
    assert health.description.startswith("Health checks failed with these codes: [503]")
    health, _ = feed(health, [TIMEOUT], clock)
    assert (health.reason_code, health.description[:17]) == ("Target.Timeout", "Request timed out")
    health, _ = hc.deregister(health, clock.now())
    assert health.description == "Target deregistration is in progress"
    health, _ = hc.settle(health, clock.now(), in_flight=0, settings=DEFAULTS)
    assert health.description == "Target is not registered to the target group"


def test_probe_timeout_is_a_real_wait_within_one_interval() -> None:
    from cloud.lb.proxy import probe_timeout

    def at(scale: float):
        return lambda lab: lab / scale

    assert probe_timeout(5, 30, at(1)) == 5  # real time: ALB's 5 s
    assert probe_timeout(5, 30, at(12)) == 2.5  # one interval is 2.5 s of wall time
    assert probe_timeout(5, 30, at(30)) == 1.0  # not 5/30 s = 0.17 s
    assert probe_timeout(5, 30, at(1000)) == pytest.approx(0.03)  # never above the interval


def test_next_timer_is_the_next_check_or_the_end_of_the_delay() -> None:
    clock = ManualClock(start=100.0)
    health = hc.register(clock.now())
    assert hc.next_timer(health, DEFAULTS) == 100.0  # the first check: at once
    assert hc.next_timer(health, DEFAULTS, checks=False) is None
    health, _ = feed(health, [OK], clock)
    assert hc.next_timer(health, DEFAULTS) == clock.now() + DEFAULTS.interval
    assert not hc.due(health, clock.now() + DEFAULTS.interval - 0.001, DEFAULTS)
    assert hc.due(health, clock.now() + DEFAULTS.interval, DEFAULTS)
    draining, _ = hc.deregister(health, clock.now())
    end = clock.now() + DEFAULTS.deregistration_delay
    assert hc.next_timer(draining, DEFAULTS) == end
    assert hc.delay_elapsed(draining, end, DEFAULTS)
    unused, _ = hc.settle(draining, clock.now(), 0, DEFAULTS)
    assert unused.state == "unused" and hc.next_timer(unused, DEFAULTS) is None
