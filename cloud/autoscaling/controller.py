"""Application Auto Scaling's I/O edge for ECS services: what AWS runs behind target tracking.

The emulator stores scalable targets and target-tracking policies (and creates each policy's
``TargetTracking-…-AlarmHigh``/``-AlarmLow`` alarms) but never evaluates anything
(emulator-notes.md). Each loop pass, :class:`ScalingController`:

- reads the scalable targets and policies through the API (``describe-scalable-targets``,
  ``describe-scaling-policies``, namespace ``ecs``; re-read every few wall seconds): what a
  learner registers with boto3 or ``aws`` is what it obeys;
- records one datapoint per lab minute per metric: ``ALBRequestCountPerTarget`` from the load
  balancer's metrics, ``ECSServiceAverageCPUUtilization`` (and ``…MemoryUtilization``) from the
  service metrics;
- once per lab minute asks the pure ``cloud.autoscaling.target_tracking.evaluate`` (AlarmHigh 3 of
  3, AlarmLow 15 of 15, proportional scale-out, gradual scale-in, cooldowns, Min/Max, §7) and, on a
  decision, calls ``ecs update-service --desired-count`` through the API — the ECS controller
  then starts or stops tasks, and a capacity provider adds hosts when they are needed;
- writes each alarm's true state into the emulator's CloudWatch (``set-alarm-state``, with a
  reason in CloudWatch's words), so ``describe-alarms`` tells the truth; the alarms moto
  created are first given their true definition (moto gives every ECS policy a CPUUtilization
  alarm with threshold 6);
- keeps the scaling activities (moto's ``describe-scaling-activities`` answered HTTP 500; the
  API's guards answer it from ``api_activities``, and the control API serves them) and tells
  the timeline why it acted or held.

Not simulated (listed by ``snapshot()["ignored"]``): step scaling, scheduled actions,
customized metrics. ``SuspendedState`` is obeyed (dynamic scale-in / scale-out suspended).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cloud.autoscaling.alarms import ALARM, INSUFFICIENT_DATA, OK, Datapoint, value_at
from cloud.autoscaling.target_tracking import (
    CPU,
    MEMORY,
    METRICS,
    REQUESTS,
    SCALABLE_DIMENSION,
    SCALE_IN_DATAPOINTS,
    SCALE_OUT_DATAPOINTS,
    Alarm,
    ScalableTarget,
    ScalingActivity,
    ScalingDecision,
    ScalingState,
    TargetTrackingPolicy,
    evaluate,
    record,
    within_bounds,
)
from cloud.aws.guards import serve_activities
from cloud.core.clock import Clock, is_new_minute, lab_to_epoch, minute_of

NAMESPACE = "ecs"
SETTINGS_TTL = 2.0  # wall seconds between re-reads of the scalable targets and policies
STAMPED_TTL = 30.0  # at least this often with the emulator's write stamp
NAMESPACE_API = "application-autoscaling"  # the API's name in the write stamp
FILL_LIMIT = 60  # kit: lab minutes a slow pass may fill (see ScalingController.tick)
HIGH, LOW = "AlarmHigh", "AlarmLow"
# Where each predefined metric's minute comes from: (source, key in that source's minute).
SOURCES = {REQUESTS: ("alb", "RequestCountPerTarget"), CPU: ("service", "CPUUtilization"),
           MEMORY: ("service", "MemoryUtilization")}


# ---- reading the API (pure) ----------------------------------------------------------------
@dataclass(frozen=True)
class PolicyConfig:
    """A target-tracking policy as read, with the names of the alarms the emulator made."""

    policy: TargetTrackingPolicy
    arn: str
    resource_id: str
    alarms: Mapping[str, str]  # HIGH/LOW → the emulator's alarm name
    resource_label: str | None = None


@dataclass(frozen=True)
class TargetConfig:
    """A scalable target (an ECS service's desired count) and the policies that drive it."""

    target: ScalableTarget
    policies: tuple[PolicyConfig, ...] = ()
    scale_in_suspended: bool = False
    scale_out_suspended: bool = False


def parse_resource_id(resource_id: str) -> tuple[str, str] | None:
    """``service/<cluster>/<service>`` → (cluster, service); None for anything else."""
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def target_from_api(item: Mapping[str, Any]) -> TargetConfig | None:
    """One ``describe-scalable-targets`` entry → a TargetConfig (None: not an ECS service's
    desired count, or Min/Max the pure model refuses)."""
    if item.get("ScalableDimension") != SCALABLE_DIMENSION:
        return None
    parsed = parse_resource_id(str(item.get("ResourceId", "")))
    if parsed is None:
        return None
    try:
        target = ScalableTarget(int(item["MinCapacity"]), int(item["MaxCapacity"]), *parsed)
    except (KeyError, TypeError, ValueError):
        return None
    suspended = item.get("SuspendedState") or {}
    return TargetConfig(target, (), bool(suspended.get("DynamicScalingInSuspended")),
                        bool(suspended.get("DynamicScalingOutSuspended")))


def policy_from_api(item: Mapping[str, Any]) -> PolicyConfig | str:
    """One ``describe-scaling-policies`` entry → a PolicyConfig, or why the kit ignores it."""
    name = str(item.get("PolicyName", "?"))
    if item.get("PolicyType") != "TargetTrackingScaling":
        return f"{name}: {item.get('PolicyType')} policies are not simulated (target tracking is)"
    config = item.get("TargetTrackingScalingPolicyConfiguration") or {}
    spec = config.get("PredefinedMetricSpecification") or {}
    metric = spec.get("PredefinedMetricType")
    if metric not in SOURCES:
        what = (f"predefined metric {metric}" if metric
                else "a customized metric specification")
        return (f"{name}: {what} is not simulated (the kit feeds "
                f"{', '.join(sorted(SOURCES))})")
    try:
        policy = TargetTrackingPolicy(
            name, metric, float(config["TargetValue"]),
            float(config.get("ScaleOutCooldown", 300)), float(config.get("ScaleInCooldown", 300)),
            bool(config.get("DisableScaleIn", False)))
    except (KeyError, TypeError, ValueError) as exc:
        return f"{name}: {exc}"
    alarms: dict[str, str] = {}
    for alarm in item.get("Alarms") or []:
        alarm_name = str(alarm.get("AlarmName", ""))
        for kind in (HIGH, LOW):
            if f"-{kind}-" in alarm_name:
                alarms[kind] = alarm_name
    return PolicyConfig(policy, str(item.get("PolicyARN", "")), str(item.get("ResourceId", "")),
                        alarms, spec.get("ResourceLabel"))


def target_group_of(resource_label: str | None) -> str | None:
    """``app/<lb>/<id>/targetgroup/<tg>/<id>`` → ``targetgroup/<tg>/<id>`` (the TargetGroup
    dimension of RequestCountPerTarget)."""
    if not resource_label or "/targetgroup/" not in resource_label:
        return None
    return "targetgroup/" + resource_label.split("/targetgroup/", 1)[1]


def alarm_definition(cfg: PolicyConfig, target: ScalableTarget, kind: str) -> dict[str, Any]:
    """The alarm target tracking really creates for ``kind`` (what ``put-metric-alarm`` would
    be given, minus name/actions): the policy's metric, 60-s period, AlarmHigh above the target
    for 3 of 3 datapoints, AlarmLow below 90 % of it for 15 of 15 (§7)."""
    p = cfg.policy
    m = METRICS[p.metric]
    high = kind == HIGH
    n = SCALE_OUT_DATAPOINTS if high else SCALE_IN_DATAPOINTS
    if m.namespace == "AWS/ECS":
        dims = [{"Name": "ClusterName", "Value": target.cluster},
                {"Name": "ServiceName", "Value": target.service}]
    else:
        group = target_group_of(cfg.resource_label)
        dims = [{"Name": "TargetGroup", "Value": group}] if group else []
    definition: dict[str, Any] = {
        "Namespace": m.namespace, "MetricName": m.cloudwatch_name, "Statistic": m.statistic,
        "Dimensions": dims, "Period": 60, "EvaluationPeriods": n, "DatapointsToAlarm": n,
        "Threshold": p.target_value if high else p.scale_in_threshold,
        "ComparisonOperator": "GreaterThanThreshold" if high else "LessThanThreshold"}
    if m.namespace == "AWS/ECS":
        definition["Unit"] = "Percent"
    return definition


def _shown(value: float) -> str:
    """A value as CloudWatch prints it in a state reason (``500.0``, ``12.333``)."""
    return str(round(float(value), 3))


def _lab(at: float) -> str:
    minutes = int(at // 60)
    return f"lab {minutes // 60:02d}:{minutes % 60:02d}"


def alarm_reason(alarm: Alarm, series: Sequence[Datapoint], end: float) -> tuple[str, str]:
    """(StateReason, StateReasonData) for ``alarm`` evaluated at minute ``end``, in
    CloudWatch's words ("Threshold Crossed: 3 datapoints [...] were greater than the
    threshold (500.0)."); datapoints are labelled with their lab minute."""
    words = "greater than" if alarm.comparison == "GreaterThanThreshold" else "less than"
    recent = [(end - i * 60, value_at(series, end - i * 60)) for i in range(alarm.datapoints)]
    known = [(at, v) for at, v in recent if v is not None]
    data = {"version": "1.0", "statistic": "kit", "period": 60, "threshold": alarm.threshold,
            "evaluatedDatapoints": [{"lab": at, "value": v} for at, v in known]}
    if alarm.state == INSUFFICIENT_DATA:
        return "Insufficient Data: 1 datapoint was unknown.", json.dumps(data)
    shown = ", ".join(f"{_shown(v)} ({_lab(at)})" for at, v in known)
    thr = _shown(alarm.threshold)
    if alarm.state == ALARM:
        n = alarm.datapoints
        return (f"Threshold Crossed: {n} datapoint{'s' * (n != 1)} [{shown}] "
                f"{'were' if n != 1 else 'was'} {words} the threshold ({thr})."), json.dumps(data)
    not_breaching = [(at, v) for at, v in known
                     if not (v > alarm.threshold if words == "greater than"
                             else v < alarm.threshold)]
    k, missing = len(not_breaching), len(recent) - len(known)
    if k:
        listed = ", ".join(f"{_shown(v)} ({_lab(at)})" for at, v in not_breaching)
        reason = (f"Threshold Crossed: {k} out of the last {alarm.datapoints} datapoints "
                  f"[{listed}] {'was' if k == 1 else 'were'} not {words} the threshold "
                  f"({thr}) (minimum 1 datapoint for ALARM -> OK transition).")
    else:
        reason = (f"Threshold Crossed: {len(known)} out of the last {alarm.datapoints} "
                  f"datapoints [{shown}] {'was' if len(known) == 1 else 'were'} {words} the "
                  f"threshold ({thr}); {missing} {'was' if missing == 1 else 'were'} missing "
                  f"(ALARM needs {alarm.datapoints} of {alarm.datapoints}).")
    return reason, json.dumps(data)


def _named(decision: ScalingDecision, cfg: TargetConfig) -> ScalingDecision:
    """The decision with the emulator's alarm names (what describe-alarms lists) in its
    reason and activity, instead of the pure model's stand-ins."""
    names = {}
    by_policy = {pc.policy.name: pc for pc in cfg.policies}
    for alarm in decision.alarms:
        pc = by_policy.get(alarm.policy)
        kind = HIGH if alarm.comparison == "GreaterThanThreshold" else LOW
        if pc is not None and kind in pc.alarms:
            names[alarm.name] = pc.alarms[kind]

    def rename(text: str) -> str:
        for pure, real in names.items():
            text = text.replace(pure, real)
        return text

    if not names:
        return decision
    activity = decision.activity
    state = decision.new_state
    if activity is not None:
        renamed = replace(activity, cause=rename(activity.cause))
        state = replace(state, activities=tuple(renamed if a is activity else a
                                                for a in state.activities))
        activity = renamed
    return replace(decision, new_state=state, activity=activity, reason=rename(decision.reason))


# ---- the controller --------------------------------------------------------------------------
@dataclass
class _Target:
    """What the controller keeps per scalable target."""

    state: ScalingState = field(default_factory=ScalingState)
    desired: int | None = None
    last_reason: str = ""
    logged_reason: str = ""
    note: str = ""
    bounds: tuple[int, int] | None = None  # (Min, Max) last read: a change is a registration


class ScalingController:
    """Target tracking for the ECS services of one cluster (see the module doc)."""

    def __init__(self, endpoint: Any, clock: Clock, cluster: str, timeline: Any,
                 ttl: float = SETTINGS_TTL,
                 api_generation: Callable[[str], int] | None = None) -> None:
        self.endpoint = endpoint
        # With the emulator in this process (cloud.core.api_writes.generation): the settings
        # are re-read at the first pass after an Application Auto Scaling write call (a
        # learner's register-scalable-target or put-scaling-policy), else every ``ttl``.
        self.api_generation = api_generation
        self._read_stamp: int | None = None
        self.clock = clock
        self.cluster = cluster
        self.timeline = timeline
        self.ttl = ttl
        self.configs: dict[str, TargetConfig] = {}
        self.ignored: list[str] = []
        self.targets: dict[str, _Target] = {}
        self.alarm_states: dict[str, dict[str, Any]] = {}  # emulator alarm name → what we set
        self._fixed: set[str] = set()  # alarms already given their true definition
        self._read_at = float("-inf")
        self._minute: float | None = None
        self.lock = threading.RLock()  # a pass vs. the control API's snapshot
        if getattr(endpoint, "_server", None) is not None:  # moto runs in this process
            serve_activities(self.api_activities)

    # -- reading -------------------------------------------------------------------------------
    def read_config(self, force: bool = False) -> tuple[dict[str, TargetConfig], bool]:
        """The cluster's scalable targets with their policies (cached ``ttl`` wall seconds);
        and whether they changed since the last read."""
        stamp = self.api_generation(NAMESPACE_API) if self.api_generation else None
        fresh = (stamp == self._read_stamp if stamp is not None
                 else time.monotonic() - self._read_at < self.ttl)
        if not force and fresh and time.monotonic() - self._read_at < STAMPED_TTL:
            return self.configs, False
        self._read_at, self._read_stamp = time.monotonic(), stamp
        aas = self.endpoint.client("application-autoscaling")
        configs: dict[str, TargetConfig] = {}
        for page in aas.get_paginator("describe_scalable_targets").paginate(
                ServiceNamespace=NAMESPACE):
            for item in page.get("ScalableTargets", []):
                cfg = target_from_api(item)
                if cfg is not None and cfg.target.cluster == self.cluster:
                    configs[cfg.target.resource_id] = cfg
        ignored: list[str] = []
        policies: dict[str, list[PolicyConfig]] = {}
        for page in aas.get_paginator("describe_scaling_policies").paginate(
                ServiceNamespace=NAMESPACE):
            for item in page.get("ScalingPolicies", []):
                if item.get("ResourceId") not in configs:
                    continue
                parsed = policy_from_api(item)
                if isinstance(parsed, str):
                    ignored.append(parsed)
                else:
                    policies.setdefault(parsed.resource_id, []).append(parsed)
        for rid, found in policies.items():
            configs[rid] = replace(configs[rid], policies=tuple(found))
        changed = configs != self.configs
        self.configs, self.ignored = configs, ignored
        self._fix_alarms(configs)
        return configs, changed

    def _fix_alarms(self, configs: Mapping[str, TargetConfig]) -> None:
        """Give the alarms moto created their true definition (metric, threshold, N of N)."""
        todo = [(cfg, pc, kind, name) for cfg in configs.values() for pc in cfg.policies
                for kind, name in pc.alarms.items() if name not in self._fixed]
        if not todo:
            return
        cloudwatch = self.endpoint.client("cloudwatch")
        existing = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
            AlarmNames=[name for *_, name in todo][:100]).get("MetricAlarms", [])}
        for cfg, pc, kind, name in todo:
            have = existing.get(name)
            if have is None:
                continue
            truth = alarm_definition(pc, cfg.target, kind)
            cloudwatch.put_metric_alarm(
                AlarmName=name, AlarmDescription=have.get("AlarmDescription", ""),
                AlarmActions=have.get("AlarmActions", []), ActionsEnabled=True, **truth)
            self._fixed.add(name)
            self.alarm_states.pop(name, None)  # re-created: its state is set again

    # -- one pass ------------------------------------------------------------------------------
    def tick(self, alb: Mapping[str, float] | None = None,
             service: Mapping[str, Mapping[str, float]] | None = None,
             ) -> dict[str, ScalingDecision]:
        """Record the metrics published this pass (``alb``: the load balancer's minute,
        ``service``: per service name, its minute), then evaluate once per lab minute (and
        whenever the targets or policies changed).

        The publishers and this controller see the same minute boundaries (one lab instant
        per pass). When a pass took longer than a lab minute, the values published are per-minute
        rates over all the minutes since the previous boundary (the ALB metrics scale their
        counts to 60 lab seconds, CPU is an average): each of those minutes gets the value,
        and the evaluation runs once, at the newest minute. Returns the evaluations made, by
        resource id (``service/<cluster>/<service>``)."""
        with self.lock:
            return self._tick(alb, service)

    def _tick(self, alb: Mapping[str, float] | None,
              service: Mapping[str, Mapping[str, float]] | None) -> dict[str, ScalingDecision]:
        now = self.clock.now()
        minute = minute_of(now)
        configs, changed = self.read_config()
        new_minute = is_new_minute(now, self._minute)
        # kit: a pass slower than a lab minute skips minute boundaries; what is published then
        # is the per-minute rate over every minute since the last boundary seen, so each of
        # those minutes gets it.
        span = 1 if self._minute is None or not new_minute else min(
            FILL_LIMIT, max(1, round((minute - self._minute) / 60)))
        sources = {"alb": alb or {}, "service": service or {}}
        for rid, cfg in configs.items():
            kept = self.targets.setdefault(rid, _Target())
            for metric in {pc.policy.metric for pc in cfg.policies}:
                source, key = SOURCES[metric]
                values = sources[source]
                if source == "service":
                    values = sources["service"].get(cfg.target.service, {})
                value = values.get(key) if isinstance(values, Mapping) else None
                if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
                    for back in range(span - 1, -1, -1):
                        kept.state = record(kept.state, metric, float(value), now - back * 60)
        if not (new_minute or changed):
            return {}
        self._minute = minute
        decisions = {}
        for rid, cfg in configs.items():
            decision = self._evaluate(rid, cfg, now, new_minute)
            if decision is not None:
                decisions[rid] = decision
        return decisions

    def _service(self, cfg: TargetConfig) -> dict[str, Any] | None:
        ecs = self.endpoint.client("ecs")
        try:
            found = ecs.describe_services(cluster=cfg.target.cluster,
                                          services=[cfg.target.service]).get("services", [])
        except ecs.exceptions.ClusterNotFoundException:
            return None
        return next((s for s in found if s.get("status") == "ACTIVE"), None)

    def _evaluate(self, rid: str, cfg: TargetConfig, now: float,
                  new_minute: bool) -> ScalingDecision | None:
        kept = self.targets.setdefault(rid, _Target())
        svc = self._service(cfg)
        if svc is None:
            kept.note = f"no ACTIVE service {cfg.target.service} in {cfg.target.cluster}"
            return None
        current = int(svc.get("desiredCount", 0))
        kept.desired, kept.note = current, ""
        # kit: a deployment is in progress while describe-services shows more than one
        # (PRIMARY + ACTIVE); scale-in is suspended meanwhile (§7).
        deploying = len(svc.get("deployments") or []) > 1
        policies = tuple(replace(pc.policy, disable_scale_in=True)
                         if cfg.scale_in_suspended else pc.policy for pc in cfg.policies)
        bounds = (cfg.target.min_capacity, cfg.target.max_capacity)
        bounds_changed, kept.bounds = kept.bounds != bounds, bounds
        if not policies:
            decision = (self._bounds_only(kept, cfg.target, current, now) if bounds_changed
                        else None)
            if decision is None:
                return None
        else:
            decision = evaluate(kept.state, cfg.target, policies, current, now, deploying,
                                bounds_changed=bounds_changed)
        if decision.action == "scale-out" and cfg.scale_out_suspended:
            kept.state = replace(kept.state, evaluated_through=decision.new_state.evaluated_through)
            self._log_reason(kept, f"{decision.reason}; but dynamic scale-out is suspended "
                                   "(SuspendedState DynamicScalingOutSuspended)")
            self._publish_alarms(cfg, decision, now)
            return decision
        decision = _named(decision, cfg)
        if decision.desired != current:  # first, so a failed call leaves no activity behind
            self.endpoint.client("ecs").update_service(cluster=cfg.target.cluster,
                                               service=cfg.target.service,
                                               desiredCount=decision.desired)
        kept.state = decision.new_state
        if new_minute or decision.action != "none":
            kept.last_reason = decision.reason
            self._publish_alarms(cfg, decision, now)
        if decision.desired != current:
            kept.desired = decision.desired
            act = decision.activity
            text = (f"Application Auto Scaling: {act.description} Cause: {act.cause}. "
                    if act else f"Application Auto Scaling: desired count {decision.desired}. ")
            self.timeline.add(self.clock, "scaling", text + decision.reason, "simulated",
                              action=decision.action, resource=rid, desired=decision.desired,
                              previous=current)
            kept.logged_reason = ""
        elif any(a.state == ALARM for a in decision.alarms) and new_minute:
            self._log_reason(kept, decision.reason)  # why an alarm in ALARM changed nothing
        return decision

    def _bounds_only(self, kept: _Target, target: ScalableTarget, current: int,
                     now: float) -> ScalingDecision | None:
        """A target just registered (or its Min/Max changed) brings the desired count inside
        Min/Max (RegisterScalableTarget API reference); later, without policies, nothing does."""
        if (bounded := within_bounds(target, current)) is None:
            return None
        want, cause = bounded
        act = ScalingActivity(str(uuid.uuid4()), target.resource_id,
                              f"Setting desired count to {want}.", cause, now, now)
        state = replace(kept.state, activities=(*kept.state.activities, act)[-50:])
        return ScalingDecision(state, want, "scale-out" if want > current else "scale-in",
                               f"desired {current} → {want}: {cause}", (), act)

    def _log_reason(self, kept: _Target, reason: str) -> None:
        """Tell the timeline why nothing happened, once per kind of hold (not every minute
        the values change)."""
        kind = re.sub(r"\d+(\.\d+)?", "#", reason)
        if reason and kind != kept.logged_reason:
            kept.logged_reason = kind
            self.timeline.add(self.clock, "scaling", f"target tracking holds: {reason}",
                              "simulated", action="none")

    def _publish_alarms(self, cfg: TargetConfig, decision: ScalingDecision, now: float) -> None:
        """Each alarm whose state changed: ``set-alarm-state`` in the emulator + timeline."""
        end = minute_of(now)
        kept = self.targets[cfg.target.resource_id]
        by_policy = {pc.policy.name: pc for pc in cfg.policies}
        for alarm in decision.alarms:
            pc = by_policy.get(alarm.policy)
            kind = HIGH if alarm.comparison == "GreaterThanThreshold" else LOW
            name = pc.alarms.get(kind) if pc else None
            if name is None:
                continue
            before = self.alarm_states.get(name, {}).get("state")
            reason, data = alarm_reason(alarm, kept.state.datapoints(pc.policy.metric), end)
            self.alarm_states[name] = {
                "AlarmName": name, "policy": alarm.policy, "kind": kind,
                "metric": alarm.metric, "comparison": alarm.comparison,
                "threshold": alarm.threshold, "datapoints": alarm.datapoints,
                "state": alarm.state, "breaching": alarm.breaching,
                "reason": reason if before != alarm.state
                else self.alarm_states.get(name, {}).get("reason", reason),
                "resource": cfg.target.resource_id}
            if before == alarm.state:
                continue
            try:
                self.endpoint.client("cloudwatch").set_alarm_state(
                    AlarmName=name, StateValue=alarm.state, StateReason=reason[:1023],
                    StateReasonData=data)
            except self.endpoint.client("cloudwatch").exceptions.ResourceNotFound:
                continue  # the policy was deleted meanwhile
            if before is None and alarm.state == INSUFFICIENT_DATA:
                continue  # a new alarm starts there: nothing happened yet
            self.timeline.add(self.clock, "scaling",
                              f"CloudWatch alarm {name} changed from "
                              f"{before or INSUFFICIENT_DATA} to {alarm.state}: {reason}",
                              "simulated", alarm=name, state=alarm.state)

    # -- for the UIs -----------------------------------------------------------------------------
    def activities(self, resource_id: str | None = None) -> list[dict[str, Any]]:
        """``describe-scaling-activities`` as AWS answers it: newest first (lab seconds)."""
        with self.lock:
            found = [a for rid, kept in self.targets.items() if resource_id in (None, rid)
                     for a in kept.state.activities]
        found.sort(key=lambda a: a.start_time, reverse=True)
        return [a.as_api() for a in found]

    def api_activities(self) -> list[dict[str, Any]]:
        """The activities as DescribeScalingActivities answers them: times as epoch seconds
        (what the API's guards serve, cloud.aws.guards)."""
        return [{**a, "StartTime": lab_to_epoch(self.clock, float(a["StartTime"])),
                 "EndTime": lab_to_epoch(self.clock, float(a["EndTime"]))}
                for a in self.activities()]

    def snapshot(self) -> dict[str, Any]:
        """Targets, policies, alarm states (newest evaluation), activities newest first."""
        with self.lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        targets, policies = [], []
        for rid, cfg in self.configs.items():
            kept = self.targets.get(rid, _Target())
            t = cfg.target
            targets.append({
                "ServiceNamespace": NAMESPACE, "ResourceId": rid,
                "ScalableDimension": SCALABLE_DIMENSION, "MinCapacity": t.min_capacity,
                "MaxCapacity": t.max_capacity,
                "SuspendedState": {"DynamicScalingInSuspended": cfg.scale_in_suspended,
                                   "DynamicScalingOutSuspended": cfg.scale_out_suspended},
                "desired": kept.desired, "last_reason": kept.last_reason, "note": kept.note,
                "datapoints": {metric: [{"lab": d.at, "value": round(d.value, 3)}
                                        for d in kept.state.datapoints(metric)[-15:]]
                               for metric in {pc.policy.metric for pc in cfg.policies}}})
            for pc in cfg.policies:
                p = pc.policy
                policies.append({
                    "PolicyName": p.name, "PolicyARN": pc.arn, "ResourceId": rid,
                    "PredefinedMetricType": p.metric, "ResourceLabel": pc.resource_label,
                    "TargetValue": p.target_value, "ScaleOutCooldown": p.scale_out_cooldown,
                    "ScaleInCooldown": p.scale_in_cooldown, "DisableScaleIn": p.disable_scale_in,
                    "Alarms": dict(pc.alarms)})
        live = {name for cfg in self.configs.values() for pc in cfg.policies
                for name in pc.alarms.values()}
        return {"targets": targets, "policies": policies,
                "alarms": [a for name, a in sorted(self.alarm_states.items()) if name in live],
                "activities": self.activities(), "ignored": list(self.ignored),
                "lab_minute": self._minute}


__all__ = ["HIGH", "LOW", "OK", "PolicyConfig", "ScalingController", "TargetConfig",
           "alarm_definition", "alarm_reason", "parse_resource_id", "policy_from_api",
           "target_from_api", "target_group_of"]
