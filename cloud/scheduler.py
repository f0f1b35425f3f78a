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
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cloud.placement import (
    UNABLE_TO_PLACE,
    Host,
    Placement,
    StopChoice,
    TaskRequest,
    Unplaced,
    choose_tasks_to_stop,
    place,
)

PROVISIONING, PENDING, RUNNING, STOPPED = "PROVISIONING", "PENDING", "RUNNING", "STOPPED"
OBSERVATION_KINDS = ("started", "exited", "oom")

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

DEDUP_WINDOW = 6 * 3600.0  # §3: duplicate events re-emitted only after six hours
MAX_EVENTS = 100  # §3: the console shows the 100 most recent
THROTTLE_BASE = 30.0  # kit's choice: AWS documents the cap, not the first step
THROTTLE_MAX = 15 * 60.0  # §4: "up to a maximum of 15 minutes"
STOPPED_RETENTION = 3600.0  # kit's choice: ECS keeps stopped tasks visible about an hour

TASK_ID = re.compile(r"^[0-9a-f]{32}$")


def task_id_factory(rng: random.Random) -> Callable[[], str]:
    """Task ids like ECS's: 32 lowercase hex characters, drawn from an injected generator."""
    return lambda: f"{rng.getrandbits(128):032x}"


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
    started_by: str = ""

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
class ServiceState:
    """A replica service as the scheduler keeps it between reconciles."""

    name: str
    desired_count: int
    task_cpu: int
    task_memory: int
    host_port: int | None = None
    strategy: str = "spread"
    distinct_instance: bool = False
    deployment_id: str = "ecs-svc/0000000000000000001"
    tasks: tuple[TaskState, ...] = ()
    failed_starts: int = 0  # consecutive tasks that stopped before RUNNING
    next_start_at: float = 0.0  # throttle: no task starts before this lab time
    recent: Mapping[str, float] = field(default_factory=dict)  # event → last emitted (dedup)
    events: tuple[ServiceEvent, ...] = ()  # newest first, like describe-services

    def __post_init__(self) -> None:
        if self.desired_count < 0:
            raise ValueError(f"desired count cannot be negative: {self.desired_count}")
        object.__setattr__(self, "tasks", tuple(self.tasks))

    def task(self, task_id: str) -> TaskState:
        return next(t for t in self.tasks if t.task_id == task_id)

    @property
    def running_count(self) -> int:
        return sum(t.last_status == RUNNING for t in self.tasks)

    @property
    def pending_count(self) -> int:
        return sum(t.last_status in (PROVISIONING, PENDING) for t in self.tasks)

    def request(self) -> TaskRequest:
        return TaskRequest(self.name, self.task_cpu, self.task_memory, self.host_port)


@dataclass(frozen=True)
class Observation:
    """What the runtime saw: the container is up ("started"), exited, or was OOM-killed."""

    task_id: str
    kind: str
    exit_code: int | None = None
    at: float = 0.0
    reason: str | None = None  # overrides the stopped reason (e.g. a pull error)

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


