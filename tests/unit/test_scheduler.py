"""The service scheduler's reconcile: lifecycle, replacement, throttle, events (§3, §4)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from scheduler_lab import SchedulerLab

from cloud.ecs.placement import Host
from cloud.ecs.scheduler import (
    PENDING,
    PROVISIONING,
    RUNNING,
    STOPPED,
    Observation,
    Plan,
    ServiceState,
    reconcile,
    throttle_delay,
)

SVC = "fraud-svc"
STEADY = f"(service {SVC}) has reached a steady state."
THROTTLED = f"(service {SVC}) is unable to consistently start tasks successfully."
SIX_HOURS = 6 * 3600


class Lab(SchedulerLab):
    """A service, its hosts and a manual clock, reconciled step by step like the controller."""

    def __init__(self, desired: int = 4, hosts: list[Host] | None = None, **kw: object) -> None:
        state = ServiceState(SVC, desired, 256, 512, **kw)  # type: ignore[arg-type]
        super().__init__(state, hosts)

    def start_all(self) -> Plan:
        """The runtime reports every PROVISIONING/PENDING task's container up."""
        now = self.clock.now()
        return self.step(*(Observation(t.task_id, "started", at=now + 1) for t in self.live()
                           if t.last_status in (PROVISIONING, PENDING)))

    def converge(self) -> None:
        self.step()
        self.start_all()

    def messages(self, plan: Plan) -> list[str]:
        return [e.message for e in plan.events]


def test_first_reconcile_starts_the_desired_tasks_spread_over_azs() -> None:
    lab = Lab()
    plan = lab.step()
    assert len(plan.start) == 4
    assert sorted(s.placement.az for s in plan.start) == ["us-east-1a"] * 2 + ["us-east-1b"] * 2
    ids = [s.task.task_id for s in plan.start]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 4
    assert lab.messages(plan) == [
        f"(service {SVC}) has started 4 tasks: " + " ".join(f"(task {i})" for i in ids) + "."]
    assert all(t.last_status == PROVISIONING and t.desired_status == RUNNING
               and t.started_by == "ecs-svc/0000000000000000001" and t.created_at == 5.0
               for t in lab.state.tasks)
    assert (lab.state.running_count, lab.state.pending_count) == (0, 4)
    assert not plan.steady
    # The hosts handed back carry the reservations: 2 tasks each.
    assert [h.remaining_memory for h in plan.hosts] == [3891 - 1024] * 2


def test_same_seed_same_task_ids() -> None:
    a, b = Lab(), Lab()
    assert [s.task.task_id for s in a.step().start] == [s.task.task_id for s in b.step().start]


def test_lifecycle_provisioning_pending_running() -> None:
    lab = Lab(desired=1)
    lab.step()
    plan = lab.step()  # no observation yet: placed tasks move to PENDING (image pull)
    assert [(t.from_status, t.to_status) for t in plan.transitions] == [(PROVISIONING, PENDING)]
    assert plan.start == [] and plan.events == []
    task_id = lab.state.tasks[0].task_id
    plan = lab.step(Observation(task_id, "started", at=12.0))
    assert [(t.from_status, t.to_status, t.at) for t in plan.transitions] == [
        (PENDING, RUNNING, 12.0)]
    assert lab.state.task(task_id).started_at == 12.0
    assert lab.state.running_count == 1


def test_steady_state_is_reported_once_after_convergence() -> None:
    lab = Lab()
    lab.step()
    plan = lab.start_all()
    assert plan.steady and lab.messages(plan) == [STEADY]
    for _ in range(10):
        again = lab.step(dt=600)
        assert again.steady and again.events == []  # identical event: not repeated
    # "reported periodically": once 6 lab hours have passed it comes again.
    later = lab.step(dt=SIX_HOURS)
    assert lab.messages(later) == [STEADY]


def test_steady_state_is_reported_again_after_a_disruption_resolves() -> None:
    lab = Lab()
    lab.converge()
    victim = lab.live()[0].task_id
    crash = lab.step(Observation(victim, "exited", exit_code=1, at=lab.clock.now() + 1))
    assert not crash.steady and STEADY not in lab.messages(crash)
    back = lab.start_all()
    assert lab.messages(back) == [STEADY]  # the cause changed: not a duplicate


