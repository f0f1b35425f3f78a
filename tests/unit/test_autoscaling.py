"""Target tracking for an ECS service: alarms, proportional scale-out, gradual scale-in (§7, §11e).

Each lab minute the test records the minute's datapoint(s), evaluates, then advances the clock a
minute. Numbers follow the rules: scale-out to ceil(desired × metric / target) (at least +1,
capped at Max); scale-in only after 15 minutes below 90% of the target, by at most
max(1, floor(10% of desired)) tasks, never below the proportional count or Min.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import pytest

from cloud.autoscaling.alarms import ALARM, INSUFFICIENT_DATA, OK
from cloud.autoscaling.target_tracking import (
    CPU,
    REQUESTS,
    ScalableTarget,
    ScalingDecision,
    ScalingState,
    TargetTrackingPolicy,
    alarm_name,
    evaluate,
    record,
)
from cloud.core.clock import ManualClock

CPU50 = TargetTrackingPolicy("cpu-tracking", CPU, 50)
REQ1000 = TargetTrackingPolicy("requests-tracking", REQUESTS, 1000)
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class Lab:
    """A service under target tracking, driven one lab minute at a time."""

    def __init__(self, desired: int, target: ScalableTarget | None = None,
                 policies: Sequence[TargetTrackingPolicy] = (CPU50,)) -> None:
        self.clock = ManualClock()
        self.state = ScalingState()
        self.desired = desired
        self.target = target or ScalableTarget(1, 20)
        self.policies = tuple(policies)
        self.decisions: list[ScalingDecision] = []

    def minute(self, values: float | Mapping[str, float] | None,
               deploying: bool = False) -> ScalingDecision:
        """Record this minute's datapoints (None: none), evaluate, move on a minute."""
        now = self.clock.now()
        if values is not None:
            per_metric = values if isinstance(values, Mapping) else {CPU: values}
            for metric, value in per_metric.items():
                self.state = record(self.state, metric, value, now)
        d = evaluate(self.state, self.target, self.policies, self.desired, now, deploying)
        self.state, self.desired = d.new_state, d.desired
        self.decisions.append(d)
        self.clock.advance(60)
        return d

    def minutes(self, values: Iterable[float | Mapping[str, float] | None],
                deploying: bool = False) -> list[ScalingDecision]:
        return [self.minute(v, deploying) for v in values]


def alarm(d: ScalingDecision, kind: str, policy: str = "cpu-tracking"):
    [found] = [a for a in d.alarms if a.policy == policy and f"-{kind}-" in a.name]
    return found


def actions(ds: Iterable[ScalingDecision]) -> list[str]:
    return [d.action for d in ds]


# --- scale-out ---------------------------------------------------------------------------------

def test_two_high_minutes_do_nothing_the_third_scales_out_proportionally() -> None:
    lab = Lab(desired=4)
    first, second = lab.minutes([92, 92])
    assert actions([first, second]) == ["none", "none"]
    assert lab.desired == 4
    assert alarm(second, "AlarmHigh").state == OK
    assert alarm(second, "AlarmHigh").breaching == 2
    assert "for 2 of 3 minutes" in second.reason

    third = lab.minute(92)
    assert third.action == "scale-out"
    assert third.desired == 8  # ceil(4 × 92 / 50) = ceil(7.36)
    assert third.reason == ("cpu-tracking: CPUUtilization 92% > target 50% for 3 of 3 minutes: "
                            "desired 4 → 8 (proportional: ceil(4 × 92 / 50))")
    assert alarm(third, "AlarmHigh").state == ALARM


def test_scale_out_is_capped_at_max_capacity_and_stops_there() -> None:
    lab = Lab(desired=6, target=ScalableTarget(1, 10))
    d = lab.minutes([100, 100, 100])[-1]
    assert (d.action, d.desired) == ("scale-out", 10)  # ceil(6 × 100 / 50) = 12 → Max 10
    assert "capped at MaxCapacity 10" in d.reason
    later = lab.minutes([100] * 10)  # cooldowns long over: still nothing above Max
    assert actions(later) == ["none"] * 10
    assert lab.desired == 10
    assert "at MaxCapacity 10" in later[-1].reason


