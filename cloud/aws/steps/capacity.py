"""The capacity provider step: an Auto Scaling group that ECS cluster auto scaling manages.

launch template (ECS-optimized AMI, ``ECS_CLUSTER`` user data) → Auto Scaling group (the
cluster's current hosts attached, so it owns them) → capacity provider with managed scaling
ENABLED and managed termination protection DISABLED → the cluster's default capacity provider
strategy. Facts: ecs-facts.md §3 ("Capacity providers / cluster auto scaling"), §11b.

moto 5.2.5 stores all of it but runs none of it: no target-tracking policy, no alarms, no
``CapacityProviderReservation``. FraudLab's autoscaler
(``cloud.ecs.capacity_provider``) does that part.
"""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.ecs import CLUSTER, EMULATED, aws_cli, error_code, matches
from cloud.aws.steps.hosts import (
    AZS,
    CLUSTER_TAG,
    _container_instances,
    _instances,
    default_subnet,
    ecs_optimized_ami,
    user_data,
)
from cloud.core.instance_types import instance_type as lookup_instance_type
from cloud.ecs.managed_scaling import ManagedScaling

CAPACITY_PROVIDER = "fraud-cp"
ASG_TAG = "aws:autoscaling:groupName"

CAS_MYTH = (
    "The case study says ECS launches EC2 instances when you set a desired count. It does not: "
    "a desired count only tells the service scheduler how many tasks to keep. Instances are "
    "added only by an Auto Scaling group capacity provider with managed scaling, like this "
    "one: ECS evaluates CapacityProviderReservation = M/N×100 every minute, scales out above "
    "targetCapacity (tasks wait in PROVISIONING meanwhile) and in after 15 low minutes, "
    "retiring only empty instances (ecs-facts.md §3, §11b).")
LAUNCH_TYPE_NOTE = (
    "In AWS a service created with launchType EC2 (as the create-service step does) does not "
    "use the cluster's default capacity provider strategy: its unplaced tasks fail placement "
    "instead of waiting in PROVISIONING. Create it without a launch type (or with "
    "--capacity-provider-strategy capacityProvider={cp},weight=1). FraudLab's autoscaler "
    "counts every waiting task of the cluster as the capacity provider's.")


def names(cluster: str) -> tuple[str, str]:
    """The launch template's and the Auto Scaling group's names for ``cluster``."""
    return f"{cluster}-hosts", f"{cluster}-asg"


def managed_scaling(target_capacity: int = 100, minimum_scaling_step_size: int = 1,
                    maximum_scaling_step_size: int = 10_000,
                    instance_warmup_period: int = 300) -> dict[str, Any]:
    """The ``managedScaling`` block (ECS's defaults: 100 %, 1, 10000, 300 s; §3)."""
    return {"status": "ENABLED", "targetCapacity": target_capacity,
            "minimumScalingStepSize": minimum_scaling_step_size,
            "maximumScalingStepSize": maximum_scaling_step_size,
            "instanceWarmupPeriod": instance_warmup_period}


def _launch_template(ec2: Any, name: str, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    try:
        found = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
    except ClientError as exc:
        if "NotFound" not in error_code(exc) and "NotFound" not in str(exc):
            raise
        found = []
    if found:
        return dict(found[0]), False
    return dict(ec2.create_launch_template(LaunchTemplateName=name,
                                           LaunchTemplateData=data)["LaunchTemplate"]), True


def _group(autoscaling: Any, name: str) -> dict[str, Any] | None:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return next(iter(groups["AutoScalingGroups"]), None)


def _asg_args(name: str, template: str, cluster: str, min_size: int, max_size: int,
              subnets: list[str]) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": name,
        "LaunchTemplate": {"LaunchTemplateName": template, "Version": "$Latest"},
        "MinSize": min_size, "MaxSize": max_size, "DesiredCapacity": 0,
        "VPCZoneIdentifier": ",".join(subnets),
        "NewInstancesProtectedFromScaleIn": False,
        "Tags": [{"Key": "Name", "Value": f"{cluster}-cp-host", "PropagateAtLaunch": True},
                 {"Key": CLUSTER_TAG, "Value": cluster, "PropagateAtLaunch": True}],
    }


