"""The ECS service scheduler's reconcile, as a pure function (fact sheet §3, §4).

``reconcile(state, hosts, now, observations, new_id=...)`` → :class:`Plan`: the lifecycle
transitions the runtime's observations make due, the tasks to start (placed, with reasons),
the tasks to stop on scale-in, and service events in ECS's wording. ``Plan.state`` and
``Plan.hosts`` are fed into the next call; nothing here does I/O or reads a clock.

Rules followed:
- A stopped task is replaced by a NEW task (new 32-hex id) placed by the placement logic (§4).
- Tasks that stop before ever reaching RUNNING throttle the restarts: the wait doubles up to
  15 minutes and the service reports "is unable to consistently start tasks successfully";
  tasks that reached RUNNING and then died are replaced without throttle (§4,
  service-throttle-logic.md).
- Identical events are not repeated until their cause is resolved or 6 hours pass (§3).
- Placement counts reserved resources; ``hosts`` must already account for every task of
  ``state`` that is not STOPPED (as ECS's remainingResources do). Feed back ``Plan.hosts``.

Deployments (§4, rolling update, deployment-circuit-breaker.md):
- ``state.task_definition`` is the service's (what describe-services says); when it differs
  from the PRIMARY deployment's, a new PRIMARY deployment begins (IN_PROGRESS) and the old one
  becomes ACTIVE. A new task definition also resets the start throttle (§4).
- Rolling update: new tasks for the PRIMARY while at most ``maximumPercent`` of the desired
  count run or start (rounded down); old tasks are stopped only while at least
  ``minimumHealthyPercent`` (rounded up) stay healthy, so old tasks are kept while the new ones
  are not healthy. Healthy: RUNNING, and for a load-balanced service (``load_balanced``) also
  reported healthy by the target group ("healthy" observations). A task belongs to the
  PRIMARY when it runs the PRIMARY's task definition.
- Circuit breaker (when ``deploymentCircuitBreaker.enable``): threshold = 0.5 x desired count,
  rounded up, at least 3 (current API docs; the 2023 guide said 10) and at most 200. Stage 1
  counts the deployment's tasks that stop before reaching RUNNING; once one of its tasks is
  RUNNING, stage 2 counts its health-check failures instead (the kit: a RUNNING task of the
  deployment that dies without the scheduler asking). At the threshold the deployment is FAILED
  and launches no new task; with ``rollback`` a new deployment of the last COMPLETED
  deployment's task definition begins. The logic does not start for a deployment that has a
  RUNNING task when it begins.
- The PRIMARY is COMPLETED at the service's steady state (all desired tasks RUNNING on its task
  definition, no other task left).
- ``--force-new-deployment`` (``state.force_new``): a new PRIMARY of the same task definition
  that owns only the tasks it started, so the rolling update replaces every task.

ELB health feeding ECS: an "unhealthy" observation (the task's target in its target group) of
a RUNNING task, once ``health_check_grace`` (healthCheckGracePeriodSeconds) has passed since it
started (:func:`elb_health_due`), stops the task — "Task failed ELB health checks in
(target-group <arn>)", its target drained first — and the same pass starts its replacement; it
counts as a failed health check for the circuit breaker.

Standalone tasks (RunTask/StartTask): :func:`launch_standalone` places them (ECS's
``RESOURCE:*`` failures for what does not fit), :func:`run_standalone` runs steps 1-3 of a
pass over them; no desired count, so nothing replaces them.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cloud.ecs.placement import (
    UNABLE_TO_PLACE,
    Host,
    Placement,
    StopChoice,
    TaskRequest,
    Unplaced,
    choose_tasks_to_stop,
    failures,
    place,
)

PROVISIONING, PENDING, RUNNING, STOPPED = "PROVISIONING", "PENDING", "RUNNING", "STOPPED"
OBSERVATION_KINDS = ("started", "exited", "oom", "healthy", "unhealthy")

# Service events, ECS's wording (§4: aws/aws-sdk-go#457, service-event-messages.md).
STARTED_EVENT = "(service {name}) has started {n} tasks: {tasks}."
STOPPED_EVENT = "(service {name}) has stopped {n} running tasks: {tasks}."
STEADY_EVENT = "(service {name}) has reached a steady state."
THROTTLE_EVENT = "(service {name}) is unable to consistently start tasks successfully."

# Stopped reasons.
ESSENTIAL_EXITED = "Essential container in task exited"  # §2, essential containers
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"  # §2, agent errors.go
OOM_EXIT_CODE = 137  # SIGKILL (§2, docker-diags.md)
# The two below are the kit's wording: the fact sheet quotes no exact text for them (they follow
# what the ECS console shows for a terminated instance and a scale-in).
HOST_TERMINATED = "Host EC2 (instance {instance_id}) terminated."
SCALE_IN_REASON = "Scaling activity initiated by (deployment {deployment})"
# ELB health feeding ECS: the stoppedReason as ECS reports it (e.g. the AWS Copilot output
# quoted in the shared notes' sources: "Task failed ELB health checks in (target-group <arn>)")
# and the service event in the "(service S) (task T) ..." form of service-event-messages.md.
ELB_UNHEALTHY_REASON = "Task failed ELB health checks in (target-group {target_group})"
ELB_UNHEALTHY_EVENT = ("(service {name}) (task {task}) failed ELB health checks in "
                       "(target-group {target_group}).")

# Deployments (§4). rolloutState values and "deployment completed" are AWS's (§4, quoted).
PRIMARY, ACTIVE, INACTIVE = "PRIMARY", "ACTIVE", "INACTIVE"
IN_PROGRESS, COMPLETED, FAILED = "IN_PROGRESS", "COMPLETED", "FAILED"
COMPLETED_EVENT = "(service {name}) (deployment {deployment}) deployment completed."
# kit: the fact sheet quotes no wording for the rest. The rolloutStateReasons follow what
# describe-services shows (moto 5.2.5 for in progress/completed; "tasks failed to start" as
# quoted in aws/containers-roadmap#1488); the failure and rollback events are the kit's words.
IN_PROGRESS_REASON = "ECS deployment {deployment} in progress."
COMPLETED_REASON = "ECS deployment {deployment} completed."
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
ROLLBACK_REASON = "ECS deployment circuit breaker: rolling back to deploymentId {deployment}."
FAILED_EVENT = ("(service {name}) (deployment {deployment}) deployment failed: "
                "tasks failed to start.")
ROLLBACK_EVENT = "(service {name}) rolling back to deployment {deployment}."
CIRCUIT_BREAKER_MIN, CIRCUIT_BREAKER_MAX = 3, 200  # §4 (current API docs; 2023 guide: min 10)

DEDUP_WINDOW = 6 * 3600.0  # §3: duplicate events re-emitted only after six hours
MAX_EVENTS = 100  # §3: the console shows the 100 most recent
THROTTLE_BASE = 30.0  # kit's choice: AWS documents the cap, not the first step
THROTTLE_MAX = 15 * 60.0  # §4: "up to a maximum of 15 minutes"
STOPPED_RETENTION = 3600.0  # kit's choice: ECS keeps stopped tasks visible about an hour

TASK_ID = re.compile(r"^[0-9a-f]{32}$")


def task_id_factory(rng: random.Random) -> Callable[[], str]:
    """Task ids like ECS's: 32 lowercase hex characters, drawn from an injected generator."""
    return lambda: f"{rng.getrandbits(128):032x}"


