"""Cluster auto scaling: CapacityProviderReservation and CAS decisions (fact sheet §3, §11b).

A t3.medium registers 2048 CPU units and (the kit's assumption) 3891 MiB, so tasks of
256 CPU / 512 MiB fit 7 to an instance, bound by memory (3891 // 512 = 7; 2048 // 256 = 8).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cloud.core.instance_types import tasks_that_fit
from cloud.ecs.managed_scaling import (
    METRIC_NAME,
    METRIC_NAMESPACE,
    CapacityDecision,
    CapacityState,
    ManagedScaling,
    decide,
    instances_needed,
    reservation,
)
from cloud.ecs.placement import Host, TaskRequest

SVC = "fraud-svc"
TASK = TaskRequest(SVC, 256, 512)
PER_HOST = 7  # 256 CPU / 512 MiB tasks on one t3.medium
DEFAULTS = ManagedScaling()


def host(instance_id: str, tasks: int = 0, az: str = "us-east-1a",
         task: TaskRequest = TASK) -> Host:
    h = Host.of_type(instance_id, az)
    for _ in range(tasks):
        h.assign(task.cpu, task.memory, task.host_port, task.group)
    return h


def waiting(n: int, task: TaskRequest = TASK) -> list[TaskRequest]:
    return [task] * n


def every_minute(state: CapacityState, hosts: Sequence[Host], minutes: range,
                 settings: ManagedScaling = DEFAULTS,
                 pending: Sequence[TaskRequest] = ()) -> tuple[CapacityState,
                                                               list[CapacityDecision]]:
    """Call ``decide`` once at the start of each lab minute; return the last state and all."""
    decisions = []
    for minute in minutes:
        d = decide(state, hosts, pending, minute * 60.0, settings)
        decisions.append(d)
        state = d.state
    return state, decisions


def test_the_fact_sheet_fit_holds() -> None:
    assert tasks_that_fit("t3.medium", 256, 512).count == PER_HOST


# --- instances_needed: a binpack over CPU, memory and ports -----------------------------------

@pytest.mark.parametrize(("placed", "pending", "expected"), [
    (4, 0, 1),  # 4 tasks on one t3.medium: room for 3 more
    (0, 4, 1),  # 4 waiting tasks fit the one empty instance there is
    (7, 0, 1),
    (7, 3, 2),  # 10 tasks: 7 placed, 3 need a second instance
    (0, 10, 2),  # 10 waiting on one empty instance: 7 there, 3 on a new one
    (0, 15, 3),  # 7 + 7 + 1
])
def test_instances_needed_on_one_t3_medium(placed: int, pending: int, expected: int) -> None:
    m, why = instances_needed([host("i-0aaa", placed)], waiting(pending), "t3.medium")
    assert m == expected
    assert why.startswith(f"M = {expected}: ")


def test_instances_needed_from_zero_instances() -> None:
    assert instances_needed([], waiting(15))[0] == 3
    assert instances_needed([], [])[0] == 0


def test_empty_instances_do_not_count() -> None:
    m, why = instances_needed([host("i-0aaa", 4), host("i-0bbb"), host("i-0ccc")], [])
    assert m == 1
    assert "instances running tasks: 1 of 3" in why


def test_binpack_mixes_sizes_instead_of_adding_them_up() -> None:
    """2 tasks of 2048 MiB and 4 of 512 MiB: 2 + 4 instances if each kind had its own, but one
    big task leaves 3891 - 2048 = 1843 MiB, room for 3 small ones: 2 instances in all."""
    big = TaskRequest("scorer", 256, 2048)
    m, why = instances_needed([], [TASK] * 4 + [big] * 2)
    assert m == 2
    assert "need 2 more t3.medium" in why


def test_cpu_can_be_the_binding_resource() -> None:
    """1024 CPU units / 256 MiB: 2 per t3.medium by CPU (2048 // 1024), 15 by memory."""
    cpu_heavy = TaskRequest(SVC, 1024, 256)
    assert instances_needed([], waiting(5, cpu_heavy))[0] == 3


def test_a_static_host_port_allows_one_task_per_instance() -> None:
    static = TaskRequest(SVC, 256, 512, host_port=8080)
    assert instances_needed([], waiting(3, static))[0] == 3


def test_a_task_no_instance_can_hold_is_not_counted() -> None:
    huge = TaskRequest(SVC, 256, 8192)  # more than a t3.medium's 3891 MiB
    m, why = instances_needed([], [huge, TASK])
    assert m == 1
    assert "1 waiting task fits no empty t3.medium" in why
    assert "8192 MiB vs 2048 CPU / 3891 MiB" in why


# --- reservation = M / N × 100 ----------------------------------------------------------------

@pytest.mark.parametrize(("m", "n", "value"), [
    (1, 1, 100.0), (2, 1, 200.0), (3, 2, 150.0), (1, 2, 50.0), (0, 3, 0.0),
    (1, 0, 200.0),  # from zero: ECS scales out to 200%, two instances
    (5, 0, 200.0),
    (0, 0, 100.0),  # nothing running, nothing needed: no action
])
def test_reservation(m: int, n: int, value: float) -> None:
    assert reservation(m, n) == pytest.approx(value)


@pytest.mark.parametrize(("m", "n"), [(-1, 1), (1, -1), (1.5, 1)])
def test_reservation_rejects_impossible_counts(m: float, n: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        reservation(m, n)  # type: ignore[arg-type]


def test_metric_identity() -> None:
    assert (METRIC_NAMESPACE, METRIC_NAME) == ("AWS/ECS/ManagedScaling",
                                               "CapacityProviderReservation")


# --- scale-out --------------------------------------------------------------------------------

def test_four_tasks_on_one_instance_is_exactly_on_target() -> None:
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 4)], [], 0.0, DEFAULTS)
    assert (d.launch, d.retire, d.action) == (0, (), "none")
    assert d.datapoint is not None
    assert (d.datapoint.value, d.datapoint.needed, d.datapoint.running) == (100.0, 1, 1)
    assert d.reason == "CapacityProviderReservation 100% = target 100%: no action"


