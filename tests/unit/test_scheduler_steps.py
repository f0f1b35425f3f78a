"""Each step of the scheduler's reconcile on its own (``cloud.ecs.scheduler``)."""

from __future__ import annotations

import random
from dataclasses import replace

from cloud.ecs.placement import Host
from cloud.ecs.scheduler import (
    ACTIVE,
    COMPLETED,
    ESSENTIAL_EXITED,
    FAILED,
    IN_PROGRESS,
    OOM_REASON,
    PENDING,
    PRIMARY,
    PROVISIONING,
    RUNNING,
    STOPPED,
    Deployment,
    DeploymentConfig,
    Observation,
    ServiceState,
    TaskState,
    advance_provisioning,
    apply_circuit_breaker,
    apply_observations,
    begin_deployment,
    deployment_id_factory,
    finish,
    meet_desired_count,
    report_steady_state,
    retire_old_tasks,
    start_pass,
    stop_orphaned_tasks,
    task_id_factory,
)

SVC = "fraud-svc"
OLD, NEW = "arn:aws:ecs:us-east-1:1:task-definition/fraud:1", \
    "arn:aws:ecs:us-east-1:1:task-definition/fraud:2"
HOSTS = [Host.of_type("i-0aaa", "us-east-1a"), Host.of_type("i-0bbb", "us-east-1b")]


def ids() -> task_id_factory:
    return task_id_factory(random.Random(0))


def task(n: int, status: str = RUNNING, td: str = OLD, host: str = "i-0aaa", **kw: object
         ) -> TaskState:
    return TaskState(f"{n:032x}", host, status, RUNNING, started_by="ecs-svc/1",
                     task_definition=td, started_at=0.0 if status == RUNNING else None,
                     **kw)  # type: ignore[arg-type]


def service(*tasks: TaskState, desired: int = 2, td: str = OLD, **kw: object) -> ServiceState:
    dep = Deployment("ecs-svc/1", OLD, 256, 512, PRIMARY, COMPLETED)
    return ServiceState(SVC, desired, 256, 512, tasks=tasks, task_definition=td,
                        deployment_id="ecs-svc/1", deployments=(dep,),
                        **kw)  # type: ignore[arg-type]


def new_pass(state: ServiceState, now: float = 100.0, hosts: list[Host] = HOSTS):
    return start_pass(state, hosts, now, deployment_id_factory(ids()))


def test_begin_deployment_only_when_the_task_definition_changed() -> None:
    p = new_pass(service(task(1), task(2)))
    begin_deployment(p)
    assert len(p.deployments) == 1 and not p.notes
    p = new_pass(service(task(1), task(2), td=NEW))
    begin_deployment(p)
    assert [d.status for d in p.deployments] == [PRIMARY, ACTIVE]
    assert p.primary.task_definition == NEW and p.primary.rollout_state == IN_PROGRESS
    assert "began" in p.notes[0]


def test_apply_observations_starts_and_stops_tasks_in_time_order() -> None:
    p = new_pass(service(task(1, PENDING), task(2)))
    apply_observations(p, [Observation(f"{2:032x}", "oom", at=90.0),
                           Observation(f"{1:032x}", "started", at=80.0)])
    assert [(tr.to_status, tr.at) for tr in p.transitions] == [(RUNNING, 80.0),
                                                                (STOPPED, 90.0)]
    stopped = p.tasks[f"{2:032x}"]
    assert stopped.stopped_reason == OOM_REASON and stopped.exit_code == 137


def test_apply_observations_throttles_a_task_that_never_ran() -> None:
    p = new_pass(service(task(1, PENDING), task(2, PENDING)))
    apply_observations(p, [Observation(f"{1:032x}", "exited", 3, at=10.0),
                           Observation(f"{2:032x}", "exited", 3, at=11.0)])
    assert p.failed_starts == 2 and p.next_start_at == 11.0 + 30.0
    assert p.tasks[f"{1:032x}"].stopped_reason == ESSENTIAL_EXITED
    assert any("unable to consistently start" in e.message for e in p.events.emitted)


