"""Rolling updates, the deployment circuit breaker and rollback, on a fake clock (§4)."""

from __future__ import annotations

import random
from dataclasses import replace

from cloud.core.clock import ManualClock
from cloud.ecs.placement import Host
from cloud.ecs.scheduler import (
    ACTIVE,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    INACTIVE,
    PENDING,
    PRIMARY,
    PROVISIONING,
    RUNNING,
    STOPPED,
    Deployment,
    DeploymentConfig,
    Observation,
    Plan,
    ServiceState,
    circuit_breaker_threshold,
    reconcile,
    rolling_limits,
    task_id_factory,
)

SVC = "fraud-svc"
OLD, NEW = "fraud-detection:1", "fraud-detection:2"
FIRST = "ecs-svc/0000000000000000001"


class Lab:
    """A deployed service (``OLD``, 4 tasks RUNNING), two t3.medium hosts and a manual clock."""

    def __init__(self, desired: int = 4, config: DeploymentConfig | None = None,
                 converge: bool = True) -> None:
        self.clock = ManualClock()
        self.ids = task_id_factory(random.Random(0))
        self.state = ServiceState(SVC, desired, 256, 512, task_definition=OLD,
                                  config=config or DeploymentConfig())
        self.hosts = [Host.of_type("i-0aaa", "us-east-1a"), Host.of_type("i-0bbb", "us-east-1b")]
        self.plans: list[Plan] = []
        if converge:
            self.step()
            self.start(*self.waiting())

    def step(self, *observations: Observation, dt: float = 5.0) -> Plan:
        self.clock.advance(dt)
        plan = reconcile(self.state, self.hosts, self.clock.now(), observations,
                         new_id=self.ids)
        self.state, self.hosts = plan.state, plan.hosts
        self.plans.append(plan)
        return plan

    def live(self) -> list:
        return [t for t in self.state.tasks if t.last_status != STOPPED]

    def waiting(self, td: str | None = None) -> list[str]:
        return [t.task_id for t in self.live() if t.last_status in (PROVISIONING, PENDING)
                and (td is None or t.task_definition == td)]

    def start(self, *task_ids: str) -> Plan:
        at = self.clock.now() + 1
        return self.step(*(Observation(i, "started", at=at) for i in task_ids))

    def exit(self, *task_ids: str, code: int = 3) -> Plan:
        at = self.clock.now() + 1
        return self.step(*(Observation(i, "exited", exit_code=code, at=at) for i in task_ids))

    def stopping(self) -> list[str]:
        return [t.task_id for t in self.live() if t.desired_status == STOPPED]

    def serving(self) -> int:
        """Tasks RUNNING and not being stopped (what keeps answering)."""
        return sum(t.last_status == RUNNING and t.desired_status == RUNNING for t in self.live())

    def deploy(self, td: str = NEW, **config: object) -> Plan:
        self.state = replace(self.state, task_definition=td,
                             config=replace(self.state.config, **config))
        return self.step()

    def messages(self) -> list[str]:
        return [e.message for p in self.plans for e in p.events]


def test_threshold_and_rolling_limits_round_as_documented() -> None:
    # 0.5 x desired, rounded up, within 3..200 (the 2023 guide's table with today's minimum).
    assert [circuit_breaker_threshold(n) for n in (0, 1, 4, 6, 7, 25, 400, 800)] == [
        3, 3, 3, 3, 4, 13, 200, 200]
    # minimumHealthyPercent rounded up, maximumPercent rounded down (§4).
    assert rolling_limits(4, DeploymentConfig()) == (4, 8)
    assert rolling_limits(5, DeploymentConfig(50, 150)) == (3, 7)


def test_a_state_without_deployments_is_one_completed_deployment() -> None:
    lab = Lab()
    [view] = lab.state.deployment_views()
    assert (view.deployment.id, view.deployment.status, view.deployment.rollout_state) == (
        FIRST, PRIMARY, COMPLETED)
    assert (view.desired_count, view.running_count, view.pending_count) == (4, 4, 0)
    assert all(t.task_definition == OLD and t.started_by == FIRST for t in lab.live())


def run_rollout(lab: Lab, steps: int = 12) -> tuple[int, int]:
    """Start whatever the scheduler starts and let stopped tasks exit, step by step;
    the fewest tasks serving and the most alive seen."""
    fewest, most = lab.serving(), len(lab.live())
    for _ in range(steps):
        exits = [Observation(i, "exited", exit_code=143, at=lab.clock.now() + 1)
                 for i in lab.stopping()]
        starts = [Observation(i, "started", at=lab.clock.now() + 1) for i in lab.waiting()]
        lab.step(*exits, *starts)
        fewest, most = min(fewest, lab.serving()), max(most, len(lab.live()))
    return fewest, most


