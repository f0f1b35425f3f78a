"""The scheduler's task lifecycle off the scripted path, on a fake clock: standalone tasks
(RunTask/StartTask), --force-new-deployment, and ELB health feeding ECS."""

from __future__ import annotations

import random
from dataclasses import replace

from scheduler_lab import SchedulerLab

from cloud.ecs.placement import Host, TaskRequest
from cloud.ecs.scheduler import (
    COMPLETED,
    ELB_UNHEALTHY_REASON,
    PENDING,
    PROVISIONING,
    RUNNING,
    STOPPED,
    DeploymentConfig,
    Observation,
    Plan,
    ServiceState,
    elb_health_due,
    launch_standalone,
    run_standalone,
    task_id_factory,
)

SVC, TD = "fraud-svc", "fraud-detection:1"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/fraud-tg/0123456789abcdef"


class Lab(SchedulerLab):
    """A deployed service (``TD``, ``desired`` tasks RUNNING) on two t3.medium hosts."""

    def __init__(self, desired: int = 2, grace: float = 0.0,
                 config: DeploymentConfig | None = None) -> None:
        super().__init__(ServiceState(SVC, desired, 256, 512, task_definition=TD,
                                      config=config or DeploymentConfig(), load_balanced=True,
                                      health_check_grace=grace))
        self.step()
        self.start(*self.waiting())

    def waiting(self) -> list[str]:
        return [t.task_id for t in self.live() if t.last_status in (PROVISIONING, PENDING)]

    def start(self, *task_ids: str) -> Plan:
        at = self.clock.now() + 1  # up, then its target healthy
        return self.step(*(Observation(i, kind, at=at) for i in task_ids
                           for kind in ("started", "healthy")))

    def exit(self, *task_ids: str) -> Plan:
        at = self.clock.now() + 1
        return self.step(*(Observation(i, "exited", at=at) for i in task_ids))

    def running(self) -> set[str]:
        return {t.task_id for t in self.live() if t.last_status == RUNNING
                and t.desired_status == RUNNING}


# ---- ELB health feeding ECS ----------------------------------------------------------------
def test_an_unhealthy_target_is_stopped_and_replaced_with_ecs_wording() -> None:
    lab = Lab()
    victim = sorted(lab.running())[0]
    plan = lab.step(Observation(victim, "unhealthy", at=lab.clock.now(), target_group=TG))
    [stop] = plan.stop
    assert stop.task_id == victim
    assert stop.stopped_reason == f"Task failed ELB health checks in (target-group {TG})"
    messages = [e.message for e in plan.events]
    assert (f"(service {SVC}) (task {victim}) failed ELB health checks in (target-group {TG})."
            in messages)
    assert f"(service {SVC}) has stopped 1 running tasks: (task {victim})." in messages
    assert len(plan.start) == 1  # the replacement, in the same pass
    plan = lab.exit(victim)  # the container stops once its target drained
    gone = lab.state.task(victim)
    assert (gone.last_status, gone.stopped_reason) == (
        STOPPED, ELB_UNHEALTHY_REASON.format(target_group=TG))


def test_elb_health_is_ignored_during_the_grace_period() -> None:
    lab = Lab(grace=60.0)
    victim = sorted(lab.running())[0]
    started = lab.state.task(victim).started_at
    assert started is not None
    plan = lab.step(Observation(victim, "unhealthy", at=started + 30, target_group=TG))
    assert plan.stop == [] and victim in lab.running()
    plan = lab.step(Observation(victim, "unhealthy", at=started + 60, target_group=TG))
    assert [s.task_id for s in plan.stop] == [victim]


def test_elb_health_due_is_pure() -> None:
    lab = Lab()
    task = lab.state.task(sorted(lab.running())[0])
    assert task.started_at is not None
    assert elb_health_due(task, 10.0, task.started_at + 9.9) is None
    assert "grace period (10 s)" in (elb_health_due(task, 10.0, task.started_at + 10) or "")
    assert elb_health_due(replace(task, desired_status=STOPPED), 0, task.started_at + 99) is None