def test_ten_tasks_on_one_instance_launch_one_more_at_the_first_datapoint() -> None:
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 7)], waiting(3), 0.0,
               DEFAULTS)
    assert d.datapoint is not None and d.datapoint.value == 200.0
    assert (d.launch, d.action) == (1, "scale-out")
    assert d.reason.startswith("CapacityProviderReservation 200% > target 100% (1 of 1 "
                               "datapoints): launching 1 t3.medium (needed 2, running 1)")
    assert d.state.desired_capacity == 2
    assert d.state.launches == (0.0,)
    assert d.state.last_scale_out == 0.0


def test_launch_covers_every_missing_instance_in_one_step() -> None:
    """7 placed + 17 waiting: 7 + 7 + 3 on new instances → M = 4, N = 1 → 400% → launch 3."""
    d = decide(CapacityState(), [host("i-0aaa", 7)], waiting(17), 0.0, DEFAULTS)
    assert d.datapoint is not None and d.datapoint.value == 400.0
    assert d.launch == 3
    assert "(needed 4, running 1)" in d.reason


def test_from_zero_instances_ecs_launches_two() -> None:
    d = decide(CapacityState(), [], waiting(1), 0.0, DEFAULTS)
    assert d.datapoint is not None and d.datapoint.value == 200.0
    assert d.launch == 2
    assert "(needed 1, running 0)" in d.reason
    assert "from zero instances ECS always scales out to 200%, two instances" in d.reason
    assert d.state.desired_capacity == 2


def test_from_zero_more_than_two_when_more_are_needed() -> None:
    d = decide(CapacityState(), [], waiting(20), 0.0, DEFAULTS)  # 7 + 7 + 6 → 3
    assert d.launch == 3
    assert "two instances" not in d.reason


def test_nothing_to_run_on_zero_instances_is_no_action() -> None:
    d = decide(CapacityState(), [], [], 0.0, DEFAULTS)
    assert d.launch == 0 and d.datapoint is not None and d.datapoint.value == 100.0