def test_rolling_update_keeps_the_minimum_healthy_and_completes() -> None:
    lab = Lab()
    plan = lab.deploy()
    primary = lab.state.primary
    assert (primary.task_definition, primary.status, primary.rollout_state) == (
        NEW, PRIMARY, IN_PROGRESS)
    assert primary.rollout_state_reason == f"ECS deployment {primary.id} in progress."
    assert lab.state.deployments[1].id == FIRST and lab.state.deployments[1].status == ACTIVE
    # maximumPercent 200: all 4 new tasks start at once, the old 4 keep serving.
    assert len(plan.start) == 4 and plan.stop == []
    assert all(s.task.task_definition == NEW and s.task.started_by == primary.id
               for s in plan.start)
    views = {v.deployment.id: v for v in lab.state.deployment_views()}
    assert (views[primary.id].pending_count, views[FIRST].running_count) == (4, 4)

    fewest, most = run_rollout(lab)
    assert fewest >= 4  # desired x minimumHealthyPercent 100 %
    assert most <= 8  # desired x maximumPercent 200 %
    assert [t.task_definition for t in lab.live()] == [NEW] * 4
    assert all(t.last_status == RUNNING for t in lab.live())
    [done] = lab.state.deployments
    assert (done.id, done.rollout_state) == (primary.id, COMPLETED)
    assert done.rollout_state_reason == f"ECS deployment {primary.id} completed."
    assert lab.state.last_completed == done
    messages = lab.messages()
    completed = f"(service {SVC}) (deployment {primary.id}) deployment completed."
    assert messages.count(completed) == 1
    assert messages.index(completed) < len(messages) - 1
    assert messages[-1] == f"(service {SVC}) has reached a steady state."
    old_stops = [t for t in lab.state.tasks if t.task_definition == OLD]
    assert all(t.stopped_reason == f"Scaling activity initiated by (deployment {FIRST})"
               for t in old_stops)


def test_rolling_update_with_50_and_100_percent_stops_old_tasks_first() -> None:
    lab = Lab(config=DeploymentConfig(minimum_healthy_percent=50, maximum_percent=100))
    plan = lab.deploy()
    assert plan.start == [] and len(plan.stop) == 2  # no room above 100 %; 2 may go
    fewest, most = run_rollout(lab)
    assert fewest >= 2 and most <= 4
    assert [t.task_definition for t in lab.live()] == [NEW] * 4
    assert lab.state.primary.rollout_state == COMPLETED


def test_old_tasks_are_kept_while_the_new_ones_are_not_healthy() -> None:
    lab = Lab()
    lab.deploy()
    for _ in range(5):  # the new tasks never answer: nothing old is stopped
        plan = lab.step(dt=30)
        assert plan.stop == []
    assert lab.serving() == 4
    assert lab.state.primary.rollout_state == IN_PROGRESS
    new = lab.waiting(NEW)
    lab.start(*new[:2])  # two are healthy: two old ones may go
    assert len(lab.stopping()) == 2 and lab.serving() == 4


def bad_rollout(lab: Lab, failures: int) -> Plan:
    """The new tasks exit (code 3) before they ever run, one pass per failure."""
    plan = lab.plans[-1]
    for _ in range(failures):
        plan = lab.exit(lab.waiting(NEW)[0])
    return plan


def test_circuit_breaker_trips_at_the_threshold_and_rolls_back() -> None:
    lab = Lab()
    lab.deploy(circuit_breaker=True, rollback=True)
    bad = lab.state.primary
    assert bad.monitored and bad.stage == 1
    bad_rollout(lab, 2)
    assert lab.state.primary.id == bad.id
    assert (lab.state.primary.failed_tasks, lab.state.primary.rollout_state) == (2, IN_PROGRESS)
    plan = bad_rollout(lab, 1)  # the third failure: threshold 3 for 4 desired
    assert plan.rolled_back_to == OLD and lab.state.task_definition == OLD
    rollback, failed = lab.state.deployments
    assert (failed.id, failed.status, failed.rollout_state, failed.failed_tasks) == (
        bad.id, ACTIVE, FAILED, 3)
    assert failed.rollout_state_reason == "ECS deployment circuit breaker: tasks failed to start."
    assert (rollback.status, rollback.task_definition) == (PRIMARY, OLD)
    assert rollback.rollout_state_reason == (
        f"ECS deployment circuit breaker: rolling back to deploymentId {FIRST}.")
    assert not rollback.monitored  # it has RUNNING tasks when it begins
    messages = [e.message for e in plan.events]
    assert messages[:2] == [
        f"(service {SVC}) (deployment {bad.id}) deployment failed: tasks failed to start.",
        f"(service {SVC}) rolling back to deployment {FIRST}."]
    assert any("circuit breaker" in n and "threshold 3" in n for n in plan.notes)
    # The old tasks never stopped; the failed deployment's tasks are stopped.
    assert lab.serving() == 4
    assert all(t.task_definition == OLD for t in lab.live() if t.desired_status == RUNNING)
    assert plan.start == [] and {s.task_id for s in plan.stop} == set(lab.waiting(NEW))
    lab.exit(*lab.stopping(), code=143)
    rollback, failed = lab.state.deployments
    assert rollback.rollout_state == COMPLETED and lab.plans[-1].steady
    assert rollback.rollout_state_reason.startswith("ECS deployment circuit breaker: rolling")
    assert (failed.status, failed.rollout_state) == (INACTIVE, FAILED)  # kit: still listed
    assert [v.running_count for v in lab.state.deployment_views()] == [4, 0]
    assert lab.state.last_completed.id == rollback.id
    # The next deployment clears the failed one from the list.
    lab.deploy("fraud-detection:3")
    assert [d.id for d in lab.state.deployments][1:] == [rollback.id]


