"""EC2 hosts for the cluster: launch instances and register them as ECS container instances.

In AWS the ECS agent on each instance registers it (``RegisterContainerInstance``) with what it
measured — CPU = vCPU × 1024, memory = MemTotal − ``ECS_RESERVED_MEMORY`` (ecs-facts.md §1.2).
An emulator has no agent, so ``launch_hosts`` makes that call in the agent's place, with the
true resources from ``cloud.core.instance_types``. moto 5.2.5 ignores ``totalResources`` (it
reports 4096 CPU / 7482 MiB for any type); when its server runs in this process the step
writes the true values into moto's model, so ``describe_container_instances`` tells the truth.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.ecs import CLUSTER, EMULATED, aws_cli
from cloud.core.instance_types import T3_MEDIUM_MYTH, InstanceType
from cloud.core.instance_types import instance_type as lookup_instance_type
from cloud.ecs.placement import RESERVED_PORTS

AZS = ("us-east-1a", "us-east-1b")
# Amazon Linux 2023 ECS-optimized AMI (x86_64); AWS also publishes its id as the SSM parameter
# /aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id.
ECS_AMI_NAME = "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64"
CLUSTER_TAG = "fraudlab:cluster"
_ALIVE = ("pending", "running")


def agent_resources(itype: InstanceType, reserved_memory_mib: int = 0) -> list[dict[str, Any]]:
    """The ``totalResources`` the ECS agent registers for an instance of ``itype`` (§1.2, §2)."""
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": itype.cpu_units},
        {"name": "MEMORY", "type": "INTEGER",
         "integerValue": itype.registered_memory_mib(reserved_memory_mib)},
        {"name": "PORTS", "type": "STRINGSET",
         "stringSetValue": [str(p) for p in sorted(RESERVED_PORTS)]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]


def user_data(cluster: str) -> str:
    """The boot script that points the ECS agent of the ECS-optimized AMI at ``cluster``."""
    return f"#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"


def ecs_optimized_ami(ec2: Any) -> str:
    """The newest Amazon Linux 2023 ECS-optimized AMI (x86_64) the endpoint lists."""
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": [ECS_AMI_NAME]},
        {"Name": "state", "Values": ["available"]}])["Images"]
    if not images:
        raise LookupError(f"no Amazon-owned AMI named {ECS_AMI_NAME}; pass image_id=")
    return max(images, key=lambda i: (i.get("CreationDate", ""), i.get("Name", "")))["ImageId"]


def default_subnet(ec2: Any, az: str) -> str:
    subnets = ec2.describe_subnets(Filters=[
        {"Name": "default-for-az", "Values": ["true"]},
        {"Name": "availability-zone", "Values": [az]}])["Subnets"]
    if not subnets:
        raise LookupError(f"no default subnet in {az} (no default VPC?)")
    return str(subnets[0]["SubnetId"])


def _resource_values(ci: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in ci.get("registeredResources", []):
        out[r["name"]] = (r.get("stringSetValue", []) if r.get("type") == "STRINGSET"
                          else r.get("integerValue"))
    return out


def _attributes(ci: dict[str, Any]) -> dict[str, str | None]:
    return {a["name"]: a.get("value") for a in ci.get("attributes", [])}


def _container_instances(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    """The cluster's ACTIVE container instances, described."""
    arns = ecs.list_container_instances(cluster=cluster, status="ACTIVE").get(
        "containerInstanceArns", [])
    found: list[dict[str, Any]] = []
    for i in range(0, len(arns), 100):
        found += ecs.describe_container_instances(
            cluster=cluster, containerInstances=arns[i:i + 100])["containerInstances"]
    return [ci for ci in found if ci.get("status") == "ACTIVE"]


