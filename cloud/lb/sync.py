"""The target group's I/O edge: the ELBv2 API on one side, the kit's reverse proxy on the other.

The API is the source of truth for the configuration, the proxy for what happens to traffic
(ecs-facts.md §6). ``TargetGroupSync.tick`` runs once per controller tick in the local cloud:

1. find the target group the cluster's service names in its ``loadBalancers`` (none: do
   nothing); looked up again every ``refresh_seconds``;
2. read the group's attributes (every tick) and health-check settings (on each look-up) through
   the API and apply them to the proxy: routing algorithm, deregistration delay, path,
   interval, timeout, thresholds, matcher — a learner's own ``modify-target-group-attributes``
   reaches the proxy within a tick;
3. mirror the proxy's targets (the RUNNING tasks the controller registers, as ECS does) into
   the API with ``register-targets`` / ``deregister-targets``, each as ECS registers it
   (``api_rows``: instance id and host port for target type instance, the task's private IP
   and container port for ip; the proxy still reaches the task at 127.0.0.1:<its local
   port>); a target registered by hand that is no task's is deregistered again (the proxy
   routes to tasks only). What the group lists now is read with ``describe-target-health``,
   or in-process straight from moto's backend (what that call answers from: one API call less
   per tick). A target a learner deregisters by hand stays
   deregistered: the proxy drains it too (ECS registers a target when its task starts, and
   does not fight the learner);
4. write each target's true health (initial / healthy / unhealthy / draining, ALB's reason
   codes and descriptions) into moto's in-process backend, so ``describe-target-health``
   tells the truth; a drained target leaves the listing as in AWS. Against LocalStack (or a
   moto server in another process) there is no backend to write: this step is skipped.

moto 5.2.5, worked around in 3–4 when its server runs in this process: a target group keys
its targets by ``Id`` alone, so every 127.0.0.1 target would replace the previous one (AWS
keys them by Id and port), and ``describe-target-health`` answers ``healthy`` for any
registered ip target. Each target group the sync finds is turned into a subclass of moto's
(``_kit_target_group_class``): targets keyed by Id and port, a deregistered target draining
until the proxy has drained it, health as written back. moto does not check an ip target
against the VPC's CIDR, so 127.0.0.1 registers as it is (AWS accepts only addresses of the
VPC's subnets or private ranges: never a loopback address).

The decisions are pure: :func:`target_health` (proxy state → API health),
:func:`plan_targets` (what to register, deregister, finish) and :func:`proxy_config`
(API settings → proxy settings).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from cloud.lb import health as hc
from cloud.lb.routing import (
    ALGORITHMS,
    DRAINING,
    HEALTHY,
    INITIAL,
    REGISTERED,
    ROUND_ROBIN,
    UNHEALTHY,
    UNUSED,
    check_algorithm,
)

ALGORITHM = "load_balancing.algorithm.type"
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
STAMPED_REFRESH = 30.0  # seconds between looks for the target group with a write stamp
Key = tuple[str, int]  # a target as AWS identifies it: (Id, Port)

_RANK = {INITIAL: 2, HEALTHY: 2, UNHEALTHY: 2, DRAINING: 1, UNUSED: 0}
_DEFAULT_REASON = {INITIAL: hc.REGISTRATION_IN_PROGRESS, UNHEALTHY: hc.FAILED_HEALTH_CHECKS,
                   DRAINING: hc.DEREGISTRATION_IN_PROGRESS, UNUSED: hc.NOT_REGISTERED}


# ---- pure decisions -----------------------------------------------------------------------
def current_rows(rows: Iterable[Mapping[str, Any]]) -> dict[Key, Mapping[str, Any]]:
    """The proxy row that speaks for each address (a port may be reused by a new task): a
    registered target over a draining one over an unused one; the later row on a tie."""
    out: dict[Key, Mapping[str, Any]] = {}
    for row in rows:
        key = (str(row["host"]), int(row["port"]))
        old = out.get(key)
        if old is None or _RANK.get(row["state"], 0) >= _RANK.get(old["state"], 0):
            out[key] = row
    return out


def api_health(row: Mapping[str, Any]) -> dict[str, str]:
    """One proxy target as DescribeTargetHealth's ``TargetHealth``: healthy has no reason."""
    state = str(row["state"])
    if state == HEALTHY:
        return {"State": HEALTHY}
    reason = row.get("reason") or _DEFAULT_REASON.get(state, hc.NOT_REGISTERED)
    description = row.get("description") or hc.DESCRIPTIONS.get(reason, "")
    return {"State": state, "Reason": str(reason), "Description": str(description)}


