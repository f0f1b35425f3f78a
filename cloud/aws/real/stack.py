"""The CloudFormation side: the network to deploy into, create-stack, its events, run records.

CloudFormation orders the creation, rolls back a failure, and deletes everything with one
call; the kit only hands it the template and reads its events back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from cloud.aws.real.plan import STACK_PREFIX, RealAwsRefused
from cloud.core.state_dir import state_dir

CREATE_DONE = ("CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
DELETE_DONE = ("DELETE_COMPLETE", "DELETE_FAILED")
GONE = "DELETE_COMPLETE"
MAX_SUBNETS = 3
HOURLY_TAG = "fraudlab:hourly-estimate-usd"
RUNS_DIR = "aws-runs"


# ---- network --------------------------------------------------------------------------------
def _offered_zones(ec2: Any, instance_type: str) -> set[str] | None:
    """The AZs that offer ``instance_type`` (None when the call is not answered)."""
    try:
        found = ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    except ClientError:
        return None
    return {o["Location"] for o in found.get("InstanceTypeOfferings", [])}


def choose_subnets(subnets: Sequence[Mapping[str, Any]], offered: set[str] | None,
                   limit: int = MAX_SUBNETS) -> list[Mapping[str, Any]]:
    """One subnet per AZ that offers the instance type, up to ``limit``, by AZ name (pure)."""
    by_zone: dict[str, Mapping[str, Any]] = {}
    for s in sorted(subnets, key=lambda s: (s["AvailabilityZone"], s["SubnetId"])):
        zone = s["AvailabilityZone"]
        if (offered is None or zone in offered) and zone not in by_zone:
            by_zone[zone] = s
    return list(by_zone.values())[:limit]


def network(ec2: Any, instance_type: str, subnet_ids: Sequence[str] = ()) -> tuple[str, list[str]]:
    """(VPC id, subnet ids): the given subnets, or the default VPC's default subnets in AZs
    that offer the instance type. RealAwsRefused when fewer than two AZs are left (an ALB
    needs two)."""
    if subnet_ids:
        found = ec2.describe_subnets(SubnetIds=list(subnet_ids))["Subnets"]
        vpcs = {s["VpcId"] for s in found}
        if len(vpcs) != 1:
            raise RealAwsRefused(f"--subnets must all be in one VPC; they are in {sorted(vpcs)}")
        chosen = choose_subnets(found, None, limit=len(found))
    else:
        vpcs_found = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])
        if not vpcs_found["Vpcs"]:
            raise RealAwsRefused("this region has no default VPC: pass --subnets subnet-a,"
                                 "subnet-b (two AZs, with a route to the internet)")
        vpc = vpcs_found["Vpcs"][0]["VpcId"]
        defaults = ec2.describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        chosen = choose_subnets(defaults, _offered_zones(ec2, instance_type))
        vpcs = {vpc}
    if len(chosen) < 2:
        raise RealAwsRefused("an Application Load Balancer needs subnets in two Availability "
                             f"Zones; found {len(chosen)}: pass --subnets")
    return vpcs.pop(), [str(s["SubnetId"]) for s in chosen]


# ---- stacks -----------------------------------------------------------------------------------
def live_stacks(cfn: Any) -> list[dict[str, Any]]:
    """FraudLab's stacks that are not deleted (their names start with ``fraudlab-``)."""
    out: list[dict[str, Any]] = []
    for page in cfn.get_paginator("describe_stacks").paginate():
        out += [s for s in page["Stacks"] if s["StackName"].startswith(STACK_PREFIX)
                and s["StackStatus"] != GONE]
    return out


def create(cfn: Any, name: str, template: Mapping[str, Any], parameters: Mapping[str, str],
           tags: Iterable[Mapping[str, str]]) -> str:
    """``aws cloudformation create-stack … --capabilities CAPABILITY_IAM``; the stack id."""
    reply = cfn.create_stack(
        StackName=name, TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"], Tags=[dict(t) for t in tags],
        OnFailure="ROLLBACK")
    return str(reply["StackId"])