def _instances(ec2: Any, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    reservations = ec2.describe_instances(InstanceIds=list(ids))["Reservations"]
    return {i["InstanceId"]: i for r in reservations for i in r["Instances"]}


def _moto_write_back(ci_arn: str, resources: list[dict[str, Any]]) -> bool:
    """Set registered and remaining resources in moto's model, when its server is in-process.

    True only when this process holds that exact container instance (its ARN ends in a random
    UUID, so finding it proves the endpoint is this process's moto).
    """
    try:
        from moto.ecs.models import ecs_backends
    except ImportError:
        return False
    try:
        _, _, _, region, account, rest = ci_arn.split(":", 5)
        _, cluster, ci_id = rest.split("/")
        ci = ecs_backends[account][region].container_instances[cluster][ci_id]
    except (KeyError, ValueError):
        return False
    full = [{"doubleValue": 0.0, "longValue": 0, "integerValue": 0, **r} for r in resources]
    ci.registered_resources = full
    ci.remaining_resources = copy.deepcopy(full)  # a new instance runs no task yet
    return True


def _register(ecs: Any, cluster: str, inst: dict[str, Any], itype: InstanceType,
              region: str, account: str) -> tuple[dict[str, Any], list[str]]:
    """The agent's RegisterContainerInstance call; fix-ups where the emulator drops values."""
    az = inst["Placement"]["AvailabilityZone"]
    document = {"accountId": account, "architecture": "x86_64", "availabilityZone": az,
                "imageId": inst["ImageId"], "instanceId": inst["InstanceId"],
                "instanceType": itype.name, "privateIp": inst.get("PrivateIpAddress"),
                "region": region, "version": "2017-09-30"}
    total = agent_resources(itype)
    attributes = [{"name": "ecs.availability-zone", "value": az},
                  {"name": "ecs.instance-type", "value": itype.name}]
    ci = ecs.register_container_instance(
        cluster=cluster, instanceIdentityDocument=json.dumps(document),
        totalResources=total, attributes=attributes)["containerInstance"]
    arn = ci["containerInstanceArn"]
    fixes: list[str] = []
    seen = _resource_values(ci)
    true_values = (itype.cpu_units, itype.registered_memory_mib())
    if (seen.get("CPU"), seen.get("MEMORY")) != true_values and _moto_write_back(arn, total):
        fixes.append(f"Emulator: RegisterContainerInstance ignored totalResources (it "
                         f"reported CPU {seen.get('CPU')} / MEMORY {seen.get('MEMORY')}); the "
                         "kit wrote the agent's values into moto's model (in-process).")
    have = _attributes(ci)
    missing = [a for a in attributes if have.get(a["name"]) != a["value"]]
    if missing:
        ecs.put_attributes(cluster=cluster, attributes=[{**a, "targetId": arn} for a in missing])
        fixes.append("Emulator: RegisterContainerInstance dropped the attributes "
                     f"{', '.join(a['name'] for a in missing)}; the kit set them with "
                     "PutAttributes.")
    return ci, fixes


def register_instance(ec2: Any, ecs: Any, cluster: str, instance_id: str,
                      instance_type: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Register a running EC2 instance with ``cluster`` as its ECS agent would (§1.2).

    For instances the kit did not launch itself (e.g. an Auto Scaling group's). Returns the
    container instance and the emulator fix-ups made; ``instance_type`` defaults to the
    instance's own.
    """
    inst = _instances(ec2, [instance_id]).get(instance_id)
    if inst is None:
        raise LookupError(f"no EC2 instance {instance_id}")
    found = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    if not found:
        raise LookupError(f"no cluster {cluster!r}")
    region, account = found[0]["clusterArn"].split(":")[3:5]
    itype = lookup_instance_type(instance_type or inst["InstanceType"])
    return _register(ecs, cluster, inst, itype, region, account)


def _myth_warning(itype: InstanceType) -> list[str]:
    if itype.name != "t3.medium":
        return []
    m = T3_MEDIUM_MYTH
    return [f"The case study says a t3.medium provides {m.myth_cpu_units} CPU units and 4 GB and "
            f"fits {m.myth_tasks} containers of 256 CPU / 512 MB. The ECS agent registers "
            f"{m.fact_cpu_units} CPU units (2 vCPU × 1024) and {m.fact_memory_mib} MiB (MemTotal, "
            f"below 4096 MiB; the kit's assumption, AWS does not publish it), so "
            f"{m.fact_tasks} such tasks fit, bound by {m.fact_binding} (ecs-facts.md §11a)."]


def launch_hosts(ec2: Any, ecs: Any, cluster: str = CLUSTER, count: int = 2,
                 instance_type: str = "t3.medium", azs: Sequence[str] = AZS, *,
                 image_id: str | None = None, instance_profile: str | None = None,
                 badge: Badge = EMULATED) -> StepResult:
    """Run ``count`` instances round-robin over ``azs`` and register each with the cluster.

    Idempotent: when the cluster already has ``count`` ACTIVE container instances they are
    returned; when it has fewer, only the missing ones are launched, in the AZs with fewest.
    ``instance_profile`` (e.g. ``ecsInstanceRole``) is what the agent needs in real AWS.
    """
    if count < 0 or not azs:
        raise ValueError("count must be >= 0 and azs non-empty")
    itype = lookup_instance_type(instance_type)
    found = [c for c in ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
             if c.get("status") == "ACTIVE"]
    if not found:
        raise LookupError(f"no ACTIVE cluster {cluster!r}: create it first")
    existing = _container_instances(ecs, cluster)
    fixes: list[str] = []
    launched: list[dict[str, Any]] = []
    if len(existing) < count:
        ami = image_id or ecs_optimized_ami(ec2)
        per_az = Counter(_attributes(ci).get("ecs.availability-zone") for ci in existing)
        region, account = found[0]["clusterArn"].split(":")[3:5]
        ordinal = _launched_before(ec2, cluster)
        for _ in range(len(existing), count):
            az = min(azs, key=lambda a: (per_az[a], azs.index(a)))
            per_az[az] += 1
            ordinal += 1
            launched.append(_run_instance(ec2, cluster, az, itype, ami, ordinal,
                                          instance_profile))
        for inst in launched:
            fixes += _register(ecs, cluster, inst, itype, region, account)[1]
    hosts = _container_instances(ecs, cluster)
    ec2_info = _instances(ec2, [ci["ec2InstanceId"] for ci in hosts])
    rows = []
    for ci in hosts:
        attrs, values = _attributes(ci), _resource_values(ci)
        inst = ec2_info.get(ci["ec2InstanceId"], {})
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        rows.append({
            "instanceId": ci["ec2InstanceId"],
            "name": tags.get("Name"),
            "containerInstanceArn": ci["containerInstanceArn"],
            "availabilityZone": attrs.get("ecs.availability-zone"),
            "instanceType": attrs.get("ecs.instance-type"),
            "subnetId": inst.get("SubnetId"),
            "imageId": inst.get("ImageId"),
            "registeredCpu": values.get("CPU"),
            "registeredMemoryMiB": values.get("MEMORY"),
        })
    rows.sort(key=lambda r: (str(r["availabilityZone"]), r["instanceId"]))
    warnings = _myth_warning(itype) + list(dict.fromkeys(fixes))  # one line per kind of fix
    wrong = [r["instanceId"] for r in rows
             if (r["registeredCpu"], r["registeredMemoryMiB"])
             != (itype.cpu_units, itype.registered_memory_mib())
             and r["instanceType"] == itype.name]
    if wrong:
        warnings.append(f"Emulator: {', '.join(wrong)} show CPU/MEMORY other than the agent's "
                        f"{itype.cpu_units}/{itype.registered_memory_mib()} (moto reports "
                        "4096/7482 when its server is not in this process); FraudLab's "
                        "scheduler places by the true values.")
    result = {
        "cluster": cluster,
        "instanceType": itype.name,
        "hosts": rows,
        "trueResources": {"cpu": itype.cpu_units, "memoryMiB": itype.registered_memory_mib(),
                          "ports": sorted(RESERVED_PORTS)},
    }
    return StepResult(
        step="launch-hosts",
        title=f"Launch {count} {itype.name} hosts in {', '.join(azs)} and register them "
              f"with {cluster}",
        result=result,
        cli=_hosts_cli(rows, cluster, itype, instance_profile),
        aws_note=(f"You launch these instances, not ECS; on each, the ECS agent (told "
                  f"ECS_CLUSTER={cluster} in user data) calls RegisterContainerInstance with "
                  f"what it measured: CPU = vCPU × 1024 = {itype.cpu_units}, memory = MemTotal − "
                  "ECS_RESERVED_MEMORY (here the kit makes that call for it). ECS gives each "
                  "container instance the attributes ecs.availability-zone and "
                  "ecs.instance-type that placement strategies use."),
        source="ecs-facts.md §1.2, §3, §11a, §11b; aws/amazon-ecs-agent ecs_client.go "
               "getCpu()/getResources(); ECS Developer Guide task-placement-strategies",
        badge=badge,
        changed=bool(launched),
        warnings=warnings,
    )


def _launched_before(ec2: Any, cluster: str) -> int:
    """How many instances the kit has launched for ``cluster`` (any state): names stay unique."""
    reservations = ec2.describe_instances(
        Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}])["Reservations"]
    return sum(len(r["Instances"]) for r in reservations)


def _run_instance(ec2: Any, cluster: str, az: str, itype: InstanceType, ami: str, ordinal: int,
                  instance_profile: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "ImageId": ami, "InstanceType": itype.name, "MinCount": 1, "MaxCount": 1,
        "SubnetId": default_subnet(ec2, az), "UserData": user_data(cluster),
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": f"{cluster}-host-{ordinal}"},
            {"Key": CLUSTER_TAG, "Value": cluster}]}],
    }
    if instance_profile:
        args["IamInstanceProfile"] = {"Name": instance_profile}
    return dict(ec2.run_instances(**args)["Instances"][0])


def _hosts_cli(rows: list[dict[str, Any]], cluster: str, itype: InstanceType,
               instance_profile: str | None) -> str:
    lines = []
    for r in rows:
        tags = f"{{Key={CLUSTER_TAG},Value={cluster}}}"
        if r["name"]:
            tags = f"{{Key=Name,Value={r['name']}}},{tags}"
        lines.append(aws_cli(
            "ec2", "run-instances", image_id=r["imageId"], instance_type=itype.name, count=1,
            subnet_id=r["subnetId"], user_data=user_data(cluster),
            iam_instance_profile=f"Name={instance_profile}" if instance_profile else None,
            tag_specifications=f"ResourceType=instance,Tags=[{tags}]"))
    lines.append("# then, on each instance, the ECS agent (not you) calls:")
    for r in rows:
        lines.append(aws_cli(
            "ecs", "register-container-instance", cluster=cluster,
            instance_identity_document=json.dumps(
                {"instanceId": r["instanceId"], "availabilityZone": r["availabilityZone"],
                 "instanceType": itype.name}, separators=(",", ":")),
            total_resources=agent_resources(itype)))
    return "\n".join(lines)


def deregister_host(ec2: Any, ecs: Any, cluster: str, instance_id: str, *,
                    badge: Badge = EMULATED) -> StepResult:
    """Kill a host: terminate the EC2 instance and deregister its container instance (force)."""
    ci = next((c for c in _all_container_instances(ecs, cluster)
               if c.get("ec2InstanceId") == instance_id), None)
    inst = _instances(ec2, [instance_id]).get(instance_id)
    if inst is None:
        raise LookupError(f"no EC2 instance {instance_id}")
    cli = [aws_cli("ec2", "terminate-instances", instance_ids=[instance_id])]
    changed = False
    if inst["State"]["Name"] in (*_ALIVE, "stopping", "stopped"):
        ec2.terminate_instances(InstanceIds=[instance_id])
        changed = True
    if ci is not None:
        ecs.deregister_container_instance(cluster=cluster,
                                          containerInstance=ci["containerInstanceArn"],
                                          force=True)
        cli.append(aws_cli("ecs", "deregister-container-instance", cluster=cluster,
                           container_instance=ci["containerInstanceArn"], force=True))
        changed = True
    state = _instances(ec2, [instance_id])[instance_id]["State"]["Name"]
    return StepResult(
        step="deregister-host",
        title=f"Kill host {instance_id} (terminate and deregister)",
        result={"cluster": cluster, "instanceId": instance_id, "instanceState": state,
                "registered": False},
        cli="\n".join(cli),
        aws_note=("Terminating an instance kills its tasks, and ECS deregisters a terminated "
                  "container instance by itself; the service scheduler then starts replacement "
                  "tasks (new task ids) on the remaining instances if they have room — it "
                  "launches no instance. --force deregisters even with tasks still running, "
                  "which are orphaned."),
        source="ecs-facts.md §4, §11b; ECS API Reference DeregisterContainerInstance",
        badge=badge,
        changed=changed,
    )


def _all_container_instances(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    arns = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    if not arns:
        return []
    return list(ecs.describe_container_instances(cluster=cluster,
                                                 containerInstances=arns[:100])
                ["containerInstances"])
