"""``fraudlab aws deploy|status|destroy``: the same deployment on real AWS, with your account.

Two spellings, one code path: ``fraudlab deploy|status|destroy --target aws`` (the issue's)
route here too (cli/aws_options.py ``route``, which also holds these commands' options).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from cli.deploy import autoscale_settings
from cloud.aws.endpoint import open_endpoint
from cloud.aws.real import costs
from cloud.aws.real import deploy as real_deploy
from cloud.aws.real import destroy as real_destroy
from cloud.aws.real import status as real_status
from cloud.aws.real.access import TEST_ENDPOINT_ENV, chain_session, open_access
from cloud.aws.real.plan import RealAwsRefused, RealAwsRequest, request_from
from cloud.aws.steps.ecs import CLUSTER
from cloud.export.state import Deployment, read_deployment
from cloud.server import launcher


def region_from_chain(explicit: str | None) -> str:
    """``--region``, else the standard chain's (AWS_REGION, AWS_DEFAULT_REGION, the
    profile's), else us-east-1."""
    if explicit:
        return explicit
    if os.environ.get(TEST_ENDPOINT_ENV):
        return "us-east-1"  # the emulator's; never the learner's configuration
    return chain_session().region_name or "us-east-1"


def request(args: argparse.Namespace) -> RealAwsRequest:
    """The flags checked (ValueError says which) as a request."""
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
    info = launcher.running_cloud()
    if not info:
        raise RealAwsRefused("--from-local: no local cloud is running (`fraudlab up`, "
                             "`fraudlab deploy`) — nothing was created")
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    return read_deployment(endpoint.client, info.get("cluster") or CLUSTER,
                           endpoint=info["aws_endpoint"])


def deploy(args: argparse.Namespace) -> int:
    """``fraudlab aws deploy`` (= ``fraudlab deploy --target aws``)."""
    req = request(args)
    source = None
    if getattr(args, "from_local", False):
        source = local_deployment()
        req = request_from(source, req.region, req.subnets, req.image_target)
    costs.instance_hourly(req.instance_type)  # a type without a list price: refused first
    result = real_deploy.deploy(req, sys.stdout, ask=input if sys.stdin.isatty() else None,
                    image=getattr(args, "image", None), source=source)
    if getattr(args, "json", False):
        _print_json(result)
    return 0


def status(args: argparse.Namespace) -> int:
    """``fraudlab aws status`` (= ``fraudlab status --target aws``)."""
    access = open_access(region=region_from_chain(args.region))
    rows = real_status.read(access, datetime.now(UTC))
    if args.json:
        _print_json(rows)
    else:
        real_status.render(rows, access.region, sys.stdout)
    return 0


def destroy(args: argparse.Namespace) -> int:
    """``fraudlab aws destroy`` (= ``fraudlab destroy --target aws``)."""
    access = open_access(region=region_from_chain(args.region))
    result = real_destroy.destroy(access, sys.stdout, args.run)
    if args.json:
        _print_json(result)
    return 0 if result["status"] == "DELETE_COMPLETE" and not result["left"] else 1