def test_a_crashed_running_task_is_replaced_by_a_new_task_without_throttle() -> None:
    lab = Lab()
    lab.converge()
    victim = lab.live()[0]
    plan = lab.step(Observation(victim.task_id, "exited", exit_code=1, at=21.0))
    stopped = lab.state.task(victim.task_id)
    assert (stopped.last_status, stopped.desired_status) == (STOPPED, STOPPED)
    assert stopped.stopped_reason == "Essential container in task exited"
    assert (stopped.exit_code, stopped.stopped_at) == (1, 21.0)
    [new] = plan.start
    assert new.task.task_id != victim.task_id
    # Spread: the victim's AZ now has 1 task against 2, so the replacement goes back there.
    assert new.placement.instance_id == victim.instance_id
    assert plan.throttled_until is None and lab.state.failed_starts == 0
    assert lab.messages(plan) == [f"(service {SVC}) has started 1 tasks: "
                                  f"(task {new.task.task_id})."]


def test_oom_kill_stops_with_the_agent_reason_and_137() -> None:
    lab = Lab(desired=1)
    lab.converge()
    task_id = lab.live()[0].task_id
    plan = lab.step(Observation(task_id, "oom", at=30.0))
    [stop] = [t for t in plan.transitions if t.to_status == STOPPED]
    assert stop.stopped_reason == "OutOfMemoryError: Container killed due to memory usage"
    assert stop.exit_code == 137
    assert lab.state.task(task_id).exit_code == 137
    assert len(plan.start) == 1


def test_host_loss_stops_its_tasks_and_replaces_them_on_the_survivor() -> None:
    lab = Lab()
    lab.converge()
    doomed = {t.task_id for t in lab.live() if t.instance_id == "i-0aaa"}
    assert len(doomed) == 2
    lab.hosts = [h for h in lab.hosts if h.instance_id != "i-0aaa"]  # the instance terminated
    plan = lab.step()
    stops = [t for t in plan.transitions if t.to_status == STOPPED]
    assert {t.task_id for t in stops} == doomed
    assert all(t.stopped_reason == "Host EC2 (instance i-0aaa) terminated."
               and t.exit_code is None for t in stops)
    assert [s.placement.instance_id for s in plan.start] == ["i-0bbb", "i-0bbb"]
    assert not {s.task.task_id for s in plan.start} & doomed
    [survivor] = plan.hosts
    assert survivor.tasks_by_group == {SVC: 4}
    assert (survivor.remaining_cpu, survivor.remaining_memory) == (2048 - 1024, 3891 - 2048)
    assert lab.state.failed_starts == 0  # a lost host is not a failed start


def test_scale_in_stops_one_task_per_az_and_waits_for_the_exit() -> None:
    lab = Lab()
    lab.converge()
    lab.state = replace(lab.state, desired_count=2)
    plan = lab.step()
    assert len(plan.stop) == 2
    stopped_ids = [s.task_id for s in plan.stop]
    assert {lab.state.task(i).instance_id for i in stopped_ids} == {"i-0aaa", "i-0bbb"}
    assert all(s.stopped_reason == "Scaling activity initiated by (deployment "
               "ecs-svc/0000000000000000001)" for s in plan.stop)
    assert lab.messages(plan) == [f"(service {SVC}) has stopped 2 running tasks: "
                                  + " ".join(f"(task {i})" for i in stopped_ids) + "."]
    assert all(lab.state.task(i).last_status == RUNNING for i in stopped_ids)  # draining
    assert not plan.steady and plan.start == []
    now = lab.clock.now()
    done = lab.step(*(Observation(i, "exited", exit_code=143, at=now + 1) for i in stopped_ids))
    assert all(lab.state.task(i).stopped_reason.startswith("Scaling activity")
               for i in stopped_ids)
    assert done.start == [] and done.steady and lab.messages(done) == [STEADY]
    assert [h.tasks_by_group for h in done.hosts] == [{SVC: 1}, {SVC: 1}]
    assert lab.state.failed_starts == 0


def test_throttle_delay_doubles_up_to_15_minutes() -> None:
    assert [throttle_delay(k) for k in range(1, 10)] == [
        0, 30, 60, 120, 240, 480, 900, 900, 900]


def fail_to_start(lab: Lab, task_id: str) -> tuple[Plan, float]:
    """The runtime reports the task's container exited before it ever ran."""
    failed_at = lab.clock.now() + 1
    return lab.step(Observation(task_id, "exited", exit_code=1, at=failed_at), dt=2), failed_at