def test_a_task_too_big_for_the_instance_type_launches_nothing() -> None:
    d = decide(CapacityState(), [], [TaskRequest(SVC, 256, 8192)], 0.0, DEFAULTS)
    assert d.launch == 0
    assert "more instances would not help" in d.needed_why


def test_warm_up_blocks_a_second_scale_out_for_300_lab_seconds() -> None:
    """t=0: 7 placed + 7 waiting → launch 1. The new instance registers and takes those 7; the
    service grows by 7 more: M = 3, N = 2 (150%), but the launch at 0 s warms up until 300 s."""
    first = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 7)], waiting(7), 0.0,
                   DEFAULTS)
    assert first.launch == 1
    full = [host("i-0aaa", 7), host("i-0bbb", 7)]
    state = first.state
    for minute in (1, 2, 3, 4):
        d = decide(state, full, waiting(7), minute * 60.0, DEFAULTS)
        assert d.datapoint is not None and d.datapoint.value == 150.0
        assert d.launch == 0, minute
        assert "still warming up (instanceWarmupPeriod 300 s, until 300 s)" in d.reason
        assert "7 waiting tasks stay in PROVISIONING" in d.reason
        state = d.state
    after = decide(state, full, waiting(7), 300.0, DEFAULTS)
    assert after.launch == 1
    assert "launching 1 t3.medium (needed 3, running 2)" in after.reason
    assert after.state.launches == (300.0,)


def test_a_custom_warm_up_period() -> None:
    settings = ManagedScaling(instance_warmup_period=60)
    state = decide(CapacityState(), [host("i-0aaa", 7)], waiting(7), 0.0, settings).state
    d = decide(state, [host("i-0aaa", 7), host("i-0bbb", 7)], waiting(1), 60.0, settings)
    assert d.launch == 1


def test_booting_instances_count_toward_the_asg_desired_capacity() -> None:
    """Warm-up over but the launched instance never registered: desired 2 already covers M=2."""
    settings = ManagedScaling(instance_warmup_period=0)
    state = CapacityState(desired_capacity=2)
    d = decide(state, [host("i-0aaa", 7)], waiting(3), 0.0, settings)
    assert d.launch == 0
    assert "desired capacity 2 already covers the 2 needed (1 instance not registered" in d.reason


def test_max_size_caps_the_scale_out() -> None:
    """M = 4 (7 placed + 21 waiting), N = 1, but the ASG's max_size is 2: launch 1, then stop."""
    settings = ManagedScaling(max_size=2)
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 7)], waiting(21), 0.0,
               settings)
    assert d.launch == 1
    assert "(needed 4, running 1)" in d.reason
    assert "capped by the Auto Scaling group's max_size 2 (CAS never changes it)" in d.reason
    later = decide(d.state, [host("i-0aaa", 7), host("i-0bbb", 7)], waiting(14), 600.0,
                   settings)
    assert later.datapoint is not None and later.datapoint.value == 200.0
    assert later.launch == 0
    assert "at max_size 2" in later.reason
    assert "14 waiting tasks stay in PROVISIONING" in later.reason


def test_minimum_step_size_launches_more_than_needed() -> None:
    settings = ManagedScaling(minimum_scaling_step_size=3)
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 7)], waiting(1), 0.0,
               settings)
    assert d.launch == 3
    assert "raised to minimumScalingStepSize 3" in d.reason


def test_maximum_step_size_limits_one_scale_out() -> None:
    settings = ManagedScaling(maximum_scaling_step_size=2)
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 7)], waiting(35), 0.0,
               settings)  # 35 waiting → 5 new instances needed
    assert d.launch == 2
    assert "(needed 6, running 1)" in d.reason
    assert "limited by maximumScalingStepSize 2" in d.reason


def test_target_capacity_90_keeps_spare_capacity() -> None:
    """M = 1, N = 1 → 100% > 90%: ceil(1×100/90) = 2 instances → launch 1."""
    settings = ManagedScaling(target_capacity=90)
    d = decide(CapacityState(desired_capacity=1), [host("i-0aaa", 4)], [], 0.0, settings)
    assert d.launch == 1
    assert d.reason.startswith("CapacityProviderReservation 100% > target 90% (1 of 1 "
                               "datapoints): launching 1 t3.medium (needed 2 = ceil(1×100/90), "
                               "running 1)")


