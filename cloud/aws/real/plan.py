"""What ``fraudlab aws deploy`` will create, and the template it creates it from (pure).

The deployment is the kit's own (``fraudlab deploy``'s defaults and flags) as a
:class:`cloud.export.state.Deployment`; the stack template is the kit's CloudFormation export
of it (``cloud.export.cloudformation.template``) with what a real run adds: the run id as a tag
on everything that takes tags (stack tags propagate to every resource CloudFormation tags;
the instances and volumes are tagged by the launch template, the tasks by the service).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.aws.real import costs
from cloud.aws.steps.ecr import REPOSITORY
from cloud.aws.steps.ecs import (
    CLUSTER,
    CONTAINER,
    CONTAINER_PORT,
    ENVIRONMENT,
    FAMILY,
    HEALTH_COMMAND,
    HEALTH_DEFAULTS,
    SERVICE,
)
from cloud.aws.steps.elb import HEALTH_CHECK, LISTENER_PORT, LOAD_BALANCER, TARGET_GROUP
from cloud.aws.steps.scaling import KINDS, POLICY_NAMES, parse_autoscale
from cloud.export import cloudformation
from cloud.export.state import (
    CapacityProvider,
    Container,
    Deployment,
    HealthCheck,
    Hosts,
    LoadBalancer,
    Scaling,
    ScalingPolicy,
    TargetGroup,
    TaskDefinition,
)

CONFIRM_ENV = "FRAUDLAB_REAL_AWS"
RUN_TAG = "fraudlab:run"
STACK_PREFIX = "fraudlab-"
LOG_RETENTION_DAYS = 7


class RealAwsRefused(RuntimeError):
    """The real-AWS command will not run; the one-line message says why and what to do."""


@dataclass(frozen=True)
class RealAwsRequest:
    """What ``fraudlab aws deploy`` was asked to create."""

    desired: int = 2
    hosts: int = 2
    instance_type: str = "t3.medium"
    capacity_provider: bool = False
    max_hosts: int = 4
    autoscale: str | None = None
    min_tasks: int = 1
    max_tasks: int = 10
    region: str = "us-east-1"
    subnets: tuple[str, ...] = ()
    image_target: str = "slim"


def new_run_id(now: datetime, token: Callable[[int], str] = secrets.token_hex) -> str:
    """``YYYYMMDD-HHMM-xxxx``: sortable, short enough for a stack name."""
    return f"{now:%Y%m%d-%H%M}-{token(2)}"


def stack_name(run_id: str) -> str:
    return f"{STACK_PREFIX}{run_id}"


def max_instances(req: RealAwsRequest) -> int:
    """The most instances the request can run at once (what the cost estimate counts)."""
    return req.max_hosts if req.capacity_provider else req.hosts


def plan(req: RealAwsRequest, push: bool = True) -> list[str]:
    """The resources a real deploy creates, one line each (``push``: the local build goes to
    ECR; else an image already there is named)."""
    hosts = (f"an Auto Scaling group of {req.instance_type} instances (0 to {req.max_hosts}, "
             "ECS's managed scaling decides) and an ECS capacity provider"
             if req.capacity_provider else
             f"an Auto Scaling group of {req.hosts} {req.instance_type} instances (fixed size)")
    lines = [
        f"ECR repository {REPOSITORY} (if missing) and the local build pushed to it" if push
        else "no image push: the task definition names the given image",
        f"CloudFormation stack with: ECS cluster {CLUSTER}, task definition {FAMILY}",
        f"{hosts} from the ECS-optimized AMI, an instance role and a launch template",
        f"Application Load Balancer {LOAD_BALANCER} (internet-facing, HTTP :{LISTENER_PORT}), "
        f"target group {TARGET_GROUP}, listener, two security groups",
        f"ECS service {SERVICE} with {req.desired} tasks",
    ]
    if req.autoscale:
        lines.append(f"Application Auto Scaling target ({req.min_tasks}-{req.max_tasks} tasks) "
                     f"and a target-tracking policy ({req.autoscale}) with its alarms")
    where = ", ".join(req.subnets) if req.subnets else "the default VPC's subnets"
    lines.append(f"in {where}; every resource tagged {RUN_TAG}=<run id>")
    return lines


def cost_lines(req: RealAwsRequest) -> list[costs.CostLine]:
    return costs.hourly_lines(req.instance_type, max_instances(req), bool(req.autoscale))


def confirmed(env: Mapping[str, str], ask: Callable[[str], str] | None) -> bool:
    """``FRAUDLAB_REAL_AWS=1`` in the environment, or ``yes`` typed at the prompt."""
    if env.get(CONFIRM_ENV, "").strip() == "1":
        return True
    if ask is None:
        return False
    try:
        return ask("Create these in your AWS account, at your cost? Type yes: ").strip() == "yes"
    except EOFError:  # no terminal (CI, a pipe): no confirmation
        return False


def _scaling(req: RealAwsRequest) -> Scaling | None:
    if not req.autoscale:
        return None
    metric, target = parse_autoscale(req.autoscale)
    return Scaling(req.min_tasks, req.max_tasks,
                   (ScalingPolicy(POLICY_NAMES[metric], metric, target),))


def _capacity_provider(req: RealAwsRequest) -> CapacityProvider | None:
    if not req.capacity_provider:
        return None
    return CapacityProvider(
        name="fraud-cp", managed_scaling=True, target_capacity=100,
        minimum_scaling_step_size=1, maximum_scaling_step_size=10_000,
        instance_warmup_period=300, managed_termination_protection="DISABLED",
        group_name=f"{CLUSTER}-asg", min_size=0, max_size=req.max_hosts,
        desired_capacity=0, instance_type=req.instance_type)


def deployment(req: RealAwsRequest, image_uri: str) -> Deployment:
    """The kit's deployment (``fraudlab deploy`` with the same flags), running ``image_uri``:
    bridge mode with dynamic host ports, spread over AZs then instances, the ALB's health
    check on /health."""
    container = Container(
        name=CONTAINER, image=image_uri, port=CONTAINER_PORT, cpu=256, memory=512,
        environment=tuple(sorted(ENVIRONMENT.items())),
        health_check=HealthCheck(HEALTH_COMMAND, **HEALTH_DEFAULTS))
    target_group = TargetGroup(
        TARGET_GROUP, "HTTP", CONTAINER_PORT, "instance", HEALTH_CHECK["HealthCheckPath"],
        health_check_interval=HEALTH_CHECK["HealthCheckIntervalSeconds"],
        health_check_timeout=HEALTH_CHECK["HealthCheckTimeoutSeconds"],
        healthy_threshold=HEALTH_CHECK["HealthyThresholdCount"],
        unhealthy_threshold=HEALTH_CHECK["UnhealthyThresholdCount"],
        attributes={"deregistration_delay.timeout_seconds": "30",
                    "load_balancing.algorithm.type": "round_robin"})
    return Deployment(
        region=req.region, cluster=CLUSTER, service=SERVICE, desired_count=req.desired,
        task_definition=TaskDefinition(FAMILY, 1, "bridge", container, cpu=256, memory=512),
        hosts=Hosts(req.hosts, req.instance_type),
        placement_strategy=(("spread", "attribute:ecs.availability-zone"),
                            ("spread", "instanceId")),
        circuit_breaker=True, rollback=True, health_check_grace_period=60,
        capacity_provider=_capacity_provider(req),
        load_balancer=LoadBalancer(LOAD_BALANCER, "internet-facing", "ipv4", LISTENER_PORT,
                                   "HTTP", ()),
        target_group=target_group, scaling=_scaling(req), endpoint="fraudlab aws deploy")


def request_from(d: Deployment, region: str, subnets: tuple[str, ...] = (),
                 image_target: str = "slim") -> RealAwsRequest:
    """The request that describes a deployment read back from the local cloud (for the plan
    and the cost; the template is rendered from ``d`` itself)."""
    cp, s = d.capacity_provider, d.scaling
    policy = s.policies[0] if s and s.policies else None
    kind = next((k for k, metric in KINDS.items() if policy and metric == policy.metric), None)
    return RealAwsRequest(
        desired=d.desired_count, hosts=d.hosts.count,
        instance_type=cp.instance_type if cp else d.hosts.instance_type,
        capacity_provider=cp is not None, max_hosts=cp.max_size if cp else d.hosts.count,
        autoscale=f"{kind}:{policy.target_value:g}" if kind and policy else None,
        min_tasks=s.min_capacity if s else 1, max_tasks=s.max_capacity if s else 10,
        region=region, subnets=subnets, image_target=image_target)


def tags(run_id: str) -> list[dict[str, str]]:
    """The stack's tags (CloudFormation copies them onto every resource it tags)."""
    return [{"Key": RUN_TAG, "Value": run_id},
            {"Key": "fraudlab:stack", "Value": stack_name(run_id)}]


