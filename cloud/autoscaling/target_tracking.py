"""Application Auto Scaling target tracking for an ECS service, as pure decisions.

Rules followed (fact sheet §7; the "90% capacity" myth is §11e):
- The scalable dimension is ``ecs:service:DesiredCount``; predefined metrics
  ``ECSServiceAverageCPUUtilization`` (CPUUtilization, Average),
  ``ECSServiceAverageMemoryUtilization`` (MemoryUtilization, Average) and
  ``ALBRequestCountPerTarget`` (RequestCountPerTarget, Sum). One datapoint per lab minute;
  insufficient data → no scaling.
- Target tracking owns two alarms per policy: AlarmHigh (metric > target, 3 of 3 one-minute
  datapoints) and AlarmLow (15 of 15). ECS itself never changes the desired count.
- Scale out proportionally "as fast as it can", scale in "more gradually", and only when "far
  enough below the target value (usually more than 10% lower)".
- Cooldowns (``ScaleOutCooldown``/``ScaleInCooldown``, 300 s for ECS): during a scale-out
  cooldown only a larger scale-out happens (the capacity the last scale-out added counts as part
  of the next one's desired capacity); a scale-out cancels the scale-in cooldown; no scale-in
  until the scale-in cooldown has passed.
- Min/Max capacity belong to the scalable target; several policies: scale out if any says so,
  scale in only if all agree; scale-in is suspended during an ECS deployment (scale-out is not).

The kit's choices where the fact sheet is silent are marked "kit:" below.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cloud.autoscaling.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Datapoint,
    add_sample,
    alarm_state,
)
from cloud.core.clock import minute_of

CPU = "ECSServiceAverageCPUUtilization"
MEMORY = "ECSServiceAverageMemoryUtilization"
REQUESTS = "ALBRequestCountPerTarget"
SCALABLE_DIMENSION = "ecs:service:DesiredCount"
SCALE_OUT_DATAPOINTS = 3  # AlarmHigh: 3 of 3 (§7)
SCALE_IN_DATAPOINTS = 15  # AlarmLow: 15 of 15 (§7)
# kit: "usually more than 10% lower" read as AlarmLow's threshold = 90% of the target.
SCALE_IN_THRESHOLD = 0.9
# kit: "scales in more gradually" read as: remove at most 10% of the desired count per
# scale-in (rounded down), and always at least one task.
SCALE_IN_STEP = 0.1
ACTIVITY_HISTORY = 50  # kit: scaling activities kept for describe-scaling-activities


@dataclass(frozen=True)
class _Metric:
    cloudwatch_name: str
    namespace: str
    statistic: str
    unit: str  # how values are shown


METRICS = {
    CPU: _Metric("CPUUtilization", "AWS/ECS", "Average", "%"),
    MEMORY: _Metric("MemoryUtilization", "AWS/ECS", "Average", "%"),
    REQUESTS: _Metric("RequestCountPerTarget", "AWS/ApplicationELB", "Sum", " requests/target"),
}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


@dataclass(frozen=True)
class ScalableTarget:
    """``register-scalable-target`` for one ECS service: its Min/Max desired count (§7)."""

    min_capacity: int
    max_capacity: int
    cluster: str = "fraud-cluster"
    service: str = "fraud-svc"

    def __post_init__(self) -> None:
        for name in ("min_capacity", "max_capacity"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity ({self.min_capacity}) cannot exceed max_capacity "
                             f"({self.max_capacity})")
        if not self.cluster or not self.service:
            raise ValueError("a scalable target needs a cluster and a service name")

    @property
    def resource_id(self) -> str:
        return f"service/{self.cluster}/{self.service}"


@dataclass(frozen=True)
class TargetTrackingPolicy:
    """A target tracking policy on a predefined ECS metric (§7); cooldowns in lab seconds."""

    name: str
    metric: str
    target_value: float
    scale_out_cooldown: float = 300
    scale_in_cooldown: float = 300
    disable_scale_in: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a scaling policy needs a name")
        if self.metric not in METRICS:
            raise ValueError(f"unknown predefined metric {self.metric!r}; the kit knows "
                             f"{', '.join(METRICS)}")
        t = self.target_value
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"target_value must be a number > 0; got {t!r}")
        for name in ("scale_out_cooldown", "scale_in_cooldown"):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a number of seconds >= 0; got {value!r}")

    @property
    def cloudwatch_name(self) -> str:
        return METRICS[self.metric].cloudwatch_name

    @property
    def scale_in_threshold(self) -> float:
        return self.target_value * SCALE_IN_THRESHOLD

    def show(self, value: float) -> str:
        return f"{_num(value)}{METRICS[self.metric].unit}"


def alarm_name(target: ScalableTarget, policy: TargetTrackingPolicy, kind: str) -> str:
    """``TargetTracking-service/<cluster>/<service>-AlarmHigh-<uuid>``, as AWS names them.

    kit: the uuid is derived from the resource, policy and alarm kind, so it is stable.
    """
    tail = uuid.uuid5(uuid.NAMESPACE_URL, f"{target.resource_id}/{policy.name}/{kind}")
    return f"TargetTracking-{target.resource_id}-{kind}-{tail}"


@dataclass(frozen=True)
class Alarm:
    """One target-tracking alarm after an evaluation (CloudWatch-style name and state)."""

    name: str
    policy: str
    metric: str  # the CloudWatch metric name
    comparison: str  # "GreaterThanThreshold" | "LessThanThreshold"
    threshold: float
    datapoints: int  # N of "N of N"
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    breaching: int  # newest consecutive breaching minutes (at most ``datapoints``)


@dataclass(frozen=True)
class ScalingActivity:
    """One ``describe-scaling-activities`` entry (times are lab seconds)."""

    activity_id: str
    resource_id: str
    description: str
    cause: str
    start_time: float
    end_time: float
    status_code: str = "Successful"
    service_namespace: str = "ecs"
    scalable_dimension: str = SCALABLE_DIMENSION

    def as_api(self) -> dict[str, object]:
        """The entry as the Application Auto Scaling API spells it."""
        return {"ActivityId": self.activity_id, "ServiceNamespace": self.service_namespace,
                "ResourceId": self.resource_id, "ScalableDimension": self.scalable_dimension,
                "Description": self.description, "Cause": self.cause,
                "StartTime": self.start_time, "EndTime": self.end_time,
                "StatusCode": self.status_code}


@dataclass(frozen=True)
class ScalingState:
    """What target tracking remembers between calls.

    ``series`` holds (metric, datapoints) pairs; ``evaluated_through`` the newest minute already
    evaluated; ``scale_out_base`` the desired count before the scale-out that started the
    current scale-out cooldown.
    """

    series: tuple[tuple[str, tuple[Datapoint, ...]], ...] = ()
    evaluated_through: float | None = None
    last_scale_out: float | None = None
    scale_out_base: int | None = None
    last_scale_in: float | None = None
    activities: tuple[ScalingActivity, ...] = field(default=())

    def datapoints(self, metric: str) -> tuple[Datapoint, ...]:
        for name, points in self.series:
            if name == metric:
                return points
        return ()


@dataclass(frozen=True)
class ScalingDecision:
    """The outcome of one evaluation: feed ``new_state`` into the next call."""

    new_state: ScalingState
    desired: int
    action: str  # "scale-out" | "scale-in" | "none"
    reason: str
    alarms: tuple[Alarm, ...] = ()
    activity: ScalingActivity | None = None


def record(state: ScalingState, metric: str, value: float, now: float) -> ScalingState:
    """Add a sample of ``metric`` to the datapoint of lab minute ``now`` (§7).

    CPU: the service's average CPU utilization in percent (samples in a minute are averaged).
    Requests: requests in the minute ÷ healthy targets (Sum: samples in a minute add up).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown predefined metric {metric!r}; the kit knows "
                         f"{', '.join(METRICS)}")
    points = add_sample(state.datapoints(metric), value, now, METRICS[metric].statistic)
    others = tuple((m, p) for m, p in state.series if m != metric)
    return replace(state, series=(*others, (metric, points)))