def test_a_small_excess_still_adds_a_task() -> None:
    lab = Lab(desired=4)
    d = lab.minutes([51, 51, 51])[-1]
    assert d.desired == 5  # ceil(4 × 51 / 50) = ceil(4.08)


# --- insufficient data -------------------------------------------------------------------------

def test_no_datapoints_means_insufficient_data_and_no_scaling() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([None] * 5)
    assert actions(ds) == ["none"] * 5
    assert alarm(ds[-1], "AlarmHigh").state == INSUFFICIENT_DATA
    assert alarm(ds[-1], "AlarmLow").state == INSUFFICIENT_DATA
    assert "INSUFFICIENT_DATA" in ds[-1].reason


def test_a_missing_minute_breaks_the_high_run() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([92, 92, None, 92, 92])
    assert actions(ds) == ["none"] * 5
    assert alarm(ds[2], "AlarmHigh").state == INSUFFICIENT_DATA
    assert lab.minute(92).desired == 8  # three consecutive datapoints again


# --- scale-in ----------------------------------------------------------------------------------

def test_fourteen_low_minutes_do_nothing_the_fifteenth_scales_in_by_one() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([20] * 14)
    assert actions(ds) == ["none"] * 14
    assert alarm(ds[-1], "AlarmLow").breaching == 14
    assert alarm(ds[-1], "AlarmLow").threshold == 45  # 90% of 50
    d = lab.minute(20)
    assert alarm(d, "AlarmLow").state == ALARM
    # proportional ceil(4 × 20 / 50) = 2, but gradual: at most max(1, floor(0.4)) = 1 task
    assert (d.action, d.desired) == ("scale-in", 3)
    assert "gradual: at most 1 task" in d.reason
    assert "proportional: ceil(4 × 20 / 50) = 2" in d.reason


def test_scale_in_removes_at_most_ten_percent() -> None:
    lab = Lab(desired=20, target=ScalableTarget(1, 20))
    d = lab.minutes([10] * 15)[-1]
    assert d.desired == 18  # proportional ceil(20 × 10 / 50) = 4; 10% of 20 = 2 tasks


def test_scale_in_never_goes_below_min_capacity() -> None:
    lab = Lab(desired=3, target=ScalableTarget(3, 10))
    ds = lab.minutes([5] * 40)
    assert actions(ds) == ["none"] * 40
    assert lab.desired == 3
    assert "at MinCapacity 3" in ds[-1].reason


def test_scale_in_stops_where_fewer_tasks_would_exceed_the_target() -> None:
    lab = Lab(desired=5)
    d = lab.minutes([42] * 15)[-1]  # 42 < 45, but ceil(5 × 42 / 50) = ceil(4.2) = 5
    assert (d.action, d.desired) == ("none", 5)
    assert "above target" in d.reason


def test_a_high_minute_resets_the_low_run() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([20] * 10 + [60] + [20] * 14)
    assert actions(ds) == ["none"] * 25
    assert alarm(ds[-1], "AlarmLow").breaching == 14
    assert lab.minute(20).desired == 3


def test_values_between_ninety_percent_of_target_and_target_never_scale_in() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([45, 46, 49.5, 50] * 10)
    assert actions(ds) == ["none"] * 40
    assert alarm(ds[-1], "AlarmLow").state == OK
    assert alarm(ds[-1], "AlarmHigh").state == OK


# --- cooldowns ---------------------------------------------------------------------------------

def test_scale_out_cooldown_blocks_an_equal_scale_out_but_allows_a_larger_one() -> None:
    lab = Lab(desired=4)
    assert lab.minutes([92, 92, 92])[-1].desired == 8  # at 120 s; cooldown until 420 s
    same = lab.minute(92)  # the new tasks do not show in the metric yet
    assert (same.action, same.desired) == ("none", 8)
    assert "only a larger scale-out" in same.reason
    assert "ceil(4 × 92 / 50) = 8 ≤ desired 8" in same.reason
    larger = lab.minute(120)  # 240 s: ceil(4 × 120 / 50) = ceil(9.6) = 10 > 8
    assert (larger.action, larger.desired) == ("scale-out", 10)
    assert "counted from 4, the desired count before the scale-out" in larger.reason
    held = lab.minutes([120] * 4)  # 300–480 s: cooldown restarted at 240 s, until 540 s
    assert actions(held) == ["none"] * 4
    after = lab.minute(120)  # 540 s: from 10 again, ceil(10 × 120 / 50) = 24 → Max 20
    assert (after.action, after.desired) == ("scale-out", 20)