def describe(cfn: Any, stack: str) -> dict[str, Any] | None:
    """The stack (by name or id), or None when CloudFormation does not know it."""
    try:
        stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def event_line(e: Mapping[str, Any]) -> str:
    """One stack event as a progress line (pure)."""
    stamp = e.get("Timestamp")
    when = stamp.strftime("%H:%M:%S") if hasattr(stamp, "strftime") else str(stamp or "")
    reason = f" — {e['ResourceStatusReason']}" if e.get("ResourceStatusReason") else ""
    return (f"  {when} {e.get('ResourceStatus', ''):<20} {e.get('ResourceType', ''):<44} "
            f"{e.get('LogicalResourceId', '')}{reason}")


def new_events(events: Sequence[Mapping[str, Any]], seen: set[str]) -> list[Mapping[str, Any]]:
    """The events not shown yet, oldest first (describe-stack-events lists newest first);
    ``seen`` is updated (pure but for that set)."""
    fresh = [e for e in events if e.get("EventId") not in seen]
    seen.update(str(e.get("EventId")) for e in fresh)
    return list(reversed(fresh))


def event_ids(cfn: Any, stack_id: str) -> set[str]:
    """The events the stack has so far (first page: the newest 100), to show only later ones."""
    events = cfn.describe_stack_events(StackName=stack_id).get("StackEvents", [])
    return {str(e.get("EventId")) for e in events}


def watch(cfn: Any, stack_id: str, out: TextIO, done: Sequence[str], *,
          timeout: float = 3600.0, interval: float = 5.0,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic, seen: set[str] | None = None) -> str:
    """Print the stack's events (but ``seen``) until its status is one of ``done``; the
    final status. TimeoutError after ``timeout`` seconds (the stack keeps going in AWS)."""
    seen = set() if seen is None else set(seen)
    deadline = clock() + timeout
    while True:
        events = cfn.describe_stack_events(StackName=stack_id).get("StackEvents", [])
        for e in new_events(events, seen):
            print(event_line(e), file=out, flush=True)
        stack = describe(cfn, stack_id)
        status = str(stack["StackStatus"]) if stack else GONE
        if status in done:
            return status
        if clock() >= deadline:
            raise TimeoutError(f"stack {stack_id} is still {status} after {timeout:.0f} s; it "
                               "keeps going in AWS: `fraudlab aws status`")
        sleep(interval)


def resources(cfn: Any, stack: str) -> list[dict[str, str]]:
    """The stack's resources: logical id, type, physical id, status."""
    found = cfn.describe_stack_resources(StackName=stack).get("StackResources", [])
    return [{"logical": str(r.get("LogicalResourceId", "")),
             "type": str(r.get("ResourceType", "")),
             "physical": str(r.get("PhysicalResourceId", "")),
             "status": str(r.get("ResourceStatus", ""))} for r in found
            if r.get("LogicalResourceId")]


def outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: str(o["OutputValue"]) for o in stack.get("Outputs") or []}


def tag(stack: Mapping[str, Any], key: str) -> str | None:
    return next((str(t["Value"]) for t in stack.get("Tags") or [] if t["Key"] == key), None)


# ---- run records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """What a deploy made, kept in the state directory until destroy (for the learner to
    read; destroy itself needs only the stack and the tags)."""

    run_id: str
    stack_name: str
    stack_id: str
    region: str
    hourly: float
    repository: str
    repository_created: bool
    image_tag: str | None
    image_digest: str | None


def runs_dir() -> Path:
    path = state_dir() / RUNS_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def save(record: RunRecord) -> Path:
    path = runs_dir() / f"{record.run_id}.json"
    path.write_text(json.dumps(asdict(record), indent=2))
    return path


def forget(run_id: str) -> None:
    (runs_dir() / f"{run_id}.json").unlink(missing_ok=True)
