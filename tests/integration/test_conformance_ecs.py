"""Conformance: AWS's ECS tutorial flow, typed with the real AWS CLI and boto3 (waiters
included), against a running local cloud — and every describe-*/list-* checked against what
really runs: the processes, the target group's health, which task answers through the
listener.

The flow (AWS's "Creating a service using the AWS CLI" / "Amazon ECS tutorials"): create a
cluster, (the agent registers the hosts), register a task definition from JSON, create a
service behind the load balancer, scale it, stop a task, scale to zero, delete the service.
The tests run in order and share the flow's state.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import requests
from aws_cli import Aws

from cloud.aws.steps.ecs import CONTAINER, CONTAINER_PORT, FAMILY, task_definition_spec
from cloud.aws.steps.elb import create_listener, create_load_balancer, create_target_group
from cloud.aws.steps.hosts import launch_hosts
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE = "fraud-cluster", "fraud-svc"
TIME_SCALE = 30.0
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:latest"
FAST = {"Delay": 1, "MaxAttempts": 120}  # boto3's waiters, polled every second


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    lc = LocalCloud("process", time_scale=TIME_SCALE, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture(scope="module")
def aws(cloud, tmp_path_factory) -> Aws:
    return Aws(cloud.endpoint.url, tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def ecs(cloud) -> Any:
    return cloud.endpoint.client("ecs")


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    """What the steps created, for the steps after them."""
    return {}


def _cluster(aws: Aws) -> dict[str, Any]:
    [found] = aws("ecs", "describe-clusters", "--clusters", CLUSTER)["clusters"]
    return found


def _counts(aws: Aws) -> tuple[int, int, int, int]:
    c = _cluster(aws)
    return (c["runningTasksCount"], c["pendingTasksCount"], c["activeServicesCount"],
            c["registeredContainerInstancesCount"])


def _running(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """The tasks whose process the local cloud runs, by id."""
    return {t["task_id"]: t for t in cloud.snapshot()["tasks"] if t["last_status"] == "RUNNING"}


def _answers(url: str) -> str | None:
    try:
        return requests.get(f"{url}/health", timeout=2).json()["task_id"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def _stable(ecs: Any, aws: Aws) -> dict[str, Any]:
    """boto3's services_stable waiter (polled every second), then the CLI's, which must agree
    at once (its first poll; it waits 15 s between polls)."""
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=[SERVICE],
                                           WaiterConfig=FAST)
    aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", SERVICE)
    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                SERVICE)["services"]
    return svc


def _check_reality(cloud: LocalCloud, aws: Aws, ecs: Any, wait_for, desired: int) -> set[str]:
    """describe-*/list-* against what runs; returns the RUNNING task ids."""
    svc = _stable(ecs, aws)
    assert (svc["desiredCount"], svc["runningCount"], svc["pendingCount"]) == (desired,
                                                                                desired, 0)
    arns = aws("ecs", "list-tasks", "--cluster", CLUSTER)["taskArns"]
    ids = {a.rsplit("/", 1)[-1] for a in arns}
    running = _running(cloud)
    assert ids == set(running), "list-tasks must list exactly the tasks whose process runs"
    for task_id, task in running.items():
        assert _answers(task["url"]) == task_id  # a real process answers as that task
    assert _counts(aws) == (desired, 0, 1, 2)
    if not ids:
        return ids
    described = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns)
    primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
    for t in described["tasks"]:
        assert t["lastStatus"] == t["desiredStatus"] == "RUNNING"
        assert (t["cpu"], t["memory"]) == ("256", "512")
        assert t["group"] == f"service:{SERVICE}" and t["startedBy"] == primary["id"]
        mine = running[t["taskArn"].rsplit("/", 1)[-1]]
        assert t["containers"][0]["networkBindings"] == [
            {"bindIP": "0.0.0.0", "containerPort": CONTAINER_PORT, "hostPort": mine["port"],
             "protocol": "tcp"}]  # bridge, dynamic host port: where its process listens
        host = mine["host"]
        [ci] = aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                   "--container-instances", t["containerInstanceArn"])["containerInstances"]
        assert ci["ec2InstanceId"] == host
    tg_arn = svc["loadBalancers"][0]["targetGroupArn"]

    def all_healthy() -> dict[int, str] | None:
        found = aws("elbv2", "describe-target-health", "--target-group-arn", tg_arn)
        states = {d["Target"]["Port"]: d["TargetHealth"]["State"]
                  for d in found["TargetHealthDescriptions"]}
        want = {t["port"] for t in running.values()}
        live = {p for p, s in states.items() if s != "draining"}
        return states if live == want and all(states[p] == "healthy" for p in want) else None

    wait_for(all_healthy, 90, f"{desired} healthy targets, one per RUNNING task", 0.5)
    through_listener = {_answers(cloud.lb.url) for _ in range(4 * desired)}
    assert through_listener == ids, "every task, and only those, answers through the listener"
    return ids


def test_create_cluster_and_register_hosts(cloud, aws) -> None:
    created = aws("ecs", "create-cluster", "--cluster-name", CLUSTER)["cluster"]
    assert created["status"] == "ACTIVE" and created["runningTasksCount"] == 0
    # The ECS agent on each instance registers it (no CLI call for a learner): the kit's step.
    launch_hosts(cloud.endpoint.client("ec2"), cloud.endpoint.client("ecs"), CLUSTER, count=2)
    assert _counts(aws) == (0, 0, 0, 2)


def test_register_task_definition_from_json(aws, tmp_path, flow) -> None:
    spec = task_definition_spec(FAMILY, IMAGE, 256, 512, CONTAINER_PORT, None, "bridge", None)
    path = tmp_path / "fraud-detection.json"
    path.write_text(json.dumps(spec))
    td = aws("ecs", "register-task-definition", "--cli-input-json",
             f"file://{path}")["taskDefinition"]
    assert (td["family"], td["revision"], td["status"]) == (FAMILY, 1, "ACTIVE")
    read = aws("ecs", "describe-task-definition", "--task-definition",
               f"{FAMILY}:1")["taskDefinition"]
    assert read["containerDefinitions"][0]["image"] == IMAGE
    flow["task_definition"] = td["taskDefinitionArn"]


def test_create_service_behind_the_load_balancer(cloud, aws, ecs, wait_for, flow) -> None:
    elbv2, ec2 = cloud.endpoint.client("elbv2"), cloud.endpoint.client("ec2")
    lb = create_load_balancer(elbv2, ec2, ecs, CLUSTER)
    tg = create_target_group(elbv2, vpc_id=lb.result["vpcId"])
    create_listener(elbv2, lb.result["loadBalancerArn"], tg.result["targetGroupArn"])
    made = aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", SERVICE,
               "--task-definition", f"{FAMILY}:1", "--desired-count", "2",
               "--launch-type", "EC2", "--load-balancers",
               f"targetGroupArn={tg.result['targetGroupArn']},containerName={CONTAINER},"
               f"containerPort={CONTAINER_PORT}")["service"]
    assert (made["desiredCount"], made["runningCount"]) == (2, 0)  # nothing runs yet
    flow["tasks"] = _check_reality(cloud, aws, ecs, wait_for, 2)


def test_scale_up_reports_the_true_running_count(cloud, aws, ecs, wait_for, flow) -> None:
    before = len(_running(cloud))
    svc = aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
              "--desired-count", "3")["service"]
    assert svc["desiredCount"] == 3
    assert svc["runningCount"] == before  # not the desired count: no task started yet
    flow["tasks"] = _check_reality(cloud, aws, ecs, wait_for, 3)


def test_stop_task_stops_it_and_the_scheduler_replaces_it(cloud, aws, ecs, wait_for,
                                                          flow) -> None:
    victim = sorted(flow["tasks"])[0]
    url = _running(cloud)[victim]["url"]
    stopped = aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", victim, "--reason",
                  "conformance: stopped by hand")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "conformance: stopped by hand"
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[victim], WaiterConfig=FAST)
    aws("ecs", "wait", "tasks-stopped", "--cluster", CLUSTER, "--tasks", victim)
    [task] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", victim)["tasks"]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED", "UserInitiated", "conformance: stopped by hand")
    assert "stoppedAt" in task
    wait_for(lambda: _answers(url) is None, 30, "the stopped task's process to be gone")
    listed = aws("ecs", "list-tasks", "--cluster", CLUSTER)["taskArns"]
    assert victim not in {a.rsplit("/", 1)[-1] for a in listed}
    stopped_list = aws("ecs", "list-tasks", "--cluster", CLUSTER, "--desired-status",
                       "STOPPED")["taskArns"]
    assert victim in {a.rsplit("/", 1)[-1] for a in stopped_list}
    ids = _check_reality(cloud, aws, ecs, wait_for, 3)
    assert victim not in ids and len(ids - flow["tasks"]) == 1  # one replacement
    flow["tasks"] = ids


def test_list_tasks_filters_and_pages(cloud, aws, ecs, flow) -> None:
    seen, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        answer = ecs.list_tasks(cluster=CLUSTER, maxResults=1, **kwargs)
        assert len(answer["taskArns"]) <= 1
        seen += answer["taskArns"]
        token = answer.get("nextToken")
        if not token:
            break
    assert {a.rsplit("/", 1)[-1] for a in seen} == flow["tasks"] and len(seen) == 3
    paged = aws("ecs", "list-tasks", "--cluster", CLUSTER, "--page-size", "1")["taskArns"]
    assert sorted(paged) == sorted(seen)  # the CLI follows nextToken
    first = aws("ecs", "list-tasks", "--cluster", CLUSTER, "--max-items", "2")
    assert len(first["taskArns"]) == 2 and first.get("NextToken")

    def listed(*args: str) -> set[str]:
        return {a.rsplit("/", 1)[-1] for a in aws("ecs", "list-tasks", "--cluster", CLUSTER,
                                                   *args)["taskArns"]}

    assert listed("--service-name", SERVICE) == flow["tasks"]
    assert listed("--family", FAMILY) == flow["tasks"]
    assert listed("--family", "nope") == set()
    [svc] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    assert listed("--started-by", svc["deployments"][0]["id"]) == flow["tasks"]
    running = _running(cloud)
    for ci in aws("ecs", "list-container-instances", "--cluster",
                  CLUSTER)["containerInstanceArns"]:
        [host] = aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                     "--container-instances", ci)["containerInstances"]
        on_host = {i for i, t in running.items() if t["host"] == host["ec2InstanceId"]}
        assert listed("--container-instance", ci) == on_host
        assert host["runningTasksCount"] == len(on_host)


def test_scale_to_zero_and_delete_the_service(cloud, aws, ecs, wait_for, flow) -> None:
    urls = [t["url"] for t in _running(cloud).values()]
    aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE, "--desired-count",
        "0")
    assert _check_reality(cloud, aws, ecs, wait_for, 0) == set()
    arns = sorted(flow["tasks"])
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=arns, WaiterConfig=FAST)
    aws("ecs", "wait", "tasks-stopped", "--cluster", CLUSTER, "--tasks", *arns)
    wait_for(lambda: all(_answers(u) is None for u in urls), 60, "every process gone")
    for t in aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *arns)["tasks"]:
        assert t["stopCode"] == "ServiceSchedulerInitiated"
    deleted = aws("ecs", "delete-service", "--cluster", CLUSTER, "--service",
                  SERVICE)["service"]
    assert deleted["status"] in ("DRAINING", "INACTIVE") and deleted["runningCount"] == 0
    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                SERVICE)["services"]
    assert svc["status"] in ("DRAINING", "INACTIVE") and svc["runningCount"] == 0
    assert _counts(aws) == (0, 0, 0, 2)
    assert aws("ecs", "list-tasks", "--cluster", CLUSTER)["taskArns"] == []


def test_delete_service_force_drains_and_stops_its_tasks(cloud, aws, ecs, wait_for) -> None:
    tg = aws("elbv2", "describe-target-groups", "--names", "fraud-tg")["TargetGroups"][0]
    name = "fraud-svc-2"
    aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", name,
        "--task-definition", f"{FAMILY}:1", "--desired-count", "2", "--launch-type", "EC2",
        "--load-balancers", f"targetGroupArn={tg['TargetGroupArn']},containerName={CONTAINER},"
        f"containerPort={CONTAINER_PORT}")
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=[name], WaiterConfig=FAST)
    running = _running(cloud)
    assert len(running) == 2
    deleted = aws("ecs", "delete-service", "--cluster", CLUSTER, "--service", name,
                  "--force")["service"]
    assert (deleted["status"], deleted["desiredCount"]) == ("DRAINING", 0)
    arns = sorted(running)
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=arns, WaiterConfig=FAST)
    wait_for(lambda: all(_answers(t["url"]) is None for t in running.values()), 60,
             "the deleted service's processes gone")
    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                name)["services"]
    assert (svc["status"], svc["runningCount"], svc["pendingCount"]) == ("INACTIVE", 0, 0)
    assert aws("ecs", "list-services", "--cluster", CLUSTER)["serviceArns"] == []
    assert _counts(aws) == (0, 0, 0, 2)