# ---- --force-new-deployment ----------------------------------------------------------------
def test_force_new_deployment_replaces_every_task_within_the_rolling_limits() -> None:
    config = DeploymentConfig(minimum_healthy_percent=50, maximum_percent=100)
    lab = Lab(desired=2, config=config)
    old = lab.running()
    first = lab.state.primary
    lab.state = replace(lab.state, force_new="ecs-svc/1234567890123456789")
    plan = lab.step()
    primary = lab.state.primary
    assert (primary.id, primary.task_definition, primary.forced) == (
        "ecs-svc/1234567890123456789", TD, True)
    assert [d.id for d in lab.state.deployments] == [primary.id, first.id]
    assert lab.state.force_new is None
    # maximumPercent 100: no room to start; minimumHealthyPercent 50: one old task may go.
    assert plan.start == [] and len(plan.stop) == 1
    seen_new: set[str] = set()
    for _ in range(10):
        lab.exit(*[t.task_id for t in lab.live() if t.desired_status == STOPPED])
        waiting = lab.waiting()
        seen_new |= set(waiting)
        lab.start(*waiting)
        assert len(lab.running() | set(lab.waiting())) <= 2
        if lab.state.primary.rollout_state == COMPLETED:
            break
    assert lab.state.primary.rollout_state == COMPLETED
    assert lab.running() == seen_new and not (lab.running() & old)
    assert all(t.started_by == primary.id for t in lab.live())


# ---- standalone tasks ----------------------------------------------------------------------
def _hosts() -> list[Host]:
    return [Host.of_type("i-0aaa", "us-east-1a", container_instance_arn="arn:ci/aaa"),
            Host.of_type("i-0bbb", "us-east-1b", container_instance_arn="arn:ci/bbb")]


def test_run_task_places_what_fits_and_lists_failures_as_ecs() -> None:
    ids = task_id_factory(random.Random(1))
    req = TaskRequest("family:web", 1024, 2048)
    launch = launch_standalone(req, 4, _hosts(), 10.0, task_definition=TD, started_by="me",
                               new_id=ids)
    # a t3.medium registers 2048 CPU units / 3,3 GiB: one such task per host fits by memory
    placed = [s.task for s in launch.starts]
    assert {t.instance_id for t in placed} == {"i-0aaa", "i-0bbb"}
    assert all((t.last_status, t.group, t.started_by, t.cpu) == (PROVISIONING, "family:web",
                                                                  "me", 1024) for t in placed)
    # two left unplaced: each instance's reason once, as ECS lists them
    assert launch.failures == [("i-0aaa", "RESOURCE:MEMORY"), ("i-0bbb", "RESOURCE:MEMORY")]


def test_start_task_uses_only_the_named_instances() -> None:
    ids = task_id_factory(random.Random(2))
    req = TaskRequest("family:web", 256, 512)
    launch = launch_standalone(req, 1, _hosts(), 0.0, task_definition=TD, started_by="",
                               instances=["i-0bbb", "i-0bbb"], new_id=ids)
    assert [s.task.instance_id for s in launch.starts] == ["i-0bbb", "i-0bbb"]
    big = TaskRequest("family:web", 4096, 512)
    launch = launch_standalone(big, 1, _hosts(), 0.0, task_definition=TD, started_by="",
                               instances=["i-0aaa"], new_id=ids)
    assert launch.starts == [] and launch.failures == [("i-0aaa", "RESOURCE:CPU")]


def test_standalone_tasks_run_stop_and_are_not_replaced() -> None:
    ids = task_id_factory(random.Random(3))
    hosts = _hosts()
    launch = launch_standalone(TaskRequest("family:web", 256, 512), 2, hosts, 0.0,
                               task_definition=TD, started_by="me", new_id=ids)
    tasks = tuple(s.task for s in launch.starts)
    a, b = (t.task_id for t in tasks)
    plan = run_standalone(tasks, launch.hosts, 1.0)
    assert {t.last_status for t in plan.tasks} == {PENDING}
    plan = run_standalone(plan.tasks, launch.hosts, 2.0,
                          [Observation(a, "started", at=2.0), Observation(b, "started", at=2.0)])
    assert {t.last_status for t in plan.tasks} == {RUNNING}
    user = tuple(replace(t, desired_status=STOPPED, stopped_reason="by hand")
                 if t.task_id == a else t for t in plan.tasks)
    plan = run_standalone(user, launch.hosts, 3.0,
                          [Observation(a, "exited", at=3.0), Observation(b, "exited", 1, 3.0)])
    by_id = {t.task_id: t for t in plan.tasks}
    assert (by_id[a].last_status, by_id[a].stopped_reason) == (STOPPED, "by hand")
    assert (by_id[b].last_status, by_id[b].stopped_reason, by_id[b].exit_code) == (
        STOPPED, "Essential container in task exited", 1)
    assert len(plan.tasks) == 2  # nothing replaced them
    plan = run_standalone(plan.tasks, [], 4.0)  # instance gone: nothing left to change
    assert len(plan.tasks) == 2 and plan.transitions == []
