"""Observer mode: any ECS service on AWS, read through its APIs into the local cloud's snapshot.

The local cloud publishes one snapshot (``cloud.server.localcloud.LocalCloud.build_snapshot``)
that the TUI and the labs render. Here the same shape is built from what AWS says, by polling
at a modest rate: ECS (container instances, tasks, the service with its deployments and
events), ELBv2 (the load balancer, the target group's attributes and target health),
CloudWatch (the ALB's RequestCount, TargetResponseTime with percentiles,
HTTPCode_Target_5XX_Count; the service's CPU and memory; the target-tracking policies' alarms)
and Application Auto Scaling (the scalable target, policies, scaling activities).

Everything shown is what an API answered (badge ``real``). What no API says — per-target
request counts, the routing decisions, the hosts' image caches, a metric CloudWatch has no
datapoint for — is left out of the snapshot (or None), never filled with a made-up value;
``source.absent`` lists those fields for the UIs. A call that fails is recorded in
``tick_errors`` and its part of the snapshot stays absent; the rest is still shown.

Clients come from ``aws(service)``: by default ``chain_factory`` — boto3's standard chain (the
learner's profile, credentials and region, as ``aws`` uses them), through the same
``cloud.aws.real.access`` as ``fraudlab aws``; tests point it at a loopback emulator with
``FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS``, as the deploy tests do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.aws.real.access import open_access

AwsFactory = Callable[[str], Any]

POLL_SECONDS = 5.0  # ECS and ELBv2: one look every 5 s (about 7 read calls)
SLOW_POLL_SECONDS = 30.0  # CloudWatch and Application Auto Scaling: 1-minute data anyway
METRIC_WINDOW = timedelta(minutes=10)  # how far back the last datapoint is looked for
PERIOD = 60  # seconds: the ALB's and ECS's standard CloudWatch resolution
PERCENTILES = ("p50", "p90", "p99")
EVENTS_KEPT = 20
ABSENT = ("per-target request counts and outstanding requests (CloudWatch has them per "
          "target group, not per target)", "the routing decisions (the ALB logs them only "
          "to S3 access logs)", "each host's image cache (the ECS agent does not report it)")


def chain_factory(region: str | None = None) -> AwsFactory:
    """Clients as the ``fraudlab aws`` commands make them (``cloud.aws.real.access``): boto3's
    standard chain (profile, credentials, region), or the emulator on the loopback that
    ``FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS`` names (tests only: the kit's one endpoint
    override for real-AWS code). No credentials: RealAwsRefused, one line."""
    return open_access(region=region).client


def cached(aws: AwsFactory) -> AwsFactory:
    """``aws`` making each service's client once (clients are thread-safe; sessions are not)."""
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def make(service: str) -> Any:
        with lock:
            if service not in clients:
                clients[service] = aws(service)
            return clients[service]

    return make


def short_id(arn: str | None) -> str:
    """``arn:…:task/cluster/abc123`` → ``abc123``."""
    return (arn or "").rsplit("/", 1)[-1]


def family_revision(arn: str | None) -> str:
    """``arn:…:task-definition/fraud:3`` → ``fraud:3``."""
    return short_id(arn)