@dataclass(frozen=True)
class _Look:
    """One policy's view of minute ``end``: its alarms and the latest value."""

    policy: TargetTrackingPolicy
    high: Alarm
    low: Alarm | None  # None: scale-in disabled, so no AlarmLow (kit)
    value: float | None


def _look(state: ScalingState, target: ScalableTarget, policy: TargetTrackingPolicy,
          end: float) -> _Look:
    points = state.datapoints(policy.metric)
    t, low_t = policy.target_value, policy.scale_in_threshold
    high_state, high_run = alarm_state(points, end, lambda v: v > t, SCALE_OUT_DATAPOINTS)
    high = Alarm(alarm_name(target, policy, "AlarmHigh"), policy.name, policy.cloudwatch_name,
                 "GreaterThanThreshold", t, SCALE_OUT_DATAPOINTS, high_state, high_run)
    low = None
    if not policy.disable_scale_in:
        low_state, low_run = alarm_state(points, end, lambda v: v < low_t, SCALE_IN_DATAPOINTS)
        low = Alarm(alarm_name(target, policy, "AlarmLow"), policy.name, policy.cloudwatch_name,
                    "LessThanThreshold", low_t, SCALE_IN_DATAPOINTS, low_state, low_run)
    value = points[-1].value if points and points[-1].at == end else None
    return _Look(policy, high, low, value)