def test_without_rollback_the_failed_deployment_stays_primary_and_launches_nothing() -> None:
    lab = Lab()
    lab.deploy(circuit_breaker=True, rollback=False)
    plan = lab.exit(*lab.waiting(NEW))  # all 4 at once: 4 >= 3
    primary = lab.state.primary
    assert (primary.task_definition, primary.status, primary.rollout_state) == (
        NEW, PRIMARY, FAILED)
    assert primary.failed_tasks == 4 and plan.rolled_back_to is None
    assert lab.state.task_definition == NEW
    for _ in range(10):  # well past the 30-s throttle: still nothing launched
        plan = lab.step(dt=60)
        assert plan.start == [] and plan.stop == [] and not plan.steady
    assert lab.serving() == 4 and {t.task_definition for t in lab.live()} == {OLD}
    assert lab.state.deployments[1].status == ACTIVE  # the old one keeps serving


def test_without_the_circuit_breaker_failures_are_counted_and_retried() -> None:
    lab = Lab()
    lab.deploy()
    lab.exit(*lab.waiting(NEW))
    assert lab.state.primary.failed_tasks == 4
    assert lab.state.primary.rollout_state == IN_PROGRESS
    plan = lab.step(dt=600)  # throttled restarts (§4), never a FAILED deployment
    assert len(plan.start) == 4


def test_stage_two_counts_running_tasks_that_die_not_failed_starts() -> None:
    lab = Lab()
    lab.deploy(circuit_breaker=True, rollback=True)
    new = lab.waiting(NEW)
    lab.start(new[0])  # one task of the deployment RUNNING: stage 2
    assert lab.state.primary.stage == 2
    lab.exit(*new[1:])  # failing to reach RUNNING no longer counts
    assert lab.state.primary.failed_tasks == 0
    for _ in range(3):  # a RUNNING task of the deployment that dies fails its health checks
        running = [t.task_id for t in lab.live() if t.task_definition == NEW
                   and t.last_status == RUNNING]
        lab.exit(running[0], code=1)
        lab.step(dt=120)  # past the throttle the failed starts above set
        lab.start(*lab.waiting(NEW))
    assert lab.state.task_definition == OLD
    assert lab.state.deployments[1].failed_tasks == 3


def test_a_new_task_definition_resets_the_throttle() -> None:
    lab = Lab(desired=1)
    lab.deploy()
    lab.exit(*lab.waiting(NEW))
    lab.exit(*lab.waiting(NEW))
    assert lab.state.failed_starts == 2 and lab.state.next_start_at > lab.clock.now()
    plan = lab.deploy("fraud-detection:3")
    assert (lab.state.failed_starts, lab.state.next_start_at) == (0, 0.0)
    assert len(plan.start) == 1 and plan.start[0].task.task_definition == "fraud-detection:3"


def test_a_first_deployment_that_fails_has_nothing_to_roll_back_to() -> None:
    """The controller's case: a new service's deployment starts IN_PROGRESS."""
    lab = Lab(converge=False)
    first = Deployment(FIRST, OLD, 256, 512, created_at=0.0)
    lab.state = replace(lab.state, deployments=(first,),
                        config=DeploymentConfig(circuit_breaker=True, rollback=True))
    lab.step()
    plan = lab.exit(*lab.waiting())
    assert lab.state.primary.rollout_state == FAILED and plan.rolled_back_to is None
    assert any("no earlier deployment COMPLETED" in n for n in plan.notes)
    assert lab.step(dt=600).start == []


def test_desired_count_changes_do_not_start_a_deployment() -> None:
    lab = Lab()
    lab.state = replace(lab.state, desired_count=6)
    plan = lab.step()
    assert len(plan.start) == 2 and [d.id for d in lab.state.deployments] == [FIRST]
    assert all(s.task.task_definition == OLD for s in plan.start)


def test_a_load_balanced_service_counts_tasks_healthy_once_the_target_group_says_so() -> None:
    lab = Lab()
    lab.state = replace(lab.state, load_balanced=True)
    at = lab.clock.now()
    lab.step(*(Observation(t.task_id, "healthy", at=at) for t in lab.live()))
    lab.deploy()
    new = lab.waiting(NEW)
    plan = lab.start(*new)
    assert plan.stop == []  # RUNNING, but the load balancer has not passed them yet
    plan = lab.step(*(Observation(i, "healthy", at=lab.clock.now()) for i in new[:3]))
    assert len(plan.stop) == 3  # 1 old + 3 new healthy: still 4 >= 100 %
    assert all(lab.state.task(s.task_id).task_definition == OLD for s in plan.stop)