def epoch(value: Any) -> float | None:
    """A boto3 datetime (or epoch number) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def clock_text(at: float | None) -> str:
    """Epoch seconds as ``HH:MM:SS`` UTC (how the event log shows AWS's own times)."""
    if at is None:
        return "--:--:--"
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _resource(resources: Iterable[dict[str, Any]], name: str) -> int | None:
    for r in resources or []:
        if r.get("name") == name:
            return int(r.get("integerValue") or 0)
    return None


def _attribute(ci: dict[str, Any], name: str) -> str | None:
    return next((a.get("value") for a in ci.get("attributes") or [] if a.get("name") == name),
                None)


# ---- pure views: API answers → the snapshot's pieces ----------------------------------------


def host_view(ci: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """One container instance as the hosts panel reads it; ``image_cache`` None (unknown)."""
    counts: dict[str, int] = {}
    for t in tasks:
        if t.get("host") == ci.get("ec2InstanceId") and t.get("last_status") != "STOPPED":
            counts[t.get("service") or "-"] = counts.get(t.get("service") or "-", 0) + 1
    return {"instance_id": ci.get("ec2InstanceId") or short_id(ci.get("containerInstanceArn")),
            "az": _attribute(ci, "ecs.availability-zone"),
            "type": _attribute(ci, "ecs.instance-type") or "",
            "registered_cpu": _resource(ci.get("registeredResources"), "CPU"),
            "registered_memory": _resource(ci.get("registeredResources"), "MEMORY"),
            "remaining_cpu": _resource(ci.get("remainingResources"), "CPU"),
            "remaining_memory": _resource(ci.get("remainingResources"), "MEMORY"),
            "status": (f"{ci.get('status')} · agent disconnected"
                       if ci.get("agentConnected") is False else ci.get("status")),
            "agent_connected": ci.get("agentConnected"),
            "tasks": counts, "image_cache": None}


def _bindings(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for c in task.get("containers") or [] for b in c.get("networkBindings") or []]


def _eni_ip(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments") or []:
        for d in attachment.get("details") or []:
            if d.get("name") == "privateIPv4Address":
                return d.get("value")
    return None


def task_view(task: dict[str, Any], hosts_by_arn: dict[str, str]) -> dict[str, Any]:
    """One describe-tasks entry as the hosts panel reads it (pull time from ECS's own
    pullStartedAt/pullStoppedAt; whether the image was cached is not reported: None)."""
    containers = task.get("containers") or []
    bindings = _bindings(task)
    pull_started, pull_stopped = epoch(task.get("pullStartedAt")), epoch(
        task.get("pullStoppedAt"))
    return {"task_id": short_id(task.get("taskArn")),
            "service": (task.get("group") or "").removeprefix("service:") or None,
            "host": hosts_by_arn.get(task.get("containerInstanceArn") or ""),
            "task_definition": family_revision(task.get("taskDefinitionArn")),
            "started_by": task.get("startedBy"), "last_status": task.get("lastStatus"),
            "desired_status": task.get("desiredStatus"),
            "stopped_reason": task.get("stoppedReason") or None,
            "stop_code": task.get("stopCode"),
            "exit_code": next((c.get("exitCode") for c in containers
                               if c.get("exitCode") is not None), None)
            if task.get("lastStatus") == "STOPPED" else None,
            "health": task.get("healthStatus"),
            "port": bindings[0].get("hostPort") if bindings else None,
            "private_ip": _eni_ip(task), "url": None,
            "pull_seconds": (pull_stopped - pull_started) if pull_started and pull_stopped
            else None,
            "pull_cached": None,
            "cpu": int(task["cpu"]) if str(task.get("cpu") or "").isdigit() else None,
            "memory": int(task["memory"]) if str(task.get("memory") or "").isdigit() else None,
            "started_at": epoch(task.get("startedAt")),
            "stopped_at": epoch(task.get("stoppedAt"))}


def service_view(svc: dict[str, Any]) -> dict[str, Any]:
    """describe-services' service as the dashboard reads it (events newest first)."""
    strategy = ",".join(f"{s.get('type')}:{s.get('field', '')}".rstrip(":")
                        for s in svc.get("placementStrategy") or []) or None
    return {"name": svc.get("serviceName"), "desired": svc.get("desiredCount", 0),
            "running": svc.get("runningCount", 0), "pending": svc.get("pendingCount", 0),
            "status": svc.get("status"), "strategy": strategy,
            "task_definition": family_revision(svc.get("taskDefinition")),
            "deployment_configuration": svc.get("deploymentConfiguration"),
            "deployments": [{"id": d.get("id"), "status": d.get("status"),
                             "task_definition": family_revision(d.get("taskDefinition")),
                             "desired": d.get("desiredCount"), "running": d.get("runningCount"),
                             "pending": d.get("pendingCount"),
                             "failed_tasks": d.get("failedTasks"),
                             "rollout_state": d.get("rolloutState"),
                             "rollout_state_reason": d.get("rolloutStateReason")}
                            for d in svc.get("deployments") or []],
            "events": [{"at": epoch(e.get("createdAt")), "message": e.get("message", "")}
                       for e in (svc.get("events") or [])[:EVENTS_KEPT]]}


def target_key(target: dict[str, Any]) -> tuple[str, int | None]:
    return str(target.get("Id")), target.get("Port")


def task_for_target(target: dict[str, Any], tasks: list[dict[str, Any]]) -> str | None:
    """The task a target is (instance id + host port, or the task ENI's private IP), as ECS
    registers them; None when no task observed matches."""
    target_id, port = target_key(target)
    for t in tasks:
        if t.get("private_ip") and t["private_ip"] == target_id:
            return t["task_id"]
        if t.get("host") == target_id and t.get("port") == port:
            return t["task_id"]
    return None


def targets_view(health: list[dict[str, Any]], tasks: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """describe-target-health as the balancer panel reads it: id is the task when known
    (so the hosts and the targets name the same thing); no request counts (not reported)."""
    out = []
    for h in health:
        target = h.get("Target") or {}
        state = h.get("TargetHealth") or {}
        task = task_for_target(target, tasks)
        out.append({"id": task or f"{target.get('Id')}:{target.get('Port')}",
                    "task_id": task, "host": target.get("Id"), "port": target.get("Port"),
                    "state": state.get("State"), "reason": state.get("Reason"),
                    "description": state.get("Description")})
    return out


def last_datapoint(datapoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(datapoints, key=lambda d: epoch(d.get("Timestamp")) or 0.0, default=None)


def timeline(services: list[dict[str, Any]], activities: list[dict[str, Any]],
             targets_seen: list[dict[str, Any]], started: float) -> list[dict[str, Any]]:
    """Service events, scaling activities and the target-health changes seen, oldest first,
    each with AWS's own time (``clock``) and ``lab``: seconds since the observer started."""
    entries = []
    for s in services:
        for e in s.get("events") or []:
            entries.append((e.get("at"), "ecs", e["message"]))
    for a in activities:
        text = a.get("Description") or a.get("Cause") or ""
        status = a.get("StatusCode")
        entries.append((epoch(a.get("StartTime")), "autoscaling",
                        f"auto scaling: {text}" + (f" [{status}]" if status else "")))
    for t in targets_seen:
        entries.append((t["at"], t.get("kind", "observer"), t["text"]))
    entries.sort(key=lambda e: e[0] or 0.0)
    return [{"lab": round((at or started) - started, 3), "clock": clock_text(at), "kind": kind,
             "text": text, "badge": "real"} for at, kind, text in entries[-100:]]


def health_changes(before: dict[str, str], targets: list[dict[str, Any]], at: float
                   ) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Target states now, and a line per target whose state changed since ``before``."""
    now = {str(t["id"]): str(t.get("state")) for t in targets}
    lines = []
    for t in targets:
        was = before.get(str(t["id"]))
        if was is not None and was != t.get("state"):
            why = f": {t['reason']}" if t.get("reason") else ""
            lines.append({"at": at, "text": f"target {str(t['id'])[:12]} {was} → "
                                            f"{t.get('state')}{why}"})
    return now, lines


# ---- the observer ----------------------------------------------------------------------------


class Observer:
    """Polls one ECS service (and what it is attached to) and builds snapshots."""

    def __init__(self, cluster: str, service: str, aws: AwsFactory | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.cluster = cluster
        self.service = service
        self.aws = cached(aws if aws is not None else chain_factory())
        self.now = now
        self.started = now()
        self.errors: list[str] = []
        self._slow_at: float | None = None
        self._slow: dict[str, Any] = {"alb_metrics": None, "service_metrics": None,
                                      "scaling": None}
        self._slow_errors: list[str] = []  # kept until the next slow poll
        self._lb_static: dict[str, Any] | None = None
        self._health: dict[str, str] = {}
        self.lines: list[dict[str, Any]] = []  # health changes seen, actions sent: {at, text}

    def say(self, text: str, kind: str = "observer", at: float | None = None) -> None:
        """A line for the event log: something seen between polls, or an action sent."""
        self.lines = [*self.lines, {"at": self.now() if at is None else at, "kind": kind,
                                    "text": text}][-50:]

    @property
    def region(self) -> str:
        return str(self.aws("ecs").meta.region_name)

    def _try(self, what: str, call: Callable[[], Any], default: Any = None) -> Any:
        """One part of a poll; a failure is recorded (shown) and that part stays absent."""
        try:
            return call()
        except Exception as exc:  # any API refusal: shown, the rest of the poll goes on
            first = (str(exc).splitlines() or [""])[0]
            self.errors.append(f"{what}: {type(exc).__name__}: {first}"[:300])
            return default

    # ---- ECS ---------------------------------------------------------------------------

    def container_instances(self) -> list[dict[str, Any]]:
        ecs = self.aws("ecs")
        arns: list[str] = []
        for page in ecs.get_paginator("list_container_instances").paginate(cluster=self.cluster):
            arns += page.get("containerInstanceArns") or []
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), 100):
            out += ecs.describe_container_instances(
                cluster=self.cluster, containerInstances=arns[i:i + 100])["containerInstances"]
        return out

    def raw_tasks(self) -> list[dict[str, Any]]:
        """The service's running tasks and the stopped ones ECS still lists (about an hour)."""
        ecs = self.aws("ecs")
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            for page in ecs.get_paginator("list_tasks").paginate(
                    cluster=self.cluster, serviceName=self.service, desiredStatus=status):
                arns += [a for a in page.get("taskArns") or [] if a not in arns]
        out: list[dict[str, Any]] = []
        for i in range(0, len(arns), 100):
            out += ecs.describe_tasks(cluster=self.cluster, tasks=arns[i:i + 100])["tasks"]
        return out

    def raw_service(self) -> dict[str, Any]:
        reply = self.aws("ecs").describe_services(cluster=self.cluster, services=[self.service])
        if not reply.get("services"):
            reasons = "; ".join(f.get("reason", "?") for f in reply.get("failures") or [])
            raise LookupError(f"no service {self.service!r} in cluster {self.cluster!r}"
                              + (f" ({reasons})" if reasons else ""))
        return reply["services"][0]

    # ---- ELBv2 -------------------------------------------------------------------------

    def load_balancer_static(self, svc: dict[str, Any]) -> dict[str, Any]:
        """The target group, its attributes and health check, the ALB and its listeners:
        read once (they rarely change while watching)."""
        if self._lb_static is not None:
            return self._lb_static
        elb = self.aws("elbv2")
        tg_arn = next((lb.get("targetGroupArn") for lb in svc.get("loadBalancers") or []
                       if lb.get("targetGroupArn")), None)
        if not tg_arn:
            self._lb_static = {}
            return self._lb_static
        tg = elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
        attributes = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
            TargetGroupArn=tg_arn)["Attributes"]}
        lb_arns = tg.get("LoadBalancerArns") or []
        lbs = elb.describe_load_balancers(LoadBalancerArns=lb_arns[:1])["LoadBalancers"] \
            if lb_arns else []
        listeners = elb.describe_listeners(LoadBalancerArn=lb_arns[0])["Listeners"] \
            if lb_arns else []
        self._lb_static = {
            "target_group": tg.get("TargetGroupName"), "target_group_arn": tg_arn,
            "target_type": tg.get("TargetType"), "attributes": attributes,
            "health_check": {k: tg.get(k) for k in (
                "HealthCheckPath", "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher")},
            "load_balancer_arn": lb_arns[0] if lb_arns else None,
            "dns_name": lbs[0].get("DNSName") if lbs else None,
            "scheme": lbs[0].get("Scheme") if lbs else None,
            "listeners": [{"arn": listener.get("ListenerArn"), "port": listener.get("Port"),
                           "protocol": listener.get("Protocol")} for listener in listeners]}
        return self._lb_static

    def target_health(self, tg_arn: str) -> list[dict[str, Any]]:
        return self.aws("elbv2").describe_target_health(
            TargetGroupArn=tg_arn)["TargetHealthDescriptions"]

    def load_balancer(self, svc: dict[str, Any], tasks: list[dict[str, Any]]
                      ) -> dict[str, Any] | None:
        static = self._try("elbv2 load balancer", lambda: self.load_balancer_static(svc))
        if not static:
            return None
        health = self._try("elbv2 describe-target-health",
                           lambda: self.target_health(static["target_group_arn"]))
        targets = targets_view(health, tasks) if health is not None else []
        self._health, lines = health_changes(self._health, targets, self.now())
        for line in lines:
            self.say(line["text"], "lb", line["at"])
        return {"observed": True,  # an ALB on AWS: CloudWatch's minute, no per-target counts
                "algorithm": static["attributes"].get("load_balancing.algorithm.type"),
                "retry_on_connect_error": False,
                "retry_label": "an ALB does not retry a request",
                "service": self.service, "targets": targets,
                "target_health_read": health is not None,
                "api": {k: v for k, v in static.items()}}

    # ---- CloudWatch and Application Auto Scaling (every SLOW_POLL_SECONDS) --------------

    def metric(self, namespace: str, name: str, dimensions: dict[str, str],
               statistics: tuple[str, ...], extended: tuple[str, ...] = ()
               ) -> dict[str, Any] | None:
        """The latest 1-minute datapoint of one metric (None: CloudWatch has none).

        The window ends at the next whole minute: a datapoint stamped within the current
        second is inside it (moto truncates EndTime to the second and excludes the end)."""
        end = datetime.fromtimestamp((self.now() // PERIOD + 1) * PERIOD, UTC)
        kwargs: dict[str, Any] = {
            "Namespace": namespace, "MetricName": name, "Period": PERIOD,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "StartTime": end - METRIC_WINDOW, "EndTime": end, "Statistics": list(statistics)}
        if extended:
            kwargs["ExtendedStatistics"] = list(extended)
        return last_datapoint(self.aws("cloudwatch").get_metric_statistics(
            **kwargs)["Datapoints"])

    def alb_metrics(self, static: dict[str, Any]) -> dict[str, Any] | None:
        """RequestCount, TargetResponseTime (average and percentiles, seconds) and
        HTTPCode_Target_5XX_Count of the ALB's last minute with data; absent stays absent."""
        lb_arn, tg_arn = static.get("load_balancer_arn"), static.get("target_group_arn")
        if not lb_arn:
            return None
        dims = {"LoadBalancer": lb_arn.split(":loadbalancer/", 1)[-1]}
        out: dict[str, Any] = {"period": PERIOD, "dimensions": dims}
        count = self.metric("AWS/ApplicationELB", "RequestCount", dims, ("Sum",))
        if count is not None:
            out["RequestCount"] = count.get("Sum")
            out["at"] = epoch(count.get("Timestamp"))
        errors = self.metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims, ("Sum",))
        if errors is not None:
            out["HTTPCode_Target_5XX_Count"] = errors.get("Sum")
        latency = self.metric("AWS/ApplicationELB", "TargetResponseTime", dims, ("Average",),
                              PERCENTILES)
        if latency is not None:
            out["TargetResponseTime"] = latency.get("Average")
            for p in PERCENTILES:
                value = (latency.get("ExtendedStatistics") or {}).get(p)
                if value is not None:
                    out[f"TargetResponseTime_{p}"] = value
        if tg_arn and count is not None:
            out["target_group"] = tg_arn.split(":", 5)[-1]
        return out

    def service_metrics(self) -> dict[str, Any]:
        dims = {"ClusterName": self.cluster, "ServiceName": self.service}
        row: dict[str, Any] = {}
        for name in ("CPUUtilization", "MemoryUtilization"):
            point = self.metric("AWS/ECS", name, dims, ("Average",))
            if point is not None:
                row[name] = point.get("Average")
        return {"services": {self.service: row} if row else {}}

    def scaling(self) -> dict[str, Any]:
        """The scalable target, its policies, their CloudWatch alarms (target tracking makes
        two per policy) and recent activities (each absent on refusal)."""
        aas = self.aws("application-autoscaling")
        resource = f"service/{self.cluster}/{self.service}"
        out: dict[str, Any] = {"resource_id": resource}
        out["targets"] = self._try("application-autoscaling describe-scalable-targets",
                                   lambda: aas.describe_scalable_targets(
                                       ServiceNamespace="ecs", ResourceIds=[resource])[
                                       "ScalableTargets"])
        out["policies"] = self._try("application-autoscaling describe-scaling-policies",
                                    lambda: aas.describe_scaling_policies(
                                        ServiceNamespace="ecs", ResourceId=resource)[
                                        "ScalingPolicies"])
        names = alarm_names(out["policies"] or [])
        out["alarms"] = self._try("cloudwatch describe-alarms", lambda: self.aws(
            "cloudwatch").describe_alarms(AlarmNames=names[:100])["MetricAlarms"]) \
            if names else []
        out["activities"] = self._try("application-autoscaling describe-scaling-activities",
                                      lambda: aas.describe_scaling_activities(
                                          ServiceNamespace="ecs", ResourceId=resource,
                                          MaxResults=20)["ScalingActivities"])
        return out

    def poll_slow(self, static: dict[str, Any]) -> None:
        """CloudWatch and Application Auto Scaling, at most every SLOW_POLL_SECONDS."""
        now = self.now()
        if self._slow_at is not None and now - self._slow_at < SLOW_POLL_SECONDS:
            return
        self._slow_at = now
        fast_errors, self.errors = self.errors, []
        self._slow = {
            "alb_metrics": self._try("cloudwatch ALB metrics", lambda: self.alb_metrics(static)),
            "service_metrics": self._try("cloudwatch ECS metrics", self.service_metrics),
            "scaling": self.scaling()}
        self._slow_errors, self.errors = self.errors, fast_errors

    # ---- the snapshot ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """One poll: the whole snapshot, in the local cloud's shape (see the module doc)."""
        self.errors = []
        raw_cis = self._try("ecs container instances", self.container_instances, [])
        hosts_by_arn = {ci["containerInstanceArn"]: ci.get("ec2InstanceId") or
                        short_id(ci["containerInstanceArn"]) for ci in raw_cis}
        tasks = [task_view(t, hosts_by_arn)
                 for t in self._try("ecs tasks", self.raw_tasks, [])]
        svc = self._try("ecs describe-services", self.raw_service)
        services = [service_view(svc)] if svc else []
        lb = self.load_balancer(svc, tasks) if svc else None
        self.poll_slow((lb or {}).get("api") or {})
        scaling = self._slow["scaling"] or {}
        now = self.now()
        return {
            "source": self.source(now),
            "runtime": "AWS", "time_scale": 1.0, "lab_time": round(now - self.started, 3),
            "cluster": self.cluster,
            "hosts": [host_view(ci, tasks) for ci in raw_cis],
            "services": services, "tasks": tasks, "capacity": None,
            "load_balancer": lb, "alb_metrics": self._slow["alb_metrics"],
            "service_metrics": self._slow["service_metrics"],
            "scaling": scaling_view(scaling),
            "timeline": timeline(services, scaling.get("activities") or [],
                                 self.lines, self.started),
            "tick_errors": [*self.errors, *self._slow_errors][-5:]}

    def source(self, now: float) -> dict[str, Any]:
        return {"kind": "aws", "badge": "real", "cluster": self.cluster,
                "service": self.service, "region": self._try("region", lambda: self.region),
                "polled_at": now, "clock": clock_text(now), "poll_seconds": POLL_SECONDS,
                "absent": list(ABSENT)}


def alarm_names(policies: list[dict[str, Any]]) -> list[str]:
    """The CloudWatch alarms describe-scaling-policies lists for the policies, in order."""
    return [a["AlarmName"] for p in policies for a in p.get("Alarms") or [] if a.get("AlarmName")]


def alarm_view(alarm: dict[str, Any], policies: list[dict[str, Any]]) -> dict[str, Any]:
    """One describe-alarms answer in the local cloud's alarm shape (kind AlarmHigh/AlarmLow,
    state, threshold, datapoints); ``breaching`` None: CloudWatch does not say how many of
    the window's datapoints breach."""
    name = alarm.get("AlarmName") or ""
    comparison = alarm.get("ComparisonOperator") or ""
    kind = "AlarmHigh" if comparison.startswith("Greater") or "-AlarmHigh-" in name \
        else "AlarmLow"
    policy = next((p.get("PolicyName") for p in policies
                   if name in {a.get("AlarmName") for a in p.get("Alarms") or []}), None)
    return {"AlarmName": name, "policy": policy, "kind": kind,
            "metric": alarm.get("MetricName"), "comparison": comparison,
            "threshold": alarm.get("Threshold"),
            "datapoints": alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods"),
            "state": alarm.get("StateValue"), "breaching": None,
            "reason": alarm.get("StateReason"),
            "at": epoch(alarm.get("StateUpdatedTimestamp"))}


def scaling_view(scaling: dict[str, Any]) -> dict[str, Any]:
    """Application Auto Scaling's answers in the shape the dashboard reads (targets with
    MinCapacity/MaxCapacity, policies, activities) and the policies' CloudWatch alarms
    (state, threshold) as the local cloud's controller lists them."""
    return {"targets": scaling.get("targets") or [],
            "policies": [{"name": p.get("PolicyName"), "type": p.get("PolicyType"),
                          "target_value": (p.get("TargetTrackingScalingPolicyConfiguration")
                                           or {}).get("TargetValue")}
                         for p in scaling.get("policies") or []],
            "activities": [{"at": epoch(a.get("StartTime")), "status": a.get("StatusCode"),
                            "description": a.get("Description"), "cause": a.get("Cause")}
                           for a in scaling.get("activities") or []],
            "alarms": [alarm_view(a, scaling.get("policies") or [])
                       for a in scaling.get("alarms") or []]}
