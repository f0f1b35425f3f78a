"""Service auto scaling steps: the scalable target and a target-tracking policy (§7, §11e).

Plain boto3 calls to Application Auto Scaling (valid against real AWS too), each idempotent: a
second call finds what the first made and returns ``changed=False``. The emulator stores them
and creates the policy's alarms but evaluates nothing; FraudLab's scaling controller
(``cloud.autoscaling.controller``, simulated) reads them back through the API and does what AWS
would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cloud.autoscaling.target_tracking import (
    CPU,
    MEMORY,
    METRICS,
    REQUESTS,
    SCALABLE_DIMENSION,
    ScalableTarget,
    TargetTrackingPolicy,
)
from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.ecs import (
    AUTOSCALING_MYTH,
    CLUSTER,
    EMULATED,
    SERVICE,
    aws_cli,
    describe_service,
    matches,
)
from cloud.lb.cloudwatch import LOAD_BALANCER
from cloud.lb.cloudwatch import TARGET_GROUP as KIT_TARGET_GROUP

NAMESPACE = "ecs"
TARGET_GROUP = "fraud-tg"  # the kit's target group (its ALB metrics are published for it)
KINDS = {"requests": REQUESTS, "cpu": CPU, "memory": MEMORY}
POLICY_NAMES = {REQUESTS: "fraud-requests-target-tracking", CPU: "fraud-cpu-target-tracking",
                MEMORY: "fraud-memory-target-tracking"}
_ARN = r"^arn:aws[\w-]*:elasticloadbalancing:[^:]*:\d*:"
_LB_ARN = re.compile(_ARN + r"loadbalancer/(app/[^/]+/[^/]+)$")
_TG_ARN = re.compile(_ARN + r"(targetgroup/[^/]+/[^/]+)$")


def resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


def autoscale_target(rate: float, time_scale: float, desired: int = 4) -> float:
    """The kit's ALBRequestCountPerTarget target for a story at ``rate`` tx/s: twice the normal
    load per target per lab minute (never below 1), so a ×10 spike is far above it and normal
    traffic below — what the demo, the walkthrough and the labs deploy."""
    return float(round(rate * 60 / time_scale / desired * 2)) or 1.0


def parse_autoscale(text: str) -> tuple[str, float]:
    """``requests:500`` / ``cpu:60`` / ``memory:70`` → (predefined metric, target value)."""
    kind, sep, value = str(text).partition(":")
    usage = ("--autoscale must be requests:TARGET (ALB requests per target per minute), "
             "cpu:TARGET or memory:TARGET (percent), e.g. requests:500 or cpu:60")
    if not sep or kind.strip().lower() not in KINDS:
        raise ValueError(f"{usage}; got {text!r}")
    try:
        target = float(value)
    except ValueError:
        raise ValueError(f"{usage}; {value!r} is not a number") from None
    if not (target > 0 and target < float("inf")):
        raise ValueError(f"{usage}; the target must be a number > 0, got {value!r}")
    return KINDS[kind.strip().lower()], target


def resource_label(load_balancer_arn: str, target_group_arn: str) -> str:
    """``app/<lb>/<id>/targetgroup/<tg>/<id>``: ALBRequestCountPerTarget's ResourceLabel."""
    lb, tg = _LB_ARN.match(load_balancer_arn or ""), _TG_ARN.match(target_group_arn or "")
    if lb is None:
        raise ValueError(f"not an Application Load Balancer ARN: {load_balancer_arn!r} (want "
                         "arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID)")
    if tg is None:
        raise ValueError(f"not a target group ARN: {target_group_arn!r} (want "
                         "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)")
    return f"{lb.group(1)}/{tg.group(1)}"


def find_load_balancer(elbv2: Any, target_group: str = TARGET_GROUP) -> tuple[str, str] | None:
    """(load balancer ARN, target group ARN) of the target group named ``target_group`` when
    the API has it, attached to a load balancer; else None."""
    try:
        groups = elbv2.describe_target_groups(Names=[target_group]).get("TargetGroups", [])
    except ClientError:
        return None
    for group in groups:
        for lb_arn in group.get("LoadBalancerArns") or []:
            return lb_arn, group["TargetGroupArn"]
    return None


def kit_resource_label() -> str:
    """The names the kit's ALB metrics are published under (cloud.lb.cloudwatch)."""
    return f"{LOAD_BALANCER}/{KIT_TARGET_GROUP}"


def _scalable_target(aas: Any, rid: str) -> dict[str, Any] | None:
    found = aas.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=[rid],
                                          ScalableDimension=SCALABLE_DIMENSION)
    return next((t for t in found.get("ScalableTargets", []) if t["ResourceId"] == rid), None)


