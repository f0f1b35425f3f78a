"""Cluster auto scaling (an ASG capacity provider with managed scaling), as pure decisions.

Rules followed (fact sheet §3, "Capacity providers / cluster auto scaling"; §11b):
- Only a capacity provider with managed scaling adds instances; a desired count alone never
  does (§11b). Tasks without room wait in PROVISIONING until an instance registers.
- Metric ``CapacityProviderReservation`` (namespace ``AWS/ECS/ManagedScaling``) = M/N×100,
  N = instances running, M = instances needed (binpack over CPU, memory and ports), evaluated
  once a minute. Above ``targetCapacity``: scale out (AlarmHigh, 1 of 1 datapoints); below it
  for 15 of 15 one-minute datapoints: scale in (AlarmLow).
- From zero instances with tasks waiting ECS "always scales-out to 200% (two instances)".
- Scale-out steps lie in [minimumScalingStepSize, maximumScalingStepSize] (defaults 1 and
  10000; scale-in is not affected by them, ManagedScaling API reference); no new scale-out
  while an instance launched less than ``instanceWarmupPeriod`` (300 s) ago is warming up.
- Only empty instances (no tasks, or only daemon tasks) are retired; tasks are never moved.
  CAS never changes the Auto Scaling group's min/max size.

The kit's choices where the fact sheet is silent are marked "kit:" below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from cloud.core.clock import PERIOD, is_new_minute, minute_of
from cloud.core.instance_types import instance_type as lookup_instance_type
from cloud.ecs.placement import Host, TaskRequest, failures, gib, place

METRIC_NAMESPACE = "AWS/ECS/ManagedScaling"  # §3
METRIC_NAME = "CapacityProviderReservation"  # §3
SCALE_OUT_DATAPOINTS = 1  # AlarmHigh: 1 of 1 (§3, aws/containers-roadmap#638)
SCALE_IN_DATAPOINTS = 15  # AlarmLow: 15 of 15 (§3)
FROM_ZERO_INSTANCES = 2  # §3: from zero ECS scales out to 200%, two instances
FROM_ZERO_RESERVATION = 200.0
HISTORY = 60  # kit: datapoints kept for the UI (an hour of lab minutes)
MAX_STEP = 10_000  # API limit of both step sizes and of instanceWarmupPeriod


def _int_in(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer; got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}; got {value}")


@dataclass(frozen=True)
class ManagedScaling:
    """The capacity provider's managed scaling settings and its ASG's bounds (§3).

    Ranges are the ECS API's: targetCapacity 1–100, step sizes 1–10000 (minimum <= maximum),
    instanceWarmupPeriod 0–10000 s (lab seconds here). ``min_size``/``max_size`` belong to the
    Auto Scaling group: CAS scales between them and never changes them.
    """

    target_capacity: int = 100
    minimum_scaling_step_size: int = 1
    maximum_scaling_step_size: int = MAX_STEP
    instance_warmup_period: int = 300
    min_size: int = 0
    max_size: int = 10
    instance_type: str = "t3.medium"

    def __post_init__(self) -> None:
        _int_in("target_capacity (percent)", self.target_capacity, 1, 100)
        _int_in("minimum_scaling_step_size", self.minimum_scaling_step_size, 1, MAX_STEP)
        _int_in("maximum_scaling_step_size", self.maximum_scaling_step_size, 1, MAX_STEP)
        if self.minimum_scaling_step_size > self.maximum_scaling_step_size:
            raise ValueError(
                f"minimum_scaling_step_size ({self.minimum_scaling_step_size}) cannot exceed "
                f"maximum_scaling_step_size ({self.maximum_scaling_step_size})")
        _int_in("instance_warmup_period (lab seconds)", self.instance_warmup_period, 0, MAX_STEP)
        _int_in("min_size (of the Auto Scaling group)", self.min_size, 0)
        _int_in("max_size (of the Auto Scaling group)", self.max_size, 0)
        if self.min_size > self.max_size:
            raise ValueError(f"the Auto Scaling group's min_size ({self.min_size}) cannot exceed "
                             f"its max_size ({self.max_size})")
        lookup_instance_type(self.instance_type)  # ValueError naming the known types


@dataclass(frozen=True)
class Datapoint:
    """One minute of ``CapacityProviderReservation``: the minute's start, value, M and N."""

    at: float
    value: float
    needed: int
    running: int


