"""``fraudlab aws deploy``: plan and cost, opt-in, credentials, image into ECR, create-stack.

Order matters: everything that can refuse (the opt-in, credentials, Docker, an existing stack,
the network) does so before the first thing is created, each in one line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from cloud.aws.real import costs, stack
from cloud.aws.real.access import AwsAccess, caller, open_access
from cloud.aws.real.destroy import delete_images, image_tag
from cloud.aws.real.plan import (
    CONFIRM_ENV,
    RealAwsRefused,
    RealAwsRequest,
    confirmed,
    cost_lines,
    deployment,
    new_run_id,
    plan,
    stack_name,
    stack_template,
    tags,
)
from cloud.aws.real.push import docker_client, ensure_repository, push_image, pushed_digest
from cloud.aws.steps.ecr import REPOSITORY
from cloud.export.state import Deployment

SOURCE_IMAGES = {"slim": "fraudlab/service:slim", "full": "fraudlab/service:full"}


class StackFailed(RuntimeError):
    """CloudFormation did not create the stack (it rolled back); the message says what next."""


def show_plan(req: RealAwsRequest, out: TextIO, push: bool = True) -> float:
    """The header, the resources and the cost table; the hourly estimate."""
    print(f"fraudlab aws deploy: REAL AWS — your credentials (boto3's standard chain), "
          f"region {req.region}. It will create:", file=out)
    for line in plan(req, push):
        print(f"  - {line}", file=out)
    lines = cost_lines(req)
    print("Estimated cost while it runs:", file=out)
    for row in costs.render(lines, req.region):
        print(row, file=out)
    return costs.total(lines)


def _gate(env: Mapping[str, str], ask: Callable[[str], str] | None) -> None:
    if not confirmed(env, ask):
        raise RealAwsRefused(f"real AWS needs your opt-in: set {CONFIRM_ENV}=1 or type yes at "
                             "the prompt — nothing was created")


def _no_other_stack(access: AwsAccess) -> None:
    running = stack.live_stacks(access.client("cloudformation"))
    if running:
        names = ", ".join(f"{s['StackName']} ({s['StackStatus']})" for s in running)
        raise RealAwsRefused(f"a FraudLab stack already exists in {access.region}: {names} — "
                             "`fraudlab aws destroy` first (the names it uses are fixed)")


def _image(req: RealAwsRequest, access: AwsAccess, run_id: str, image: str | None,
           docker: Any, out: TextIO) -> tuple[str, bool, str | None, str | None]:
    """(image URI, repository created, tag pushed, digest): ``image`` as given, or the
    local build pushed to ECR under the run id's tag."""
    if image is not None:
        print(f"image: {image} (given: nothing pushed)", file=out)
        return image, False, None, None
    ecr = access.client("ecr")
    uri, created = ensure_repository(ecr, run_id)
    print(f"ECR repository {uri} ({'created' if created else 'exists'})", file=out, flush=True)
    tag = image_tag(run_id)
    source = SOURCE_IMAGES[req.image_target]
    started = time.monotonic()
    digest, sent, had = push_image(ecr, docker, source, uri, tag, access.emulated)
    print(f"docker push {uri}:{tag}: {sent} layers sent, {had} already there, "
          f"{time.monotonic() - started:.0f} s, {digest}", file=out, flush=True)
    return f"{uri}:{tag}", created, tag, pushed_digest(ecr, tag) or digest


def destroy_reminder(name: str, region: str, hourly: float) -> str:
    return (f"It costs about {hourly:.3f} USD/hour (list prices) until you delete it: "
            f"`fraudlab aws destroy` (or `aws cloudformation delete-stack --stack-name {name} "
            f"--region {region}` and `aws ecr batch-delete-image` of the run's tag)")


def _create(access: AwsAccess, d: Deployment, record: stack.RunRecord, uri: str,
            network: tuple[str, list[str]], out: TextIO) -> stack.RunRecord:
    """create-stack with the run's tags; a refused stack undoes the push (no stack would
    lead destroy to it)."""
    vpc, subnets = network
    run_tags = [*tags(record.run_id), {"Key": stack.HOURLY_TAG, "Value": f"{record.hourly:.4f}"}]
    try:
        stack_id = stack.create(access.client("cloudformation"), record.stack_name,
                                stack_template(d, record.run_id),
                                {"VpcId": vpc, "Subnets": ",".join(subnets), "ImageUri": uri},
                                run_tags)
    except Exception:
        if record.image_tag:
            delete_images(access, record.run_id, out)  # no stack would lead destroy to it
        raise
    record = replace(record, stack_id=stack_id)
    stack.save(record)
    return record


def _watch(access: AwsAccess, record: stack.RunRecord, out: TextIO, timeout: float,
           interval: float, sleep: Callable[[float], None]) -> str:
    print(f"create-stack {record.stack_name}: CloudFormation creates the resources in order "
          "(the service waits for its tasks to be healthy: ~5-15 min)", file=out, flush=True)
    try:
        return stack.watch(access.client("cloudformation"), record.stack_id, out,
                           stack.CREATE_DONE, timeout=timeout, interval=interval, sleep=sleep)
    except KeyboardInterrupt:
        print("stopped watching; the stack keeps going in AWS: `fraudlab aws status`, "
              "`fraudlab aws destroy`", file=out)
        raise


def deploy(req: RealAwsRequest, out: TextIO, env: Mapping[str, str] = os.environ,
           ask: Callable[[str], str] | None = None, *, image: str | None = None,
           source: Deployment | None = None,
           now: Callable[[], datetime] = lambda: datetime.now(UTC),
           timeout: float = 3600.0, interval: float = 10.0,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Plan, opt-in, credentials, Docker, network, image, stack; what was made (for --json).
    ``image``: a URI already in ECR (no push, no Docker needed). ``source``: the deployment
    to create (read back from the local cloud); default the kit's, from ``req``."""
    hourly = show_plan(req, out, push=image is None)
    _gate(env, ask)
    access = open_access(env, req.region)
    docker = None if image is not None else docker_client(SOURCE_IMAGES[req.image_target],
                                                          req.instance_type)
    print(f"acting as {caller(access)} in {access.region}", file=out, flush=True)
    _no_other_stack(access)
    network = stack.network(access.client("ec2"), req.instance_type, req.subnets)
    print(f"network: {network[0]}, subnets {', '.join(network[1])}", file=out, flush=True)
    run_id = new_run_id(now())
    uri, created, tag, digest = _image(req, access, run_id, image, docker, out)
    record = stack.RunRecord(run_id, stack_name(run_id), "", access.region, hourly, REPOSITORY,
                             created, tag, digest)
    record = _create(access, source or deployment(req, uri), record, uri, network, out)
    status = _watch(access, record, out, timeout, interval, sleep)
    reminder = destroy_reminder(record.stack_name, access.region, hourly)
    if status != "CREATE_COMPLETE":
        raise StackFailed(f"stack {record.stack_name} ended {status} (its events above say "
                          f"why); {reminder}")
    made = stack.outputs(stack.describe(access.client("cloudformation"), record.stack_id) or {})
    print(f"stack {record.stack_name}: {status}; the service answers at "
          f"{made.get('LoadBalancerUrl', '?')}/predict once its targets are healthy "
          "(`fraudlab aws status`); its logs: CloudWatch Logs group "
          f"{made.get('LogGroup', '?')}", file=out)
    print(reminder, file=out)
    return asdict(record) | {"status": status, "outputs": made}
