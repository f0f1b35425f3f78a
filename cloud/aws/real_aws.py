"""The way out to real AWS: ``fraudlab deploy --real-aws``, a gate that is never a default.

The gate needs the flag *and* a confirmation (``FRAUDLAB_REAL_AWS=1``, or ``yes`` typed at the
prompt), prints what a deploy would create and that it costs money, and only then looks at
whether the kit's deploy steps would be valid against real AWS. Today two of them are not —
they stand in for things only real AWS does — so the gate refuses before any AWS call and
says exactly what is needed, rather than half-creating a deployment. The local cloud never
talks to real AWS (``LocalCloud`` refuses an ``aws`` endpoint): its controllers write nothing
there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

CONFIRM_ENV = "FRAUDLAB_REAL_AWS"


class RealAwsRefused(RuntimeError):
    """The real-AWS deploy will not run; the message says why and what to do."""


@dataclass(frozen=True)
class RealAwsRequest:
    """What ``fraudlab deploy --real-aws`` was asked to create."""

    desired: int = 4
    hosts: int = 2
    instance_type: str = "t3.medium"
    capacity_provider: bool = False
    max_hosts: int = 4
    autoscale: str | None = None
    region: str = "us-east-1"


def plan(req: RealAwsRequest) -> list[str]:
    """The resources a real deploy would create, one line each (the aws CLI's words)."""
    from cloud.aws.steps.ecr import REPOSITORY
    from cloud.aws.steps.ecs import CLUSTER, FAMILY, SERVICE
    from cloud.aws.steps.elb import LOAD_BALANCER, TARGET_GROUP

    lines = [
        f"ECR repository {REPOSITORY} and the pushed image (billed per GB stored)",
        f"ECS task definition {FAMILY}, cluster {CLUSTER}",
        f"{req.hosts} EC2 {req.instance_type} instances (billed per hour while they run)",
        f"Application Load Balancer {LOAD_BALANCER} with target group {TARGET_GROUP} and an "
        "HTTP listener (billed per hour and per LCU)",
        f"ECS service {SERVICE} with {req.desired} tasks",
    ]
    if req.capacity_provider:
        lines.insert(3, f"an Auto Scaling group (up to {req.max_hosts} instances) and an ECS "
                        "capacity provider with managed scaling")
    if req.autoscale:
        lines.append(f"an Application Auto Scaling target and target-tracking policy "
                     f"({req.autoscale}) with its CloudWatch alarms")
    return lines


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


def blockers(req: RealAwsRequest) -> list[str]:
    """Why the kit's deploy steps would not be valid against real AWS, with what is needed.

    Both stand-ins are unconditional in the steps (``cloud.aws.steps``): they are what makes the
    deploy work on an emulator.
    """
    from cloud.aws.steps.ecr import REPOSITORY
    from cloud.aws.steps.ecs import CLUSTER

    registry = f"<account>.dkr.ecr.{req.region}.amazonaws.com"
    return [
        "image: the kit records the image with ecr put-image from a manifest whose layers "
        "were never uploaded; real ECR refuses that (LayersNotFoundException). Needed: "
        f"`aws ecr get-login-password | docker login --username AWS --password-stdin "
        f"{registry}` and `docker push {registry}/{REPOSITORY}:<tag>` of the built image.",
        "hosts: the kit calls ecs register-container-instance in the ECS agent's place; in "
        "AWS only the agent on the instance does that. Needed: instances from the "
        "ECS-optimized AMI (SSM parameter /aws/service/ecs/optimized-ami/amazon-linux-2023/"
        "recommended/image_id) with an instance profile whose role has the "
        "AmazonEC2ContainerServiceforEC2Role policy and user data "
        f"`echo ECS_CLUSTER={CLUSTER} >> /etc/ecs/ecs.config`, so their agents register them.",
        "network: the load balancer and hosts go into the default VPC's subnets in two "
        "Availability Zones; needed: a default VPC (or your subnets) and security groups "
        "letting the ALB reach the tasks' ports.",
    ]


def real_aws_deploy(req: RealAwsRequest, out: TextIO,
                    env: Mapping[str, str] = os.environ,
                    ask: Callable[[str], str] | None = None) -> dict[str, object]:
    """Print the plan and the cost warning, check the confirmation, then refuse with what
    is needed (see ``blockers``). Makes no AWS call: every path ends in a refusal until the
    deploy steps have a real-AWS mode."""
    print("fraudlab deploy --real-aws: REAL AWS — your boto3 credentials (environment, "
          f"~/.aws, instance role), region {req.region}. It would create:", file=out)
    for line in plan(req):
        print(f"  - {line}", file=out)
    print("These cost real money until you delete them; the kit's emulator, load balancer "
          "and controllers are not involved.", file=out)
    if not confirmed(env, ask):
        raise RealAwsRefused(
            f"--real-aws needs a confirmation: set {CONFIRM_ENV}=1 or type yes at the prompt "
            "(nothing was created)")
    raise RealAwsRefused(
        "refusing to half-create a deployment (nothing was created): the kit's deploy steps "
        "stand in for what only real AWS does —\n  - " + "\n  - ".join(blockers(req)))