def target_health(rows: Iterable[Mapping[str, Any]]) -> dict[Key, dict[str, str]]:
    """The proxy's targets (``LoadBalancer.snapshot()["targets"]``) as the API's health."""
    return {key: api_health(row) for key, row in current_rows(rows).items()}


def api_rows(rows: Iterable[Mapping[str, Any]], target_type: str | None,
             api_target: Callable[[str, str], Key | None] | None) -> list[Mapping[str, Any]]:
    """The proxy's rows with each target as ECS registers it (cloud.ecs.network.api_target):
    (instance id, host port) for type instance, (private IP, containerPort) for type ip. The
    proxy still reaches the task at 127.0.0.1:<its local port>. Rows the mapping does not
    know keep the proxy's address; without a mapping all do."""
    if api_target is None or not target_type:
        return list(rows)
    out = []
    for row in rows:
        key = api_target(str(row.get("id")), target_type)
        out.append(row if key is None else {**row, "host": key[0], "port": key[1]})
    return out


@dataclass(frozen=True)
class TargetPlan:
    """API calls that make the target group's listing match the proxy."""

    register: tuple[Key, ...] = ()
    deregister: tuple[Key, ...] = ()
    finished: tuple[Key, ...] = ()  # drained: they leave the listing (emulator write-back)


def plan_targets(rows: Iterable[Mapping[str, Any]], listed: Mapping[Key, str]) -> TargetPlan:
    """``listed``: what DescribeTargetHealth lists, ``{(Id, Port): State}``.

    Register what the proxy has registered and the API does not (or only as draining);
    deregister what the API has registered and the proxy does not; a target the API lists
    as draining (or that is deregistered now) is finished once the proxy has it unused.
    """
    want = {key: str(row["state"]) for key, row in current_rows(rows).items()}
    register = sorted(k for k, s in want.items()
                      if s in REGISTERED and listed.get(k) in (None, DRAINING, UNUSED))
    deregister = sorted(k for k, s in listed.items()
                        if s not in (DRAINING, UNUSED) and want.get(k) not in REGISTERED)
    finished = sorted(k for k, s in listed.items()
                      if want.get(k) in (None, UNUSED) and (s == DRAINING or k in deregister))
    return TargetPlan(tuple(register), tuple(deregister), tuple(finished))


def hand_deregistered(rows: Iterable[Mapping[str, Any]], listed: Mapping[Key, str],
                      seen: Mapping[Key, str]) -> list[str]:
    """Targets a learner deregistered through the API (``deregister-targets``): the proxy
    still routes to them, the API listed them registered before (``seen``: address → the
    proxy's target id then) and lists them draining or not at all now. ECS registers a task's
    target when the task starts; it does not register it again (ecs-facts.md §6)."""
    return [str(row["id"]) for key, row in current_rows(rows).items()
            if row["state"] in REGISTERED and seen.get(key) == row["id"]
            and listed.get(key) in (None, DRAINING, UNUSED)]


def registered_now(rows: Iterable[Mapping[str, Any]], listed: Mapping[Key, str],
                   plan: TargetPlan) -> dict[Key, str]:
    """What the API lists as registered once ``plan`` is done: address → proxy target id."""
    return {key: str(row["id"]) for key, row in current_rows(rows).items()
            if row["state"] in REGISTERED
            and (key in plan.register or listed.get(key) in REGISTERED)}


@dataclass(frozen=True)
class ProxyConfig:
    settings: hc.HealthSettings
    algorithm: str
    notes: tuple[str, ...] = ()