def test_scale_in_cooldown_blocks_the_next_scale_in() -> None:
    lab = Lab(desired=4)
    assert lab.minutes([20] * 15)[-1].desired == 3  # at 840 s
    held = lab.minutes([20] * 4)  # 900–1080 s, within ScaleInCooldown 300 s
    assert actions(held) == ["none"] * 4
    assert "scale-in cooldown" in held[0].reason
    d = lab.minute(20)  # 1140 s = 840 + 300
    assert (d.action, d.desired) == ("scale-in", 2)


def test_a_scale_out_cancels_the_scale_in_cooldown() -> None:
    slow_in = TargetTrackingPolicy("cpu-tracking", CPU, 50, scale_in_cooldown=3600)
    lab = Lab(desired=4, policies=[slow_in])
    assert lab.minutes([20] * 15)[-1].desired == 3  # at 840 s; cooldown until 4440 s
    out = lab.minutes([92] * 3)[-1]  # 1020 s: not blocked by the scale-in cooldown
    assert (out.action, out.desired) == ("scale-out", 6)  # ceil(3 × 92 / 50) = ceil(5.52)
    assert "cancels the scale-in cooldown" in out.reason
    d = lab.minutes([20] * 15)[-1]  # 1920 s < 4440 s, yet the cooldown is gone
    assert (d.action, d.desired) == ("scale-in", 5)


def test_without_a_scale_out_the_long_scale_in_cooldown_holds() -> None:
    slow_in = TargetTrackingPolicy("cpu-tracking", CPU, 50, scale_in_cooldown=3600)
    lab = Lab(desired=4, policies=[slow_in])
    lab.minutes([20] * 15)
    ds = lab.minutes([20] * 30)
    assert actions(ds) == ["none"] * 30
    assert lab.desired == 3


# --- disable_scale_in, deployments -------------------------------------------------------------

def test_disable_scale_in_never_scales_in_and_has_no_alarm_low() -> None:
    out_only = TargetTrackingPolicy("cpu-tracking", CPU, 50, disable_scale_in=True)
    lab = Lab(desired=4, policies=[out_only])
    ds = lab.minutes([10] * 30)
    assert actions(ds) == ["none"] * 30
    assert [a.name.split("-")[-6] for a in ds[-1].alarms] == ["AlarmHigh"]
    assert "scale-in is disabled" in ds[-1].reason
    assert lab.minutes([92] * 3)[-1].desired == 8


def test_deploying_suspends_scale_in_but_not_scale_out() -> None:
    lab = Lab(desired=4)
    ds = lab.minutes([20] * 16, deploying=True)
    assert actions(ds) == ["none"] * 16
    assert "suspended while the service is deploying" in ds[-1].reason
    assert lab.minute(20).desired == 3  # deployment over: the low run still counts

    busy = Lab(desired=4)
    assert busy.minutes([92] * 3, deploying=True)[-1].desired == 8


# --- two policies ------------------------------------------------------------------------------

def test_two_policies_scale_out_if_either_says_so() -> None:
    lab = Lab(desired=4, policies=[CPU50, REQ1000])
    d = lab.minutes([{CPU: 40, REQUESTS: 1500}] * 3)[-1]
    assert (d.action, d.desired) == ("scale-out", 6)  # ceil(4 × 1500 / 1000)
    assert d.reason.startswith("requests-tracking: RequestCountPerTarget 1500 requests/target")
    assert alarm(d, "AlarmHigh", "requests-tracking").name in d.activity.cause

    both = Lab(desired=4, policies=[CPU50, REQ1000])
    d = both.minutes([{CPU: 92, REQUESTS: 1500}] * 3)[-1]
    assert d.desired == 8  # the larger: ceil(4 × 92 / 50) = 8 beats 6
    assert "policy cpu-tracking" in d.activity.cause


