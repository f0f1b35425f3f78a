"""``fraudlab aws destroy``: delete-stack, the ECR images the run pushed, then look for
anything left — by the run's tag (Resource Groups Tagging API) and by the stack's own
resource list (each still described?)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from botocore.exceptions import ClientError

from cloud.aws.real import stack
from cloud.aws.real.access import AwsAccess
from cloud.aws.real.plan import RUN_TAG, RealAwsRefused
from cloud.aws.steps.ecr import REPOSITORY


def _gone(call: Callable[[], Any]) -> bool:
    """True when the describe call says the resource does not exist."""
    try:
        return not call()
    except ClientError:
        return True


def _ecs_active(found: dict[str, Any], key: str) -> bool:
    return any(x.get("status") in ("ACTIVE", "DRAINING") for x in found.get(key, []))


def still_there(access: AwsAccess, kind: str, physical: str) -> bool | None:
    """Whether a stack resource of type ``kind`` still exists (None: the kit does not check
    that type)."""
    c = access.client
    checks: dict[str, Callable[[], Any]] = {
        "AWS::ECS::Cluster": lambda: _ecs_active(
            c("ecs").describe_clusters(clusters=[physical]), "clusters"),
        "AWS::ECS::Service": lambda: _ecs_active(
            c("ecs").describe_services(cluster=physical.split("/")[-2],
                                       services=[physical]), "services"),
        "AWS::ECS::TaskDefinition": lambda: c("ecs").describe_task_definition(
            taskDefinition=physical)["taskDefinition"].get("status") == "ACTIVE",
        "AWS::ElasticLoadBalancingV2::LoadBalancer": lambda: c("elbv2").describe_load_balancers(
            LoadBalancerArns=[physical])["LoadBalancers"],
        "AWS::ElasticLoadBalancingV2::TargetGroup": lambda: c("elbv2").describe_target_groups(
            TargetGroupArns=[physical])["TargetGroups"],
        "AWS::EC2::SecurityGroup": lambda: c("ec2").describe_security_groups(
            GroupIds=[physical])["SecurityGroups"],
        "AWS::EC2::LaunchTemplate": lambda: c("ec2").describe_launch_templates(
            LaunchTemplateIds=[physical])["LaunchTemplates"],
        "AWS::AutoScaling::AutoScalingGroup": lambda: c("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[physical])["AutoScalingGroups"],
        "AWS::IAM::Role": lambda: c("iam").get_role(RoleName=physical)["Role"],
    }
    check = checks.get(kind)
    return None if check is None else not _gone(check)


def _live(access: AwsAccess, arn: str) -> bool:
    """False for what the tagging API still lists after deletion: a deleted stack, a
    terminated instance (both stay visible for a while)."""
    if ":cloudformation:" in arn:
        found = stack.describe(access.client("cloudformation"), arn) or {}
        return found.get("StackStatus", stack.GONE) != stack.GONE
    if ":instance/" in arn:
        reply = access.client("ec2").describe_instances(InstanceIds=[arn.rsplit("/", 1)[1]])
        states = [i["State"]["Name"] for r in reply["Reservations"] for i in r["Instances"]]
        return any(s not in ("shutting-down", "terminated") for s in states)
    return True


def tagged(access: AwsAccess, run_id: str) -> list[str]:
    """ARNs still carrying the run's tag (the Resource Groups Tagging API), but for those
    that are gone yet still listed (``_live``)."""
    api = access.client("resourcegroupstaggingapi")
    arns: list[str] = []
    for page in api.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": RUN_TAG, "Values": [run_id]}]):
        arns += [m["ResourceARN"] for m in page.get("ResourceTagMappingList", [])]
    return [a for a in arns if _live(access, a)]


def image_tag(run_id: str) -> str:
    return f"run-{run_id}"


def _created_by(ecr: Any, repository: str, run_id: str) -> bool:
    repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]
    found = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
    return {"Key": RUN_TAG, "Value": run_id} in found


def delete_images(access: AwsAccess, run_id: str, out: TextIO,
                  repository: str = REPOSITORY) -> None:
    """The run's tag in ECR (``run-<id>``; removing an image's last tag deletes the image,
    an image another run also tags stays); then the repository, when the run created it (its
    tag says so) and it is empty. Needs no local record: another machine can destroy."""
    ecr = access.client("ecr")
    tag = image_tag(run_id)
    try:
        reply = ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": tag}])
        if reply.get("imageIds"):
            print(f"ECR: deleted {repository}:{tag}", file=out)
        if _created_by(ecr, repository, run_id) and not ecr.list_images(
                repositoryName=repository).get("imageIds"):
            ecr.delete_repository(repositoryName=repository)
            print(f"ECR: deleted the repository {repository} (this run created it, now "
                  "empty)", file=out)
    except ClientError as exc:
        if "RepositoryNotFound" not in str(exc):
            print(f"ECR: {exc}", file=out)


def _target(access: AwsAccess, run_id: str | None) -> dict[str, Any]:
    cfn = access.client("cloudformation")
    live = stack.live_stacks(cfn)
    if run_id:
        live = [s for s in live if stack.tag(s, RUN_TAG) == run_id]
    if not live:
        raise RealAwsRefused(f"no FraudLab stack{f' for run {run_id}' if run_id else ''} in "
                             f"{access.region}: nothing to destroy (`fraudlab aws status`)")
    if len(live) > 1:
        names = ", ".join(s["StackName"] for s in live)
        raise RealAwsRefused(f"several FraudLab stacks ({names}): pass --run RUN_ID")
    return live[0]


def destroy(access: AwsAccess, out: TextIO, run_id: str | None = None, *,
            timeout: float = 3600.0, interval: float = 10.0,
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Delete the stack and the run's images, wait, report what is left."""
    target = _target(access, run_id)
    run = stack.tag(target, RUN_TAG) or ""
    cfn = access.client("cloudformation")
    made = stack.resources(cfn, target["StackId"])
    print(f"delete-stack {target['StackName']} ({len(made)} resources; CloudFormation deletes "
          "them in reverse order)", file=out, flush=True)
    before = stack.event_ids(cfn, target["StackId"])  # the creation's: shown at deploy
    cfn.delete_stack(StackName=target["StackId"])
    status = stack.watch(cfn, target["StackId"], out, stack.DELETE_DONE, timeout=timeout,
                         interval=interval, sleep=sleep, seen=before)
    delete_images(access, run, out)
    left = [f"{r['type']} {r['physical']}" for r in made
            if still_there(access, r["type"], r["physical"])]
    left += [arn for arn in tagged(access, run) if not any(arn.endswith(x.split()[-1])
                                                           for x in left)]
    report(status, left, out, target["StackName"])
    if status == stack.GONE:
        stack.forget(run)
    return {"stack": target["StackName"], "run": run, "status": status, "left": left}


def report(status: str, left: list[str], out: TextIO, name: str = "") -> None:
    print(f"stack: {status}", file=out)
    if status != stack.GONE:
        print(f"CloudFormation could not delete everything in {name} (the events above say "
              "why; e.g. a cluster whose instances are still draining): run `fraudlab aws "
              "destroy` again in a few minutes — a second delete-stack retries them", file=out)
    if not left:
        print("nothing left: no resource of the stack is described any more and none carries "
              "the run's tag", file=out)
        return
    print(f"LEFT ({len(left)}), still billed if they run — delete them in the console or with "
          "the aws CLI:", file=out)
    for item in left:
        print(f"  - {item}", file=out)
