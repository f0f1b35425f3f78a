"""The three network modes in a real local cloud (process runtime), read back with boto3.

Each mode is deployed on t3.medium hosts as a learner would (the kit's deploy steps), then
placement, the target group's targets and describe-tasks are checked:

- bridge (the default, hostPort 0): ~7 tasks of 256/512 per t3.medium (memory-bound); each
  task's networkBindings hostPort is the real port its process answers on; targets are
  (instance id, host port) in a group of type instance;
- host: one task per instance (static port 8080), the next one fails placement with ECS's
  "is already using a port required by your task";
- awsvpc: two per t3.medium (3 ENIs minus the primary), "RESOURCE:ENI" for the third; each
  task's attachment has an ENI id and a private IP of its instance's subnet; targets are
  (private IP, 8080) in a group of type ip.

And the mismatches ECS refuses, through boto3.
"""

from __future__ import annotations

import ipaddress

import pytest
import requests
from botocore.exceptions import ClientError

from cloud.aws.steps.ecs import task_definition_spec
from cloud.aws.steps.plan import deploy_all

CLUSTER, SERVICE = "fraud-cluster", "fraud-svc"
RUNTIMES = ["process", pytest.param("docker", marks=pytest.mark.docker)]


def _runtime(request, runtime: str) -> str:
    if runtime == "docker":
        request.getfixturevalue("slim_image")  # built from this checkout (skips without Docker)
    return runtime


def _running(lc) -> list[dict]:
    return [t for t in lc.snapshot()["tasks"] if t["last_status"] == "RUNNING"]


def _per_host(lc) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in _running(lc):
        out[t["host"]] = out.get(t["host"], 0) + 1
    return out


def _events(ecs) -> list[str]:
    [svc] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    return [e["message"] for e in svc.get("events", [])]


def _described(ecs) -> list[dict]:
    arns = ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def _targets(lc, elbv2) -> set[tuple[str, int]]:
    arn = lc.lb_sync.target_group_arn
    if arn is None:
        return set()
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {(d["Target"]["Id"], d["Target"]["Port"]) for d in found
            if d["TargetHealth"]["State"] != "draining"}


def _deploy(lc, mode: str, desired: int, hosts: int) -> dict:
    steps = deploy_all(lc.endpoint.client, desired=desired, hosts=hosts, network_mode=mode)
    return {s.step: s.result for s in steps}


