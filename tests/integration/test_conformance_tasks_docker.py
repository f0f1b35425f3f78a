"""Conformance, Docker runtime: any image the engine has runs as a task — a standalone task
of the local base image serving ``python3 -m http.server`` on the host network, typed with
the real AWS CLI and read back against the container and its HTTP port; an image the engine
lacks and cannot pull fails to start as ECS reports it. Skipped when no Docker engine answers.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import requests
from aws_cli import Aws

from cloud.aws.steps.hosts import launch_hosts
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud

pytestmark = pytest.mark.docker

CLUSTER = "web-cluster"
BASE_IMAGE = "local/python:3.11-bookworm"
FAST = {"Delay": 1, "MaxAttempts": 120}


@pytest.fixture(scope="module")
def base_image(docker_client) -> str:
    try:
        docker_client.images.get(BASE_IMAGE)
    except Exception as exc:  # any engine answer: the image is not there
        pytest.skip(f"the Docker engine has no {BASE_IMAGE}: {exc}")
    return BASE_IMAGE


@pytest.fixture(scope="module")
def cloud(base_image, tmp_path_factory):
    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    lc = LocalCloud("docker", time_scale=30.0, lb_port=0, cluster=CLUSTER,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        yield lc
    finally:
        lc.stop()


@pytest.fixture(scope="module")
def aws(cloud, tmp_path_factory) -> Aws:
    aws = Aws(cloud.endpoint.url, tmp_path_factory.mktemp("aws"))
    aws("ecs", "create-cluster", "--cluster-name", CLUSTER)
    launch_hosts(cloud.endpoint.client("ec2"), cloud.endpoint.client("ecs"), CLUSTER, count=1)
    return aws


STOP_TIMEOUT = 2  # the container definition's stopTimeout (ECS's default is 30 s)


def _register(aws: Aws, tmp_path, family: str, image: str, port: int,
              command: list[str] | None = None) -> None:
    argv = command or ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    spec = {"family": family, "networkMode": "host", "requiresCompatibilities": ["EC2"],
            "containerDefinitions": [{
                "name": "web", "image": image, "essential": True, "cpu": 128, "memory": 256,
                "portMappings": [{"containerPort": port, "hostPort": port, "protocol": "tcp"}],
                "command": argv, "stopTimeout": STOP_TIMEOUT}]}
    path = tmp_path / f"{family}.json"
    path.write_text(json.dumps(spec))
    aws("ecs", "register-task-definition", "--cli-input-json", f"file://{path}")


def _get(port: int) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code
    except requests.RequestException:
        return None


def test_any_image_the_engine_has_runs_as_a_task(cloud, aws, tmp_path, wait_for) -> None:
    ecs: Any = cloud.endpoint.client("ecs")
    port = free_port()
    _register(aws, tmp_path, "web", BASE_IMAGE, port)
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "web",
              "--started-by", "learner")
    assert out["failures"] == []
    [task] = out["tasks"]
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    wait_for(lambda: _get(port) == 200, 60, "python3 -m http.server to answer in the container")
    container = cloud.runtime.container_id(task_id)
    info = cloud.runtime._client.api.inspect_container(container)
    assert info["Config"]["Image"] == BASE_IMAGE and info["State"]["Running"]
    assert info["HostConfig"]["NetworkMode"] == "host"
    assert info["Config"]["Cmd"][:3] == ["python3", "-m", "http.server"]
    [described] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks",
                      task_id)["tasks"]
    assert (described["lastStatus"], described["group"], described["startedBy"]) == (
        "RUNNING", "family:web", "learner")
    assert described["containers"][0]["networkBindings"][0]["hostPort"] == port
    aws("ecs", "stop-task", "--cluster", CLUSTER, "--task", task_id, "--reason", "enough")
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    [stopped] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", task_id)["tasks"]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "enough")
    # python as PID 1 ignores SIGTERM (no handler): SIGKILL after the container's stopTimeout
    assert stopped["containers"][0]["exitCode"] == 137
    wait_for(lambda: _get(port) is None, 60, "the container's server to be gone")


def test_an_image_the_engine_cannot_have_fails_to_start(cloud, aws, tmp_path) -> None:
    ecs: Any = cloud.endpoint.client("ecs")
    _register(aws, tmp_path, "ghost", "fraudlab-test/no-such-image:never", free_port())
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "ghost")
    task_id = out["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    [task] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", task_id)["tasks"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError: ")


def test_a_container_that_cannot_start_stops_its_task(cloud, aws, tmp_path) -> None:
    ecs: Any = cloud.endpoint.client("ecs")
    _register(aws, tmp_path, "broken", BASE_IMAGE, free_port(), ["no-such-program"])
    out = aws("ecs", "run-task", "--cluster", CLUSTER, "--task-definition", "broken")
    task_id = out["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
    ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task_id], WaiterConfig=FAST)
    [task] = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", task_id)["tasks"]
    assert task["stopCode"] == "TaskFailedToStart" and "startedAt" not in task
    assert task["stoppedReason"].startswith("CannotStartContainerError: ")
    assert "no-such-program" in task["stoppedReason"]
    assert cloud.tick_errors == []  # the loop's passes went on
