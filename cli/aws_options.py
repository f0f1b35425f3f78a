"""The ``fraudlab`` parser's AWS side: ``fraudlab aws deploy|status|destroy`` and the
``--target aws`` spellings of ``deploy|status|destroy``, routed to cli/aws.py (``route``).

In ``build`` and ``push`` ``--target`` names the image (slim/full); the AWS deploy calls that
``--image-target``. The local ``deploy`` options (placement, network mode, --no-wait…) do not
apply to the stack and are refused with ``--target aws``; ``destroy --target local`` points to
``fraudlab down``. ``fraudlab deploy --real-aws`` stays as an alias of ``--target aws``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_deploy_options(p: argparse.ArgumentParser) -> None:
    """The options ``aws deploy`` shares with the local ``deploy`` (same names, same checks)."""
    p.add_argument("--desired", type=int, default=2, help="tasks in the service (default 2)")
    p.add_argument("--hosts", type=int, default=2, help="instances (default 2)")
    p.add_argument("--capacity-provider", action="store_true",
                   help="cluster auto scaling: ECS's managed scaling sizes the group (0 to "
                        "--max-hosts)")
    p.add_argument("--max-hosts", type=int, default=4)
    p.add_argument("--autoscale", metavar="requests:TARGET|cpu:TARGET",
                   help="service auto scaling by target tracking (requests per target per "
                        "minute, or CPU/memory percent)")
    p.add_argument("--min-tasks", type=int, default=None)
    p.add_argument("--max-tasks", type=int, default=None)


AWS_DEPLOY_DEFAULTS: dict[str, Any] = {"instance_type": "t3.medium", "subnets": None,
                                       "image_target": "slim", "from_local": False,
                                       "region": None}
AWS_DESIRED = 2  # tasks by default on real AWS (the local cloud's deploy: 4)
LOCAL_DEPLOY_DEFAULTS: dict[str, Any] = {"placement": "spread", "network_mode": "bridge",
                                         "algorithm": "round_robin", "no_wait": False}


def add_aws_deploy_options(p: Any, defaults: dict[str, Any]) -> None:
    """The options only the real-AWS deploy has (``defaults`` all None on the local
    ``deploy``, so one given without ``--target aws`` is noticed)."""
    p.add_argument("--instance-type", default=defaults["instance_type"],
                   help="the hosts' EC2 type (default t3.medium)")
    p.add_argument("--subnets", default=defaults["subnets"],
                   help="subnet-a,subnet-b (two AZs; default: the default VPC's)")
    p.add_argument("--image-target", choices=("slim", "full"), default=defaults["image_target"],
                   help="which local build to push (`fraudlab build --target`; default slim)")
    p.add_argument("--from-local", action="store_true", default=defaults["from_local"],
                   help="the deployment running in the local cloud (read back as "
                        "`fraudlab export` does) instead of the flags above")
    p.add_argument("--region", default=defaults["region"],
                   help="default: the standard chain's (AWS_REGION, profile)")


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def target_deploy(args: argparse.Namespace) -> bool:
    """``fraudlab deploy --target aws`` (or ``--real-aws``): True, its defaults filled in, the
    local-only options refused. False: a local deploy (the AWS-only options refused)."""
    to_aws = args.target == "aws" or args.real_aws
    if to_aws:
        local = [_flag(k) for k, v in LOCAL_DEPLOY_DEFAULTS.items() if getattr(args, k) != v]
        if local:
            raise ValueError(f"{', '.join(local)}: local cloud only (the stack on AWS is "
                             "bridge, spread, round robin) — nothing was created")
        for key, value in AWS_DEPLOY_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        if args.desired is None:
            args.desired = AWS_DESIRED
        return True
    given = [_flag(k) for k in AWS_DEPLOY_DEFAULTS if getattr(args, k) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)}: only with --target aws (`fraudlab deploy "
                         "--target aws`)")
    return False


def target_status(args: argparse.Namespace) -> bool:
    """``fraudlab status --target aws``: True (``fraudlab aws status``); False: the local
    status."""
    if args.target == "aws":
        return True
    if args.region:
        raise ValueError("--region: only with --target aws")
    return False


def target_destroy(args: argparse.Namespace) -> bool:
    """``fraudlab destroy --target aws``: True (``fraudlab aws destroy``); the local cloud has
    ``fraudlab down`` instead."""
    if args.target != "aws":
        raise ValueError("the local cloud is stopped with `fraudlab down`; `fraudlab destroy "
                         "--target aws` deletes the stack on real AWS")
    return True


TARGETED = {"deploy": target_deploy, "status": target_status, "destroy": target_destroy}


def route(args: argparse.Namespace, handler: str) -> str:
    """The handler that runs ``args``: cli/aws.py's for ``deploy|status|destroy --target
    aws`` (ValueError for an option of the other target), else ``handler``."""
    to_aws = TARGETED.get(args.command)
    return f"cli.aws:{args.command}" if to_aws is not None and to_aws(args) else handler


def add_target_options(status: Any, destroy: Any) -> None:
    """``--target`` and the AWS options on the main parser's ``status`` and ``destroy``."""
    status.add_argument("--target", choices=("local", "aws"), default="local",
                        help="aws: the stack on real AWS and its cost so far (= `fraudlab aws "
                             "status`)")
    status.add_argument("--region", help="with --target aws: default the standard chain's")
    destroy.add_argument("--target", choices=("local", "aws"), default="local",
                         help="aws: delete the stack and the pushed images (= `fraudlab aws "
                              "destroy`); the local cloud stops with `fraudlab down`")
    destroy.add_argument("--run", help="the run id (default: the only FraudLab stack)")
    destroy.add_argument("--region", help="default: the standard chain's (AWS_REGION, profile)")
    destroy.add_argument("--json", action="store_true")


def add_parser(sub: Any) -> None:
    """``fraudlab aws …`` on the main parser's subcommands."""
    aws = sub.add_parser("aws", help="the same deployment on real AWS with your credentials "
                         "(costs money): deploy, status, destroy (= `fraudlab deploy|status|"
                         "destroy --target aws`)")
    cmds = aws.add_subparsers(dest="aws_command", required=True)
    deploy = cmds.add_parser("deploy", help="push the image to ECR and create the "
                             "CloudFormation stack (needs FRAUDLAB_REAL_AWS=1 or a typed yes)")
    add_deploy_options(deploy)
    add_aws_deploy_options(deploy, AWS_DEPLOY_DEFAULTS)
    deploy.add_argument("--image", help="an image already in ECR: no push, no Docker needed")
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(handler="cli.aws:deploy")
    status = cmds.add_parser("status", help="what runs (stack, service, targets) and what it "
                             "has cost so far")
    destroy = cmds.add_parser("destroy", help="delete the stack and the pushed images, report "
                              "anything left")
    destroy.add_argument("--run", help="the run id (default: the only FraudLab stack)")
    for p in (status, destroy):
        p.add_argument("--region", help="default: the standard chain's (AWS_REGION, profile)")
        p.add_argument("--json", action="store_true")
    status.set_defaults(handler="cli.aws:status")
    destroy.set_defaults(handler="cli.aws:destroy")


