"""``fraudlab aws deploy|status|destroy``: the same deployment on real AWS, with your account.

Two spellings, one code path: ``fraudlab deploy|status|destroy --target aws`` (the issue's)
route here too (``target_deploy``, ``target_status``, ``target_destroy``). In ``build`` and
``push`` ``--target`` names the image (slim/full); the AWS deploy calls that
``--image-target``. The local ``deploy`` options (placement, network mode, --no-wait…) do not
apply to the stack and are refused with ``--target aws``; ``destroy --target local`` points to
``fraudlab down``. ``fraudlab deploy --real-aws`` stays as an alias of ``--target aws``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the AWS modules load only when an aws command runs
    from cloud.aws.real.plan import RealAwsRequest
    from cloud.export.state import Deployment


def region_from_chain(explicit: str | None) -> str:
    """``--region``, else the standard chain's (AWS_REGION, AWS_DEFAULT_REGION, the
    profile's), else us-east-1."""
    if explicit:
        return explicit
    from cloud.aws.real.access import TEST_ENDPOINT_ENV, chain_session

    if os.environ.get(TEST_ENDPOINT_ENV):
        return "us-east-1"  # the emulator's; never the learner's configuration
    return chain_session().region_name or "us-east-1"


def request(args: argparse.Namespace) -> RealAwsRequest:
    """The flags checked (ValueError says which) as a request."""
    from cli.deploy import autoscale_settings
    from cloud.aws.real.plan import RealAwsRequest

    if not 0 <= args.desired <= 50 or not 1 <= args.hosts <= 10:
        raise ValueError("--desired must be 0-50 and --hosts 1-10")
    if args.capacity_provider and not 1 <= args.max_hosts <= 20:
        raise ValueError("--max-hosts must be 1-20")
    scaling = autoscale_settings(args.autoscale, args.min_tasks, args.max_tasks, args.desired)
    low, high = (scaling[2], scaling[3]) if scaling else (1, 10)
    subnets = tuple(s for s in (getattr(args, "subnets", None) or "").split(",") if s)
    return RealAwsRequest(
        desired=args.desired, hosts=args.hosts,
        instance_type=getattr(args, "instance_type", "t3.medium"),
        capacity_provider=args.capacity_provider, max_hosts=args.max_hosts,
        autoscale=args.autoscale, min_tasks=low, max_tasks=high,
        region=region_from_chain(getattr(args, "region", None)), subnets=subnets,
        image_target=getattr(args, "image_target", "slim"))


def _print_json(result: Any) -> None:
    print(json.dumps(result, indent=2, default=str))


def local_deployment() -> Deployment:
    """The deployment running in the local cloud, read back through its AWS API (what
    ``fraudlab export`` reads)."""
    from cloud.aws.endpoint import open_endpoint
    from cloud.aws.real.plan import RealAwsRefused
    from cloud.aws.steps.ecs import CLUSTER
    from cloud.export.state import read_deployment
    from cloud.server.launcher import running_cloud

    info = running_cloud()
    if not info:
        raise RealAwsRefused("--from-local: no local cloud is running (`fraudlab up`, "
                             "`fraudlab deploy`) — nothing was created")
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    return read_deployment(endpoint.client, info.get("cluster") or CLUSTER,
                           endpoint=info["aws_endpoint"])


def _deploy(args: argparse.Namespace) -> int:
    from cloud.aws.real import costs
    from cloud.aws.real.deploy import deploy
    from cloud.aws.real.plan import request_from

    req = request(args)
    source = None
    if getattr(args, "from_local", False):
        source = local_deployment()
        req = request_from(source, req.region, req.subnets, req.image_target)
    costs.instance_hourly(req.instance_type)  # a type without a list price: refused first
    result = deploy(req, sys.stdout, ask=input if sys.stdin.isatty() else None,
                    image=getattr(args, "image", None), source=source)
    if getattr(args, "json", False):
        _print_json(result)
    return 0


def _status(args: argparse.Namespace) -> int:
    from cloud.aws.real import status
    from cloud.aws.real.access import open_access

    access = open_access(region=region_from_chain(args.region))
    rows = status.read(access, datetime.now(UTC))
    if args.json:
        _print_json(rows)
    else:
        status.render(rows, access.region, sys.stdout)
    return 0


def _destroy(args: argparse.Namespace) -> int:
    from cloud.aws.real.access import open_access
    from cloud.aws.real.destroy import destroy

    access = open_access(region=region_from_chain(args.region))
    result = destroy(access, sys.stdout, args.run)
    if args.json:
        _print_json(result)
    return 0 if result["status"] == "DELETE_COMPLETE" and not result["left"] else 1


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


def target_deploy(args: argparse.Namespace) -> int | None:
    """``fraudlab deploy --target aws`` (or ``--real-aws``): the AWS deploy, its defaults
    filled in, the local-only options refused. None: a local deploy (its defaults filled in,
    the AWS-only options refused)."""
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
        return _deploy(args)
    given = [_flag(k) for k in AWS_DEPLOY_DEFAULTS if getattr(args, k) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)}: only with --target aws (`fraudlab deploy "
                         "--target aws`)")
    return None


def target_status(args: argparse.Namespace) -> int | None:
    """``fraudlab status --target aws``: ``fraudlab aws status``; None: the local status."""
    if args.target == "aws":
        return _status(args)
    if args.region:
        raise ValueError("--region: only with --target aws")
    return None


def target_destroy(args: argparse.Namespace) -> int:
    """``fraudlab destroy --target aws``: ``fraudlab aws destroy``; the local cloud has
    ``fraudlab down`` instead."""
    if args.target != "aws":
        raise ValueError("the local cloud is stopped with `fraudlab down`; `fraudlab destroy "
                         "--target aws` deletes the stack on real AWS")
    return _destroy(args)


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
    deploy.set_defaults(func=_deploy)
    status = cmds.add_parser("status", help="what runs (stack, service, targets) and what it "
                             "has cost so far")
    destroy = cmds.add_parser("destroy", help="delete the stack and the pushed images, report "
                              "anything left")
    destroy.add_argument("--run", help="the run id (default: the only FraudLab stack)")
    for p in (status, destroy):
        p.add_argument("--region", help="default: the standard chain's (AWS_REGION, profile)")
        p.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    destroy.set_defaults(func=_destroy)