def deployment_id_factory(new_id: Callable[[], str]) -> Callable[[], str]:
    """Deployment ids like ECS's ("ecs-svc/" and 19 digits), from the task id generator."""
    return lambda: f"ecs-svc/{int(new_id(), 16) % 10**19:019d}"


def circuit_breaker_threshold(desired_count: int) -> int:
    """Failed tasks that fail a deployment: 0.5 x desired, rounded up, within 3..200 (§4)."""
    return min(CIRCUIT_BREAKER_MAX, max(CIRCUIT_BREAKER_MIN, math.ceil(0.5 * desired_count)))


def rolling_limits(desired_count: int, config: DeploymentConfig) -> tuple[int, int]:
    """(fewest tasks kept RUNNING, most tasks RUNNING or starting) during a deployment:
    minimumHealthyPercent rounded up, maximumPercent rounded down (§4)."""
    return (math.ceil(desired_count * config.minimum_healthy_percent / 100),
            math.floor(desired_count * config.maximum_percent / 100))


def throttle_delay(failed_starts: int) -> float:
    """Lab seconds to wait before starting tasks after ``failed_starts`` consecutive failures.

    The first failure is retried at once (one failure is not "repeatedly"); from the second the
    wait is 30 s and doubles — 30, 60, 120, 240, 480 — capped at 900 s (15 min, §4).
    """
    if failed_starts <= 1:
        return 0.0
    return min(THROTTLE_BASE * 2 ** (failed_starts - 2), THROTTLE_MAX)


@dataclass(frozen=True)
class TaskState:
    """A task of the service, with ECS's lastStatus/desiredStatus and timestamps (lab s)."""

    task_id: str
    instance_id: str | None
    last_status: str = PROVISIONING
    desired_status: str = RUNNING
    created_at: float = 0.0
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    stopped_reason: str | None = None
    exit_code: int | None = None
    started_by: str = ""  # the deployment that launched it (ECS's startedBy)
    task_definition: str = ""
    cpu: int = 0  # reserved CPU units / MiB; 0: the service's
    memory: int = 0
    healthy: bool = False  # the load balancer's target group reported it healthy
    group: str = ""  # a standalone task's (RunTask/StartTask); a service's: "service:<name>"

    @property
    def reached_running(self) -> bool:
        return self.started_at is not None

    @property
    def active(self) -> bool:
        """Counts toward the desired count: not stopped and not being stopped."""
        return self.desired_status == RUNNING and self.last_status != STOPPED


@dataclass(frozen=True)
class ServiceEvent:
    at: float
    message: str


@dataclass(frozen=True)
class DeploymentConfig:
    """describe-services' deploymentConfiguration (ECS's defaults for a replica service, §4)."""

    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = False  # deploymentCircuitBreaker.enable
    rollback: bool = False  # deploymentCircuitBreaker.rollback

    def __post_init__(self) -> None:
        if self.minimum_healthy_percent < 0 or self.maximum_percent < 0:
            raise ValueError("deployment percentages cannot be negative")


@dataclass(frozen=True)
class Deployment:
    """One deployment of the service (describe-services' ``deployments``), lab times."""

    id: str
    task_definition: str
    task_cpu: int
    task_memory: int
    status: str = PRIMARY  # PRIMARY | ACTIVE | INACTIVE
    rollout_state: str = IN_PROGRESS  # IN_PROGRESS | COMPLETED | FAILED
    rollout_state_reason: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    failed_tasks: int = 0
    monitored: bool = True  # the circuit breaker watches it (no RUNNING task when it began)
    stage: int = 1  # circuit breaker stage: 2 once one of its tasks reached RUNNING
    # update-service --force-new-deployment: same task definition, so only the tasks this
    # deployment started are its own (every older task is replaced)
    forced: bool = False


@dataclass(frozen=True)
class DeploymentView:
    """A deployment with its task counts, as describe-services shows it."""

    deployment: Deployment
    desired_count: int
    running_count: int
    pending_count: int