def test_target_capacity_90_then_settles_below_target_without_scaling_in() -> None:
    """Two instances, one busy: 50% < 90%, but one instance already gives the target: M = 1
    needs ceil(100/90) = 2 instances, so the spare one is kept even after 15 low minutes."""
    settings = ManagedScaling(target_capacity=90)
    hosts = [host("i-0aaa", 4), host("i-0bbb")]
    _, decisions = every_minute(CapacityState(desired_capacity=2), hosts, range(20), settings)
    assert all(d.retire == () for d in decisions)
    assert "2 instances are needed to stay at or below target 90%" in decisions[-1].reason


# --- one datapoint per lab minute -------------------------------------------------------------

def test_one_datapoint_per_lab_minute_however_often_decide_is_called() -> None:
    state = CapacityState(desired_capacity=1)
    hosts, pending = [host("i-0aaa", 7)], waiting(3)
    launched, recorded = 0, []
    for tick in range(0, 130, 5):  # every 5 lab seconds for just over two minutes
        d = decide(state, hosts, pending, float(tick), DEFAULTS)
        launched += d.launch
        if d.datapoint is not None:
            recorded.append(tick)
        state = d.state
    assert recorded == [0, 60, 120]
    assert [dp.at for dp in state.datapoints] == [0.0, 60.0, 120.0]
    assert launched == 1  # 200% for three minutes, one launch, then warm-up


def test_a_call_within_the_minute_says_when_the_next_evaluation_is() -> None:
    state = decide(CapacityState(), [host("i-0aaa", 4)], [], 61.0, DEFAULTS).state
    d = decide(state, [host("i-0aaa", 4)], [], 119.9, DEFAULTS)
    assert d.datapoint is None and d.launch == 0
    assert "next evaluation at 120 s" in d.reason


# --- scale-in ---------------------------------------------------------------------------------

def test_scale_in_needs_15_consecutive_low_minutes() -> None:
    """One busy + two empty instances: M = 1, N = 3 → 33.3% every minute."""
    hosts = [host("i-0aaa", 4), host("i-0bbb"), host("i-0ccc")]
    state, decisions = every_minute(CapacityState(desired_capacity=3), hosts, range(14))
    assert all(d.retire == () for d in decisions)
    assert decisions[-1].reason == ("CapacityProviderReservation 33.3% < target 100% for 14 of "
                                    "15 datapoints: scale-in waits for 15 consecutive low "
                                    "minutes")
    d = decide(state, hosts, [], 14 * 60.0, DEFAULTS)
    assert d.action == "scale-in"
    assert d.retire == ("i-0bbb", "i-0ccc")  # both spare: M = 1 needs one instance
    assert d.reason.startswith("CapacityProviderReservation 33.3% < target 100% for 15 of 15 "
                               "datapoints: retiring i-0bbb, i-0ccc (empty; ")
    assert d.state.desired_capacity == 1
    assert d.launch == 0


def test_one_minute_at_target_resets_the_scale_in_count() -> None:
    spare = [host("i-0aaa", 4), host("i-0bbb")]  # 50%
    busy = [host("i-0aaa", 4)]  # 100%: the empty instance was briefly gone from the list
    state, _ = every_minute(CapacityState(desired_capacity=2), spare, range(10))
    state = decide(state, busy, [], 600.0, DEFAULTS).state
    state, decisions = every_minute(state, spare, range(11, 25))  # 14 low minutes
    assert all(d.retire == () for d in decisions)
    assert "for 14 of 15 datapoints" in decisions[-1].reason
    assert decide(state, spare, [], 25 * 60.0, DEFAULTS).retire == ("i-0bbb",)