def test_tasks_that_never_reach_running_are_throttled() -> None:
    lab = Lab(desired=1, hosts=[Host.of_type("i-0aaa", "us-east-1a")])
    task_id = lab.step().start[0].task.task_id
    waits, throttle_events = [], 0
    for _ in range(8):
        plan, failed_at = fail_to_start(lab, task_id)
        assert lab.state.task(task_id).stopped_reason == "Essential container in task exited"
        throttle_events += lab.messages(plan).count(THROTTLED)
        wait = lab.state.next_start_at - failed_at
        waits.append(wait)
        if wait:
            assert plan.start == [] and plan.throttled_until == failed_at + wait
            early = lab.step(dt=wait - 2)  # one lab second before the wait is over
            assert early.start == [] and early.throttled_until == failed_at + wait
            plan = lab.step(dt=1)
        [started] = plan.start  # the first failure is retried at once
        task_id = started.task.task_id
    assert waits == [0, 30, 60, 120, 240, 480, 900, 900]
    assert lab.state.failed_starts == 8
    assert throttle_events == 1  # from the second failure; de-duplicated while it persists


def test_a_task_reaching_running_ends_the_throttle() -> None:
    lab = Lab(desired=1, hosts=[Host.of_type("i-0aaa", "us-east-1a")])
    task_id = lab.step().start[0].task.task_id
    fail_to_start(lab, task_id)
    plan, failed_at = fail_to_start(lab, lab.live()[0].task_id)
    assert lab.messages(plan) == [THROTTLED]
    assert lab.state.failed_starts == 2 and lab.state.next_start_at == failed_at + 30
    task_id = lab.step(dt=30).start[0].task.task_id
    lab.step(Observation(task_id, "started", at=lab.clock.now() + 1))
    assert (lab.state.failed_starts, lab.state.next_start_at) == (0, 0.0)
    assert THROTTLED not in lab.state.recent  # the cause is resolved
    # Reached RUNNING, then died: replaced at once, no throttle.
    plan = lab.step(Observation(task_id, "exited", exit_code=2, at=lab.clock.now() + 1))
    assert len(plan.start) == 1 and plan.throttled_until is None
    assert lab.state.failed_starts == 0


def test_unplaceable_task_event_is_deduplicated_for_six_hours() -> None:
    lab = Lab(desired=8, hosts=[Host.of_type("i-0abc", "us-east-1a")])
    plan = lab.step()
    assert len(plan.start) == 7  # 3891 // 512
    unable = (f"service {SVC} was unable to place a task because no container instance met all "
              "of its requirements. The closest matching container-instance i-0abc has "
              "insufficient memory available. For more information, see the Troubleshooting "
              "section of the Amazon ECS Developer Guide.")
    assert lab.messages(plan)[1:] == [unable]
    assert plan.unplaced[0].failure == "memory"
    for _ in range(5):
        again = lab.step(dt=3600)
        assert again.unplaced and again.events == []
    assert lab.messages(lab.step(dt=3600)) == [unable]  # 6 h after the first one


def test_no_instances_event_and_recovery_when_one_registers() -> None:
    lab = Lab(desired=2, hosts=[])
    plan = lab.step()
    assert plan.start == []
    assert lab.messages(plan) == [
        f"service {SVC} was unable to place a task because no container instance met all of "
        "its requirements. Reason: No Container Instances were found in your cluster. For "
        "more information, see the Troubleshooting section of the Amazon ECS Developer Guide."]
    lab.hosts = [Host.of_type("i-0new", "us-east-1c")]
    plan = lab.step()
    assert [s.placement.instance_id for s in plan.start] == ["i-0new", "i-0new"]
    assert not any("unable to place" in m for m in lab.state.recent)  # cause resolved


def test_events_history_is_newest_first_and_observations_for_unknown_tasks_are_ignored() -> None:
    lab = Lab(desired=1)
    lab.step()
    lab.start_all()
    assert lab.state.events[0].message == STEADY
    assert lab.state.events[1].message.startswith(f"(service {SVC}) has started 1 tasks")
    assert [e.at for e in lab.state.events] == [10.0, 5.0]
    quiet = lab.step(Observation("f" * 32, "exited", exit_code=1, at=lab.clock.now()))
    assert quiet.transitions == [] and quiet.start == [] and quiet.steady


def test_stopped_tasks_are_forgotten_after_an_hour() -> None:
    lab = Lab(desired=1)
    lab.converge()
    old = lab.live()[0].task_id
    lab.step(Observation(old, "exited", exit_code=1, at=lab.clock.now() + 1))
    assert lab.state.task(old).last_status == STOPPED
    lab.step(dt=3600)
    assert old not in {t.task_id for t in lab.state.tasks}


def test_bad_task_id_factory_is_refused() -> None:
    state = ServiceState(SVC, 1, 256, 512)
    with pytest.raises(ValueError, match="32 new hex"):
        reconcile(state, [Host.of_type("i-0aaa", "us-east-1a")], 0.0, new_id=lambda: "task-1")


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        ServiceState(SVC, -1, 256, 512)
    with pytest.raises(ValueError, match="observation kind"):
        Observation("a" * 32, "crashed")