@dataclass(frozen=True)
class CapacityState:
    """What CAS remembers between calls (lab seconds throughout).

    ``launches`` holds one launch time per instance still in its warm-up; ``retiring`` the ids
    already handed back for termination (ignored until they leave ``hosts``);
    ``desired_capacity`` is the ASG's desired capacity, which counts instances still booting.
    """

    datapoints: tuple[Datapoint, ...] = ()
    last_scale_out: float | None = None
    last_scale_in: float | None = None
    launches: tuple[float, ...] = ()
    desired_capacity: int = 0
    retiring: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _int_in("desired_capacity", self.desired_capacity, 0)
        object.__setattr__(self, "datapoints", tuple(self.datapoints))
        object.__setattr__(self, "launches", tuple(self.launches))
        object.__setattr__(self, "retiring", tuple(self.retiring))


@dataclass(frozen=True)
class CapacityDecision:
    """What to do now: instances to launch, instance ids to retire, and why."""

    state: CapacityState  # feed it into the next call
    launch: int
    retire: tuple[str, ...]
    datapoint: Datapoint | None  # recorded by this call (None: this minute already has one)
    reason: str
    action: str = "none"  # "scale-out" | "scale-in" | "none"
    needed_why: str = ""  # how M was computed


def _pct(value: float) -> str:
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _verb(n: int, verb: str) -> str:
    return verb if n != 1 else f"{verb}s"


def is_empty(host: Host, daemon_groups: Collection[str] = ()) -> bool:
    """No tasks, or only daemon tasks (§3: such an instance counts as empty).

    A host with reserved resources but no recorded tasks is treated as busy.
    """
    groups = [g for g, n in host.tasks_by_group.items() if n > 0]
    if groups:
        return all(g in daemon_groups for g in groups)
    return host.cpu_free >= host.registered_cpu and host.memory_free >= host.registered_memory


@dataclass(frozen=True)
class _Need:
    needed: int
    why: str
    takes_waiting: frozenset[str] = field(default_factory=frozenset)  # empty hosts that fill


def _pack(hosts: Sequence[Host], waiting: Sequence[TaskRequest], itype_name: str,
          daemon_groups: Collection[str]) -> _Need:
    """Binpack the waiting tasks: first onto the instances there are, then onto new ones.

    kit: tasks already placed stay where they are (ECS never moves tasks); waiting tasks are
    packed largest first (memory, then CPU) with the kit's ``binpack`` placement, which checks
    CPU, memory, static host ports and awsvpc ENI attachment points.
    """
    itype = lookup_instance_type(itype_name)
    order = sorted(waiting, key=lambda r: (-r.memory, -r.cpu, r.host_port is None))
    first = place(order, hosts, "binpack")
    after = first.hosts
    leftovers = [u.request for u in first.unplaced]
    new: list[Host] = []
    impossible: list[TaskRequest] = []
    for req in leftovers:
        if new:
            tried = place([req], new, "binpack")
            if tried.placements:
                new = tried.hosts
                continue
        fresh = Host.of_type(f"(new {len(new) + 1})", "(new)", itype.name)
        if failures(fresh, req):
            impossible.append(req)
            continue
        fresh.assign(req.cpu, req.memory, req.host_port, req.group, eni=req.needs_eni)
        new.append(fresh)
    was_empty = {h.instance_id for h in hosts if is_empty(h, daemon_groups)}
    busy = [h for h in after if not is_empty(h, daemon_groups)]
    takes = frozenset(h.instance_id for h in busy if h.instance_id in was_empty)
    needed = len(busy) + len(new)

    parts = [f"instances running tasks: {len(busy) - len(takes)} of {len(hosts)}"]
    if first.placements:
        k = len(first.placements)
        parts.append(f"{_plural(k, 'waiting task')} {_verb(k, 'fit')} on them")
    if new:
        k = len(leftovers) - len(impossible)
        parts.append(f"{_plural(k, 'waiting task')} {_verb(k, 'need')} {len(new)} more "
                     f"{itype.name} (binpack over CPU and memory)")
    if impossible:
        k, big = len(impossible), impossible[0]
        parts.append(f"{_plural(k, 'waiting task')} {_verb(k, 'fit')} no empty {itype.name} "
                     f"(e.g. {big.cpu} CPU / {big.memory} MiB vs {itype.cpu_units} CPU / "
                     f"{itype.registered_memory_mib()} MiB), not counted: more instances "
                     "would not help")
    return _Need(needed, f"M = {needed}: " + "; ".join(parts), takes)