def _activity(state: ScalingState, target: ScalableTarget, desired: int, cause: str,
              now: float) -> ScalingActivity:
    seq = len(state.activities)
    activity_id = str(uuid.uuid5(uuid.NAMESPACE_URL,
                                 f"{target.resource_id}/activity/{now!r}/{seq}/{desired}"))
    return ScalingActivity(activity_id, target.resource_id, f"Setting desired count to {desired}.",
                           cause, now, now)


def _cause(alarm: Alarm) -> str:
    return f"monitor alarm {alarm.name} in state ALARM triggered policy {alarm.policy}"


def _with_activity(state: ScalingState, activity: ScalingActivity) -> ScalingState:
    return replace(state, activities=(*state.activities, activity)[-ACTIVITY_HISTORY:])


def _summary(look: _Look) -> str:
    p = look.policy
    if look.high.state == INSUFFICIENT_DATA:
        return (f"{p.name}: no {p.cloudwatch_name} datapoint this minute (INSUFFICIENT_DATA): "
                "no scaling on missing data")
    assert look.value is not None
    shown = f"{p.cloudwatch_name} {p.show(look.value)}"
    if look.value > p.target_value:
        return (f"{p.name}: {shown} > target {p.show(p.target_value)} for {look.high.breaching} "
                f"of {SCALE_OUT_DATAPOINTS} minutes: AlarmHigh needs {SCALE_OUT_DATAPOINTS} of "
                f"{SCALE_OUT_DATAPOINTS}")
    if look.low is not None and look.value < look.low.threshold:
        verdict = ("AlarmLow in ALARM" if look.low.state == ALARM
                   else f"AlarmLow needs {SCALE_IN_DATAPOINTS} of {SCALE_IN_DATAPOINTS}")
        return (f"{p.name}: {shown} < {p.show(look.low.threshold)} (90% of target "
                f"{p.show(p.target_value)}) for {look.low.breaching} of {SCALE_IN_DATAPOINTS} "
                f"minutes: {verdict}")
    if look.low is None and look.value < p.target_value:
        return f"{p.name}: {shown} ≤ target {p.show(p.target_value)}; scale-in is disabled"
    return (f"{p.name}: {shown} is within 10% below target {p.show(p.target_value)} or at it "
            "(target tracking scales in only when clearly below): no action")


def _scale_out(state: ScalingState, target: ScalableTarget, looks: Sequence[_Look],
               current: int, now: float) -> tuple[int, _Look, str] | str:
    """The largest scale-out any policy in ALARM asks for, or why there is none."""
    best: tuple[int, _Look, str] | None = None
    held: list[str] = []
    for look in looks:
        if look.high.state != ALARM or look.value is None:
            continue
        p, v = look.policy, look.value
        head = (f"{p.cloudwatch_name} {p.show(v)} > target {p.show(p.target_value)} for "
                f"{SCALE_OUT_DATAPOINTS} of {SCALE_OUT_DATAPOINTS} minutes")
        who = f"{p.name}: "
        cooling = (state.last_scale_out is not None and state.scale_out_base is not None
                   and now - state.last_scale_out < p.scale_out_cooldown)
        base = state.scale_out_base if cooling and state.scale_out_base is not None else current
        proportional = math.ceil(base * v / p.target_value)
        want = min(target.max_capacity, max(base + 1, proportional))
        math_txt = f"ceil({base} × {_num(v)} / {_num(p.target_value)})"
        base_txt = ""
        if cooling:
            assert state.last_scale_out is not None
            until = state.last_scale_out + p.scale_out_cooldown
            base_txt = (f"counted from {base}, the desired count before the scale-out that "
                        f"started the cooldown; ScaleOutCooldown {_num(p.scale_out_cooldown)} s, "
                        f"until {until:g} s")
        if want <= current:
            if current >= target.max_capacity:
                held.append(f"{who}{head}, but desired {current} is at MaxCapacity "
                            f"{target.max_capacity}")
            elif cooling:
                held.append(f"{who}{head}, but in scale-out cooldown only a larger scale-out "
                            f"happens: {math_txt} = {proportional} ≤ desired {current} "
                            f"({base_txt})")
            else:
                held.append(f"{who}{head}: {math_txt} = {proportional} ≤ desired {current}")
            continue
        notes = [f"proportional: {math_txt}" + (f", {base_txt}" if base_txt else "")]
        if proportional <= base:
            notes.append("at least one more task")
        if want < max(base + 1, proportional):
            notes.append(f"capped at MaxCapacity {target.max_capacity}")
        reason = f"{head}: desired {current} → {want} ({'; '.join(notes)})"
        if best is None or want > best[0]:
            best = (want, look, reason)
    return best if best is not None else "; ".join(held)