@dataclass(frozen=True)
class ServiceState:
    """A replica service as the scheduler keeps it between reconciles."""

    name: str
    desired_count: int
    task_cpu: int
    task_memory: int
    host_port: int | None = None
    network_mode: str = "bridge"  # the task definition's networkMode (placement.NETWORK_MODES)
    strategy: str = "spread"
    distinct_instance: bool = False
    deployment_id: str = "ecs-svc/0000000000000000001"
    tasks: tuple[TaskState, ...] = ()
    failed_starts: int = 0  # consecutive tasks that stopped before RUNNING
    next_start_at: float = 0.0  # throttle: no task starts before this lab time
    recent: Mapping[str, float] = field(default_factory=dict)  # event → last emitted (dedup)
    events: tuple[ServiceEvent, ...] = ()  # newest first, like describe-services
    task_definition: str = ""  # the service's (describe-services' taskDefinition)
    config: DeploymentConfig = field(default_factory=DeploymentConfig)
    # PRIMARY first. None given: one COMPLETED deployment (``deployment_id``) of the service's
    # task definition, i.e. the service is taken as already deployed.
    deployments: tuple[Deployment, ...] = ()
    last_completed: Deployment | None = None  # what a rollback goes back to
    load_balanced: bool = False  # tasks count as healthy once the target group says so
    health_check_grace: float = 0.0  # healthCheckGracePeriodSeconds (lab s after RUNNING)
    # update-service --force-new-deployment asked for: the new deployment's id (the API's)
    force_new: str | None = None
    # the id the API answered for the deployment a new task definition begins (None: ours)
    next_deployment_id: str | None = None

    def __post_init__(self) -> None:
        if self.desired_count < 0:
            raise ValueError(f"desired count cannot be negative: {self.desired_count}")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "deployments", tuple(self.deployments))

    @property
    def primary(self) -> Deployment:
        if self.deployments:
            return self.deployments[0]
        return _initial_deployment(self)

    def deployment_views(self) -> list[DeploymentView]:
        """Each deployment with its desired/running/pending counts, PRIMARY first.

        A task counts for the PRIMARY when it runs the PRIMARY's task definition, else for the
        deployment that started it (or, if that one is gone, the newest with its definition).
        """
        deployments = list(self.deployments) or [self.primary]
        primary = deployments[0]
        counts = {d.id: [0, 0, 0] for d in deployments}
        for t in self.tasks:
            if t.last_status == STOPPED:
                continue
            owner = _owner(t, deployments)
            if owner is None:
                continue
            c = counts[owner.id]
            c[0] += t.desired_status == RUNNING
            c[1] += t.last_status == RUNNING
            c[2] += t.last_status in (PROVISIONING, PENDING)
        return [DeploymentView(d, self.desired_count if d.id == primary.id else counts[d.id][0],
                               counts[d.id][1], counts[d.id][2]) for d in deployments]

    def task(self, task_id: str) -> TaskState:
        return next(t for t in self.tasks if t.task_id == task_id)

    @property
    def running_count(self) -> int:
        return sum(t.last_status == RUNNING for t in self.tasks)

    @property
    def pending_count(self) -> int:
        return sum(t.last_status in (PROVISIONING, PENDING) for t in self.tasks)

    def request(self) -> TaskRequest:
        return TaskRequest(self.name, self.task_cpu, self.task_memory, self.host_port,
                           self.network_mode)


def _short(task_definition: str) -> str:
    """family:revision of a task definition ARN."""
    return task_definition.rsplit("/", 1)[-1] or "the task definition"


def _initial_deployment(state: ServiceState) -> Deployment:
    return Deployment(state.deployment_id, state.task_definition, state.task_cpu,
                      state.task_memory, PRIMARY, COMPLETED,
                      COMPLETED_REASON.format(deployment=state.deployment_id), monitored=False)


def _owner(t: TaskState, deployments: Sequence[Deployment]) -> Deployment | None:
    if not deployments:
        return None
    if _owns(deployments[0], t):
        return deployments[0]
    by_id = next((d for d in deployments if d.id == t.started_by), None)
    return by_id or next((d for d in deployments if d.task_definition == t.task_definition),
                         None)


def _owns(d: Deployment, t: TaskState) -> bool:
    """The task is the deployment's: it runs its task definition (a forced deployment: it
    started it)."""
    return t.started_by == d.id if d.forced else t.task_definition == d.task_definition


@dataclass(frozen=True)
class Observation:
    """What the runtime saw: the container is up ("started"), exited, or was OOM-killed; or
    what the load balancer saw: the task's target passed its health check ("healthy") or is
    marked unhealthy in ``target_group`` ("unhealthy")."""

    task_id: str
    kind: str
    exit_code: int | None = None
    at: float = 0.0
    reason: str | None = None  # overrides the stopped reason (e.g. a pull error)
    target_group: str = ""  # "unhealthy": the target group's ARN

    def __post_init__(self) -> None:
        if self.kind not in OBSERVATION_KINDS:
            raise ValueError(f"observation kind must be one of {OBSERVATION_KINDS}; "
                             f"got {self.kind!r}")


@dataclass(frozen=True)
class Transition:
    """One lastStatus change, with the kit's reason and (for STOPPED) ECS's fields."""

    task_id: str
    from_status: str
    to_status: str
    at: float
    reason: str
    stopped_reason: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True)
class TaskStart:
    task: TaskState
    placement: Placement


@dataclass(frozen=True)
class TaskStop:
    task_id: str
    instance_id: str | None
    stopped_reason: str  # ECS's
    reason: str  # the kit's: why this task