def test_one_high_minute_resets_the_scale_in_count() -> None:
    spare = [host("i-0aaa", 4), host("i-0bbb")]
    state, _ = every_minute(CapacityState(desired_capacity=2), spare, range(10))
    # Minute 10: 11 waiting tasks (3 fit i-0aaa, 7 i-0bbb, 1 needs a new instance):
    # M = 3, N = 2 → 150%, a scale-out.
    high = decide(state, spare, waiting(11), 600.0, DEFAULTS)
    assert high.launch == 1
    state, decisions = every_minute(high.state, spare, range(11, 25))
    assert all(d.retire == () for d in decisions)
    d = decide(state, spare, [], 25 * 60.0, DEFAULTS)
    assert d.retire == ("i-0bbb",)
    # The instance launched at minute 10 never registered here: desired 3, M = 1.
    assert "1 more instance could go, but the others run tasks or have not registered" in d.reason


def test_a_missing_minute_breaks_the_run() -> None:
    """kit: datapoints must be consecutive minutes; a minute without one is missing data."""
    spare = [host("i-0aaa", 4), host("i-0bbb")]
    state, _ = every_minute(CapacityState(desired_capacity=2), spare, range(7))
    state, decisions = every_minute(state, spare, range(8, 16))  # minute 7 missing: 15 in all
    assert decisions[-1].retire == ()
    assert "for 8 of 15 datapoints" in decisions[-1].reason


def test_only_empty_instances_retire() -> None:
    """i-0bbb runs one task: 2 busy of 3 (M = 2, 66.7%). Moving its task would free it, but ECS
    never moves tasks: only i-0ccc goes."""
    hosts = [host("i-0aaa", 7), host("i-0bbb", 1), host("i-0ccc")]
    _, decisions = every_minute(CapacityState(desired_capacity=3), hosts, range(15))
    assert [d.retire for d in decisions if d.retire] == [("i-0ccc",)]
    assert decisions[-1].datapoint is not None
    assert decisions[-1].datapoint.value == pytest.approx(200 / 3)


def test_an_empty_instance_about_to_take_waiting_tasks_is_not_retired() -> None:
    hosts = [host("i-0aaa", 4), host("i-0bbb"), host("i-0ccc")]
    state, _ = every_minute(CapacityState(desired_capacity=3), hosts, range(14))
    # Minute 14: 4 tasks wait. Binpack puts 3 on i-0aaa (room for 3) and 1 on i-0bbb:
    # M = 2, N = 3 → 66.7%, the 15th low minute, and only i-0ccc may go.
    d = decide(state, hosts, waiting(4), 14 * 60.0, DEFAULTS)
    assert d.datapoint is not None and d.datapoint.needed == 2
    assert d.retire == ("i-0ccc",)


def test_min_size_is_respected() -> None:
    hosts = [host("i-0aaa", 4), host("i-0bbb"), host("i-0ccc")]
    two = ManagedScaling(min_size=2)
    _, decisions = every_minute(CapacityState(desired_capacity=3), hosts, range(15), two)
    assert decisions[-1].retire == ("i-0bbb",)
    assert "min_size 2 keeps 2 instances" in decisions[-1].reason
    three = ManagedScaling(min_size=3)
    _, decisions = every_minute(CapacityState(desired_capacity=3), hosts, range(15), three)
    assert decisions[-1].retire == ()
    assert "at min_size 3 (CAS never changes it)" in decisions[-1].reason


def test_an_instance_running_only_daemon_tasks_counts_as_empty() -> None:
    daemon = TaskRequest("log-router", 128, 256)
    hosts = [host("i-0aaa", 4), host("i-0bbb", 1, task=daemon)]
    plain, _ = instances_needed(hosts, [])
    assert plain == 2
    assert instances_needed(hosts, [], daemon_groups={"log-router"})[0] == 1
    state = CapacityState(desired_capacity=2)
    for minute in range(15):
        d = decide(state, hosts, [], minute * 60.0, DEFAULTS, daemon_groups={"log-router"})
        state = d.state
    assert d.retire == ("i-0bbb",)