def _scale_in(state: ScalingState, target: ScalableTarget, looks: Sequence[_Look],
              current: int, now: float, deploying: bool) -> tuple[int, _Look, str] | str | None:
    """A scale-in all scale-in-enabled policies agree on, why not (str), or None (no AlarmLow)."""
    voters = [look for look in looks if look.low is not None]
    if not voters:
        return None
    if any(look.low is None or look.low.state != ALARM for look in voters):
        return None
    heads = []
    proposals = []
    for look in voters:
        p, v = look.policy, look.value
        assert v is not None and look.low is not None
        heads.append(f"{p.cloudwatch_name} {p.show(v)} < {p.show(look.low.threshold)} (90% of "
                     f"target {p.show(p.target_value)}) for {SCALE_IN_DATAPOINTS} of "
                     f"{SCALE_IN_DATAPOINTS} minutes")
        proposals.append((math.ceil(current * v / p.target_value), look))
    head = " and ".join(f"{look.policy.name}: {h}" for look, h in zip(voters, heads, strict=True))
    if deploying:
        return f"{head}, but scale-in is suspended while the service is deploying"
    cooldown = max(look.policy.scale_in_cooldown for look in voters)
    if state.last_scale_in is not None and now - state.last_scale_in < cooldown:
        return (f"{head}, but in scale-in cooldown (ScaleInCooldown {_num(cooldown)} s after "
                f"the scale-in at {state.last_scale_in:g} s, until "
                f"{state.last_scale_in + cooldown:g} s)")
    if current <= target.min_capacity:
        return f"{head}, but desired {current} is at MinCapacity {target.min_capacity}"
    proportional, look = max(proposals, key=lambda pl: pl[0])
    assert look.value is not None
    math_txt = f"ceil({current} × {_num(look.value)} / {_num(look.policy.target_value)})"
    if proportional >= current:
        return (f"{head}: {math_txt} = {proportional}: fewer tasks would push "
                f"{look.policy.cloudwatch_name} above target")
    step = max(1, math.floor(current * SCALE_IN_STEP))
    want = max(proportional, current - step, target.min_capacity)
    notes = [f"proportional: {math_txt} = {proportional}"]
    if want == current - step and want > proportional:
        notes.append(f"gradual: at most {step} task{'s' * (step != 1)} (10% of {current}, at "
                     "least 1) per scale-in — the kit's simplification: AWS documents only "
                     "that target tracking \"scales in more gradually\", no step size")
    if want == target.min_capacity and want > max(proportional, current - step):
        notes.append(f"held at MinCapacity {target.min_capacity}")
    return want, look, f"{head}: desired {current} → {want} ({'; '.join(notes)})"


def within_bounds(target: ScalableTarget, current: int) -> tuple[int, str] | None:
    """A desired count outside the target's Min/Max: (the bound it is brought to, why);
    None when it is within them."""
    if target.min_capacity <= current <= target.max_capacity:
        return None
    want = min(max(current, target.min_capacity), target.max_capacity)
    bound = (f"below MinCapacity {target.min_capacity}" if want > current
             else f"above MaxCapacity {target.max_capacity}")
    return want, f"the desired count {current} is {bound} of the scalable target"