@dataclass(frozen=True)
class Plan:
    state: ServiceState  # the next state (feed it back)
    hosts: list[Host]  # hosts after releases and placements (feed them back)
    transitions: list[Transition]
    start: list[TaskStart]
    stop: list[TaskStop]
    unplaced: list[Unplaced]
    events: list[ServiceEvent]  # emitted now, in order (after de-duplication)
    throttled_until: float | None = None
    steady: bool = False
    notes: list[str] = field(default_factory=list)  # the kit's words for deployment decisions
    rolled_back_to: str | None = None  # the task definition a rollback put the service back on


class _Events:
    """ECS's de-duplication: an identical message waits until its cause clears or 6 h pass."""

    def __init__(self, recent: Mapping[str, float], now: float) -> None:
        self.now = now
        self.recent = {m: t for m, t in recent.items() if now - t < DEDUP_WINDOW}
        self.emitted: list[ServiceEvent] = []

    def emit(self, message: str) -> None:
        if message in self.recent:
            return
        self.recent[message] = self.now
        self.emitted.append(ServiceEvent(self.now, message))

    def resolve(self, prefix: str) -> None:
        for message in [m for m in self.recent if m.startswith(prefix)]:
            del self.recent[message]


@dataclass
class Pass:
    """One reconcile's working state: what the steps read and change, in order.

    Built by :func:`start_pass`; each step function takes it and changes it in place; the
    last, :func:`finish`, turns it into a :class:`Plan`. Nothing here does I/O.
    """

    state: ServiceState
    now: float
    tasks: dict[str, TaskState]
    work: dict[str, Host]  # hosts after releases and placements
    events: _Events
    deployments: list[Deployment]
    last_completed: Deployment | None
    service_td: tuple[str, int, int]  # the service's task definition, cpu, memory
    new_deployment_id: Callable[[], str]
    was_provisioning: list[str]
    failed_starts: int = 0
    next_start_at: float = 0.0
    transitions: list[Transition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    starts: list[TaskStart] = field(default_factory=list)
    stops: list[TaskStop] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    throttled_until: float | None = None
    steady: bool = False
    rolled_back_to: str | None = None

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def primary(self) -> Deployment:
        return self.deployments[0]

    def owned(self, t: TaskState) -> bool:
        """The task runs the PRIMARY deployment's task definition (a forced deployment: the
        PRIMARY started it)."""
        return _owns(self.primary, t)

    def resources(self, t: TaskState) -> tuple[int, int]:
        return t.cpu or self.state.task_cpu, t.memory or self.state.task_memory

    def move(self, t: TaskState, to: str, at: float, reason: str,
             **changes: object) -> TaskState:
        """A lastStatus change, recorded as a transition."""
        new = replace(t, last_status=to, **changes)  # type: ignore[arg-type]
        self.transitions.append(Transition(t.task_id, t.last_status, to, at, reason,
                                           new.stopped_reason if to == STOPPED else None,
                                           new.exit_code if to == STOPPED else None))
        self.tasks[t.task_id] = new
        return new

    def stop(self, t: TaskState, at: float, reason: str, stopped_reason: str,
             exit_code: int | None) -> None:
        """The task STOPPED: its reservation goes back to its host. Only a task of the service's
        task definition holds its port/ENI; an older one (another network mode) frees none of
        them (the next pass recounts all)."""
        if t.instance_id in self.work:
            own = not t.task_definition or t.task_definition == self.state.task_definition
            self.work[t.instance_id].release(*self.resources(t),
                                             self.state.host_port if own else None, self.name,
                                             eni=own and self.state.network_mode == "awsvpc")
        self.move(t, STOPPED, at, reason, desired_status=STOPPED, stopped_at=at,
                  stopped_reason=stopped_reason, exit_code=exit_code)

    def update(self, deployment_id: str, **changes: object) -> None:
        for i, d in enumerate(self.deployments):
            if d.id == deployment_id:
                self.deployments[i] = replace(d, updated_at=self.now,
                                              **changes)  # type: ignore[arg-type]

    def begin(self, task_definition: str, cpu: int, memory: int,
              reason: str | None = None, deployment_id: str | None = None,
              forced: bool = False) -> None:
        """A new PRIMARY deployment (``deployment_id``: the one the API answered), the old
        PRIMARY becomes ACTIVE (§4). ``forced``: update-service --force-new-deployment, the
        same task definition, every task replaced."""
        now, config = self.now, self.state.config
        new_id_ = deployment_id or self.new_deployment_id()
        running = not forced and any(
            t.task_definition == task_definition and t.last_status == RUNNING
            and t.desired_status == RUNNING for t in self.tasks.values())
        new = Deployment(new_id_, task_definition, cpu, memory, PRIMARY, IN_PROGRESS,
                         reason or IN_PROGRESS_REASON.format(deployment=new_id_), now, now,
                         monitored=not running, stage=2 if running else 1, forced=forced)
        self.deployments[:] = [new] + [replace(d, status=ACTIVE, updated_at=now)
                                       for d in self.deployments if d.status != INACTIVE]
        # §4: deploying a new task definition resets the start throttle.
        self.failed_starts, self.next_start_at = 0, 0.0
        self.events.resolve(THROTTLE_EVENT.format(name=self.name))
        lo, hi = rolling_limits(self.state.desired_count, config)
        self.notes.append(
            f"deployment {new_id_} began: {_short(task_definition)};"
            f" the rolling update keeps >= {lo} tasks RUNNING and <= {hi} in total "
            f"(minimumHealthyPercent {config.minimum_healthy_percent}, maximumPercent "
            f"{config.maximum_percent})"
            + ("; it already has a RUNNING task, so the circuit breaker does not "
               "watch it" if running and config.circuit_breaker else ""))

    def count_failure(self, t: TaskState) -> None:
        """Stage 1: a task that never reached RUNNING; stage 2: a RUNNING one that died."""
        d = next((d for d in self.deployments if d.id == t.started_by), None)
        if d is None or d.rollout_state != IN_PROGRESS:
            return
        if (d.stage == 1 and not t.reached_running) or (d.stage == 2 and t.reached_running):
            self.update(d.id, failed_tasks=d.failed_tasks + 1)


def start_pass(state: ServiceState, hosts: Sequence[Host], now: float,
               new_deployment_id: Callable[[], str]) -> Pass:
    """A reconcile's working state, from the service's state and the hosts."""
    deployments = list(state.deployments) or [_initial_deployment(state)]
    return Pass(
        state=state, now=now, tasks={t.task_id: t for t in state.tasks},
        work={h.instance_id: h.copy() for h in hosts}, events=_Events(state.recent, now),
        deployments=deployments,
        last_completed=state.last_completed or next(
            (d for d in deployments if d.rollout_state == COMPLETED), None),
        service_td=(state.task_definition, state.task_cpu, state.task_memory),
        new_deployment_id=new_deployment_id,
        was_provisioning=[t.task_id for t in state.tasks if t.last_status == PROVISIONING],
        failed_starts=state.failed_starts, next_start_at=state.next_start_at)


def begin_deployment(p: Pass) -> None:
    """Step 0. A new task definition on the service, or update-service
    --force-new-deployment: a new PRIMARY deployment (forced: of the same task definition,
    replacing every task through the same rolling update)."""
    if p.state.force_new and p.state.force_new != p.primary.id:
        p.begin(*p.service_td, deployment_id=p.state.force_new, forced=True)
        p.notes.append(f"--force-new-deployment: deployment {p.primary.id} replaces every task "
                       "of the service with a new one of the same task definition")
    elif p.state.task_definition != p.primary.task_definition:
        p.begin(*p.service_td, deployment_id=p.state.next_deployment_id)


def apply_observations(p: Pass, observations: Iterable[Observation]) -> None:
    """Step 1. The runtime's observations, by time: started (PENDING/RUNNING, the throttle
    resets), healthy, exited or OOM-killed (STOPPED; a start that never reached RUNNING
    throttles restarts and counts for the circuit breaker)."""
    for obs in sorted(observations, key=lambda o: o.at):
        t = p.tasks.get(obs.task_id)
        if t is None or t.last_status == STOPPED:
            continue
        if obs.kind == "healthy":
            p.tasks[t.task_id] = replace(t, healthy=True)
        elif obs.kind == "unhealthy":
            _failed_elb_health(p, t, obs)
        elif obs.kind == "started":
            _started(p, t, obs)
        else:
            _ended(p, t, obs)


def _started(p: Pass, t: TaskState, obs: Observation) -> None:
    if t.last_status == RUNNING:
        return
    if t.last_status == PROVISIONING:
        t = p.move(t, PENDING, obs.at, "the agent pulled the image and created the container")
    p.move(t, RUNNING, obs.at, "the runtime reports the container is up", started_at=obs.at)
    p.failed_starts, p.next_start_at = 0, 0.0
    p.events.resolve(THROTTLE_EVENT.format(name=p.name))
    d = next((d for d in p.deployments if d.id == t.started_by), None)
    if d is not None and d.stage == 1:
        p.update(d.id, stage=2)


def elb_health_due(t: TaskState, grace: float, at: float) -> str | None:
    """Why an unhealthy target's task is stopped now, or None: ECS acts on ELB health only
    for a RUNNING task it has not asked to stop, once healthCheckGracePeriodSeconds have
    passed since the task started (§4; default 0)."""
    if t.last_status != RUNNING or t.desired_status != RUNNING or t.started_at is None:
        return None
    if at - t.started_at < grace:
        return None
    return (f"its target is unhealthy and {at - t.started_at:.0f} s since it started >= the "
            f"health check grace period ({grace:g} s)")


def _failed_elb_health(p: Pass, t: TaskState, obs: Observation) -> None:
    """A RUNNING task whose target the load balancer marks unhealthy: past the grace period
    the scheduler stops it (its target drained first) and the next step replaces it; it
    counts as a failed health check for the circuit breaker (stage 2)."""
    why = elb_health_due(t, p.state.health_check_grace, obs.at)
    if why is None:
        return
    reason = ELB_UNHEALTHY_REASON.format(target_group=obs.target_group)
    p.tasks[t.task_id] = replace(t, desired_status=STOPPED, stopping_at=obs.at,
                                 stopped_reason=reason, healthy=False)
    p.stops.append(TaskStop(t.task_id, t.instance_id, reason, f"failed ELB health checks: {why}"))
    p.events.emit(ELB_UNHEALTHY_EVENT.format(name=p.name, task=t.task_id,
                                             target_group=obs.target_group))
    p.count_failure(t)


def _ended(p: Pass, t: TaskState, obs: Observation) -> None:
    scheduler_stop = t.desired_status == STOPPED and t.stopped_reason is not None
    if obs.kind == "oom":
        reason, code = OOM_REASON, OOM_EXIT_CODE if obs.exit_code is None else obs.exit_code
    else:
        reason, code = obs.reason or ESSENTIAL_EXITED, obs.exit_code
    if scheduler_stop:
        reason = t.stopped_reason or reason
    why = ("stopped as asked" if scheduler_stop else
           f"container exited (code {code})" if obs.kind == "exited"
           else "container killed: out of memory")
    if not t.reached_running and not scheduler_stop:
        why += "; it never reached RUNNING, so restarts are throttled"
        p.failed_starts += 1
        p.next_start_at = max(p.next_start_at, obs.at + throttle_delay(p.failed_starts))
        if p.failed_starts >= 2:
            p.events.emit(THROTTLE_EVENT.format(name=p.name))
    if not scheduler_stop:
        p.count_failure(t)
    p.stop(t, obs.at, why, reason, code)


def stop_orphaned_tasks(p: Pass) -> None:
    """Step 2. Tasks on instances that left the cluster are STOPPED."""
    for t in list(p.tasks.values()):
        if t.last_status != STOPPED and t.instance_id is not None and t.instance_id not in p.work:
            p.stop(t, p.now, f"{t.instance_id} is no longer in the cluster",
                   HOST_TERMINATED.format(instance_id=t.instance_id), None)


def advance_provisioning(p: Pass) -> None:
    """Step 3. Tasks placed on a previous pass move on: the agent starts pulling the image."""
    for task_id in p.was_provisioning:
        t = p.tasks[task_id]
        if t.last_status == PROVISIONING:
            p.move(t, PENDING, p.now, f"placed on {t.instance_id}; the agent pulls the image "
                   "and starts the container")


def apply_circuit_breaker(p: Pass) -> None:
    """Step 4. The circuit breaker (§4, deployment-circuit-breaker.md): at the threshold the
    PRIMARY is FAILED; with rollback, a new deployment of the last COMPLETED one begins."""
    state, primary = p.state, p.primary
    threshold = circuit_breaker_threshold(state.desired_count)
    if not (state.config.circuit_breaker and primary.monitored
            and primary.rollout_state == IN_PROGRESS and primary.failed_tasks >= threshold):
        return
    p.update(primary.id, rollout_state=FAILED, rollout_state_reason=CIRCUIT_BREAKER_REASON)
    p.events.emit(FAILED_EVENT.format(name=p.name, deployment=primary.id))
    stage = ("tasks that never reached RUNNING" if primary.stage == 1
             else "RUNNING tasks that failed their health checks")
    p.notes.append(f"circuit breaker: deployment {primary.id} has {primary.failed_tasks} "
                   f"failed tasks ({stage}) >= threshold {threshold} (0.5 x desired "
                   f"{state.desired_count}, rounded up, within 3..200): FAILED, it launches "
                   "no new task")
    target = p.last_completed
    if state.config.rollback and target is not None \
            and target.task_definition != primary.task_definition:
        p.service_td = (target.task_definition, target.task_cpu, target.task_memory)
        p.begin(*p.service_td, reason=ROLLBACK_REASON.format(deployment=target.id))
        p.rolled_back_to = target.task_definition
        p.events.emit(ROLLBACK_EVENT.format(name=p.name, deployment=target.id))
        p.notes.append(f"rollback: back to the last COMPLETED deployment {target.id} "
                       f"({_short(target.task_definition)})")
    elif state.config.rollback:
        p.notes.append("rollback asked for, but no earlier deployment COMPLETED: the failed "
                       "deployment stays PRIMARY")


def _request(p: Pass) -> TaskRequest:
    """What one task of the PRIMARY deployment reserves."""
    state, primary = p.state, p.primary
    return TaskRequest(p.name, primary.task_cpu or state.task_cpu,
                       primary.task_memory or state.task_memory, state.host_port,
                       state.network_mode)


def meet_desired_count(p: Pass, active: list[TaskState], new_id: Callable[[], str],
                       rng: random.Random | None = None) -> None:
    """Step 5. The PRIMARY's tasks up to the desired count (placed, unless throttled, FAILED
    or beyond maximumPercent during a rolling update), or down to it (scale-in). ``active``:
    the tasks counting toward the desired count when step 5 began."""
    state, primary = p.state, p.primary
    mine = [t for t in active if p.owned(t)]
    old_alive = [t for t in p.tasks.values() if t.last_status != STOPPED and not p.owned(t)]
    _, max_total = rolling_limits(state.desired_count, state.config)
    need = state.desired_count - len(mine)
    unable_prefix = UNABLE_TO_PLACE.format(service=p.name)
    room = need
    if old_alive:  # a rolling update: at most maximumPercent RUNNING or starting
        room = min(need, max_total - sum(t.last_status != STOPPED for t in p.tasks.values()))
    if need > 0 and primary.rollout_state == FAILED:
        pass  # a FAILED deployment launches no new task
    elif need > 0 and p.now < p.next_start_at:
        p.throttled_until = p.next_start_at
    elif need > 0 and room > 0:
        _start_tasks(p, room, new_id, rng)
        if not p.unplaced:
            p.events.resolve(unable_prefix)
    elif need < 0:
        p.events.resolve(unable_prefix)
        _scale_in(p, mine, -need, rng)
    elif need == 0:
        p.events.resolve(unable_prefix)


def _start_tasks(p: Pass, room: int, new_id: Callable[[], str],
                 rng: random.Random | None) -> None:
    req = _request(p)
    state = p.state
    result = place([req] * room, list(p.work.values()), state.strategy,
                   distinct_instance=state.distinct_instance, rng=rng)
    p.work = {h.instance_id: h for h in result.hosts}
    for placed in result.placements:
        task_id = new_id()
        if not TASK_ID.match(task_id) or task_id in p.tasks:
            raise ValueError(f"task id factory gave {task_id!r}: need 32 new hex chars")
        new = TaskState(task_id, placed.instance_id, PROVISIONING, RUNNING, created_at=p.now,
                        started_by=p.primary.id, task_definition=p.primary.task_definition,
                        cpu=req.cpu, memory=req.memory)
        p.tasks[task_id] = new
        p.starts.append(TaskStart(new, placed))
    if p.starts:
        p.events.emit(STARTED_EVENT.format(name=p.name, n=len(p.starts), tasks=" ".join(
            f"(task {s.task.task_id})" for s in p.starts)))
    p.unplaced = result.unplaced
    for u in p.unplaced:
        p.events.emit(u.event)


def _scale_in(p: Pass, mine: list[TaskState], count: int, rng: random.Random | None) -> None:
    req = _request(p)
    chosen: list[StopChoice] = choose_tasks_to_stop(
        mine, list(p.work.values()), count, p.state.strategy, group=p.name,
        task_cpu=req.cpu, task_memory=req.memory, rng=rng)
    reason = SCALE_IN_REASON.format(deployment=p.primary.id)
    for c in chosen:
        p.tasks[c.task_id] = replace(p.tasks[c.task_id], desired_status=STOPPED,
                                     stopping_at=p.now, stopped_reason=reason)
        p.stops.append(TaskStop(c.task_id, c.instance_id, reason, c.reason))


def retire_old_tasks(p: Pass, active: list[TaskState],
                     rng: random.Random | None = None) -> None:
    """Step 5, rolling update. Old tasks go while at least minimumHealthyPercent of
    ``active`` (as step 5 began) stay RUNNING: those not serving at once, RUNNING ones as new
    ones take over (§4); then the "has stopped" event for every task stopped this pass."""
    state = p.state
    old_active = [t for t in active if not p.owned(t)]
    if old_active:
        min_healthy, _ = rolling_limits(state.desired_count, state.config)
        healthy = sum(t.last_status == RUNNING and (t.healthy or not state.load_balanced)
                      for t in active)
        waiting = [t for t in old_active if t.last_status != RUNNING]
        serving = [t for t in old_active if t.last_status == RUNNING]
        budget = max(0, min(len(serving), healthy - min_healthy))
        picked = [(t.task_id, t.instance_id, "it is not RUNNING; the PRIMARY deployment "
                   "replaces it") for t in waiting]
        if budget:
            cpu, memory = p.resources(serving[0])
            picked += [(c.task_id, c.instance_id,
                        f"{c.reason}; {healthy - 1} tasks stay RUNNING (>= {min_healthy})")
                       for c in choose_tasks_to_stop(serving, list(p.work.values()), budget,
                                                     state.strategy, group=p.name,
                                                     task_cpu=cpu, task_memory=memory,
                                                     rng=rng)]
        for task_id, instance_id, why in picked:
            t = p.tasks[task_id]
            reason = SCALE_IN_REASON.format(deployment=t.started_by or p.primary.id)
            p.tasks[task_id] = replace(t, desired_status=STOPPED, stopping_at=p.now,
                                       stopped_reason=reason)
            p.stops.append(TaskStop(task_id, instance_id, reason,
                                    f"old task definition: {why}"))
    if p.stops:
        p.events.emit(STOPPED_EVENT.format(name=p.name, n=len(p.stops), tasks=" ".join(
            f"(task {s.task_id})" for s in p.stops)))


def report_steady_state(p: Pass) -> None:
    """Step 6. Steady state: exactly the desired tasks, all RUNNING on the PRIMARY's task
    definition, nothing starting or stopping; the PRIMARY's rollout then COMPLETED."""
    primary = p.primary
    live = [t for t in p.tasks.values() if t.last_status != STOPPED]
    stopping = any(t.desired_status == STOPPED for t in live)
    mine_now = [t for t in live if t.desired_status == RUNNING and p.owned(t)]
    p.steady = (not stopping and len(mine_now) == p.state.desired_count
                and all(t.last_status == RUNNING for t in mine_now)
                and all(p.owned(t) for t in live))
    if p.steady and primary.rollout_state == IN_PROGRESS:
        # kit: a rollback keeps saying so once COMPLETED (what tools check to tell a
        # rollback from a successful deployment); the fact sheet does not say.
        rollback = primary.rollout_state_reason.startswith(ROLLBACK_REASON.split("{")[0])
        p.update(primary.id, rollout_state=COMPLETED, rollout_state_reason=(
            primary.rollout_state_reason if rollback
            else COMPLETED_REASON.format(deployment=primary.id)))
        p.last_completed = p.deployments[0]
        p.events.emit(COMPLETED_EVENT.format(name=p.name, deployment=primary.id))
        p.notes.append(f"deployment {primary.id} COMPLETED: {len(mine_now)} tasks RUNNING "
                       "its task definition, no other task left")
    steady_msg = STEADY_EVENT.format(name=p.name)
    if p.steady:
        p.events.emit(steady_msg)
    else:
        p.events.resolve(steady_msg)


def finish(p: Pass) -> Plan:
    """The pass as a Plan: old deployments leave once their tasks are gone (kit: a FAILED
    one stays listed, INACTIVE, until the next deployment begins, so a learner can read
    why), stopped tasks are kept STOPPED_RETENTION, events newest first."""
    state, now = p.state, p.now
    live = [t for t in p.tasks.values() if t.last_status != STOPPED]
    kept_deployments = [p.deployments[0]]
    for d in p.deployments[1:]:
        if any(_owner(t, p.deployments) is d for t in live):
            kept_deployments.append(d)
        elif d.rollout_state == FAILED:
            kept_deployments.append(d if d.status == INACTIVE
                                    else replace(d, status=INACTIVE, updated_at=now))
    kept = tuple(t for t in p.tasks.values()
                 if t.last_status != STOPPED or now - (t.stopped_at or now) < STOPPED_RETENTION)
    history = (tuple(reversed(p.events.emitted)) + state.events)[:MAX_EVENTS]
    new_state = replace(state, tasks=kept, failed_starts=p.failed_starts, force_new=None,
                        next_deployment_id=None,
                        next_start_at=p.next_start_at, recent=p.events.recent, events=history,
                        task_definition=p.service_td[0], task_cpu=p.service_td[1],
                        task_memory=p.service_td[2], deployments=tuple(kept_deployments),
                        last_completed=p.last_completed)
    return Plan(new_state, list(p.work.values()), p.transitions, p.starts, p.stops,
                p.unplaced, p.events.emitted, p.throttled_until, p.steady, p.notes,
                p.rolled_back_to)


def reconcile(state: ServiceState, hosts: Sequence[Host], now: float,
              observations: Iterable[Observation] = (), *, new_id: Callable[[], str],
              rng: random.Random | None = None,
              new_deployment_id: Callable[[], str] | None = None) -> Plan:
    """One pass of the service scheduler at lab time ``now``: the steps below, in order.

    0. :func:`begin_deployment` if the service's task definition changed;
    1. :func:`apply_observations` (by time);
    2. :func:`stop_orphaned_tasks` whose instance left the cluster;
    3. :func:`advance_provisioning`: PROVISIONING tasks to PENDING;
    4. :func:`apply_circuit_breaker` (fail, maybe roll back);
    5. :func:`meet_desired_count` (start unless throttled, or stop) and
       :func:`retire_old_tasks` — rolling from old to new task definition within the
       deployment configuration's bounds;
    6. :func:`report_steady_state`: a completed deployment and a steady state when every
       wanted task is RUNNING; then :func:`finish` makes the Plan.
    """
    p = start_pass(state, hosts, now, new_deployment_id or deployment_id_factory(new_id))
    begin_deployment(p)
    apply_observations(p, observations)
    stop_orphaned_tasks(p)
    advance_provisioning(p)
    apply_circuit_breaker(p)
    active = [t for t in p.tasks.values() if t.active]
    meet_desired_count(p, active, new_id, rng)
    retire_old_tasks(p, active, rng)
    report_steady_state(p)
    return finish(p)


# ---- standalone tasks (RunTask / StartTask) -------------------------------------------------
# ECS's RunTask/StartTask ``failures[].reason`` for a container instance without room
# (api_failures_messages.md: "RESOURCE:CPU", "RESOURCE:MEMORY", ...; the placement
# constraint's wording as ECS prints it for distinctInstance).
FAILURE_REASONS = {"cpu": "RESOURCE:CPU", "memory": "RESOURCE:MEMORY", "port": "RESOURCE:PORTS",
                   "eni": "RESOURCE:ENI",
                   "distinctInstance": "DistinctInstance placement constraint unsatisfied."}


@dataclass(frozen=True)
class Launch:
    """RunTask/StartTask's placement: the tasks started (PROVISIONING, placed) and, per
    container instance that could not take one, ECS's failure reason."""

    starts: list[TaskStart]
    failures: list[tuple[str, str]]  # (instance id, reason), each pair once
    hosts: list[Host]  # with the new tasks' reservations


def _failures(req: TaskRequest, hosts: Sequence[Host], distinct: bool) -> list[tuple[str, str]]:
    out = []
    for h in hosts:
        if h.status != "ACTIVE":
            continue
        why = failures(h, req, distinct)
        if why:
            out.append((h.instance_id, FAILURE_REASONS[why[0]]))
    return out


def launch_standalone(req: TaskRequest, count: int, hosts: Sequence[Host], now: float, *,
                      task_definition: str, started_by: str, strategy: str = "spread",
                      distinct_instance: bool = False, instances: Sequence[str] | None = None,
                      new_id: Callable[[], str],
                      rng: random.Random | None = None) -> Launch:
    """Place standalone tasks as RunTask does (``count`` tasks by ``strategy``), or as
    StartTask does (one on each of ``instances``). Unplaced: the reason of every instance
    that lacked room, as ECS lists them. Nothing here starts them: see
    :func:`run_standalone`."""
    work = {h.instance_id: h.copy() for h in hosts}
    placements: list[Placement] = []
    unplaced: list[tuple[str, str]] = []
    if instances is None:
        result = place([req] * count, list(work.values()), strategy,
                       distinct_instance=distinct_instance, rng=rng)
        work = {h.instance_id: h for h in result.hosts}
        placements = result.placements
        for _ in result.unplaced:
            unplaced += _failures(req, list(work.values()), distinct_instance)
    else:
        for instance_id in instances:
            result = place([req], [work[instance_id]], "spread:instanceId",
                           distinct_instance=distinct_instance)
            work[instance_id] = result.hosts[0]
            placements += result.placements
            if result.unplaced:
                unplaced += _failures(req, [work[instance_id]], distinct_instance)
    starts = []
    for placed in placements:
        task_id = new_id()
        task = TaskState(task_id, placed.instance_id, PROVISIONING, RUNNING, created_at=now,
                         started_by=started_by, task_definition=task_definition, cpu=req.cpu,
                         memory=req.memory, group=req.group)
        starts.append(TaskStart(task, placed))
    return Launch(starts, list(dict.fromkeys(unplaced)), list(work.values()))


@dataclass(frozen=True)
class StandalonePlan:
    tasks: tuple[TaskState, ...]  # the next state (feed it back)
    transitions: list[Transition]


def run_standalone(tasks: Sequence[TaskState], hosts: Sequence[Host], now: float,
                   observations: Iterable[Observation] = ()) -> StandalonePlan:
    """One pass over the standalone tasks: steps 1-3 of a service's pass (the runtime's
    observations, tasks whose instance left, PROVISIONING to PENDING) and nothing after —
    no desired count: a standalone task that stops is not replaced (ECS's RunTask).
    Stopped tasks are kept STOPPED_RETENTION."""
    state = ServiceState("standalone", 0, 0, 1, tasks=tuple(tasks))
    p = start_pass(state, hosts, now, lambda: "")
    apply_observations(p, [o for o in observations if o.kind != "unhealthy"])
    stop_orphaned_tasks(p)
    advance_provisioning(p)
    kept = tuple(t for t in p.tasks.values()
                 if t.last_status != STOPPED or now - (t.stopped_at or now) < STOPPED_RETENTION)
    return StandalonePlan(kept, p.transitions)