def instances_needed(hosts: Sequence[Host], waiting: Sequence[TaskRequest],
                     instance_type: str = "t3.medium", *,
                     daemon_groups: Collection[str] = ()) -> tuple[int, str]:
    """M: instances needed for every placed task plus the waiting ones, and why (§3).

    Instances running tasks count once each (empty or daemon-only ones do not); the waiting
    tasks are binpacked onto the room left on them, then onto new ``instance_type`` instances.
    """
    need = _pack(hosts, waiting, instance_type, daemon_groups)
    return need.needed, need.why


def reservation(needed: int, running: int) -> float:
    """CapacityProviderReservation = M/N×100 (§3).

    N = 0: 200 when tasks need an instance (ECS scales out from zero to two instances), 100
    when nothing is needed (no action).
    """
    _int_in("M (instances needed)", needed, 0)
    _int_in("N (instances running)", running, 0)
    if running == 0:
        return FROM_ZERO_RESERVATION if needed > 0 else 100.0
    return needed / running * 100.0


def needed_at_target(needed: int, target_capacity: int) -> int:
    """Instances that bring M/N×100 down to the target: ceil(M×100/target).

    kit: the target-tracking arithmetic; equals M at the default target of 100.
    """
    return -(-needed * 100 // target_capacity)


def _low_run(datapoints: Sequence[Datapoint], target: int) -> int:
    """Consecutive one-minute datapoints below target, newest backwards (a gap breaks it)."""
    run = 0
    expected = None
    for dp in reversed(datapoints):
        if dp.value >= target or (expected is not None and dp.at != expected):
            break
        run += 1
        expected = dp.at - PERIOD
    return run


def _retire_order(empty: list[Host], live: Sequence[Host], n: int) -> list[Host]:
    """kit: most free memory (then CPU) first; ties go to the AZ with the most instances (the
    ASG's default termination policy keeps AZs balanced), then by instance id."""
    pool = list(empty)
    chosen: list[Host] = []
    per_az = Counter(h.az for h in live)
    while pool and len(chosen) < n:
        host = min(pool, key=lambda h: (-h.memory_free, -h.cpu_free, -per_az[h.az],
                                        h.instance_id))
        pool.remove(host)
        per_az[host.az] -= 1
        chosen.append(host)
    return chosen


def decide(state: CapacityState, hosts: Sequence[Host], waiting: Sequence[TaskRequest],
           now: float, settings: ManagedScaling, *,
           daemon_groups: Collection[str] = ()) -> CapacityDecision:
    """One CAS evaluation at lab time ``now``; call it at any rate.

    ``hosts`` are the registered container instances of the capacity provider (with their
    tasks' reservations), ``waiting`` the tasks no instance could take. At most one datapoint
    is recorded per lab minute, and only a call that records one can act.
    """
    present = {h.instance_id for h in hosts}
    retiring = tuple(i for i in state.retiring if i in present)
    live = [h for h in hosts if h.instance_id not in retiring]
    warmup = settings.instance_warmup_period
    launches = tuple(t for t in state.launches if now - t < warmup)
    state = replace(state, retiring=retiring, launches=launches)

    minute = minute_of(now)  # ECS evaluates the metric every lab minute (§3)
    if not is_new_minute(now, state.datapoints[-1].at if state.datapoints else None):
        return CapacityDecision(
            state, 0, (), None,
            f"{METRIC_NAME} is evaluated once per lab minute: this minute's datapoint is "
            f"recorded; next evaluation at {minute + PERIOD:g} s")

    itype = settings.instance_type
    need = _pack(live, waiting, itype, daemon_groups)
    m, n = need.needed, len(live)
    value = reservation(m, n)
    dp = Datapoint(minute, value, m, n)
    state = replace(state, datapoints=(*state.datapoints, dp)[-HISTORY:])
    target = settings.target_capacity
    current = max(n, state.desired_capacity)
    want = needed_at_target(m, target)
    metric = f"{METRIC_NAME} {_pct(value)}"

    def no_action(reason: str) -> CapacityDecision:
        return CapacityDecision(replace(state, desired_capacity=current), 0, (), dp, reason,
                                "none", need.why)

    if value > target:
        head = (f"{metric} > target {target}% ({SCALE_OUT_DATAPOINTS} of "
                f"{SCALE_OUT_DATAPOINTS} datapoints)")
        waits = (f"; {_plural(len(waiting), 'waiting task')} stay in PROVISIONING"
                 if waiting else "")
        if launches:
            until = max(launches) + warmup
            return no_action(
                f"{head}, but {_plural(len(launches), 'instance')} launched at "
                f"{max(launches):g} s {'is' if len(launches) == 1 else 'are'} still warming up "
                f"(instanceWarmupPeriod {warmup} s, until {until:g} s): no new scale-out "
                "before then, so capacity already on its way is not requested twice" + waits)
        if current >= settings.max_size:
            return no_action(f"{head}, but the Auto Scaling group is at max_size "
                             f"{settings.max_size} (CAS never changes it){waits}")
        if want <= current:
            booting = current - n
            return no_action(f"{head}: the ASG's desired capacity {current} already covers the "
                             f"{want} needed ({_plural(booting, 'instance')} not registered yet)")
        notes = []
        raw = want - current
        step = max(settings.minimum_scaling_step_size,
                   min(settings.maximum_scaling_step_size, raw))
        if step > raw:
            notes.append(f"raised to minimumScalingStepSize {settings.minimum_scaling_step_size}")
        elif step < raw:
            notes.append(f"limited by maximumScalingStepSize {settings.maximum_scaling_step_size}")
        if current == 0 and step < FROM_ZERO_INSTANCES:
            step = FROM_ZERO_INSTANCES
            notes.append("from zero instances ECS always scales out to 200%, two instances")
        launch = min(step, settings.max_size - current)
        if launch < step:
            notes.append(f"capped by the Auto Scaling group's max_size {settings.max_size} "
                         "(CAS never changes it)")
        needed_txt = (f"needed {want}" if target == 100
                      else f"needed {want} = ceil({m}×100/{target})")
        reason = (f"{head}: launching {launch} {itype} ({needed_txt}, running {n}"
                  + (f", {current - n} launching" if current > n else "") + ")"
                  + "".join(f"; {x}" for x in notes))
        new_state = replace(state, launches=(*launches, *([now] * launch)),
                            last_scale_out=now, desired_capacity=current + launch)
        return CapacityDecision(new_state, launch, (), dp, reason, "scale-out", need.why)

    if value == target:
        return no_action(f"{metric} = target {target}%: no action")

    run = _low_run(state.datapoints, target)
    head = f"{metric} < target {target}% for {run} of {SCALE_IN_DATAPOINTS} datapoints"
    if run < SCALE_IN_DATAPOINTS:
        return no_action(f"{head}: scale-in waits for {SCALE_IN_DATAPOINTS} consecutive low "
                         "minutes")
    floor = max(settings.min_size, want)
    if current <= settings.min_size:
        return no_action(f"{head}, but the Auto Scaling group is at min_size "
                         f"{settings.min_size} (CAS never changes it)")
    if current <= floor:
        return no_action(f"{head}, but {want} instances are needed to stay at or below target "
                         f"{target}% (M = {m}): none to retire")
    empty = [h for h in live
             if is_empty(h, daemon_groups) and h.instance_id not in need.takes_waiting]
    if not empty:
        return no_action(f"{head}, but no instance is empty: CAS retires only instances "
                         "without tasks (tasks are never moved to free one)")
    chosen = _retire_order(empty, live, current - floor)
    ids = tuple(h.instance_id for h in chosen)
    order = ("most free first: all equally free, so the AZ with the most instances, then by id"
             if len({(h.memory_free, h.cpu_free) for h in empty}) == 1
             else f"most free first: {chosen[0].instance_id} has {gib(chosen[0].memory_free)} "
                  "GiB free")
    notes = []
    if floor == settings.min_size and settings.min_size > want:
        notes.append(f"min_size {settings.min_size} keeps {settings.min_size} instances")
    if len(chosen) < current - floor:
        others = "run tasks" + (" or have not registered yet" if current > n else "")
        notes.append(f"{_plural(current - floor - len(chosen), 'more instance')} could go, but "
                     f"the others {others}")
    reason = (f"{head}: retiring {', '.join(ids)} (empty; {order})"
              + "".join(f"; {x}" for x in notes))
    new_state = replace(state, retiring=(*retiring, *ids), last_scale_in=now,
                        desired_capacity=current - len(ids))
    return CapacityDecision(new_state, 0, ids, dp, reason, "scale-in", need.why)