def register_scalable_target(aas: Any, ecs: Any, cluster: str = CLUSTER,
                             service: str = SERVICE, *, min_capacity: int, max_capacity: int,
                             badge: Badge = EMULATED) -> StepResult:
    """Make the service's desired count a scalable target between Min and Max (or find it so)."""
    ScalableTarget(min_capacity, max_capacity, cluster, service)  # validates Min/Max
    if describe_service(ecs, cluster, service) is None:
        raise LookupError(f"no ACTIVE service {service!r} in cluster {cluster!r}: create the "
                          "service before registering it as a scalable target")
    rid = resource_id(cluster, service)
    have = _scalable_target(aas, rid)
    changed = have is None or (have.get("MinCapacity"), have.get("MaxCapacity")) != (
        min_capacity, max_capacity)
    if changed:
        aas.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=rid,
                                     ScalableDimension=SCALABLE_DIMENSION,
                                     MinCapacity=min_capacity, MaxCapacity=max_capacity)
        have = _scalable_target(aas, rid)
    assert have is not None
    result = {"ResourceId": rid, "ServiceNamespace": NAMESPACE,
              "ScalableDimension": SCALABLE_DIMENSION, "MinCapacity": have["MinCapacity"],
              "MaxCapacity": have["MaxCapacity"],
              "ScalableTargetARN": have.get("ScalableTargetARN")}
    if badge == EMULATED:
        result["runs"] = ("The emulator stores the target and enforces nothing; FraudLab's "
                          "scaling controller (simulated) reads it back and keeps the desired "
                          "count within Min/Max.")
    return StepResult(
        step="register-scalable-target",
        title=f"Let Application Auto Scaling set {service}'s desired count "
              f"({min_capacity}–{max_capacity} tasks)",
        result=result,
        cli=aws_cli("application-autoscaling", "register-scalable-target",
                    service_namespace=NAMESPACE, scalable_dimension=SCALABLE_DIMENSION,
                    resource_id=rid, min_capacity=min_capacity, max_capacity=max_capacity),
        aws_note=("Service auto scaling is Application Auto Scaling acting on the dimension "
                  "ecs:service:DesiredCount; ECS itself never changes the desired count. The "
                  "scalable target only sets the bounds: a desired count outside Min/Max is "
                  "brought inside, and the scaling policies move it within them."),
        source="ecs-facts.md §7, §11e; ECS Developer Guide service-auto-scaling; Application "
               "Auto Scaling User Guide",
        badge=badge,
        changed=changed,
    )


def _policy(aas: Any, rid: str, name: str) -> dict[str, Any] | None:
    pages = aas.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=SCALABLE_DIMENSION)
    return next((p for page in pages for p in page.get("ScalingPolicies", [])
                 if p["PolicyName"] == name and p["ResourceId"] == rid), None)


