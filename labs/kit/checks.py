"""Checks graded on the cluster's real state (boto3 on the local endpoint), with hints.

Each check returns a :class:`CheckResult`: whether it passed, what was found, and — when it
failed — a hint saying what to do. Nothing here changes the cluster.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

CLUSTER = "fraud-cluster"
SERVICE = "fraud-svc"
REPOSITORY = "fraud-detection"
FAMILY = "fraud-detection"
TARGET_GROUP = "fraud-tg"


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    found: str  # what the check read from the cluster
    hint: str = ""  # what to do when it failed

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "found": self.found,
                "hint": self.hint}


def results_html(results: list[CheckResult]) -> str:
    rows = []
    for r in results:
        mark = ("<span style='color:#1b7f3b'>✓</span>" if r.passed
                else "<span style='color:#b00020'>✗</span>")
        hint = "" if r.passed else f"<br><i>Hint:</i> {html.escape(r.hint)}"
        rows.append(f"<tr><td style='vertical-align:top'>{mark}</td><td><b>"
                    f"{html.escape(r.name)}</b><br>{html.escape(r.found)}{hint}</td></tr>")
    score = sum(r.passed for r in results)
    return f"<table>{''.join(rows)}</table><p>{score} of {len(results)} passed</p>"


def _tasks(ecs: Any, cluster: str = CLUSTER, status: str = "RUNNING") -> list[dict[str, Any]]:
    try:
        arns = ecs.list_tasks(cluster=cluster, desiredStatus=status).get("taskArns", [])
    except ecs.exceptions.ClusterNotFoundException:
        return []
    tasks: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100]).get("tasks", [])
    return tasks


def _instances(ecs: Any, cluster: str = CLUSTER) -> dict[str, dict[str, Any]]:
    """containerInstanceArn → container instance (describe_container_instances)."""
    try:
        arns = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    except ecs.exceptions.ClusterNotFoundException:
        return {}
    if not arns:
        return {}
    found = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    return {ci["containerInstanceArn"]: ci for ci in found.get("containerInstances", [])}


def running_tasks_on_hosts(session: Any, count: int, min_hosts: int) -> CheckResult:
    """``count`` RUNNING tasks spread over at least ``min_hosts`` container instances."""
    ecs = session.aws("ecs")
    tasks = [t for t in _tasks(ecs) if t.get("lastStatus") == "RUNNING"]
    instances = _instances(ecs)
    per_host = Counter(instances.get(t.get("containerInstanceArn", ""), {}).get(
        "ec2InstanceId", "?") for t in tasks)
    found = (f"{len(tasks)} RUNNING tasks on {len(per_host)} "
             f"host{'s' if len(per_host) != 1 else ''} "
             f"({', '.join(f'{h}: {n}' for h, n in sorted(per_host.items())) or 'none'})")
    ok = len(tasks) >= count and len(per_host) >= min_hosts
    hosts = f"{min_hosts} host{'s' if min_hosts != 1 else ''}"
    return CheckResult(f"{count} RUNNING tasks on at least {hosts}", ok, found,
                       "run the deploy step (create-service with desired count "
                       f"{count}, spread placement) and wait until the hosts view shows them "
                       "RUNNING; `aws ecs describe-tasks` shows lastStatus per task")


def repository_has_image(session: Any, repository: str = REPOSITORY) -> CheckResult:
    ecr = session.aws("ecr")
    try:
        details = ecr.describe_images(repositoryName=repository).get("imageDetails", [])
    except ecr.exceptions.RepositoryNotFoundException:
        return CheckResult(f"ECR repository {repository} holds an image", False,
                           f"no repository {repository}",
                           "run the create-repository step (aws ecr create-repository)")
    tags = [t for d in details for t in d.get("imageTags", [])]
    return CheckResult(f"ECR repository {repository} holds an image", bool(details),
                       f"{len(details)} image(s), tags: {', '.join(tags) or 'none'}",
                       "push the image: the record step calls put_image with its manifest")


def task_definition(session: Any, cpu: int, memory: int, family: str = FAMILY) -> CheckResult:
    ecs = session.aws("ecs")
    name = f"task definition {family} reserves {cpu} CPU units and {memory} MiB"
    try:
        td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    except Exception as exc:  # ClientException when the family has no ACTIVE revision
        return CheckResult(name, False, f"not registered ({type(exc).__name__})",
                           "run the register-task-definition step")
    ok = str(td.get("cpu")) == str(cpu) and str(td.get("memory")) == str(memory)
    return CheckResult(name, ok, f"revision {td['revision']}: cpu {td.get('cpu')}, memory "
                       f"{td.get('memory')}", "register a revision with --cpu "
                       f"{cpu} --memory {memory} (a new revision; the old ones stay)")


def hosts_registered(session: Any, count: int, cpu_units: int = 2048) -> CheckResult:
    """``count`` ACTIVE container instances, each registering ``cpu_units`` CPU units."""
    instances = list(_instances(session.aws("ecs")).values())
    active = [ci for ci in instances if ci.get("status") == "ACTIVE"]
    cpus = [next((r.get("integerValue") for r in ci.get("registeredResources", [])
                  if r["name"] == "CPU"), None) for ci in active]
    ok = len(active) >= count and all(c == cpu_units for c in cpus)
    return CheckResult(f"{count} ACTIVE hosts registering {cpu_units} CPU units each", ok,
                       f"{len(active)} ACTIVE; registered CPU: {cpus}",
                       "launch the hosts step; a t3.medium has 2 vCPUs = 2048 CPU units "
                       "(not 1024): `aws ecs describe-container-instances` shows "
                       "registeredResources")


def service_desired(session: Any, desired: int, strategy: str | None = None,
                    service: str = SERVICE) -> CheckResult:
    ecs = session.aws("ecs")
    try:
        found = ecs.describe_services(cluster=CLUSTER, services=[service]).get("services", [])
    except ecs.exceptions.ClusterNotFoundException:
        found = []
    name = f"service {service} has desired count {desired}" + (
        f" and placement {strategy}" if strategy else "")
    if not found or found[0].get("status") != "ACTIVE":
        return CheckResult(name, False, "no ACTIVE service", "run the create-service step")
    svc = found[0]
    types = [s.get("type") for s in svc.get("placementStrategy", [])]
    ok = svc["desiredCount"] == desired and (strategy is None or strategy in types)
    return CheckResult(name, ok, f"desired {svc['desiredCount']}, running "
                       f"{svc['runningCount']}, placement {types}",
                       f"aws ecs update-service --desired-count {desired}" + (
                           f" (placement strategy {strategy})" if strategy else ""))


NO_TARGET_GROUP = "deploy the service first (lab 04)"


def _target_group(elbv2: Any) -> dict[str, Any] | None:
    """The service's target group, or None before it is created."""
    try:
        return elbv2.describe_target_groups(Names=[TARGET_GROUP])["TargetGroups"][0]
    except ClientError:
        return None