def proxy_config(target_group: Mapping[str, Any], attributes: Mapping[str, str],
                 current: hc.HealthSettings, current_algorithm: str) -> ProxyConfig:
    """The proxy's settings from DescribeTargetGroups and DescribeTargetGroupAttributes.

    An empty ``target_group`` keeps the current health checks; an algorithm or setting the
    proxy cannot simulate keeps the current one, with a note saying why.
    """
    notes: list[str] = []
    algorithm = str(attributes.get(ALGORITHM, ROUND_ROBIN))
    if algorithm not in ALGORITHMS:
        notes.append(f"{ALGORITHM}={algorithm} is not simulated by the kit's proxy; it keeps "
                     f"{current_algorithm}")
        algorithm = current_algorithm
    settings = current
    try:
        values: dict[str, Any] = {"deregistration_delay": float(
            attributes.get(DEREGISTRATION_DELAY, current.deregistration_delay))}
        if target_group:
            tg = target_group
            values.update(
                path=str(tg.get("HealthCheckPath") or "/"),
                interval=float(tg.get("HealthCheckIntervalSeconds", current.interval)),
                timeout=float(tg.get("HealthCheckTimeoutSeconds", current.timeout)),
                healthy_threshold=int(tg.get("HealthyThresholdCount",
                                             current.healthy_threshold)),
                unhealthy_threshold=int(tg.get("UnhealthyThresholdCount",
                                               current.unhealthy_threshold)),
                matcher=str((tg.get("Matcher") or {}).get("HttpCode") or current.matcher))
        settings = replace(current, **values)
    except (TypeError, ValueError) as exc:
        notes.append(f"health-check settings not applied to the proxy: {exc}")
    return ProxyConfig(settings, algorithm, tuple(notes))


# ---- moto's in-process backend ------------------------------------------------------------
_KIT_CLASS: Any = None


def _kit_target_group_class() -> Any:
    """moto's FakeTargetGroup with AWS's target identity and the health the kit writes."""
    global _KIT_CLASS
    if _KIT_CLASS is not None:
        return _KIT_CLASS
    from moto.elbv2.exceptions import InvalidTargetError, TargetNotRunning
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    class KitTargetGroup(FakeTargetGroup):  # type: ignore[misc]
        """Targets keyed ``"Id:Port"``; deregistered ones draining until ``kit_write``
        finishes them; DescribeTargetHealth answers from ``kit_health``. Containers are
        replaced whole (never mutated) so moto's request threads read a consistent one."""

        kit_health: dict[str, dict[str, str]]
        kit_draining: frozenset[str]

        def _kit_key(self, target: Mapping[str, Any]) -> tuple[str, str, int]:
            port = int(target.get("Port") or self.port)
            return f"{target['Id']}:{port}", str(target["Id"]), port

        def register(self, targets: list[dict[str, Any]]) -> None:
            new, draining, health = OrderedDict(self.targets), set(self.kit_draining), \
                dict(self.kit_health)
            for target in targets:
                instance = self.ec2_backend.get_instance_by_id(target["Id"])
                if instance and instance.state != "running":
                    raise TargetNotRunning(instance_id=target["Id"])
                key, tid, port = self._kit_key(target)
                if key not in new or key in draining:
                    health[key] = api_health({"state": INITIAL})
                new[key] = {"Id": tid, "Port": port}
                draining.discard(key)
            self.targets, self.kit_draining, self.kit_health = new, frozenset(draining), health

        def deregister(self, targets: list[dict[str, Any]]) -> None:
            draining, health = set(self.kit_draining), dict(self.kit_health)
            for target in targets:
                key = self._kit_key(target)[0]
                if key not in self.targets:
                    raise InvalidTargetError()
                draining.add(key)
                health[key] = api_health({"state": DRAINING})
            self.kit_draining, self.kit_health = frozenset(draining), health

        def deregister_terminated_instances(self, instance_ids: list[str]) -> None:
            gone = [k for k, t in self.targets.items() if t["Id"] in instance_ids]
            self.terminated_targets.update({k: self.targets[k] for k in gone})
            self.kit_finish(gone)

        def kit_finish(self, keys: Iterable[str]) -> None:
            keys = set(keys)
            self.targets = OrderedDict((k, t) for k, t in self.targets.items() if k not in keys)
            self.kit_draining = self.kit_draining - keys
            self.kit_health = {k: h for k, h in self.kit_health.items() if k not in keys}

        def kit_write(self, health: Mapping[Key, dict[str, str]],
                      finished: Iterable[Key]) -> None:
            """The proxy's health for the listed targets; ``finished`` ones leave."""
            written = dict(self.kit_health)
            for (tid, port), value in health.items():
                key = f"{tid}:{port}"
                if key in self.targets:
                    written[key] = dict(value)
            self.kit_health = written
            self.kit_finish(f"{tid}:{port}" for tid, port in finished)

        def health_for(self, target: dict[str, Any], ec2_backend: Any) -> Any:
            key, tid, port = self._kit_key(target)
            have = self.targets.get(key)
            if have is None:
                return FakeHealthStatus(tid, port, self.health_check_port, UNUSED,
                                        hc.NOT_REGISTERED, hc.DESCRIPTIONS[hc.NOT_REGISTERED])
            value = self.kit_health.get(key) or api_health(
                {"state": DRAINING if key in self.kit_draining else INITIAL})
            return FakeHealthStatus(have["Id"], have["Port"], self.health_check_port,
                                    value["State"], value.get("Reason"),
                                    value.get("Description"))

    _KIT_CLASS = KitTargetGroup
    return KitTargetGroup