def put_scaling_policy(aas: Any, cluster: str = CLUSTER, service: str = SERVICE, *,
                       metric: str, target_value: float, policy_name: str | None = None,
                       scale_out_cooldown: int = 300, scale_in_cooldown: int = 300,
                       disable_scale_in: bool = False, load_balancer_arn: str | None = None,
                       target_group_arn: str | None = None, elbv2: Any | None = None,
                       cloudwatch: Any | None = None, badge: Badge = EMULATED) -> StepResult:
    """A target-tracking policy on a predefined metric (or find it identical).

    ``ALBRequestCountPerTarget`` needs the load balancer and target group as ResourceLabel:
    from ``load_balancer_arn`` + ``target_group_arn``; else looked up by the target group's
    name (``fraud-tg``) with ``elbv2``; else the names the kit's ALB metrics use (a warning
    says so).
    """
    name = policy_name or POLICY_NAMES.get(metric, f"fraud-{metric}")
    policy = TargetTrackingPolicy(name, metric, target_value, scale_out_cooldown,
                                  scale_in_cooldown, disable_scale_in)  # validates
    rid = resource_id(cluster, service)
    if _scalable_target(aas, rid) is None:
        raise LookupError(f"{rid} is not a scalable target: register it first "
                          "(register-scalable-target)")
    warnings: list[str] = [AUTOSCALING_MYTH]
    spec: dict[str, Any] = {"PredefinedMetricType": metric}
    if metric == REQUESTS:
        if load_balancer_arn and target_group_arn:
            spec["ResourceLabel"] = resource_label(load_balancer_arn, target_group_arn)
        elif (found := find_load_balancer(elbv2) if elbv2 is not None else None) is not None:
            spec["ResourceLabel"] = resource_label(*found)
        else:
            spec["ResourceLabel"] = kit_resource_label()
            warnings.append("No load balancer with target group fraud-tg is in the API yet: "
                            f"ResourceLabel {spec['ResourceLabel']} names the kit's load "
                            "balancer as its ALB metrics do. In AWS it must name a real "
                            "load balancer and target group (app/NAME/ID/targetgroup/NAME/ID).")
    config = {"TargetValue": float(target_value), "PredefinedMetricSpecification": spec,
              "ScaleOutCooldown": int(scale_out_cooldown),
              "ScaleInCooldown": int(scale_in_cooldown), "DisableScaleIn": disable_scale_in}
    have = _policy(aas, rid, name)
    changed = have is None or not matches(
        config, have.get("TargetTrackingScalingPolicyConfiguration"))
    if changed:
        old_alarms = [a["AlarmName"] for a in (have or {}).get("Alarms", [])]
        aas.put_scaling_policy(PolicyName=name, ServiceNamespace=NAMESPACE, ResourceId=rid,
                               ScalableDimension=SCALABLE_DIMENSION,
                               PolicyType="TargetTrackingScaling",
                               TargetTrackingScalingPolicyConfiguration=config)
        have = _policy(aas, rid, name)
        assert have is not None
        kept = {a["AlarmName"] for a in have.get("Alarms", [])}
        stale = [a for a in old_alarms if a not in kept]
        if stale and cloudwatch is not None:
            cloudwatch.delete_alarms(AlarmNames=stale)
            warnings.append(f"Emulator: updating the policy left its {len(stale)} old alarms "
                            "behind (moto 5.2.5); the kit deleted them, as AWS replaces a "
                            "policy's alarms.")
        elif stale:
            warnings.append(f"Emulator: updating the policy left its old alarms behind "
                            f"(moto 5.2.5): {', '.join(stale)}.")
    assert have is not None
    m = METRICS[metric]
    alarms = [a["AlarmName"] for a in have.get("Alarms", [])]
    result = {"PolicyName": name, "PolicyARN": have["PolicyARN"], "ResourceId": rid,
              "PolicyType": "TargetTrackingScaling",
              "TargetTrackingScalingPolicyConfiguration":
                  have.get("TargetTrackingScalingPolicyConfiguration"),
              "Alarms": alarms,
              "metric": f"{m.namespace} {m.cloudwatch_name} ({m.statistic})"}
    if badge == EMULATED:
        result["runs"] = ("The emulator stores the policy and creates its two alarms (as "
                          "CPUUtilization alarms with threshold 6, whatever the metric) but "
                          "never evaluates them; FraudLab's scaling controller (simulated) "
                          "gives the alarms their true metric and threshold, evaluates them "
                          "every lab minute and sets the desired count.")
    if metric == REQUESTS:
        warnings.append("RequestCountPerTarget is the requests of one minute ÷ the healthy "
                        "targets (statistic Sum): in the kit a minute is a lab minute, so "
                        "R requests/s of wall-clock traffic make R × 60 / time_scale requests "
                        "per lab minute.")
    cli = aws_cli("application-autoscaling", "put-scaling-policy", service_namespace=NAMESPACE,
                  scalable_dimension=SCALABLE_DIMENSION, resource_id=rid, policy_name=name,
                  policy_type="TargetTrackingScaling",
                  target_tracking_scaling_policy_configuration=config)
    return StepResult(
        step="put-scaling-policy",
        title=f"Target tracking: keep {m.cloudwatch_name} of {service} at "
              f"{policy.show(policy.target_value)}",
        result=result,
        cli=cli,
        aws_note=("Target tracking creates and owns two CloudWatch alarms on the metric: "
                  "AlarmHigh (above the target for 3 of 3 one-minute datapoints) scales out "
                  "proportionally, as fast as it can; AlarmLow (more than 10% below it for 15 "
                  "of 15) scales in gradually. Cooldowns default to 300 s, missing data never "
                  "scales, and scale-in waits while a deployment is in progress."),
        source="ecs-facts.md §7, §11e; Application Auto Scaling User Guide "
               "application-auto-scaling-target-tracking; aws/copilot-cli#4233",
        badge=badge,
        changed=changed,
        warnings=warnings,
    )


Clients = Callable[[str], Any]


def scaling_steps(client: Clients, cluster: str = CLUSTER, service: str = SERVICE, *,
                  metric: str, target_value: float, min_capacity: int, max_capacity: int,
                  load_balancer_arn: str | None = None, target_group_arn: str | None = None,
                  badge: Badge = EMULATED) -> list[StepResult]:
    """register-scalable-target then put-scaling-policy; ``client`` gives boto3 clients by
    service name (e.g. ``Endpoint.client``)."""
    aas = client("application-autoscaling")
    steps = [register_scalable_target(aas, client("ecs"), cluster, service,
                                      min_capacity=min_capacity, max_capacity=max_capacity,
                                      badge=badge)]
    steps.append(put_scaling_policy(
        aas, cluster, service, metric=metric, target_value=target_value,
        load_balancer_arn=load_balancer_arn, target_group_arn=target_group_arn,
        elbv2=client("elbv2") if metric == REQUESTS else None, cloudwatch=client("cloudwatch"),
        badge=badge))
    return steps