def reconcile(state: ServiceState, hosts: Sequence[Host], now: float,
              observations: Iterable[Observation] = (), *, new_id: Callable[[], str],
              rng: random.Random | None = None) -> Plan:
    """One pass of the service scheduler at lab time ``now``.

    Order: apply observations (by time), stop tasks whose instance left the cluster, advance
    PROVISIONING tasks to PENDING, then start (unless throttled) or stop tasks to meet the
    desired count, and report a steady state when every wanted task is RUNNING.
    """
    name = state.name
    tasks = {t.task_id: t for t in state.tasks}
    work = {h.instance_id: h.copy() for h in hosts}
    events = _Events(state.recent, now)
    transitions: list[Transition] = []
    failed_starts, next_start_at = state.failed_starts, state.next_start_at
    req = state.request()
    was_provisioning = [t.task_id for t in state.tasks if t.last_status == PROVISIONING]

    def move(t: TaskState, to: str, at: float, reason: str, **changes: object) -> TaskState:
        new = replace(t, last_status=to, **changes)  # type: ignore[arg-type]
        transitions.append(Transition(t.task_id, t.last_status, to, at, reason,
                                      new.stopped_reason if to == STOPPED else None,
                                      new.exit_code if to == STOPPED else None))
        tasks[t.task_id] = new
        return new

    def stop(t: TaskState, at: float, reason: str, stopped_reason: str,
             exit_code: int | None) -> None:
        if t.instance_id in work:
            work[t.instance_id].release(req.cpu, req.memory, req.host_port, name)
        move(t, STOPPED, at, reason, desired_status=STOPPED, stopped_at=at,
             stopped_reason=stopped_reason, exit_code=exit_code)

    # 1. The runtime's observations.
    for obs in sorted(observations, key=lambda o: o.at):
        t = tasks.get(obs.task_id)
        if t is None or t.last_status == STOPPED:
            continue
        if obs.kind == "started":
            if t.last_status == RUNNING:
                continue
            if t.last_status == PROVISIONING:
                t = move(t, PENDING, obs.at, "the agent pulled the image and created the "
                         "container")
            move(t, RUNNING, obs.at, "the runtime reports the container is up",
                 started_at=obs.at)
            failed_starts, next_start_at = 0, 0.0
            events.resolve(THROTTLE_EVENT.format(name=name))
            continue
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
            failed_starts += 1
            next_start_at = max(next_start_at, obs.at + throttle_delay(failed_starts))
            if failed_starts >= 2:
                events.emit(THROTTLE_EVENT.format(name=name))
        stop(t, obs.at, why, reason, code)

    # 2. Tasks on instances that left the cluster.
    for t in list(tasks.values()):
        if t.last_status != STOPPED and t.instance_id is not None and t.instance_id not in work:
            stop(t, now, f"{t.instance_id} is no longer in the cluster",
                 HOST_TERMINATED.format(instance_id=t.instance_id), None)

    # 3. Placed tasks move on: the agent starts pulling the image.
    for task_id in was_provisioning:
        t = tasks[task_id]
        if t.last_status == PROVISIONING:
            move(t, PENDING, now, f"placed on {t.instance_id}; the agent pulls the image and "
                 "starts the container")

    # 4. Meet the desired count.
    active = [t for t in tasks.values() if t.active]
    need = state.desired_count - len(active)
    starts: list[TaskStart] = []
    stops: list[TaskStop] = []
    unplaced: list[Unplaced] = []
    throttled_until = None
    unable_prefix = UNABLE_TO_PLACE.format(service=name)
    if need > 0 and now < next_start_at:
        throttled_until = next_start_at
    elif need > 0:
        result = place([req] * need, list(work.values()), state.strategy,
                       distinct_instance=state.distinct_instance, rng=rng)
        work = {h.instance_id: h for h in result.hosts}
        for p in result.placements:
            task_id = new_id()
            if not TASK_ID.match(task_id) or task_id in tasks:
                raise ValueError(f"task id factory gave {task_id!r}: need 32 new hex chars")
            new = TaskState(task_id, p.instance_id, PROVISIONING, RUNNING, created_at=now,
                            started_by=state.deployment_id)
            tasks[task_id] = new
            starts.append(TaskStart(new, p))
        if starts:
            events.emit(STARTED_EVENT.format(name=name, n=len(starts), tasks=" ".join(
                f"(task {s.task.task_id})" for s in starts)))
        unplaced = result.unplaced
        for u in unplaced:
            events.emit(u.event)
        if not unplaced:
            events.resolve(unable_prefix)
    elif need < 0:
        events.resolve(unable_prefix)
        chosen: list[StopChoice] = choose_tasks_to_stop(
            active, list(work.values()), -need, state.strategy, group=name,
            task_cpu=req.cpu, task_memory=req.memory, rng=rng)
        reason = SCALE_IN_REASON.format(deployment=state.deployment_id)
        for c in chosen:
            tasks[c.task_id] = replace(tasks[c.task_id], desired_status=STOPPED,
                                       stopping_at=now, stopped_reason=reason)
            stops.append(TaskStop(c.task_id, c.instance_id, reason, c.reason))
        events.emit(STOPPED_EVENT.format(name=name, n=len(stops), tasks=" ".join(
            f"(task {s.task_id})" for s in stops)))
    else:
        events.resolve(unable_prefix)

    # 5. Steady state: exactly the desired tasks, all RUNNING, nothing starting or stopping.
    stopping = any(t.desired_status == STOPPED and t.last_status != STOPPED
                   for t in tasks.values())
    steady = (need == 0 and not stopping
              and all(t.last_status == RUNNING for t in tasks.values() if t.active))
    steady_msg = STEADY_EVENT.format(name=name)
    if steady:
        events.emit(steady_msg)
    else:
        events.resolve(steady_msg)

    kept = tuple(t for t in tasks.values()
                 if t.last_status != STOPPED or now - (t.stopped_at or now) < STOPPED_RETENTION)
    history = (tuple(reversed(events.emitted)) + state.events)[:MAX_EVENTS]
    new_state = replace(state, tasks=kept, failed_starts=failed_starts,
                        next_start_at=next_start_at, recent=events.recent, events=history)
    return Plan(new_state, list(work.values()), transitions, starts, stops, unplaced,
                events.emitted, throttled_until, steady)