def test_bridge_places_seven_per_t3_medium_with_dynamic_host_ports(start_local_cloud,
                                                                   wait_for) -> None:
    lc = start_local_cloud()
    steps = _deploy(lc, "bridge", desired=8, hosts=1)
    assert steps["register-task-definition"]["portMappings"] == [
        {"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]
    assert steps["create-target-group"]["targetType"] == "instance"
    ecs, elbv2 = lc.endpoint.client("ecs"), lc.endpoint.client("elbv2")
    wait_for(lambda: len(_running(lc)) == 7, 120, "7 RUNNING tasks on the t3.medium")
    [host] = lc.controller.hosts
    assert _per_host(lc) == {host: 7}
    wait_for(lambda: any("insufficient memory available" in m for m in _events(ecs)), 30,
             "the 8th task's placement failure (memory)")
    tasks = wait_for(lambda: len(d := _described(ecs)) == 7 and d, 30, "describe-tasks")
    bindings = [b for t in tasks for b in t["containers"][0]["networkBindings"]]
    assert {(b["bindIP"], b["containerPort"], b["protocol"]) for b in bindings} == {
        ("0.0.0.0", 8080, "tcp")}
    ports = {b["hostPort"] for b in bindings}
    assert len(ports) == 7 and all(1024 < p < 65536 for p in ports)
    for port in ports:  # the shown host port is where the task's process really answers
        assert requests.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
    assert all(not t.get("attachments") for t in tasks)
    wait_for(lambda: _targets(lc, elbv2) == {(host, p) for p in ports}, 30,
             "targets (instance id, host port)")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_host_mode_places_one_per_instance(start_local_cloud, wait_for, request,
                                           runtime) -> None:
    lc = start_local_cloud(runtime=_runtime(request, runtime))
    steps = _deploy(lc, "host", desired=3, hosts=2)
    assert steps["register-task-definition"]["portMappings"] == [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    ecs, elbv2 = lc.endpoint.client("ecs"), lc.endpoint.client("elbv2")
    wait_for(lambda: len(_running(lc)) == 2, 120, "2 RUNNING tasks")
    assert sorted(_per_host(lc).values()) == [1, 1]
    wait_for(lambda: any("is already using a port required by your task" in m
                         for m in _events(ecs)), 30, "the 3rd task's port failure")
    tasks = wait_for(lambda: len(d := _described(ecs)) == 2 and d, 30, "describe-tasks")
    assert {b["hostPort"] for t in tasks for b in t["containers"][0]["networkBindings"]} == {
        8080}
    wait_for(lambda: _targets(lc, elbv2) == {(h, 8080) for h in lc.controller.hosts}, 30,
             "targets (instance id, 8080)")
    # all "instances" share one loopback: each process listens on a port of its own
    local = {t["port"] for t in _running(lc)}
    assert len(local) == 2 and 8080 not in local


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_awsvpc_places_two_per_t3_medium_each_with_an_eni(start_local_cloud, wait_for, request,
                                                          runtime) -> None:
    lc = start_local_cloud(runtime=_runtime(request, runtime))
    steps = _deploy(lc, "awsvpc", desired=3, hosts=1)
    assert steps["create-target-group"]["targetType"] == "ip"
    [svc] = lc.endpoint.client("ecs").describe_services(cluster=CLUSTER,
                                                        services=[SERVICE])["services"]
    assert svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
    ecs, elbv2, ec2 = (lc.endpoint.client(n) for n in ("ecs", "elbv2", "ec2"))
    wait_for(lambda: len(_running(lc)) == 2, 120, "2 RUNNING tasks")
    wait_for(lambda: any('encountered error "RESOURCE:ENI"' in m for m in _events(ecs)), 30,
             "the 3rd task's ENI failure")
    tasks = wait_for(lambda: len(d := _described(ecs)) == 2 and d, 30, "describe-tasks")
    [host] = lc.controller.hosts
    inst = ec2.describe_instances(InstanceIds=[host])["Reservations"][0]["Instances"][0]
    [subnet] = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"]
    ips = set()
    for t in tasks:
        [att] = t["attachments"]
        details = {d["name"]: d["value"] for d in att["details"]}
        assert att["type"] == "ElasticNetworkInterface" and att["status"] == "ATTACHED"
        assert details["networkInterfaceId"].startswith("eni-")
        assert details["subnetId"] == subnet["SubnetId"]
        ip = details["privateIPv4Address"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(subnet["CidrBlock"])
        assert t["containers"][0]["networkInterfaces"] == [
            {"attachmentId": att["id"], "privateIpv4Address": ip}]
        assert not t["containers"][0].get("networkBindings")
        ips.add(ip)
    assert len(ips) == 2
    wait_for(lambda: _targets(lc, elbv2) == {(ip, 8080) for ip in ips}, 30,
             "targets (private IP, 8080)")


def test_a_new_revision_in_host_mode_refills_the_hosts_one_each(start_local_cloud,
                                                                 wait_for) -> None:
    lc = start_local_cloud()
    steps = _deploy(lc, "bridge", desired=2, hosts=2)
    ecs = lc.endpoint.client("ecs")
    wait_for(lambda: len(_running(lc)) == 2, 120, "2 bridge tasks")
    spec = task_definition_spec("fraud-detection", steps["register-task-definition"]["image"],
                                256, 512, 8080, None, "host", None)
    arn = ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=arn)
    wait_for(lambda: sorted(_per_host(lc).values()) == [1, 1]
             and all(t["network_mode"] == "host" for t in _running(lc)), 180,
             "one host-mode task per instance")


# ---- what ECS refuses ---------------------------------------------------------------------
@pytest.fixture
def api(start_local_cloud):
    lc = start_local_cloud()
    steps = _deploy(lc, "bridge", desired=0, hosts=1)
    return lc, steps


def _code_and_message(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def test_register_task_definition_refuses_host_ports_unlike_container_ports(api) -> None:
    lc, steps = api
    ecs = lc.endpoint.client("ecs")
    image = steps["register-task-definition"]["image"]
    for mode, host_port in (("awsvpc", 9090), ("host", 9090), ("host", 0)):
        spec = task_definition_spec("fd-refused", image, 256, 512, 8080, None, mode, None)
        spec["containerDefinitions"][0]["portMappings"][0]["hostPort"] = host_port
        with pytest.raises(ClientError) as exc:
            ecs.register_task_definition(**spec)
        assert _code_and_message(exc) == (
            "ClientException",
            f"When networkMode={mode}, the host ports and container ports in port mappings "
            "must match.")
    spec = task_definition_spec("fd-ok", image, 256, 512, 8080, None, "awsvpc", None)
    spec["containerDefinitions"][0]["portMappings"][0]["hostPort"] = 0  # blank/0 is allowed
    ecs.register_task_definition(**spec)


def test_services_refuse_a_target_type_their_network_mode_cannot_use(api) -> None:
    lc, steps = api
    ecs, elbv2 = lc.endpoint.client("ecs"), lc.endpoint.client("elbv2")
    image = steps["register-task-definition"]["image"]
    vpc = steps["create-load-balancer"]["vpcId"]
    ip_tg = elbv2.create_target_group(Name="ip-tg", Protocol="HTTP", Port=8080, VpcId=vpc,
                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    inst_tg = steps["create-target-group"]["targetGroupArn"]
    awsvpc = ecs.register_task_definition(**task_definition_spec(
        "fd-vpc", image, 256, 512, 8080, None, "awsvpc", None))["taskDefinition"]
    bridge = steps["register-task-definition"]["taskDefinitionArn"]
    lbs = [{"containerName": "fraud-detection", "containerPort": 8080}]
    cases = [(bridge, ip_tg, "ip", "bridge"), (awsvpc["taskDefinitionArn"], inst_tg,
                                                "instance", "awsvpc")]
    for td, tg, kind, mode in cases:
        with pytest.raises(ClientError) as exc:
            ecs.create_service(cluster=CLUSTER, serviceName=f"svc-{mode}", taskDefinition=td,
                               desiredCount=1, loadBalancers=[{**lbs[0], "targetGroupArn": tg}])
        assert _code_and_message(exc) == (
            "InvalidParameterException",
            f"The provided target group {tg} has target type {kind}, which is incompatible "
            f"with the {mode} network mode specified in the task definition.")
    # awsvpc with a group of type ip, but no networkConfiguration; bridge with one
    subnet = lc.endpoint.client("ec2").describe_subnets()["Subnets"][0]["SubnetId"]
    config = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}}
    for td, extra, message in (
            (awsvpc["taskDefinitionArn"], {}, "Network Configuration must be provided when "
             "networkMode 'awsvpc' is specified."),
            (bridge, {"networkConfiguration": config}, "Network Configuration is not valid "
             "for the given networkMode of this task definition.")):
        with pytest.raises(ClientError) as exc:
            ecs.create_service(cluster=CLUSTER, serviceName="svc-netconf", taskDefinition=td,
                               desiredCount=1, **extra)
        assert _code_and_message(exc) == ("InvalidParameterException", message)
    # update-service to an awsvpc revision while the group is of type instance
    with pytest.raises(ClientError) as exc:
        ecs.update_service(cluster=CLUSTER, service=SERVICE,
                           taskDefinition=awsvpc["taskDefinitionArn"])
    assert _code_and_message(exc)[0] == "InvalidParameterException"
    [svc] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    assert svc["taskDefinition"] == bridge  # unchanged
