"""ECS ↔ Kubernetes, side by side: the case study's Part 8 ("AWS vs GCP") with the fact sheet's
corrections (ecs-facts.md §8, §11h), as data the CLI, the TUI walkthrough, the labs and
``docs/aws-vs-kubernetes.md`` all render.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

CASE_STUDY_CLAIM = "Difference: ECS requires more steps, Kubernetes more automated"
CORRECTION = (
    "Unsupported generalisation. Both are declarative reconcilers: the ECS service scheduler "
    "replaces stopped tasks and, with Application Auto Scaling and a capacity provider, scales "
    "tasks and hosts; a Kubernetes Deployment replaces Pods and the HPA scales replicas, but "
    "node autoscaling is not built in (Cluster Autoscaler or Karpenter) and the HPA needs "
    "metrics-server and Pod resource requests. They differ in mechanics and timings, not in "
    "the amount of automation.")
CORRECTION_SOURCE = "ecs-facts.md §11(h), §8"


@dataclass(frozen=True)
class Row:
    """One concept on both platforms."""

    concept: str
    ecs: str
    kubernetes: str
    differs: str  # the mechanics or timings that differ
    source: str  # where the facts come from (ecs-facts.md sections and the documents)
    correction: str  # what the case study says or implies, corrected


ROWS: tuple[Row, ...] = (
    Row("How many copies",
        "service desiredCount (update-service --desired-count)",
        "Deployment spec.replicas (kubectl scale)",
        "Same idea: a number the controller reconciles to. Neither launches machines by "
        "itself: ECS needs registered instances or a capacity provider; Kubernetes needs "
        "nodes.",
        "ecs-facts.md §4, §8; ECS ecs_services; K8s concepts/workloads/controllers/deployment",
        "Case study: 'Desired Count = 4 → ECS creates EC2s'. Desired count launches no "
        "instance (§11b)."),
    Row("Auto scaling the copies",
        "Application Auto Scaling target tracking (ECSServiceAverageCPUUtilization, "
        "…MemoryUtilization, ALBRequestCountPerTarget)",
        "HorizontalPodAutoscaler autoscaling/v2 (Resource cpu/memory; Pods/External metrics "
        "via an adapter)",
        "ECS: CloudWatch alarms on 1-minute datapoints, scale-out after 3 of 3, scale-in "
        "after 15 of 15, cooldowns 300 s. HPA: every 15 s, desired = ceil(current × "
        "metric/target), no action within 0.1 tolerance, 300 s scale-down stabilization. "
        "ALBRequestCountPerTarget has no built-in HPA metric.",
        "ecs-facts.md §7, §8; AAS application-auto-scaling-target-tracking; K8s "
        "horizontal-pod-autoscale",
        "Case study: 'ECS detects 90% capacity and increases desired count'. Application "
        "Auto Scaling does, on a metric and target you choose; ECS itself never changes "
        "desired count (§11e)."),
    Row("Where copies go",
        "placementStrategy: spread (default for services: by AZ, then instance), binpack, "
        "random; placementConstraints (binding)",
        "kube-scheduler: topologySpreadConstraints, (anti-)affinity; scoring plugins "
        "(NodeResourcesFit LeastAllocated by default, MostAllocated ≈ binpack, cluster-wide)",
        "ECS strategies are best effort, constraints binding; in Kubernetes "
        "whenUnsatisfiable ScheduleAnyway vs DoNotSchedule draws the same line. Both place "
        "by reserved resources (task cpu/memory ↔ Pod requests), not live usage.",
        "ecs-facts.md §3, §8; ECS task-placement-strategies; K8s "
        "concepts/scheduling-eviction/resource-bin-packing, topology-spread-constraints",
        "Case study: one t3.medium fits 2 tasks of 256 CPU / 512 MB. It registers 2048 "
        "CPU units: ~7 fit by memory in bridge mode (§11a)."),
    Row("A crashed copy",
        "The task stops; the service scheduler starts a NEW task (new id, maybe another "
        "instance). Backoff up to 15 min only for tasks that never reach RUNNING.",
        "restartPolicy Always: the kubelet restarts the container IN PLACE; CrashLoopBackOff "
        "10 s doubling to 5 min, reset after 10 min running. A deleted Pod is replaced by "
        "the ReplicaSet.",
        "Replacement vs in-place restart, and different backoffs. A lost node: ECS replaces "
        "its tasks when the instance is gone; Kubernetes evicts its Pods after the 5-minute "
        "not-ready/unreachable toleration.",
        "ecs-facts.md §4, §8; ECS service-throttle-logic; K8s pod-lifecycle, "
        "admission-controllers",
        "Case study: 'users see zero downtime'. Requests in flight on the crashed copy fail "
        "in both; capacity is reduced until the replacement is healthy (§11g)."),
    Row("Health checks",
        "Container healthCheck (30 s / 5 s / 3 retries; UNHEALTHY → task replaced) and the "
        "target group's health check (30 s, 2 failures → no traffic)",
        "livenessProbe (failure → container restarted) and readinessProbe (failure → removed "
        "from the Service's endpoints); defaults period 10 s, timeout 1 s, failureThreshold 3",
        "The export maps the container health check to liveness and the target group's to "
        "readiness.",
        "ecs-facts.md §2, §6, §8; K8s configure-liveness-readiness-startup-probes",
        "ALB health is binary and fails open when every target is unhealthy (§6)."),
    Row("Spreading requests",
        "ALB target group: round_robin (default), least_outstanding_requests, "
        "weighted_random; no retry to another target",
        "Service + kube-proxy: iptables mode picks a Pod at random; IPVS mode rr, lc, sh, …; "
        "type LoadBalancer adds the cloud's L4 load balancer (an ALB needs an Ingress "
        "controller)",
        "Neither routes to 'the least busy' by default: ALB rotates, iptables is random.",
        "ecs-facts.md §6, §8; ALB load-balancer-target-groups; K8s virtual-ips",
        "Case study: 'the load balancer always routes to the least busy container'. ALB's "
        "default is round_robin (§11d)."),
    Row("More machines",
        "ASG capacity provider with managed scaling: CapacityProviderReservation target "
        "tracking, evaluated every minute; tasks wait in PROVISIONING; warm-up 300 s; "
        "scale-in after 15 min, empty instances only",
        "Not built in: Cluster Autoscaler or Karpenter (add-ons) react to unschedulable "
        "Pods, by requests",
        "Both scale nodes on reservations, not real usage; in Kubernetes it is an add-on you "
        "install and configure.",
        "ecs-facts.md §3, §8; ECS cluster-auto-scaling; K8s node-autoscaling",
        "Case study: 'Kubernetes more automated'. Node autoscaling is built into neither "
        "the ECS service nor Kubernetes core; ECS's capacity provider is the managed one "
        "(§11b, §11h)."),
    Row("Image pulls",
        "ECS_IMAGE_PULL_BEHAVIOR default (pull, fall back to the host's cache), always, once, "
        "prefer-cached; a service pins the tag's digest per deployment; Fargate never caches",
        "imagePullPolicy: IfNotPresent (default for a non-latest tag), Always (default for "
        ":latest; reuses cached layers of the same digest), Never; cache per node",
        "Both cache per machine; ECS pins the digest, Kubernetes pulls the tag again under "
        "Always.",
        "ecs-facts.md §5, §8; ECS pull-behavior; K8s concepts/containers/images",
        "Case study: 'ECS pulls a fresh image on every restart'. It reuses the cached, "
        "digest-pinned image on EC2 (§11c)."),
    Row("Rolling updates",
        "deploymentConfiguration minimumHealthyPercent 100 / maximumPercent 200 (defaults); "
        "optional circuit breaker with rollback",
        "strategy RollingUpdate maxUnavailable 25% / maxSurge 25% (defaults); "
        "progressDeadlineSeconds marks a stuck rollout, no automatic rollback",
        "The export maps 100/200 to maxUnavailable 0% / maxSurge 100%.",
        "ecs-facts.md §4, §8; ECS service_definition_parameters; K8s deployment",
        "Case study: GCP needs 4 steps to ECS's 7. Its list skips creating the cluster and "
        "its nodes, which GKE or EKS need too; compare the two exports of the same "
        "deployment (inference)."),
)


def as_dicts() -> list[dict[str, str]]:
    """The rows as plain dicts (JSON for the TUI and the labs)."""
    return [dict(vars(r)) for r in ROWS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The mapping as a Markdown table, then the case study's claim and its correction."""
    lines = ["| concept | ECS (AWS) | Kubernetes | what differs | the case study, corrected "
             "| source |", "|---|---|---|---|---|---|"]
    lines += [f"| {_cell(r.concept)} | {_cell(r.ecs)} | {_cell(r.kubernetes)} | "
              f"{_cell(r.differs)} | {_cell(r.correction)} | {_cell(r.source)} |"
              for r in ROWS]
    lines += ["", f"> The case study: \"{CASE_STUDY_CLAIM}\"", ">",
              f"> The fact sheet: {CORRECTION} ({CORRECTION_SOURCE})"]
    return "\n".join(lines) + "\n"


def table(width: int = 100) -> str:
    """The mapping for a terminal: one block per concept, ECS and Kubernetes side by side."""
    width = max(60, width)
    col = (width - 3) // 2
    out = []
    for r in ROWS:
        out.append(f"== {r.concept} " + "=" * max(0, width - len(r.concept) - 4))
        left = textwrap.wrap("ECS: " + r.ecs, col)
        right = textwrap.wrap("Kubernetes: " + r.kubernetes, col)
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            out.append(f"{a:<{col}} | {b}".rstrip())
        for label, text in (("differs", r.differs), ("corrected", r.correction),
                            ("source", r.source)):
            out += textwrap.wrap(text, width, initial_indent=f"  {label}: ",
                                 subsequent_indent="    ")
    out.append("")
    out += textwrap.wrap(f"The case study: \"{CASE_STUDY_CLAIM}\"", width)
    out += textwrap.wrap(f"The fact sheet ({CORRECTION_SOURCE}): {CORRECTION}", width)
    return "\n".join(out) + "\n"