def test_two_policies_scale_in_only_if_both_agree() -> None:
    lab = Lab(desired=4, policies=[CPU50, REQ1000])
    ds = lab.minutes([{CPU: 20, REQUESTS: 950}] * 20)  # requests within 10% of target
    assert actions(ds) == ["none"] * 20
    assert alarm(ds[-1], "AlarmLow").state == ALARM
    assert alarm(ds[-1], "AlarmLow", "requests-tracking").state == OK
    assert "every policy" in ds[-1].reason

    agree = Lab(desired=4, policies=[CPU50, REQ1000])
    d = agree.minutes([{CPU: 20, REQUESTS: 500}] * 15)[-1]
    assert (d.action, d.desired) == ("scale-in", 3)


def test_a_policy_without_data_blocks_scale_in_but_not_scale_out() -> None:
    lab = Lab(desired=4, policies=[CPU50, REQ1000])
    ds = lab.minutes([{CPU: 20}] * 20)
    assert actions(ds) == ["none"] * 20
    assert alarm(ds[-1], "AlarmHigh", "requests-tracking").state == INSUFFICIENT_DATA
    assert lab.minutes([{CPU: 92}] * 3)[-1].desired == 8


# --- alarms and scaling activities -------------------------------------------------------------

def test_alarm_names_are_cloudwatch_style_and_stable() -> None:
    lab = Lab(desired=4, policies=[CPU50, REQ1000])
    first, second = lab.minutes([{CPU: 30, REQUESTS: 300}] * 2)
    names = [a.name for a in first.alarms]
    assert names == [a.name for a in second.alarms]
    assert len(set(names)) == 4
    for a in first.alarms:
        kind = "AlarmHigh" if a.comparison == "GreaterThanThreshold" else "AlarmLow"
        assert re.fullmatch(f"TargetTracking-service/fraud-cluster/fraud-svc-{kind}-{UUID}",
                            a.name)
    high = alarm(first, "AlarmHigh")
    assert (high.metric, high.threshold, high.datapoints) == ("CPUUtilization", 50, 3)
    low = alarm(first, "AlarmLow", "requests-tracking")
    assert (low.metric, low.threshold, low.datapoints) == ("RequestCountPerTarget", 900, 15)
    assert alarm_name(ScalableTarget(1, 2, "c", "s"), CPU50, "AlarmHigh").startswith(
        "TargetTracking-service/c/s-AlarmHigh-")


def test_each_action_leaves_a_scaling_activity() -> None:
    lab = Lab(desired=4)
    out = lab.minutes([92] * 3)[-1]
    act = out.activity
    assert act is not None
    assert act.description == "Setting desired count to 8."
    assert act.cause == (f"monitor alarm {alarm(out, 'AlarmHigh').name} in state ALARM "
                         "triggered policy cpu-tracking")
    assert (act.start_time, act.status_code) == (120.0, "Successful")
    assert re.fullmatch(UUID, act.activity_id)
    api = act.as_api()
    assert api["ResourceId"] == "service/fraud-cluster/fraud-svc"
    assert api["ScalableDimension"] == "ecs:service:DesiredCount"
    assert api["Description"] == "Setting desired count to 8."

    in_ = lab.minutes([20] * 15)[-1]
    assert in_.activity is not None
    assert in_.activity.description == "Setting desired count to 7."
    assert "-AlarmLow-" in in_.activity.cause
    assert [a.description for a in lab.state.activities] == [
        "Setting desired count to 8.", "Setting desired count to 7."]
    assert len({a.activity_id for a in lab.state.activities}) == 2
    assert all(d.activity is None for d in lab.decisions if d.action == "none")


def test_each_minute_is_evaluated_once() -> None:
    lab = Lab(desired=4)
    d = lab.minutes([92] * 3)[-1]
    again = evaluate(d.new_state, lab.target, lab.policies, d.desired, 150.0)
    assert (again.action, again.desired) == ("none", 8)
    assert "already evaluated" in again.reason


def test_a_desired_count_below_min_is_raised_to_min() -> None:
    d = evaluate(ScalingState(), ScalableTarget(2, 10), [CPU50], 1, 0.0)
    assert (d.action, d.desired) == ("scale-out", 2)
    assert "below MinCapacity 2" in d.reason