def _attach_hosts(autoscaling: Any, ec2: Any, ecs: Any, cluster: str,
                  group: dict[str, Any]) -> list[str]:
    """Attach the cluster's running hosts that belong to no group (AttachInstances raises the
    group's desired capacity by as many)."""
    members = {i["InstanceId"] for i in group.get("Instances", [])}
    hosts = [ci["ec2InstanceId"] for ci in _container_instances(ecs, cluster)]
    info = _instances(ec2, [h for h in hosts if h not in members])
    free = sorted(i for i, inst in info.items()
                  if inst["State"]["Name"] == "running"
                  and not any(t["Key"] == ASG_TAG for t in inst.get("Tags", [])))
    if not free:
        return []
    if len(members) + len(free) > group["MaxSize"]:
        raise ValueError(f"the cluster has {len(members) + len(free)} hosts but the Auto Scaling "
                         f"group's max size is {group['MaxSize']}: raise max_size")
    for i in range(0, len(free), 20):  # AttachInstances takes at most 20
        autoscaling.attach_instances(AutoScalingGroupName=group["AutoScalingGroupName"],
                                     InstanceIds=free[i:i + 20])
    return free


def _provider(ecs: Any, name: str, asg_arn: str,
              scaling: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Create the capacity provider or bring its managed scaling to ``scaling``.

    Returns it and what was done ("create", "update" or None).
    """
    found = [p for p in ecs.describe_capacity_providers(capacityProviders=[name])
             .get("capacityProviders", []) if p.get("status") == "ACTIVE"]
    want = {"managedScaling": scaling, "managedTerminationProtection": "DISABLED"}
    if not found:
        return ecs.create_capacity_provider(name=name, autoScalingGroupProvider={
            "autoScalingGroupArn": asg_arn, **want})["capacityProvider"], "create"
    have = found[0]["autoScalingGroupProvider"]
    if have.get("autoScalingGroupArn") != asg_arn:
        raise ValueError(f"capacity provider {name!r} manages another Auto Scaling group "
                         f"({have.get('autoScalingGroupArn')}); a provider's group cannot change")
    if matches(want, have):
        return dict(found[0]), None
    return ecs.update_capacity_provider(name=name, autoScalingGroupProvider=want)[
        "capacityProvider"], "update"


def _strategy(name: str) -> list[dict[str, Any]]:
    return [{"capacityProvider": name, "weight": 1, "base": 0}]


def _associate(ecs: Any, cluster: str, name: str) -> tuple[dict[str, Any], bool]:
    found = ecs.describe_clusters(clusters=[cluster])["clusters"]
    if not found or found[0].get("status") != "ACTIVE":
        raise LookupError(f"no ACTIVE cluster {cluster!r}: create it first")
    have = found[0]
    providers = list(have.get("capacityProviders", []))
    if name in providers and matches(_strategy(name),
                                     have.get("defaultCapacityProviderStrategy", [])):
        return have, False
    return ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=sorted({*providers, name}),
        defaultCapacityProviderStrategy=_strategy(name))["cluster"], True


def create_capacity_provider(autoscaling: Any, ec2: Any, ecs: Any, cluster: str = CLUSTER,
                             name: str = CAPACITY_PROVIDER, min_size: int = 0,
                             max_size: int = 4, target_capacity: int = 100,
                             instance_type: str = "t3.medium", *,
                             minimum_scaling_step_size: int = 1,
                             maximum_scaling_step_size: int = 10_000,
                             instance_warmup_period: int = 300, azs: tuple[str, ...] = AZS,
                             image_id: str | None = None, instance_profile: str | None = None,
                             badge: Badge = EMULATED) -> StepResult:
    """Give ``cluster`` an Auto Scaling group capacity provider with managed scaling (§3).

    Idempotent: what exists is found and reported with ``changed=False``; different scaling
    settings update the provider, a different min/max updates the group. The cluster's
    current hosts are attached to the group, so its desired capacity starts at their number.
    """
    ManagedScaling(target_capacity, minimum_scaling_step_size, maximum_scaling_step_size,
                   instance_warmup_period, min_size, max_size, instance_type)  # validates
    itype = lookup_instance_type(instance_type)
    template_name, asg_name = names(cluster)
    ami = image_id or ecs_optimized_ami(ec2)
    data: dict[str, Any] = {
        "ImageId": ami, "InstanceType": itype.name,
        "UserData": base64.b64encode(user_data(cluster).encode()).decode()}
    if instance_profile:
        data["IamInstanceProfile"] = {"Name": instance_profile}
    template, made_template = _launch_template(ec2, template_name, data)
    subnets = [default_subnet(ec2, az) for az in azs]
    asg_args = _asg_args(asg_name, template_name, cluster, min_size, max_size, subnets)
    group = _group(autoscaling, asg_name)
    changed_group = group is None
    if group is None:
        autoscaling.create_auto_scaling_group(**asg_args)
    elif (group["MinSize"], group["MaxSize"]) != (min_size, max_size):
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=asg_name, MinSize=min_size,
                                              MaxSize=max_size)
        changed_group = True
    group = _group(autoscaling, asg_name)
    assert group is not None
    attached = _attach_hosts(autoscaling, ec2, ecs, cluster, group)
    group = _group(autoscaling, asg_name) if attached else group
    assert group is not None
    scaling = managed_scaling(target_capacity, minimum_scaling_step_size,
                              maximum_scaling_step_size, instance_warmup_period)
    provider, provider_action = _provider(ecs, name, group["AutoScalingGroupARN"], scaling)
    described, associated = _associate(ecs, cluster, name)

    cli = [aws_cli("ec2", "create-launch-template", launch_template_name=template_name,
                   launch_template_data=data),
           aws_cli("autoscaling", "create-auto-scaling-group",
                   auto_scaling_group_name=asg_name,
                   launch_template=f"LaunchTemplateName={template_name},Version=$Latest",
                   min_size=min_size, max_size=max_size, desired_capacity=0,
                   vpc_zone_identifier=",".join(subnets),
                   no_new_instances_protected_from_scale_in=True,
                   tags=asg_args["Tags"])]
    if attached:
        cli.append(aws_cli("autoscaling", "attach-instances", instance_ids=attached,
                           auto_scaling_group_name=asg_name))
    asg_provider = {"autoScalingGroupArn": group["AutoScalingGroupARN"],
                    "managedScaling": scaling, "managedTerminationProtection": "DISABLED"}
    cli.append(aws_cli("ecs", "update-capacity-provider" if provider_action == "update"
                       else "create-capacity-provider", name=name,
                       auto_scaling_group_provider=asg_provider))
    cli.append(aws_cli("ecs", "put-cluster-capacity-providers", cluster=cluster,
                       capacity_providers=described.get("capacityProviders") or [name],
                       default_capacity_provider_strategy=_strategy(name)))
    zones = sorted({i["AvailabilityZone"] for i in group.get("Instances", [])})
    result = {
        "cluster": cluster,
        "launchTemplate": {"name": template_name, "id": template.get("LaunchTemplateId"),
                           "imageId": ami, "instanceType": itype.name},
        "autoScalingGroup": {"name": asg_name, "arn": group["AutoScalingGroupARN"],
                             "minSize": group["MinSize"], "maxSize": group["MaxSize"],
                             "desiredCapacity": group["DesiredCapacity"],
                             "instances": sorted(i["InstanceId"] for i in group["Instances"]),
                             "availabilityZones": zones},
        "attachedHosts": attached,
        "capacityProvider": {"name": provider["name"],
                             "arn": provider.get("capacityProviderArn"),
                             "status": provider.get("status"),
                             **provider.get("autoScalingGroupProvider", {})},
        "clusterCapacityProviders": described.get("capacityProviders", []),
        "defaultCapacityProviderStrategy": described.get("defaultCapacityProviderStrategy", []),
    }
    if badge == EMULATED:
        result["runs"] = (
            "The emulator stores the launch template, group and capacity provider, and "
            "launches EC2 instances when the group's desired capacity rises; it creates no "
            "scaling policy or alarm and never evaluates CapacityProviderReservation. "
            "FraudLab's autoscaler (simulated) does, once a lab minute, and registers each new "
            "instance with its true resources, as the ECS agent would.")
    warnings = [CAS_MYTH, LAUNCH_TYPE_NOTE.format(cp=name)]
    if badge == EMULATED:
        warnings.append("Emulator: moto 5.2.5 creates no ECSManagedAutoScalingPolicy "
                        "target-tracking policy and no CloudWatch alarms on the group, starts "
                        "every group instance in the first subnet's AZ, registers none with "
                        "the cluster, and lets CreateCapacityProvider silently replace a "
                        "provider of the same name.")
    return StepResult(
        step="create-capacity-provider",
        title=f"Give {cluster} the capacity provider {name} (Auto Scaling group {asg_name}, "
              f"{min_size}-{max_size} {itype.name}, target {target_capacity}%)",
        result=result,
        cli="\n".join(cli),
        aws_note=(f"ECS creates a target-tracking policy on {asg_name} for the metric "
                  "CapacityProviderReservation (AWS/ECS/ManagedScaling) = M/N×100, M the "
                  "instances the tasks need (binpack), N those running, evaluated every "
                  f"minute. Above {target_capacity}% it raises the group's desired capacity "
                  "(within the step sizes, never beyond max size; from zero instances to two), "
                  f"then waits instanceWarmupPeriod ({instance_warmup_period} s) before "
                  "scaling out again; tasks wait in PROVISIONING. After 15 minutes below "
                  "target it retires empty instances only. CAS never changes min/max size."),
        source="ecs-facts.md §3 (capacity providers / cluster auto scaling), §11b; ECS "
               "Developer Guide cluster-auto-scaling, asg-capacity-providers",
        badge=badge,
        changed=made_template or changed_group or bool(attached) or bool(provider_action)
        or associated,
        warnings=warnings,
    )