def test_stop_orphaned_tasks_on_hosts_that_left() -> None:
    p = new_pass(service(task(1, host="i-0aaa"), task(2, host="i-gone")))
    stop_orphaned_tasks(p)
    assert p.tasks[f"{2:032x}"].last_status == STOPPED
    assert "i-gone" in (p.tasks[f"{2:032x}"].stopped_reason or "")
    assert p.tasks[f"{1:032x}"].last_status == RUNNING


def test_advance_provisioning_moves_only_tasks_placed_before_this_pass() -> None:
    p = new_pass(service(task(1, PROVISIONING), task(2)))
    advance_provisioning(p)
    assert p.tasks[f"{1:032x}"].last_status == PENDING
    assert [tr.to_status for tr in p.transitions] == [PENDING]


def test_circuit_breaker_fails_and_rolls_back_at_the_threshold() -> None:
    config = DeploymentConfig(circuit_breaker=True, rollback=True)
    good = Deployment("ecs-svc/1", OLD, 256, 512, ACTIVE, COMPLETED)
    bad = Deployment("ecs-svc/2", NEW, 256, 512, PRIMARY, IN_PROGRESS, failed_tasks=3)
    state = replace(service(task(1)), task_definition=NEW, config=config,
                    deployments=(bad, good), last_completed=good)
    p = new_pass(state)
    apply_circuit_breaker(p)
    assert p.rolled_back_to == OLD and p.primary.task_definition == OLD
    assert next(d for d in p.deployments if d.id == "ecs-svc/2").rollout_state == FAILED
    p = new_pass(replace(state, deployments=(replace(bad, failed_tasks=2), good)))
    apply_circuit_breaker(p)
    assert p.rolled_back_to is None and not p.notes  # below the threshold (3)


def test_meet_desired_count_places_new_tasks_and_scales_in() -> None:
    p = new_pass(service(task(1), desired=3))
    meet_desired_count(p, [t for t in p.tasks.values() if t.active], ids())
    assert len(p.starts) == 2 and all(s.task.last_status == PROVISIONING for s in p.starts)
    p = new_pass(service(task(1), task(2), task(3), desired=1))
    meet_desired_count(p, [t for t in p.tasks.values() if t.active], ids())
    assert len(p.stops) == 2 and not p.starts


def test_meet_desired_count_waits_out_the_throttle() -> None:
    p = new_pass(replace(service(desired=1), next_start_at=500.0))
    meet_desired_count(p, [], ids())
    assert p.throttled_until == 500.0 and not p.starts


def test_retire_old_tasks_keeps_minimum_healthy_running() -> None:
    state = replace(service(task(1), task(2), task(3, td=NEW), desired=2),
                    config=DeploymentConfig(minimum_healthy_percent=100, maximum_percent=200))
    p = new_pass(state)
    p.begin(NEW, 256, 512)
    active = [t for t in p.tasks.values() if t.active]
    retire_old_tasks(p, active)
    assert len(p.stops) == 1  # 3 RUNNING, 2 must stay: one old task goes
    assert p.tasks[p.stops[0].task_id].task_definition == OLD


def test_report_steady_state_completes_the_deployment() -> None:
    state = replace(service(task(1, td=NEW), task(2, td=NEW)), task_definition=NEW,
                    deployments=(Deployment("ecs-svc/2", NEW, 256, 512, PRIMARY, IN_PROGRESS),))
    p = new_pass(state)
    report_steady_state(p)
    assert p.steady and p.primary.rollout_state == COMPLETED
    assert p.last_completed is not None and p.last_completed.id == "ecs-svc/2"


def test_finish_keeps_recent_stopped_tasks_and_drops_old_ones() -> None:
    old = replace(task(1, STOPPED), stopped_at=50.0, desired_status=STOPPED)
    recent = replace(task(2, STOPPED), stopped_at=200.0, desired_status=STOPPED)
    plan = finish(new_pass(service(old, recent, task(3)), now=3700.0))
    assert {t.task_id for t in plan.state.tasks} == {f"{2:032x}", f"{3:032x}"}