# --- the 90% myth (§11e) -----------------------------------------------------------------------

def test_a_ninety_percent_cpu_target_does_not_scale_on_eighty_five() -> None:
    cpu90 = TargetTrackingPolicy("cpu-tracking", CPU, 90)
    lab = Lab(desired=4, policies=[cpu90])
    ds = lab.minutes([85] * 60)  # an hour at 85%: below target, not 10% below (81)
    assert actions(ds) == ["none"] * 60
    assert alarm(ds[-1], "AlarmHigh").state == OK
    assert alarm(ds[-1], "AlarmLow").state == OK
    d = lab.minutes([95] * 3)[-1]
    # what scales is the service's desired count of tasks, proportionally — not "capacity"
    assert (d.action, d.desired) == ("scale-out", 5)  # ceil(4 × 95 / 90) = ceil(4.22)
    assert d.activity is not None
    assert d.activity.scalable_dimension == "ecs:service:DesiredCount"
    assert "90% capacity" not in d.reason


# --- metric bookkeeping and validation ---------------------------------------------------------

def test_samples_in_one_minute_aggregate_by_the_metric_statistic() -> None:
    state = record(ScalingState(), CPU, 80, 0.0)
    state = record(state, CPU, 100, 30.0)  # Average
    state = record(state, REQUESTS, 600, 10.0)
    state = record(state, REQUESTS, 600, 50.0)  # Sum
    [cpu] = state.datapoints(CPU)
    [req] = state.datapoints(REQUESTS)
    assert (cpu.at, cpu.value, cpu.samples) == (0.0, 90.0, 2)
    assert (req.value, req.samples) == (1200.0, 2)
    state = record(state, CPU, 70, 60.0)
    assert [dp.at for dp in state.datapoints(CPU)] == [0.0, 60.0]
    with pytest.raises(ValueError, match="older"):
        record(state, CPU, 70, 59.0)
    with pytest.raises(ValueError, match=">= 0"):
        record(state, CPU, -1, 120.0)
    with pytest.raises(ValueError, match="unknown predefined metric"):
        record(state, "CPUUtilization", 50, 120.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"target_value": 0}, "target_value must be a number > 0"),
    ({"target_value": -5}, "target_value must be a number > 0"),
    ({"metric": "ECSServiceAverageMemoryUtilisation"}, "unknown predefined metric"),
    ({"scale_out_cooldown": -1}, "scale_out_cooldown"),
    ({"name": ""}, "needs a name"),
])
def test_bad_policies_are_refused(kwargs: dict, message: str) -> None:
    args = {"name": "cpu-tracking", "metric": CPU, "target_value": 50} | kwargs
    with pytest.raises(ValueError, match=message):
        TargetTrackingPolicy(**args)


def test_bad_targets_and_calls_are_refused() -> None:
    with pytest.raises(ValueError, match=r"min_capacity \(5\) cannot exceed max_capacity \(2\)"):
        ScalableTarget(5, 2)
    with pytest.raises(ValueError, match="integer >= 0"):
        ScalableTarget(-1, 2)
    with pytest.raises(ValueError, match="at least one scaling policy"):
        evaluate(ScalingState(), ScalableTarget(1, 2), [], 1, 0.0)
    with pytest.raises(ValueError, match="unique"):
        evaluate(ScalingState(), ScalableTarget(1, 2), [CPU50, CPU50], 1, 0.0)
    with pytest.raises(ValueError, match="current_desired"):
        evaluate(ScalingState(), ScalableTarget(1, 2), [CPU50], -1, 0.0)


def test_a_desired_count_set_outside_the_range_waits_for_the_next_scaling_activity() -> None:
    """RegisterScalableTarget brings the count inside Min/Max; one set later (update-service)
    stays until a scaling activity, which lands inside the range (API reference)."""
    target = ScalableTarget(2, 10)
    d = evaluate(ScalingState(), target, [CPU50], 12, 0.0, bounds_changed=False)
    assert (d.action, d.desired) == ("none", 12)
    assert "only at the next scaling activity" in d.reason
    registered = evaluate(ScalingState(), target, [CPU50], 12, 0.0, bounds_changed=True)
    assert (registered.action, registered.desired) == ("scale-in", 10)
