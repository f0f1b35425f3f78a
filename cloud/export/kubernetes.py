"""The running deployment as Kubernetes manifests (pure: a Deployment in, dicts/YAML out).

Deployment (replicas = desiredCount; requests/limits from the task definition; probes from the
container health check and the target group's; rolling update from deploymentConfiguration;
placement spread → topologySpreadConstraints), Service of type LoadBalancer (listener port →
container port) and a HorizontalPodAutoscaler (autoscaling/v2) from the scalable target and
its target-tracking policies. What has no Kubernetes equivalent is said in annotations under
``fraudlab/`` and in :func:`notes`. Facts: ecs-facts.md §2, §7, §8, §11h.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from cloud.export.state import Deployment, ScalingPolicy

K8S_VERSION = "1.33.0"  # the Kubernetes schema the export is validated against (strict)
CPU_METRIC = "ECSServiceAverageCPUUtilization"
MEMORY_METRIC = "ECSServiceAverageMemoryUtilization"
REQUESTS_METRIC = "ALBRequestCountPerTarget"
# The service's Prometheus counter (service/telemetry.py), as a custom-metrics adapter such as
# prometheus-adapter exposes its rate (its documented rule: foo_total → foo_per_second).
REQUESTS_POD_METRIC = "fraudlab_requests_per_second"
NOTE = "fraudlab/note"


def cpu_quantity(units: int) -> str:
    """ECS CPU units (1024 = one vCPU) → a Kubernetes CPU quantity in millicores."""
    if units <= 0:
        raise ValueError(f"CPU units must be > 0, got {units}")
    return f"{math.ceil(units * 1000 / 1024)}m"


def memory_quantity(mib: int) -> str:
    """MiB → ``NMi``."""
    if mib <= 0:
        raise ValueError(f"memory must be > 0 MiB, got {mib}")
    return f"{mib}Mi"


def _labels(d: Deployment) -> dict[str, str]:
    return {"app.kubernetes.io/name": d.task_definition.family,
            "app.kubernetes.io/part-of": "fraudlab"}


def _name(d: Deployment) -> str:
    return d.service


def resources(d: Deployment) -> dict[str, dict[str, str]]:
    """Requests and limits from the task definition (§2).

    Memory: the request is ``memoryReservation`` (else ``memory``), what ECS reserves for
    placement; the limit is the hard ``memory`` (exceeding it OOM-kills, in both). CPU: the
    request is the container's CPU units (what placement reserves); the limit is the task-level
    ``cpu``, which ECS on EC2 enforces as a CFS quota — the container's own ``cpu`` alone is only
    a relative weight (cpu-shares), so without a task-level cpu there is no CPU limit.
    """
    td, c = d.task_definition, d.task_definition.container
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu_request = c.cpu or td.cpu
    if cpu_request:
        requests["cpu"] = cpu_quantity(cpu_request)
    if td.cpu:
        limits["cpu"] = cpu_quantity(td.cpu)
    hard = c.memory or td.memory
    soft = c.memory_reservation or hard
    if soft:
        requests["memory"] = memory_quantity(soft)
    if hard:
        limits["memory"] = memory_quantity(hard)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _probes(d: Deployment) -> dict[str, Any]:
    c, tg = d.task_definition.container, d.target_group
    out: dict[str, Any] = {}
    hc = c.health_check
    if hc is not None and hc.command:
        command = list(hc.command)
        if command[0] == "CMD-SHELL":
            command = ["/bin/sh", "-c", " ".join(command[1:])]
        elif command[0] == "CMD":
            command = command[1:]
        # The container health check: UNHEALTHY → ECS replaces the task; a failed liveness
        # probe → the kubelet restarts the container in place.
        out["livenessProbe"] = {"exec": {"command": command},
                                "initialDelaySeconds": hc.start_period,
                                "periodSeconds": hc.interval, "timeoutSeconds": hc.timeout,
                                "failureThreshold": hc.retries}
    if tg is not None and c.port:
        # The target group's health check decides whether the ALB sends traffic: readiness.
        out["readinessProbe"] = {"httpGet": {"path": tg.health_check_path, "port": c.port,
                                             "scheme": tg.health_check_protocol.upper()
                                             if tg.health_check_protocol.upper() in ("HTTP",
                                                                                     "HTTPS")
                                             else "HTTP"},
                                 "periodSeconds": tg.health_check_interval,
                                 "timeoutSeconds": tg.health_check_timeout,
                                 # ALB: a new target needs 1 passing check (the healthy
                                 # threshold is for returning from unhealthy); readiness has
                                 # one threshold for both, so new Pods serve after one.
                                 "successThreshold": 1,
                                 "failureThreshold": tg.unhealthy_threshold}
    return out


def _spread(d: Deployment) -> list[dict[str, Any]]:
    keys = {"instanceId": "kubernetes.io/hostname", "host": "kubernetes.io/hostname",
            "attribute:ecs.availability-zone": "topology.kubernetes.io/zone"}
    out = []
    for kind, field in d.placement_strategy:
        if kind == "spread" and field in keys:
            out.append({"maxSkew": 1, "topologyKey": keys[field],
                        "whenUnsatisfiable": "ScheduleAnyway",  # ECS strategies: best effort
                        "labelSelector": {"matchLabels": _labels(d)}})
    return out


def _placement_note(d: Deployment) -> str:
    kinds = {k for k, _ in d.placement_strategy}
    text = ("ECS placement strategy " + (", ".join(f"{k}({f})" if f else k
                                                   for k, f in d.placement_strategy)
                                         or "default (spread by AZ)") + ": ")
    if "binpack" in kinds:
        return text + ("binpack has no per-workload equivalent; the kube-scheduler's scoring "
                       "is cluster-wide (NodeResourcesFit with the MostAllocated strategy in "
                       "the scheduler configuration).")
    return text + ("spread → topologySpreadConstraints (ScheduleAnyway, as ECS strategies are "
                   "best effort; constraints would be DoNotSchedule).")


def _percent(value: int) -> str:
    return f"{max(0, value)}%"


def deployment(d: Deployment) -> dict[str, Any]:
    c = d.task_definition.container
    container: dict[str, Any] = {
        "name": c.name, "image": c.image,
        # ECS's default pull behaviour uses the cached image when the pull fails, and pins
        # the tag's digest per deployment; IfNotPresent is the default for a non-latest tag.
        "imagePullPolicy": "Always" if c.image.endswith(":latest") or ":" not in
        c.image.rsplit("/", 1)[-1] else "IfNotPresent",
    }
    if c.port:
        container["ports"] = [{"name": "http", "containerPort": c.port, "protocol": "TCP"}]
    if c.environment:
        container["env"] = [{"name": k, "value": v} for k, v in c.environment]
    if (res := resources(d)):
        container["resources"] = res
    container |= _probes(d)
    pod: dict[str, Any] = {"containers": [container],
                           "terminationGracePeriodSeconds": c.stop_timeout or 30}
    if (spread := _spread(d)):
        pod["topologySpreadConstraints"] = spread
    annotations = {
        NOTE: ("Exported by FraudLab from ECS service "
               f"{d.service} ({d.task_definition.family}:{d.task_definition.revision}). "
               "replicas = desiredCount; the ReplicaSet replaces a deleted Pod and the kubelet "
               "restarts a crashed container in place (CrashLoopBackOff 10 s doubling to "
               "5 min), where ECS replaces the whole task."),
        "fraudlab/placement": _placement_note(d),
        "fraudlab/network-mode": (f"ECS network mode {d.task_definition.network_mode}: every "
                                  "Pod has its own IP, like awsvpc."),
    }
    if d.circuit_breaker:
        annotations["fraudlab/circuit-breaker"] = (
            "ECS deployment circuit breaker" + (" with rollback" if d.rollback else "") +
            ": no Deployment equivalent; progressDeadlineSeconds marks a stuck rollout "
            "Progressing=False but does not roll back (kubectl rollout undo).")
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": _name(d), "labels": _labels(d), "annotations": annotations},
        "spec": {
            "replicas": d.desired_count,
            "selector": {"matchLabels": _labels(d)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                # minimumHealthyPercent 100 → none unavailable; maximumPercent 200 → +100 %.
                "maxUnavailable": _percent(100 - d.minimum_healthy_percent),
                "maxSurge": _percent(d.maximum_percent - 100)}},
            "template": {"metadata": {"labels": _labels(d)}, "spec": pod},
        },
    }


def service(d: Deployment) -> dict[str, Any]:
    c, lb, tg = d.task_definition.container, d.load_balancer, d.target_group
    port = lb.listener_port if lb else 80
    annotations = {NOTE: (
        "type LoadBalancer asks the cloud provider for an external load balancer in front of "
        "the Service (on EKS a Network/Classic LB; an ALB needs an Ingress with the AWS Load "
        "Balancer Controller). Inside the cluster kube-proxy picks a Pod: at random in "
        "iptables mode, rr/lc/… in IPVS mode; no retry if that Pod fails.")}
    if tg is not None:
        annotations["fraudlab/alb-target-group"] = (
            f"ECS target group {tg.name}: algorithm {tg.algorithm}, deregistration delay "
            f"{tg.deregistration_delay} s, health check {tg.health_check_path} every "
            f"{tg.health_check_interval} s (readinessProbe; successThreshold 1, as a new "
            f"target needs one passing check — the ALB's healthy threshold "
            f"{tg.healthy_threshold} applies only to an unhealthy target coming back). "
            "With the AWS Load Balancer "
            "Controller: alb.ingress.kubernetes.io/target-group-attributes: "
            f"load_balancing.algorithm.type={tg.algorithm},"
            f"deregistration_delay.timeout_seconds={tg.deregistration_delay}")
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": _name(d), "labels": _labels(d), "annotations": annotations},
        "spec": {"type": "LoadBalancer", "selector": _labels(d),
                 "ports": [{"name": "http", "port": port, "targetPort": c.port or 8080,
                            "protocol": "TCP"}]},
    }


def _metric(p: ScalingPolicy) -> tuple[dict[str, Any], str]:
    """One target-tracking policy → an HPA metric and what the mapping means."""
    if p.metric == CPU_METRIC:
        return ({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": max(1, round(p.target_value))}}},
            f"{p.metric} {p.target_value:g}% → CPU utilization of the Pods' requests (maps "
            "directly; needs metrics-server).")
    if p.metric == MEMORY_METRIC:
        return ({"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "Utilization", "averageUtilization": max(1, round(p.target_value))}}},
            f"{p.metric} {p.target_value:g}% → memory utilization of the Pods' requests.")
    if p.metric == REQUESTS_METRIC:
        per_second = p.target_value / 60
        return ({"type": "Pods", "pods": {"metric": {"name": REQUESTS_POD_METRIC}, "target": {
            "type": "AverageValue", "averageValue": f"{math.ceil(per_second * 1000)}m"}}},
            f"{p.metric} {p.target_value:g} requests per target per minute has no built-in "
            f"HPA equivalent: mapped to a Pods metric {REQUESTS_POD_METRIC} averaging "
            f"{per_second:.3g}/s per Pod, which needs a custom metrics adapter (e.g. "
            "prometheus-adapter over the service's fraudlab_requests_total counter). Without "
            "one, use a cpu Resource metric instead.")
    raise ValueError(f"no HPA mapping for the scaling metric {p.metric!r}")


def hpa(d: Deployment) -> dict[str, Any] | None:
    s = d.scaling
    if s is None or not s.policies:
        return None
    metrics, meanings = zip(*(_metric(p) for p in s.policies), strict=True)
    scale_in = min(p.scale_in_cooldown for p in s.policies)
    no_scale_in = all(p.disable_scale_in for p in s.policies)
    down: dict[str, Any] = {"stabilizationWindowSeconds": scale_in}
    if no_scale_in:
        down["selectPolicy"] = "Disabled"
    annotations = {
        NOTE: ("ECS target tracking scales out after 3 one-minute datapoints above target and "
               "in after 15 below, with ScaleOut/ScaleInCooldown "
               f"{s.policies[0].scale_out_cooldown}/{s.policies[0].scale_in_cooldown} s; the "
               "HPA evaluates every 15 s with a 0.1 tolerance. ScaleInCooldown → scaleDown "
               "stabilization window; ScaleOutCooldown has no equivalent (scale-up: no "
               "stabilization by default). Several metrics: the HPA takes the largest "
               "proposal, as ECS scales out if any policy says so."),
        "fraudlab/metrics": " | ".join(meanings),
    }
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": _name(d), "labels": _labels(d), "annotations": annotations},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": _name(d)},
            "minReplicas": max(1, s.min_capacity), "maxReplicas": s.max_capacity,
            "metrics": list(metrics),
            "behavior": {"scaleDown": down},
        },
    }


def manifests(d: Deployment) -> list[dict[str, Any]]:
    """Deployment, Service and (with a scalable target) HorizontalPodAutoscaler."""
    out = [deployment(d), service(d)]
    if (autoscaler := hpa(d)) is not None:
        out.append(autoscaler)
    return out


def notes(d: Deployment) -> list[str]:
    """What differs between the live (emulated) ECS deployment and these manifests."""
    out = ["No nodes are exported: Kubernetes has no built-in node autoscaling (Cluster "
           "Autoscaler or Karpenter are add-ons); the hosts"
           + (f" and capacity provider {d.capacity_provider.name}"
              if d.capacity_provider else "") + " have no equivalent here (ecs-facts.md §8)."]
    if d.scaling is not None and d.scaling.min_capacity < 1:
        out.append("MinCapacity 0 → minReplicas 1 (scaling to zero needs the HPAScaleToZero "
                   "feature gate).")
    if d.scaling is not None and any(p.metric == REQUESTS_METRIC for p in d.scaling.policies):
        out.append("ALBRequestCountPerTarget has no built-in HPA metric: the HPA uses a Pods "
                   f"metric ({REQUESTS_POD_METRIC}) that needs a custom metrics adapter.")
    if d.scaling is not None:
        out.append("HPA utilization is relative to the Pods' requests; ECS service CPU is "
                   "relative to the task definition's CPU and can exceed 100% on EC2.")
    out.append("The image URI is the emulator's ECR (account 123456789012): push it to a "
               "registry your cluster can pull from.")
    return out


def apply_command(path: str = "fraudlab-k8s.yaml") -> str:
    return f"kubectl apply -f {path}"


def render(d: Deployment) -> str:
    """All manifests as one multi-document YAML stream, with a header comment."""
    header = [f"# FraudLab export (REAL file) of the deployment read from "
              f"{d.endpoint or 'the AWS API'} (EMULATED state).",
              f"# Apply: {apply_command()}",
              f"# Validated against Kubernetes {K8S_VERSION} (kubernetes-validate, strict).",
              *(f"# - {n}" for n in notes(d))]
    docs = [yaml.safe_dump(m, sort_keys=False, width=100, allow_unicode=True)
            for m in manifests(d)]
    return "\n".join(header) + "\n---\n" + "---\n".join(docs)


def file_names(d: Deployment) -> list[str]:
    """One file per manifest, for ``--output DIR``."""
    return [f"{m['kind'].lower()}.yaml" for m in manifests(d)]