def evaluate(state: ScalingState, target: ScalableTarget,
             policies: Sequence[TargetTrackingPolicy], current_desired: int, now: float,
             deploying: bool = False, bounds_changed: bool = True) -> ScalingDecision:
    """One target-tracking evaluation at lab time ``now`` (§7).

    Record the minute's datapoints first, then evaluate in the same lab minute; each minute is
    evaluated once (alarms invoke their policy once per period while in ALARM). ``deploying``:
    an ECS deployment is in progress, so scale-in is suspended (scale-out is not).
    ``bounds_changed``: the scalable target was just registered or its Min/Max changed.
    """
    if not _is_int(current_desired) or current_desired < 0:
        raise ValueError(f"current_desired must be an integer >= 0; got {current_desired!r}")
    if not policies:
        raise ValueError("target tracking needs at least one scaling policy")
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names must be unique; got {names}")
    current = current_desired
    end = minute_of(now)
    looks = [_look(state, target, p, end) for p in policies]
    alarms = tuple(a for look in looks for a in (look.high, look.low) if a is not None)

    def none(reason: str, new_state: ScalingState = state) -> ScalingDecision:
        if outside:
            reason += (f"; desired {current} is outside MinCapacity {target.min_capacity} .. "
                       f"MaxCapacity {target.max_capacity}: Application Auto Scaling brings it "
                       "inside only at the next scaling activity (RegisterScalableTarget API "
                       "reference)")
        return ScalingDecision(new_state, current, "none", reason, alarms)

    # AWS (RegisterScalableTarget API reference): registering a scalable target "changes the
    # resource's current capacity to a value that is inside of this range"; a desired count
    # set outside it later stays until the next scaling activity, whose policies "will not
    # scale capacity to values that are outside of the minimum and maximum range".
    bounded = within_bounds(target, current)
    outside = bounded is not None
    if bounded is not None and bounds_changed:
        want, cause = bounded
        act = _activity(state, target, want, cause, now)
        action = "scale-out" if want > current else "scale-in"
        return ScalingDecision(_with_activity(state, act), want, action,
                               f"desired {current} → {want}: {cause}", alarms, act)

    if state.evaluated_through is not None and end <= state.evaluated_through:
        return none(f"minute {end:g} s is already evaluated; next evaluation at "
                    f"{end + 60:g} s")
    if all(look.value is None for look in looks):
        return none("; ".join(_summary(look) for look in looks))
    state = replace(state, evaluated_through=end)

    out = _scale_out(state, target, looks, current, now)
    if isinstance(out, tuple):
        want, look, reason = out
        if want < target.min_capacity:  # a scaling activity lands inside Min/Max
            want = target.min_capacity
            reason += f"; brought up to MinCapacity {target.min_capacity}"
        in_cooldown = max(p.scale_in_cooldown for p in policies)
        if state.last_scale_in is not None and now - state.last_scale_in < in_cooldown:
            reason += "; this scale-out cancels the scale-in cooldown"
        cooling = (state.last_scale_out is not None and state.scale_out_base is not None
                   and now - state.last_scale_out < look.policy.scale_out_cooldown)
        base = state.scale_out_base if cooling else current
        act = _activity(state, target, want, _cause(look.high), now)
        new = replace(state, last_scale_out=now, scale_out_base=base, last_scale_in=None)
        return ScalingDecision(_with_activity(new, act), want, "scale-out",
                               f"{look.policy.name}: {reason}", alarms, act)

    held = [out] if out else []
    inn = _scale_in(state, target, looks, current, now, deploying)
    if isinstance(inn, tuple):
        want, look, reason = inn
        if want > target.max_capacity:  # a scaling activity lands inside Min/Max
            want = target.max_capacity
            reason += f"; brought inside MaxCapacity {target.max_capacity}"
        assert look.low is not None
        act = _activity(state, target, want, _cause(look.low), now)
        new = replace(state, last_scale_in=now)
        return ScalingDecision(_with_activity(new, act), want, "scale-in", reason, alarms, act)
    if inn:
        held.append(inn)
    elif not held:
        held = [_summary(look) for look in looks]
        if len(looks) > 1 and any(lk.low is not None and lk.low.state == ALARM for lk in looks):
            held.append("scale-in needs every policy (with scale-in enabled) to agree")
    return none("; ".join(held), state)


__all__ = [
    "ALARM", "CPU", "INSUFFICIENT_DATA", "MEMORY", "OK", "REQUESTS", "SCALE_IN_DATAPOINTS",
    "SCALE_OUT_DATAPOINTS", "Alarm", "ScalableTarget", "ScalingActivity", "ScalingDecision",
    "ScalingState", "TargetTrackingPolicy", "alarm_name", "evaluate", "record",
]
