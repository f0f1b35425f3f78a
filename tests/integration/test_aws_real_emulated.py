"""``fraudlab aws deploy|status|destroy`` end to end against the embedded emulator in plain mode.

moto is started alone (no local cloud, no controllers, no write-back): it stands in for AWS
through ``FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS``, the test-only override. Every check reads
the emulator back through boto3. A guard refuses any socket connection that is not to the
loopback, so nothing here can reach AWS; ``test_offline_*`` runs the three commands in a
network namespace that has only a loopback interface.

What moto 5.2.5's CloudFormation lacks, stated by the tests that meet it:
- it creates no ``AWS::ECS::CapacityProvider``, ``ClusterCapacityProviderAssociations``,
  ``ApplicationAutoScaling::ScalableTarget`` or ``ScalingPolicy`` (it skips those types);
- its delete-stack leaves the ECS cluster, service and task definition and the target group
  (their models have no CloudFormation delete) — destroy reports them as left;
- it ignores a target group's ``TargetGroupAttributes`` (the template is checked instead);
- its stack events are the stack's own (no per-resource events).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import requests

from cli.main import main
from cloud.aws.endpoint import Endpoint, open_endpoint
from cloud.aws.real import costs
from cloud.aws.real.access import TEST_ENDPOINT_ENV
from cloud.aws.real.plan import CONFIRM_ENV, RUN_TAG

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:given"
MOTO_SKIPS = {"AWS::ECS::CapacityProvider", "AWS::ECS::ClusterCapacityProviderAssociations",
              "AWS::ApplicationAutoScaling::ScalableTarget",
              "AWS::ApplicationAutoScaling::ScalingPolicy"}
MOTO_KEEPS_AFTER_DELETE = {"AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ECS::TaskDefinition",
                           "AWS::ElasticLoadBalancingV2::TargetGroup"}
DELETED = {"AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::EC2::SecurityGroup",
           "AWS::EC2::LaunchTemplate", "AWS::AutoScaling::AutoScalingGroup", "AWS::IAM::Role"}


def _loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else None
    return host is None or host in ("127.0.0.1", "::1", "localhost") or str(host).startswith(
        "127.")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch) -> list[Any]:
    """Any TCP/UDP connection to a non-loopback address fails the test."""
    tried: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            tried.append(address)
            raise AssertionError(f"a test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


@pytest.fixture(scope="module")
def emulator(free_port_factory) -> Any:
    url = f"http://127.0.0.1:{free_port_factory()}"
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": url})
    assert endpoint.kind == "moto"
    requests.post(f"{url}/moto-api/reset", timeout=30)  # moto's state is per process
    yield endpoint
    requests.post(f"{url}/moto-api/reset", timeout=30)  # the next module starts from empty
    endpoint.stop()


@pytest.fixture
def aws(emulator, monkeypatch, tmp_path) -> Endpoint:
    monkeypatch.setenv(TEST_ENDPOINT_ENV, emulator.url)
    monkeypatch.setenv(CONFIRM_ENV, "1")
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    warnings.simplefilter("ignore")  # moto warns once per type its CloudFormation skips
    return emulator


def _json_tail(text: str) -> Any:
    """The JSON document --json prints last (after the progress lines, if any)."""
    text = "\n" + text
    start = max(text.rfind("\n[\n"), text.rfind("\n{\n"))
    return json.loads(text[start + 1:])


def _stack(aws: Endpoint) -> dict[str, Any]:
    stacks = [s for s in aws.client("cloudformation").describe_stacks()["Stacks"]
              if s["StackName"].startswith("fraudlab-") and s["StackStatus"] != "DELETE_COMPLETE"]
    assert len(stacks) == 1, stacks
    return stacks[0]


def test_deploy_status_destroy_through_cloudformation(aws, capsys) -> None:
    assert main(["aws", "deploy", "--image", IMAGE, "--desired", "3", "--json"]) == 0
    out = capsys.readouterr().out
    assert "REAL AWS" in out and "total (estimate)" in out and "list prices" in out
    assert "fraudlab aws destroy" in out  # the reminder
    made = _json_tail(out)
    stack = _stack(aws)
    assert stack["StackStatus"] == "CREATE_COMPLETE" == made["status"]
    assert {"Key": RUN_TAG, "Value": made["run_id"]} in stack["Tags"]
    cfn = aws.client("cloudformation")
    kinds = {r["ResourceType"] for r in cfn.describe_stack_resources(
        StackName=stack["StackId"])["StackResources"] if r.get("ResourceType")}
    assert DELETED | MOTO_KEEPS_AFTER_DELETE | {"AWS::ElasticLoadBalancingV2::Listener",
                                                "AWS::IAM::InstanceProfile"} <= kinds
    svc = aws.client("ecs").describe_services(cluster="fraud-cluster",
                                              services=["fraud-svc"])["services"][0]
    assert svc["desiredCount"] == 3 and svc["status"] == "ACTIVE"
    td = aws.client("ecs").describe_task_definition(taskDefinition=svc["taskDefinition"])
    assert td["taskDefinition"]["containerDefinitions"][0]["image"] == IMAGE
    assert td["taskDefinition"]["networkMode"] == "bridge"
    lb = aws.client("elbv2").describe_load_balancers(Names=["fraud-alb"])["LoadBalancers"][0]
    assert len(lb["AvailabilityZones"]) >= 2  # the default VPC's subnets in two AZs or more
    group = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 2
    assert {"Key": RUN_TAG, "Value": made["run_id"]} in [
        {"Key": t["Key"], "Value": t["Value"]} for t in group["Tags"]]
    tagged = aws.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": RUN_TAG, "Values": [made["run_id"]]}])["ResourceTagMappingList"]
    assert any(":security-group/" in m["ResourceARN"] for m in tagged)

    # as ECS would on a real host: a task's instance and dynamic host port in the target group
    tg = aws.client("elbv2").describe_target_groups(Names=["fraud-tg"])["TargetGroups"][0]
    instance = group["Instances"][0]["InstanceId"]
    aws.client("elbv2").register_targets(TargetGroupArn=tg["TargetGroupArn"],
                                         Targets=[{"Id": instance, "Port": 32768}])
    assert main(["aws", "status", "--json"]) == 0
    rows = _json_tail(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["status"] == "CREATE_COMPLETE"
    assert sum(rows[0]["targets"].values()) == 1
    assert rows[0]["service"]["desired"] == 3 and rows[0]["run"] == made["run_id"]
    hourly = costs.total(costs.hourly_lines("t3.medium", 2, False))
    assert rows[0]["hourly_estimate"] == pytest.approx(hourly, abs=1e-4)
    assert rows[0]["cost_so_far"] == pytest.approx(rows[0]["hours"] * hourly, abs=1e-3)
    assert main(["aws", "status"]) == 0
    assert "cost so far" in capsys.readouterr().out

    assert main(["aws", "destroy", "--json"]) == 1  # moto leaves some: reported, rc 1
    out = capsys.readouterr().out
    assert "DELETE_IN_PROGRESS" in out and "CREATE_COMPLETE" not in out  # only new events
    report = _json_tail(out)
    assert report["status"] == "DELETE_COMPLETE"
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0][
        "StackStatus"] == "DELETE_COMPLETE"
    assert {item.split()[0] for item in report["left"]} == MOTO_KEEPS_AFTER_DELETE
    assert aws.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert main(["aws", "status"]) == 0
    assert "no FraudLab stack" in capsys.readouterr().out
    assert main(["aws", "destroy"]) == 2
    assert "nothing to destroy" in capsys.readouterr().err
    _clean_moto_leftovers(aws)


def _clean_moto_leftovers(aws: Endpoint) -> None:
    """What moto's delete-stack leaves (see the module docstring), so the next test starts
    from an empty account."""
    ecs = aws.client("ecs")
    for svc in ecs.list_services(cluster="fraud-cluster").get("serviceArns", []):
        ecs.delete_service(cluster="fraud-cluster", service=svc, force=True)
    ecs.delete_cluster(cluster="fraud-cluster")
    elbv2 = aws.client("elbv2")
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])


def test_capacity_provider_and_autoscaling_meet_moto_gaps(aws, capsys) -> None:
    assert main(["aws", "deploy", "--image", IMAGE, "--capacity-provider", "--max-hosts", "3",
                 "--autoscale", "requests:500", "--desired", "2"]) == 0
    out = capsys.readouterr().out
    assert "0 to 3" in out and "target-tracking policy (requests:500)" in out
    assert "CloudWatch alarms of target tracking" in out  # 3 hosts at most are costed
    stack = _stack(aws)
    body = aws.client("cloudformation").get_template(StackName=stack["StackId"])["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    declared = {r["Type"] for r in template["Resources"].values()}
    assert declared >= MOTO_SKIPS  # the template has them; moto does not create them
    created = {r.get("ResourceType") for r in aws.client("cloudformation").describe_stack_resources(
        StackName=stack["StackId"])["StackResources"]}
    assert not MOTO_SKIPS & created
    service = template["Resources"]["Service"]["Properties"]
    assert service["CapacityProviderStrategy"] and "LaunchType" not in service
    assert service["PropagateTags"] == "SERVICE"
    assert main(["aws", "destroy"]) == 1
    _clean_moto_leftovers(aws)


def test_a_second_deploy_is_refused_while_a_stack_exists(aws, capsys) -> None:
    assert main(["aws", "deploy", "--image", IMAGE]) == 0
    capsys.readouterr()
    assert main(["aws", "deploy", "--image", IMAGE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "fraudlab aws destroy" in err[0]
    assert main(["aws", "destroy"]) == 1
    _clean_moto_leftovers(aws)


def test_destroy_reports_what_still_carries_the_run_tag(aws, capsys) -> None:
    assert main(["aws", "deploy", "--image", IMAGE, "--json"]) == 0
    run = _json_tail(capsys.readouterr().out)["run_id"]
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    stray = ec2.create_security_group(GroupName="made-by-hand", Description="x", VpcId=vpc,
                                      TagSpecifications=[{"ResourceType": "security-group",
                                                          "Tags": [{"Key": RUN_TAG,
                                                                    "Value": run}]}])["GroupId"]
    assert main(["aws", "destroy", "--json"]) == 1
    left = _json_tail(capsys.readouterr().out)["left"]
    assert any(item.endswith(stray) for item in left)
    ec2.delete_security_group(GroupId=stray)
    _clean_moto_leftovers(aws)


def test_the_target_aws_spelling_routes_to_the_same_commands(aws, capsys) -> None:
    """``fraudlab deploy|status|destroy --target aws`` (the issue's spelling) do what
    ``fraudlab aws …`` does, on the same emulator; the local defaults stay local."""
    assert main(["deploy", "--target", "aws", "--image", IMAGE, "--json"]) == 0
    made = _json_tail(capsys.readouterr().out)
    stack = _stack(aws)
    assert stack["StackStatus"] == "CREATE_COMPLETE" == made["status"]
    assert {"Key": RUN_TAG, "Value": made["run_id"]} in stack["Tags"]
    svc = aws.client("ecs").describe_services(cluster="fraud-cluster",
                                              services=["fraud-svc"])["services"][0]
    assert svc["desiredCount"] == 2  # the AWS default, not the local cloud's 4
    assert main(["status", "--target", "aws", "--json"]) == 0
    rows = _json_tail(capsys.readouterr().out)
    assert [r["run"] for r in rows] == [made["run_id"]]
    assert main(["destroy"]) == 2  # no --target aws: nothing on AWS is touched
    assert "fraudlab down" in capsys.readouterr().err
    assert _stack(aws)["StackStatus"] == "CREATE_COMPLETE"
    assert main(["destroy", "--target", "aws", "--json"]) == 1  # moto's leftovers, as above
    assert _json_tail(capsys.readouterr().out)["status"] == "DELETE_COMPLETE"
    assert main(["status", "--target", "aws"]) == 0
    assert "no FraudLab stack" in capsys.readouterr().out
    _clean_moto_leftovers(aws)


def test_target_options_are_checked_before_anything_runs(aws, capsys) -> None:
    cases = [(["deploy", "--target", "aws", "--image", IMAGE, "--placement", "binpack"],
              "--placement: local cloud only"),
             (["deploy", "--subnets", "subnet-a,subnet-b"], "--subnets: only with --target aws"),
             (["status", "--region", "eu-west-1"], "--region: only with --target aws")]
    for argv, said in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0], err
    assert aws.client("cloudformation").describe_stacks()["Stacks"] == [] or all(
        s["StackStatus"] == "DELETE_COMPLETE"
        for s in aws.client("cloudformation").describe_stacks()["Stacks"])


def test_help_names_both_spellings(capsys) -> None:
    for argv, said in ((["deploy", "--help"], "--target {local,aws}"),
                       (["destroy", "--help"], "fraudlab down"),
                       (["status", "--help"], "fraudlab aws status"),
                       (["--help"], "--target aws")):
        with pytest.raises(SystemExit):
            main(argv)
        assert said in capsys.readouterr().out, argv


def test_refusals_are_one_line(aws, monkeypatch, capsys) -> None:
    monkeypatch.delenv(CONFIRM_ENV)
    assert main(["aws", "deploy", "--image", IMAGE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fraudlab aws: real AWS needs your opt-in: set {CONFIRM_ENV}=1 or type yes "
                   "at the prompt — nothing was created"]
    monkeypatch.setenv(CONFIRM_ENV, "1")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["aws", "deploy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Docker engine answered" in err[0]
    assert "the image push needs one" in err[0] and "nothing was created" in err[0]
    assert aws.client("cloudformation").describe_stacks()["Stacks"] == [] or all(
        s["StackStatus"] == "DELETE_COMPLETE"
        for s in aws.client("cloudformation").describe_stacks()["Stacks"])


def test_from_local_creates_what_the_local_cloud_runs(aws, monkeypatch, capsys) -> None:
    """The kit's deploy steps make a deployment in us-east-1 (the local cloud's AWS API);
    ``--from-local`` reads it back and creates the same in eu-west-1 (moto keeps regions
    apart)."""
    from cloud.aws.real.access import AwsAccess
    from cloud.aws.steps.plan import deploy_all
    from cloud.aws.steps.scaling import CPU, scaling_steps

    deploy_all(aws.client, desired=3, hosts=2, capacity_provider=True, max_hosts=5,
               algorithm="least_outstanding_requests")
    scaling_steps(aws.client, metric=CPU, target_value=60, min_capacity=2, max_capacity=7)
    monkeypatch.setattr("cloud.server.launcher.running_cloud",
                        lambda: {"aws_endpoint": aws.url, "cluster": "fraud-cluster"})
    try:
        assert main(["aws", "deploy", "--from-local", "--image", IMAGE, "--region",
                     "eu-west-1", "--json"]) == 0
        out = capsys.readouterr().out
        assert "region eu-west-1" in out and "0 to 5" in out and "(2-7 tasks)" in out
        assert "ECS service fraud-svc with 3 tasks" in out and "cpu:60" in out
        real = AwsAccess("eu-west-1", aws.url)
        svc = real.client("ecs").describe_services(cluster="fraud-cluster",
                                                   services=["fraud-svc"])["services"][0]
        assert svc["desiredCount"] == 3
        stack = real.client("cloudformation").describe_stacks()["Stacks"][0]
        body = real.client("cloudformation").get_template(
            StackName=stack["StackId"])["TemplateBody"]
        r = (body if isinstance(body, dict) else json.loads(body))["Resources"]
        # moto's CloudFormation ignores TargetGroupAttributes, so the template is checked:
        assert {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"} \
            in r["TargetGroup"]["Properties"]["TargetGroupAttributes"]
        policy = r["ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert policy["TargetValue"] == 60
        assert r["AutoScalingGroup"]["Properties"]["MaxSize"] == "5"
        assert main(["aws", "destroy", "--region", "eu-west-1"]) == 1  # moto's gaps, as above
        assert "DELETE_COMPLETE" in capsys.readouterr().out
    finally:
        requests.post(f"{aws.url}/moto-api/reset", timeout=30)  # both regions, for the next


def test_from_local_without_a_local_cloud_is_one_line(aws, monkeypatch, capsys) -> None:
    monkeypatch.setattr("cloud.server.launcher.running_cloud", lambda: None)
    assert main(["aws", "deploy", "--from-local", "--image", IMAGE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no local cloud is running" in err[0]


OFFLINE = """
import os, sys, warnings
warnings.simplefilter("ignore")
from cloud.aws.endpoint import open_endpoint
url = "http://127.0.0.1:45111"
ep = open_endpoint({"AWS_ENDPOINT_URL": url})
os.environ.update({"FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS": url, "FRAUDLAB_REAL_AWS": "1"})
from cli.main import main
codes = [main(["aws", "deploy", "--image", "IMAGE_URI"]), main(["aws", "status"]),
         main(["aws", "destroy"])]
ep.stop()
print("CODES", codes)
""".replace("IMAGE_URI", IMAGE)


def test_offline_in_a_loopback_only_namespace(tmp_path) -> None:
    """The three commands in a network namespace with nothing but ``lo``: any packet to a
    non-loopback address would fail (ENETUNREACH)."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-rn", "true"], capture_output=True) \
        if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("unshare -rn (a user + network namespace) is not available here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"PYTHONPATH": str(ROOT), "FRAUDLAB_STATE_DIR": str(tmp_path)}
    run = subprocess.run(
        [unshare, "-rn", "sh", "-c", f"ip link set lo up 2>/dev/null; ip -o link | wc -l; "
                                     f"exec {sys.executable} -c \"$0\"", OFFLINE],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.stdout.splitlines()[0].strip() == "1", run.stdout  # only lo
    assert "CODES [0, 0, 1]" in run.stdout, run.stdout + run.stderr
    assert "DELETE_COMPLETE" in run.stdout