def target_group_algorithm(session: Any, algorithm: str) -> CheckResult:
    elbv2 = session.aws("elbv2")
    name = f"target group {TARGET_GROUP} routes with {algorithm}"
    tg = _target_group(elbv2)
    if tg is None:
        return CheckResult(name, False, f"no target group {TARGET_GROUP}", NO_TARGET_GROUP)
    attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
    have = attrs.get("load_balancing.algorithm.type", "round_robin")
    return CheckResult(name, have == algorithm, f"load_balancing.algorithm.type = {have}",
                       "aws elbv2 modify-target-group-attributes --attributes "
                       f"Key=load_balancing.algorithm.type,Value={algorithm}")


def healthy_targets(session: Any, count: int) -> CheckResult:
    elbv2 = session.aws("elbv2")
    name = f"at least {count} healthy targets in {TARGET_GROUP}"
    tg = _target_group(elbv2)
    if tg is None:
        return CheckResult(name, False, f"no target group {TARGET_GROUP}", NO_TARGET_GROUP)
    health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
    states = Counter(d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"])
    return CheckResult(name, states.get("healthy", 0) >= count, f"target states: "
                       f"{dict(states) or 'no targets'}",
                       "wait for the health checks (5 successes at the interval) or look at "
                       "the hosts view for tasks that are not RUNNING")


def scaling_policy(session: Any) -> CheckResult:
    aas = session.aws("application-autoscaling")
    pols = aas.describe_scaling_policies(ServiceNamespace="ecs").get("ScalingPolicies", [])
    tt = [p for p in pols if p.get("PolicyType") == "TargetTrackingScaling"]
    return CheckResult("a target-tracking policy scales the service", bool(tt),
                       f"{len(tt)} target-tracking policies: "
                       f"{', '.join(p['PolicyName'] for p in tt) or 'none'}",
                       "run the autoscaling step (register-scalable-target, then "
                       "put-scaling-policy)")


def scaling_activity(session: Any, direction: str) -> CheckResult:
    """A successful scale-out (``out``) or scale-in (``in``) in describe-scaling-activities."""
    # moto answers describe-scaling-activities with HTTP 500; the kit's scaling controller
    # serves the same answer through the control API (GET /v1/scaling).
    acts = session.scaling().get("activities", [])
    alarm = "AlarmHigh" if direction == "out" else "AlarmLow"  # target tracking's alarms
    mine = [a for a in acts if alarm in a.get("Cause", "")]
    return CheckResult(f"Application Auto Scaling scaled {direction}", bool(mine),
                       f"{len(acts)} activities; {len(mine)} scale-{direction}: "
                       + "; ".join(a.get("Description", "")[:100] for a in mine[:2]),
                       "keep the spike on until AlarmHigh has 3 datapoints above target "
                       "(scale-out), or normal traffic until AlarmLow has 15 below (scale-in)")


def measured(session: Any, key: str, what: str, hint: str) -> CheckResult:
    value = session.measurements().get(key)
    return CheckResult(what, value is not None, f"{key} = {value!r}", hint)
