"""``fraudlab aws status``: what runs (stack, service counts, target health) and what it has
cost so far (hours since the stack was created × the hourly estimate tagged on it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import ClientError

from cloud.aws.real import costs, stack
from cloud.aws.real.access import AwsAccess
from cloud.aws.real.plan import RUN_TAG, STACK_PREFIX


def hours_since(created: datetime, now: datetime) -> float:
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return max(0.0, (now - created).total_seconds() / 3600)


def _physical(found: list[dict[str, str]], kind: str) -> str | None:
    return next((r["physical"] for r in found if r["type"] == kind and r["physical"]), None)


def service_counts(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """desired/running/pending, the rollout state, the newest service events."""
    found = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not found:
        return {}
    svc = found[0]
    primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {})
    instances = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    return {"status": svc.get("status"), "desired": svc.get("desiredCount", 0),
            "running": svc.get("runningCount", 0), "pending": svc.get("pendingCount", 0),
            "rollout": primary.get("rolloutState"), "instances": len(instances),
            "events": [e.get("message", "") for e in svc.get("events", [])[:3]]}


def target_health(elbv2: Any, target_group_arn: str | None) -> dict[str, int]:
    """Targets by health state (healthy, initial, unhealthy, draining…)."""
    if not target_group_arn:
        return {}
    try:
        found = elbv2.describe_target_health(TargetGroupArn=target_group_arn)
    except ClientError:
        return {}
    states = Counter(str(t.get("TargetHealth", {}).get("State", "?"))
                     for t in found.get("TargetHealthDescriptions", []))
    return dict(states)


def read(access: AwsAccess, now: datetime) -> list[dict[str, Any]]:
    """Every live FraudLab stack with its service, targets and cost so far."""
    cfn = access.client("cloudformation")
    out = []
    for s in stack.live_stacks(cfn):
        found = stack.resources(cfn, s["StackId"])
        made = stack.outputs(s)
        hourly = float(stack.tag(s, stack.HOURLY_TAG) or 0.0)
        hours = hours_since(s["CreationTime"], now)
        svc = {}
        if made.get("Cluster") and made.get("Service"):
            svc = service_counts(access.client("ecs"), made["Cluster"], made["Service"])
        out.append({
            "stack": s["StackName"], "status": s["StackStatus"], "run": stack.tag(s, RUN_TAG),
            "created": s["CreationTime"].isoformat(), "hours": round(hours, 3),
            "hourly_estimate": hourly, "cost_so_far": round(costs.so_far(hourly, hours), 4),
            "url": made.get("LoadBalancerUrl"), "service": svc,
            "targets": target_health(access.client("elbv2"), _physical(
                found, "AWS::ElasticLoadBalancingV2::TargetGroup")),
            "resources": len(found)})
    return out


def render(rows: list[Mapping[str, Any]], region: str, out: TextIO) -> None:
    if not rows:
        print(f"no FraudLab stack ({STACK_PREFIX}*) in {region}: nothing runs, nothing is "
              "billed by the kit's deploy (the ECR repository may still hold images)", file=out)
        return
    for r in rows:
        svc = r["service"]
        print(f"[REAL] stack {r['stack']} ({r['run']}): {r['status']}, {r['resources']} "
              f"resources, up {r['hours']:.2f} h", file=out)
        if svc:
            print(f"  service: {svc['running']} running / {svc['desired']} desired, "
                  f"{svc['pending']} pending, rollout {svc['rollout']}; {svc['instances']} "
                  "container instances", file=out)
            for message in svc["events"]:
                print(f"    event: {message}", file=out)
        targets = ", ".join(f"{n} {state}" for state, n in sorted(r["targets"].items()))
        print(f"  targets: {targets or 'none registered yet'}", file=out)
        print(f"  url: {r['url'] or '-'}", file=out)
        print(f"  cost so far: ~{r['cost_so_far']:.2f} USD ({r['hours']:.2f} h × "
              f"{r['hourly_estimate']:.4f} USD/h, list prices — an estimate; the bill is in "
              f"Billing › Cost Explorer); `fraudlab aws destroy` stops it", file=out)