def test_the_most_free_empty_instance_retires_first() -> None:
    """i-0bbb only runs a daemon (256 MiB reserved); i-0ccc has nothing: i-0ccc goes first."""
    daemon = TaskRequest("log-router", 128, 256)
    hosts = [host("i-0aaa", 4), host("i-0bbb", 1, task=daemon), host("i-0ccc")]
    settings = ManagedScaling(min_size=2)
    state = CapacityState(desired_capacity=3)
    for minute in range(15):
        d = decide(state, hosts, [], minute * 60.0, settings, daemon_groups={"log-router"})
        state = d.state
    assert d.retire == ("i-0ccc",)
    assert "most free first: i-0ccc has 3.8 GiB free" in d.reason


def test_equally_free_instances_retire_from_the_fuller_az() -> None:
    hosts = [host("i-0aaa", 4, az="us-east-1a"), host("i-0bbb", az="us-east-1a"),
             host("i-0ccc", az="us-east-1b"), host("i-0ddd", az="us-east-1b"),
             host("i-0eee", az="us-east-1b")]
    settings = ManagedScaling(min_size=4)
    _, decisions = every_minute(CapacityState(desired_capacity=5), hosts, range(15), settings)
    assert decisions[-1].retire == ("i-0ccc",)  # us-east-1b has 3 instances, us-east-1a 2
    assert "all equally free, so the AZ with the most instances" in decisions[-1].reason


def test_retired_instances_are_not_retired_twice_while_they_terminate() -> None:
    hosts = [host("i-0aaa", 4), host("i-0bbb")]
    state, decisions = every_minute(CapacityState(desired_capacity=2), hosts, range(16))
    assert [d.retire for d in decisions if d.retire] == [("i-0bbb",)]
    assert state.retiring == ("i-0bbb",)
    # The last minute saw only i-0aaa: 100%, on target.
    assert decisions[-1].datapoint is not None and decisions[-1].datapoint.value == 100.0
    gone = decide(state, [host("i-0aaa", 4)], [], 16 * 60.0, DEFAULTS)
    assert gone.state.retiring == ()


def test_scale_in_to_zero_when_nothing_runs() -> None:
    hosts = [host("i-0aaa"), host("i-0bbb")]
    _, decisions = every_minute(CapacityState(desired_capacity=2), hosts, range(15))
    assert decisions[-1].datapoint is not None and decisions[-1].datapoint.value == 0.0
    assert decisions[-1].retire == ("i-0aaa", "i-0bbb")
    assert decisions[-1].state.desired_capacity == 0


# --- settings ---------------------------------------------------------------------------------

def test_defaults_are_aws_defaults() -> None:
    s = ManagedScaling()
    assert (s.target_capacity, s.minimum_scaling_step_size, s.maximum_scaling_step_size,
            s.instance_warmup_period, s.instance_type) == (100, 1, 10000, 300, "t3.medium")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target_capacity": 0}, r"target_capacity \(percent\) must be between 1 and 100; got 0"),
    ({"target_capacity": 101}, "target_capacity .* got 101"),
    ({"target_capacity": 90.5}, "target_capacity .* must be an integer"),
    ({"minimum_scaling_step_size": 0}, "minimum_scaling_step_size must be between 1 and 10000"),
    ({"maximum_scaling_step_size": 10001}, "maximum_scaling_step_size must be between"),
    ({"minimum_scaling_step_size": 5, "maximum_scaling_step_size": 2},
     r"minimum_scaling_step_size \(5\) cannot exceed maximum_scaling_step_size \(2\)"),
    ({"instance_warmup_period": -1}, "instance_warmup_period .* between 0 and 10000"),
    ({"min_size": -1}, "min_size .* must be >= 0"),
    ({"min_size": 3, "max_size": 2}, r"min_size \(3\) cannot exceed its max_size \(2\)"),
    ({"instance_type": "t3.huge"}, "unknown instance type 't3.huge'"),
    ({"max_size": True}, "max_size .* must be an integer"),
])
def test_invalid_settings_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ManagedScaling(**kwargs)  # type: ignore[arg-type]


def test_negative_desired_capacity_is_an_error() -> None:
    with pytest.raises(ValueError, match="desired_capacity must be >= 0"):
        CapacityState(desired_capacity=-1)