def _logs(resources: dict[str, Any]) -> None:
    """The container's output in CloudWatch Logs (awslogs driver; the instance role's
    AmazonEC2ContainerServiceforEC2Role may write there): on the laptop it is a file, in AWS
    the only place to read why a task stopped."""
    resources["LogGroup"] = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "RetentionInDays": LOG_RETENTION_DAYS}}
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    container["LogConfiguration"] = {"LogDriver": "awslogs", "Options": {
        "awslogs-group": {"Ref": "LogGroup"}, "awslogs-region": {"Ref": "AWS::Region"},
        "awslogs-stream-prefix": "fraud"}}


def stack_template(d: Deployment, run_id: str) -> dict[str, Any]:
    """The exported template with what a real run adds: the run's tags where stack tags do
    not reach (the instances and their volumes through the launch template, the tasks through
    the service, the Auto Scaling group's instances), and the containers' logs."""
    t = copy.deepcopy(cloudformation.template(d))
    resources = t["Resources"]
    run_tags = tags(run_id)
    data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    data["TagSpecifications"] = [{"ResourceType": kind, "Tags": copy.deepcopy(run_tags)}
                                 for kind in ("instance", "volume")]
    group = resources["AutoScalingGroup"]["Properties"]
    group["Tags"] += [{**tag, "PropagateAtLaunch": True} for tag in run_tags]
    service = resources["Service"]["Properties"]
    service["PropagateTags"] = "SERVICE"
    service["EnableECSManagedTags"] = True
    _logs(resources)
    t["Outputs"]["LogGroup"] = {"Value": {"Ref": "LogGroup"},
                                "Description": "The containers' output (CloudWatch Logs)"}
    t["Metadata"]["FraudLab"]["RunId"] = run_id
    return t