def moto_target_group(arn: str) -> Any | None:
    """The in-process moto target group of ``arn``, turned into the kit's subclass; None when
    moto's server is not in this process (no backend holds that exact, random ARN)."""
    try:
        from moto.elbv2.models import elbv2_backends
    except ImportError:
        return None
    try:
        region, account = arn.split(":")[3:5]
        tg = elbv2_backends[account][region].target_groups.get(arn)
    except (IndexError, KeyError, ValueError):
        return None
    if tg is None:
        return None
    kit = _kit_target_group_class()
    if not isinstance(tg, kit):
        old = list(tg.targets.values())
        tg.__class__ = kit
        tg.kit_health, tg.kit_draining = {}, frozenset()
        tg.targets = OrderedDict()
        tg.register(old)
    return tg


def _backend_health(tg: Any) -> list[dict[str, Any]]:
    """DescribeTargetHealth's answer, read from the kit's moto target group."""
    return [{"Target": {"Id": t["Id"], "Port": t["Port"]},
             "TargetHealth": tg.health_for(t, None).target_health}
            for t in tg.targets.values()]


# ---- the sync -----------------------------------------------------------------------------
def load_balancer_of(elbv2: Any, tg: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                  list[dict[str, Any]]]:
    """The first load balancer a target group belongs to and its listeners ({}, [] if none)."""
    lb_arns = tg.get("LoadBalancerArns") or []
    if not lb_arns:
        return {}, []
    [load_balancer] = elbv2.describe_load_balancers(LoadBalancerArns=lb_arns[:1])["LoadBalancers"]
    return load_balancer, elbv2.describe_listeners(LoadBalancerArn=lb_arns[0])["Listeners"]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class TargetGroupSync:
    """Keeps the proxy configured from the API and the API's targets and health true.

    ``tick()`` once per controller tick; ``set_algorithm`` for the control API; ``snapshot``
    for the UI. ``write_back``: write target health into moto's in-process backend (only
    when the endpoint is moto in this process). ``on_change(text)`` hears what was applied.
    """

    def __init__(self, elbv2: Any, ecs: Any, lb: Any, cluster: str, *, write_back: bool = True,
                 refresh_seconds: float = 2.0,
                 on_change: Callable[[str], None] | None = None,
                 api_generation: Callable[[str], int] | None = None) -> None:
        self.elbv2, self.ecs, self.lb, self.cluster = elbv2, ecs, lb, cluster
        # The emulator's write stamp (cloud.core.api_writes.generation) when it runs in this
        # process: the target group's attributes are re-read only after an ELB write call.
        self.api_generation = api_generation
        self._applied_stamp: tuple[str | None, int] | None = None
        self._found_stamp: tuple[int, int] | None = None
        self.write_back = write_back
        self.refresh_seconds = refresh_seconds
        self.on_change = on_change or (lambda _text: None)
        self._lock = threading.RLock()
        self._found_at = float("-inf")
        self.service: str | None = None
        self.target_group: dict[str, Any] = {}
        self.load_balancer: dict[str, Any] = {}
        self.listeners: list[dict[str, Any]] = []
        self.attributes: dict[str, str] = {}
        self.targets: list[dict[str, Any]] = []
        self.notes: tuple[str, ...] = ()
        self.written = False  # health was written into moto's backend at the last tick
        self._seen: dict[Key, str] = {}  # what the API listed as registered: address → id
        self._seen_in: str | None = None  # … in this target group
        # task id, target type → (Id, Port) as ECS registers it (the controller's api_target)
        self.api_target: Callable[[str, str], Key | None] | None = None

    @property
    def target_group_arn(self) -> str | None:
        return self.target_group.get("TargetGroupArn")

    # ---- per tick --------------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            if self._find_due():
                self._find()
            if self.target_group_arn is None:
                return
            try:
                stamp = ((self.target_group_arn, self.api_generation("elbv2"))
                         if self.api_generation else None)
                if stamp is None or stamp != self._applied_stamp:
                    self._apply_settings()
                    self._applied_stamp = stamp
                self._mirror_targets()
            except ClientError as exc:
                if _code(exc) != "TargetGroupNotFound":
                    raise
                self.on_change(f"target group {self.target_group.get('TargetGroupName')} is "
                               "gone from the API; the proxy keeps its last settings")
                self._forget()

    def _find_due(self) -> bool:
        """Time to look for the service's target group again: every ``refresh_seconds``;
        with the emulator's write stamp, after an ECS or ELB write call (or every
        ``STAMPED_REFRESH`` seconds)."""
        age = time.monotonic() - self._found_at
        if self.api_generation is None:
            return age >= self.refresh_seconds
        stamp = (self.api_generation("ecs"), self.api_generation("elbv2"))
        if stamp != self._found_stamp or age >= STAMPED_REFRESH:
            self._found_stamp = stamp  # taken before the reads
            return True
        return False

    def _forget(self) -> None:
        self._applied_stamp = self._found_stamp = None
        self.target_group, self.load_balancer, self.listeners = {}, {}, []
        self.attributes, self.targets, self.service = {}, [], None
        self._found_at = float("-inf")

    def _find(self) -> None:
        """The target group named in a live (ACTIVE or DRAINING) service's
        ``loadBalancers``: the one it has while one still names it, else the first."""
        self._found_at = time.monotonic()
        try:
            arns = self.ecs.list_services(cluster=self.cluster).get("serviceArns", [])
            services = (self.ecs.describe_services(cluster=self.cluster, services=arns[:10])
                        .get("services", []) if arns else [])
        except ClientError as exc:
            if _code(exc) in ("ClusterNotFoundException", "ClusterNotFound"):
                services = []
            else:
                raise
        named = [(s["serviceName"], lb["targetGroupArn"]) for s in services
                 if s.get("status") in ("ACTIVE", "DRAINING")
                 for lb in s.get("loadBalancers") or [] if lb.get("targetGroupArn")]
        # the group it follows while a service still names it (cloud.lb.pools.kit_group)
        found = next((f for f in named if f[1] == self.target_group_arn),
                     named[0] if named else None)
        if found is None:
            if self.target_group_arn is not None:
                self._forget()
                self._found_at = time.monotonic()
            return
        self.service, arn = found
        try:
            [tg] = self.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        except ClientError as exc:
            if _code(exc) == "TargetGroupNotFound":
                self._forget()
                self._found_at = time.monotonic()
                return
            raise
        if arn != self.target_group_arn:
            self.on_change(f"service {self.service} uses target group {tg['TargetGroupName']}: "
                           "the proxy takes its settings from the API")
        self.target_group = tg
        self.load_balancer, self.listeners = load_balancer_of(self.elbv2, tg)

    def _apply_settings(self) -> None:
        arn = self.target_group_arn
        found = self.elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        self.attributes = {a["Key"]: a["Value"] for a in found}
        config = proxy_config(self.target_group, self.attributes, self.lb.health_settings,
                              self.lb.algorithm)
        if config.algorithm != self.lb.algorithm:
            self.on_change(f"routing algorithm {self.lb.algorithm} → {config.algorithm} "
                           f"({ALGORITHM} of {self.target_group.get('TargetGroupName')})")
            self.lb.set_algorithm(config.algorithm)
        if config.settings != self.lb.health_settings:
            old, new = vars(self.lb.health_settings), vars(config.settings)
            changed = ", ".join(f"{k} {old[k]} → {new[k]}" for k in new if old[k] != new[k])
            self.on_change(f"target group settings applied to the proxy: {changed}")
            self.lb.set_health_settings(config.settings)
        if config.notes != self.notes:
            for note in config.notes:
                self.on_change(note)
        self.notes = config.notes

    def _mirror_targets(self) -> None:
        arn = self.target_group_arn
        backend = moto_target_group(arn) if self.write_back and arn else None
        # In-process, the backend is what DescribeTargetHealth would read: one call saved.
        self.targets = (_backend_health(backend) if backend is not None else
                        self.elbv2.describe_target_health(
                            TargetGroupArn=arn)["TargetHealthDescriptions"])
        listed = {(str(d["Target"]["Id"]), int(d["Target"]["Port"])): d["TargetHealth"]["State"]
                  for d in self.targets}
        rows = self._api_rows()
        seen = self._seen if self._seen_in == arn else {}  # another group: nothing seen yet
        by_hand = hand_deregistered(rows, listed, seen)
        for target_id in by_hand:  # the learner's deregister-targets stands: the proxy drains
            self.lb.deregister(target_id)
            self.on_change(f"target {target_id[:8]} deregistered through the API: the load "
                           "balancer drains it; ECS does not register it again")
        if by_hand:
            rows = self._api_rows()
        plan = plan_targets(rows, listed)
        self._seen, self._seen_in = registered_now(rows, listed, plan), arn
        if plan.register:
            self.elbv2.register_targets(TargetGroupArn=arn, Targets=[
                {"Id": tid, "Port": port} for tid, port in plan.register])
        if plan.deregister:
            self.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[
                {"Id": tid, "Port": port} for tid, port in plan.deregister])
        self.written = backend is not None
        if backend is not None:
            backend.kit_write(target_health(rows), plan.finished)
            self.targets = _backend_health(backend)

    def _api_rows(self) -> list[Mapping[str, Any]]:
        """The proxy's targets, each keyed as ECS registers it in the API (``api_rows``)."""
        return api_rows(self.lb.snapshot(trace_limit=0)["targets"],
                        self.target_group.get("TargetType"), self.api_target)

    # ---- the control API -------------------------------------------------------------------
    def set_algorithm(self, name: str) -> bool:
        """Set the routing algorithm; through ModifyTargetGroupAttributes when a target group
        is in use (True), so the API stays the source of truth, else on the proxy only."""
        check_algorithm(name)
        with self._lock:
            if self.target_group_arn is None:
                self._find()
            arn = self.target_group_arn
            if arn is not None:
                self.elbv2.modify_target_group_attributes(
                    TargetGroupArn=arn, Attributes=[{"Key": ALGORITHM, "Value": name}])
                self.attributes[ALGORITHM] = name
            if self.lb.algorithm != name:
                self.on_change(f"routing algorithm {self.lb.algorithm} → {name}"
                               + (" (modify-target-group-attributes)" if arn else ""))
                self.lb.set_algorithm(name)
            return arn is not None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tg = self.target_group
            if not tg:
                return {"target_group_arn": None,
                        "why": f"no service in {self.cluster} names a target group in its "
                               "loadBalancers (yet)"}
            return {
                "service": self.service,
                "target_group_arn": tg.get("TargetGroupArn"),
                "target_group": tg.get("TargetGroupName"),
                "target_type": tg.get("TargetType"),
                "health_check": {k: tg.get(k) for k in (
                    "HealthCheckPath", "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                    "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher")},
                "attributes": dict(self.attributes),
                "load_balancer_arn": self.load_balancer.get("LoadBalancerArn"),
                "dns_name": self.load_balancer.get("DNSName"),
                "listeners": [{"arn": x.get("ListenerArn"), "protocol": x.get("Protocol"),
                               "port": x.get("Port")} for x in self.listeners],
                "targets": [{"id": d["Target"]["Id"], "port": d["Target"]["Port"],
                             **{k.lower(): v for k, v in d["TargetHealth"].items()
                                if v is not None}}
                            for d in self.targets],
                "health_written_back": self.written,
                "notes": list(self.notes),
            }
