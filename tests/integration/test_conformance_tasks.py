"""Conformance: the ECS task lifecycle off the scripted path, typed with the real AWS CLI and
boto3 against a running local cloud (process runtime) and read back against what runs.

Standalone tasks (run-task, start-task: placed, RUNNING for real, stopped by stop-task or by
their exit, never replaced), images the process runtime cannot run (TaskFailedToStart with a
CannotPullContainerError, a service's deployment failed by the circuit breaker),
update-service --force-new-deployment (every task replaced through the rolling update), and
ELB health feeding ECS (a target the load balancer marks unhealthy: its task stopped with ECS's
reason and event, and replaced). The tests run in order and share the cloud.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from aws_cli import Aws
from kit_cloud import deployed_cloud

from cloud.aws.steps.ecs import CONTAINER_PORT, task_definition_spec
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE, FAMILY, TG = "fraud-cluster", "fraud-svc", "fraud-detection", "fraud-tg"
TIME_SCALE = 30.0
FAST = {"Delay": 1, "MaxAttempts": 120}
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:latest"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with deployed_cloud(tmp_path_factory, time_scale=TIME_SCALE, ready=_healthy) as lc:
        yield lc


@pytest.fixture(scope="module")
def aws(cloud, tmp_path_factory) -> Aws:
    return Aws(cloud.endpoint.url, tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def ecs(cloud) -> Any:
    return cloud.endpoint.client("ecs")


def _healthy(lc: LocalCloud) -> int:
    return sum(t["state"] == "healthy" for t in lc.lb.snapshot(trace_limit=0)["targets"])


def _ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["taskArn"].rsplit("/", 1)[-1] for t in tasks]


def _listed(aws: Aws, *args: str) -> set[str]:
    return {a.rsplit("/", 1)[-1] for a in aws("ecs", "list-tasks", "--cluster", CLUSTER,
                                               *args)["taskArns"]}


def _answers(url: str) -> str | None:
    try:
        return requests.get(f"{url}/health", timeout=2).json()["task_id"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def _snapshot_tasks(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in cloud.snapshot()["tasks"]}


def _register(aws: Aws, tmp_path, family: str, image: str, memory: int = 512) -> str:
    spec = task_definition_spec(family, image, 256, memory, CONTAINER_PORT, None, "bridge",
                                None)
    path = tmp_path / f"{family}.json"
    path.write_text(json.dumps(spec))
    return aws("ecs", "register-task-definition", "--cli-input-json",
               f"file://{path}")["taskDefinition"]["taskDefinitionArn"]


def _service(aws: Aws) -> dict[str, Any]:
    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                SERVICE)["services"]
    return svc


def _stable(ecs: Any) -> None:
    ecs.get_waiter("services_stable").wait(cluster=CLUSTER, services=[SERVICE],
                                           WaiterConfig=FAST)


def test_run_task_starts_standalone_tasks_that_really_run(cloud, aws, ecs) -> None:
    service_tasks = _listed(aws, "--service-name", SERVICE)
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", FAMILY,
              "--count", "2", "--started-by", "learner", "--launch-type", "EC2")
    assert out["failures"] == []
    ids = _ids(out["tasks"])
    assert len(ids) == 2
    for t in out["tasks"]:
        assert (t["lastStatus"], t["desiredStatus"]) == ("PROVISIONING", "RUNNING")
        assert (t["group"], t["startedBy"]) == (f"family:{FAMILY}", "learner")
        assert t["containerInstanceArn"]
    ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=ids, WaiterConfig=FAST)
    aws("ecs", "wait", "tasks-running", "--cluster", CLUSTER, "--tasks", *ids)
    snap = _snapshot_tasks(cloud)
    for t in aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *ids)["tasks"]:
        task_id = t["taskArn"].rsplit("/", 1)[-1]
        mine = snap[task_id]
        assert mine["standalone"] is True and mine["service"] is None
        assert mine["group"] == f"family:{FAMILY}"
        assert (t["lastStatus"], t["cpu"], t["memory"]) == ("RUNNING", "256", "512")
        assert t["containers"][0]["networkBindings"] == [
            {"bindIP": "0.0.0.0", "containerPort": CONTAINER_PORT, "hostPort": mine["port"],
             "protocol": "tcp"}]
        assert _answers(mine["url"]) == task_id  # a real process answers as that task
        [ci] = aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                   "--container-instances", t["containerInstanceArn"])["containerInstances"]
        assert ci["ec2InstanceId"] == mine["host"]
    assert _listed(aws, "--started-by", "learner") == set(ids)
    assert _listed(aws, "--family", FAMILY) == set(ids) | service_tasks
    assert _listed(aws, "--service-name", SERVICE) == service_tasks  # not the service's
    [cluster] = aws("ecs", "describe-clusters", "--clusters", CLUSTER)["clusters"]
    assert cluster["runningTasksCount"] == 2 + len(service_tasks)
    assert _service(aws)["runningCount"] == 2


def test_standalone_tasks_stop_by_hand_or_by_exit_and_are_not_replaced(cloud, aws,
                                                                      ecs) -> None:
    by_hand, crashed = sorted(_listed(aws, "--started-by", "learner"))
    url = _snapshot_tasks(cloud)[by_hand]["url"]
    stopped = aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", by_hand, "--reason",
                  "done with it")["task"]
    assert (stopped["desiredStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    cloud.controller.crash(crashed)  # its process is SIGKILLed: the essential container exits
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[by_hand, crashed],
                                         WaiterConfig=FAST)
    described = {t["taskArn"].rsplit("/", 1)[-1]: t for t in aws(
        "ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", by_hand, crashed)["tasks"]}
    assert (described[by_hand]["stopCode"], described[by_hand]["stoppedReason"]) == (
        "UserInitiated", "done with it")
    assert (described[crashed]["stopCode"], described[crashed]["stoppedReason"]) == (
        "EssentialContainerExited", "Essential container in task exited")
    assert described[crashed]["containers"][0]["exitCode"] == 137
    assert _answers(url) is None
    _stable(ecs)
    assert _listed(aws, "--started-by", "learner") == set()  # nothing replaced them
    standalone = [t for t in cloud.snapshot()["tasks"] if t.get("standalone")]
    assert {t["task_id"] for t in standalone} == {by_hand, crashed}
    assert {t["last_status"] for t in standalone} == {"STOPPED"}
    assert _listed(aws, "--started-by", "learner", "--desired-status", "STOPPED") == {
        by_hand, crashed}


def test_run_task_lists_what_could_not_be_placed_as_ecs_failures(cloud, aws, ecs,
                                                                tmp_path) -> None:
    _register(aws, tmp_path, "big", ECR_IMAGE, memory=2048)
    cis = aws("ecs", "list-container-instances", "--cluster", CLUSTER)["containerInstanceArns"]
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "big",
              "--count", "3")
    # t3.medium: 3.3 GiB registered, 512 MiB for the service's task: room for one 2 GiB task
    assert len(out["tasks"]) == 2
    assert {t["containerInstanceArn"] for t in out["tasks"]} == set(cis)
    assert sorted(out["failures"], key=lambda f: f["arn"]) == sorted(
        ({"arn": ci, "reason": "RESOURCE:MEMORY"} for ci in cis), key=lambda f: f["arn"])
    ids = _ids(out["tasks"])
    for task_id in ids:
        aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", task_id)
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=ids, WaiterConfig=FAST)
    err = aws.fails("InvalidParameterException", "ecs", "run-task", "--cluster", CLUSTER,
                    "--task-definition", FAMILY, "--count", "11")
    assert "count" in err


def test_start_task_runs_on_the_named_container_instance(cloud, aws, ecs) -> None:
    ci = sorted(aws("ecs", "list-container-instances", "--cluster",
                    CLUSTER)["containerInstanceArns"])[-1]
    out = aws("ecs", "start-task", "--cluster", CLUSTER, "--task-definition", FAMILY,
              "--container-instances", ci, "--started-by", "by-hand", "--group", "batch")
    assert out["failures"] == []
    [task] = out["tasks"]
    assert (task["containerInstanceArn"], task["group"]) == (ci, "batch")
    [task_id] = _ids(out["tasks"])
    ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    [host] = aws("ecs", "describe-container-instances", "--cluster", CLUSTER,
                 "--container-instances", ci)["containerInstances"]
    mine = _snapshot_tasks(cloud)[task_id]
    assert mine["host"] == host["ec2InstanceId"] and _answers(mine["url"]) == task_id
    assert task_id in _listed(aws, "--container-instance", ci)
    aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", task_id)
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)


def test_an_image_the_process_runtime_cannot_run_fails_to_start(cloud, aws, ecs,
                                                                tmp_path) -> None:
    _register(aws, tmp_path, "web", "nginx:1.27")
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "web")
    [task_id] = _ids(out["tasks"])
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    [task] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", task_id)["tasks"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError: ")
    assert "nginx:1.27" in task["stoppedReason"] and "process runtime" in task["stoppedReason"]
    assert "startedAt" not in task
    assert all(t["task_id"] != task_id or t["port"] is None or _answers(t["url"]) is None
               for t in cloud.snapshot()["tasks"])


def test_a_service_deployment_of_such_an_image_fails_by_the_circuit_breaker(cloud, aws, ecs,
                                                                            tmp_path) -> None:
    web = _register(aws, tmp_path, "web", "nginx:1.27")
    before = _service(aws)
    aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
        "--task-definition", web, "--deployment-configuration",
        "deploymentCircuitBreaker={enable=true,rollback=true},maximumPercent=200,"
        "minimumHealthyPercent=100")
    failed_event = f"(service {SERVICE}) (deployment "
    deadline = time.monotonic() + 120
    events: list[str] = []
    while time.monotonic() < deadline and not any(
            m.startswith(failed_event) and m.endswith("deployment failed: tasks failed to start.")
            for m in events):
        events = [e["message"] for e in _service(aws)["events"]]
        time.sleep(0.5)
    [message] = [m for m in events if m.endswith("deployment failed: tasks failed to start.")]
    failed_id = message[len(failed_event):].split(")", 1)[0]
    _stable(ecs)  # the rollback completed: one deployment left, as `wait services-stable` wants
    svc = _service(aws)
    assert svc["taskDefinition"] == before["taskDefinition"]  # rolled back
    [rollback] = svc["deployments"]
    assert rollback["rolloutStateReason"].startswith(
        "ECS deployment circuit breaker: rolling back to deploymentId")
    [kept] = [d for s in cloud.snapshot()["services"] for d in s["deployments"]
              if d["id"] == failed_id]
    assert kept["rollout_state"] == "FAILED" and kept["failed_tasks"] >= 3
    stopped = _listed(aws, "--family", "web", "--desired-status", "STOPPED")
    for t in aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *stopped)["tasks"]:
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["stoppedReason"].startswith("CannotPullContainerError: ")


def test_force_new_deployment_replaces_every_task(cloud, aws, ecs) -> None:
    _stable(ecs)
    before = _listed(aws, "--service-name", SERVICE)
    old = _service(aws)["deployments"][0]["id"]
    svc = aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
              "--force-new-deployment")["service"]
    primary, *rest = svc["deployments"]
    assert (primary["status"], primary["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert primary["id"] != old and primary["taskDefinition"] == svc["taskDefinition"]
    assert [d["status"] for d in rest] == ["ACTIVE"] and rest[0]["id"] == old
    _stable(ecs)
    aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", SERVICE)
    # services-stable holds once one deployment runs the desired count; ECS marks its rollout
    # COMPLETED when the scheduler next finds the service steady (a pass later here).
    deadline = time.monotonic() + 30
    while (svc := _service(aws))["deployments"][0]["rolloutState"] != "COMPLETED" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    [done] = svc["deployments"]
    assert (done["id"], done["rolloutState"]) == (primary["id"], "COMPLETED")
    after = _listed(aws, "--service-name", SERVICE)
    assert len(after) == 2 and not after & before  # every task replaced
    described = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *after)["tasks"]
    assert {t["startedBy"] for t in described} == {primary["id"]}
    messages = [e["message"] for e in svc["events"]]
    assert f"(service {SERVICE}) (deployment {primary['id']}) deployment completed." in messages
    for task_id in before:
        assert any(m.startswith(f"(service {SERVICE}) has stopped") and task_id in m
                   for m in messages)


def test_a_target_the_load_balancer_marks_unhealthy_is_stopped_and_replaced(cloud, aws,
                                                                            ecs) -> None:
    _stable(ecs)
    arn = aws("elbv2", "describe-target-groups", "--names", TG)["TargetGroups"][0][
        "TargetGroupArn"]
    before = _listed(aws, "--service-name", SERVICE)
    aws("elbv2", "modify-target-group", "--target-group-arn", arn, "--health-check-path",
        "/no-such-path")
    reason = f"Task failed ELB health checks in (target-group {arn})"
    deadline = time.monotonic() + 120
    victims: list[dict[str, Any]] = []
    while not victims and time.monotonic() < deadline:
        stopped = _listed(aws, "--service-name", SERVICE, "--desired-status", "STOPPED")
        if stopped & before:
            victims = [t for t in aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks",
                                      *(stopped & before))["tasks"]
                       if t.get("stoppedReason") == reason]
        time.sleep(0.5)
    aws("elbv2", "modify-target-group", "--target-group-arn", arn, "--health-check-path",
        "/health")
    assert victims, "no task was stopped for failing its ELB health checks"
    victim = victims[0]
    task_id = victim["taskArn"].rsplit("/", 1)[-1]
    assert victim["stopCode"] == "ServiceSchedulerInitiated" and "startedAt" in victim
    messages = [e["message"] for e in _service(aws)["events"]]
    assert (f"(service {SERVICE}) (task {task_id}) failed ELB health checks in "
            f"(target-group {arn}).") in messages
    _stable(ecs)
    after = _listed(aws, "--service-name", SERVICE)
    assert len(after) == 2 and task_id not in after
    deadline = time.monotonic() + 90
    while _healthy(cloud) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _healthy(cloud) == 2
