"""The kit's "deploy": every step in order, as a list the UI can narrate.

repository + image → task definition → cluster → hosts → [capacity provider] → load balancer →
target group → its attributes → listener → service (the case study's Part 5, with the EC2 hosts
as an explicit step: ECS does not launch them unless a capacity provider with managed scaling
is configured, ecs-facts.md §3, §11b; the service registers its tasks in the target group, §6).
Running it twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.capacity import CAPACITY_PROVIDER, create_capacity_provider
from cloud.aws.steps.ecr import REPOSITORY, content_tag, create_repository, record_image
from cloud.aws.steps.ecr import service_manifest as derive_manifest
from cloud.aws.steps.ecs import (
    CLUSTER,
    EMULATED,
    FAMILY,
    SERVICE,
    awsvpc_configuration,
    create_cluster,
    create_service,
    register_task_definition,
    service_load_balancers,
)
from cloud.aws.steps.elb import (
    LOAD_BALANCER,
    TARGET_GROUP,
    create_listener,
    create_load_balancer,
    create_target_group,
    modify_target_group_attributes,
)
from cloud.aws.steps.hosts import AZS, launch_hosts

Clients = Mapping[str, Any] | Callable[[str], Any]


def _client_getter(clients: Clients) -> Callable[[str], Any]:
    if isinstance(clients, Mapping):
        return lambda service: clients[service]
    return clients


def deploy_all(clients: Clients, desired: int = 4, placement: str = "spread", hosts: int = 2, *,
               instance_type: str = "t3.medium", azs: Sequence[str] = AZS,
               repository: str = REPOSITORY, family: str = FAMILY, cluster: str = CLUSTER,
               service: str = SERVICE, cpu: int = 256, memory: int = 512,
               manifest_json: str | None = None, capacity_provider: bool = False,
               max_hosts: int = 4, target_capacity: int = 100,
               instance_warmup_period: int = 300, algorithm: str = "round_robin",
               load_balancer: str = LOAD_BALANCER, target_group: str = TARGET_GROUP,
               badge: Badge = EMULATED, image: str | None = None,
               network_mode: str = "bridge") -> list[StepResult]:
    """Deploy the fraud-model service; ``clients`` maps "ecr"/"ecs"/"ec2"/"elbv2" (and
    "autoscaling" with ``capacity_provider``) to boto3 clients (a dict, or a callable such as
    ``Endpoint.client``).

    ``algorithm`` is the target group's routing algorithm: ``round_robin`` (ALB's default) or
    ``least_outstanding_requests``.

    ``capacity_provider`` adds an Auto Scaling group capacity provider with managed scaling
    (``hosts`` to ``max_hosts`` instances, ``target_capacity`` %, warm-up in lab seconds)
    after the hosts step; the hosts join its group.

    ``manifest_json`` is the pushed image's manifest; by default one is derived from the
    service's files (``cloud.aws.steps.ecr.service_manifest``) and tagged by its content.

    ``image``: an image already pushed and recorded (``cloud.aws.steps.ecr.push_image``'s
    ``result["image"]``, e.g. ``127.0.0.1:5000/fraud-detection:slim``); the task definition
    runs it and no manifest is derived.
    """
    client = _client_getter(clients)
    ecr, ecs, ec2 = client("ecr"), client("ecs"), client("ec2")
    manifest = manifest_json or (derive_manifest() if image is None else "")
    steps = [create_repository(ecr, repository, badge=badge)]
    if image is None:
        recorded = record_image(ecr, repository, content_tag(manifest), manifest, badge=badge)
        steps.append(recorded)
        image = recorded.result["image"]
    taskdef = register_task_definition(ecs, family, image=image, cpu=cpu,
                                       memory=memory, network_mode=network_mode, badge=badge)
    steps.append(taskdef)
    steps.append(create_cluster(ecs, cluster, badge=badge))
    steps.append(launch_hosts(ec2, ecs, cluster, count=hosts, instance_type=instance_type,
                              azs=azs, badge=badge))
    if capacity_provider:
        steps.append(create_capacity_provider(
            client("autoscaling"), ec2, ecs, cluster, CAPACITY_PROVIDER, min_size=0,
            max_size=max_hosts, target_capacity=target_capacity, instance_type=instance_type,
            instance_warmup_period=instance_warmup_period, azs=tuple(azs), badge=badge))
    elbv2 = client("elbv2")
    lb = create_load_balancer(elbv2, ec2, ecs, cluster, load_balancer, azs=azs, badge=badge)
    tg = create_target_group(elbv2, target_group, vpc_id=lb.result["vpcId"], badge=badge,
                             target_type="ip" if network_mode == "awsvpc" else "instance")
    tg_arn = tg.result["targetGroupArn"]
    steps += [lb, tg, modify_target_group_attributes(elbv2, tg_arn, algorithm=algorithm,
                                                     badge=badge),
              create_listener(elbv2, lb.result["loadBalancerArn"], tg_arn, badge=badge)]
    network = None
    if network_mode == "awsvpc":  # the hosts' subnets, the VPC's default security group
        subnets = [h["subnetId"] for s in steps if s.step == "launch-hosts"
                   for h in s.result["hosts"] if h.get("subnetId")]
        groups = ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [lb.result["vpcId"]]},
            {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
        network = awsvpc_configuration(subnets, [g["GroupId"] for g in groups[:1]])
    steps.append(create_service(ecs, cluster, service,
                                task_definition=taskdef.result["taskDefinitionArn"],
                                desired_count=desired, placement=placement,
                                load_balancers=service_load_balancers(tg_arn),
                                network_configuration=network, badge=badge))
    return steps
