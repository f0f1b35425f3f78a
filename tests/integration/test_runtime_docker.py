"""The Docker runtime with real containers of ``fraudlab/service:slim`` on the host network.

Two tasks answer with their own ids under the task definition's limits (cpu 256 -> NanoCpus
0.25e9, memory 512 -> 512 MiB, no extra swap); a kill is exit 137 within a second while the
other keeps answering; stop() is a requested exit; a tiny memory limit is a kernel OOM kill
(``State.OOMKilled`` -> ``OOM_REASON``, 137); pulls are cached per host; close() and
remove_orphans() leave no container behind.

Skipped, with the reason, when no Docker engine answers or the image cannot be built (built
with ``scripts/build_image.sh slim`` only when missing). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from docker.errors import NotFound

from cloud.runtime.base import (
    ESSENTIAL_EXITED,
    OOM_REASON,
    ContainerExit,
    ContainerSpec,
    PullError,
    Runtime,
)
from cloud.runtime.docker import OWNER_LABEL, TASK_LABEL, DockerRuntime, remove_orphans
from service.contract import example_transaction

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
IMAGE_REPO = os.environ.get("FRAUDLAB_TEST_IMAGE_REPO", "fraudlab/service")
IMAGE = f"{IMAGE_REPO}:slim"
BUILD_TIMEOUT_S = 900
READY_TIMEOUT_S = 60.0
EXIT_DEADLINE_S = 1.0
MIB = 1024 * 1024
# gunicorn's master alone passes 16 MiB while it imports, so PID 1 is the OOM victim and the
# container exits. Between ~24 and ~40 MiB the kernel kills the worker instead, gunicorn
# respawns it and the container never exits; above ~40 MiB the slim service fits.
OOM_LIMIT_MIB = 16


@pytest.fixture(scope="module")
def image(slim_image) -> str:
    return slim_image


@pytest.fixture
def runtime(docker_client, image) -> Iterator[DockerRuntime]:
    rt = DockerRuntime(docker_client, close_timeout=2)
    try:
        yield rt
    finally:
        rt.close()
        assert owned(docker_client, rt) == []


@pytest.fixture
def spec(free_port_factory: Callable[[], int], image) -> Callable[..., ContainerSpec]:
    def make(task_id: str, host_id: str = "i-0a", cpu: int = 256,
             memory_mib: int = 512) -> ContainerSpec:
        return ContainerSpec(task_id, host_id, image, cpu, memory_mib, free_port_factory())

    return make


def owned(client, rt: DockerRuntime) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={rt.owner}"})


def wait_ready(rt: DockerRuntime, spec: ContainerSpec, since: float) -> float:
    """Seconds from ``since`` until ``/ready`` answers 200 with the task's id."""
    while time.monotonic() - since < READY_TIMEOUT_S:
        if spec.task_id not in rt.running():
            pytest.fail(f"{spec.task_id} stopped before ready:\n{rt.logs(spec.task_id)}")
        try:
            r = requests.get(f"http://127.0.0.1:{spec.port}/ready", timeout=1)
            if r.status_code == 200 and r.json()["task_id"] == spec.task_id:
                return time.monotonic() - since
        except requests.RequestException:
            pass
        time.sleep(0.02)
    pytest.fail(f"{spec.task_id} not ready in {READY_TIMEOUT_S:.0f} s:\n{rt.logs(spec.task_id)}")


def wait_exit(rt: Runtime, task_id: str, timeout: float) -> ContainerExit:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for gone in rt.exits():
            if gone.task_id == task_id:
                return gone
        time.sleep(0.01)
    pytest.fail(f"no exit of {task_id} within {timeout} s")


def test_is_a_runtime(runtime):
    assert isinstance(runtime, Runtime)
    assert runtime.name == "docker"


def test_two_tasks_answer_under_their_limits_then_a_kill_is_seen(runtime, spec, docker_client):
    a, b = spec("task-dock-a", "i-0a"), spec("task-dock-b", "i-0b")
    started = {}
    for s in (a, b):
        started[s.task_id] = time.monotonic()
        runtime.start(s)
    for s in (a, b):
        took = wait_ready(runtime, s, started[s.task_id])
        print(f"docker runtime: start() -> /ready {took:.2f} s")
    assert sorted(runtime.running()) == ["task-dock-a", "task-dock-b"]
    for s in (a, b):
        r = requests.post(f"http://127.0.0.1:{s.port}/predict", json=example_transaction(),
                          timeout=5)
        assert r.status_code == 200, r.text
        assert (r.json()["task_id"], r.json()["host_id"]) == (s.task_id, s.host_id)

        info = docker_client.api.inspect_container(runtime.container_id(s.task_id))
        host = info["HostConfig"]
        assert host["NanoCpus"] == 250_000_000
        assert host["Memory"] == host["MemorySwap"] == 512 * MIB
        assert host["NetworkMode"] == "host"
        assert info["Name"] == f"/fraudlab-{s.task_id[:12]}"
        labels = info["Config"]["Labels"]
        assert (labels[TASK_LABEL], labels["fraudlab.host"], labels[OWNER_LABEL]) == (
            s.task_id, s.host_id, runtime.owner)
        env = dict(item.split("=", 1) for item in info["Config"]["Env"])
        assert (env["HOST"], env["PORT"], env["TASK_ID"], env["HOST_ID"]) == (
            "127.0.0.1", str(s.port), s.task_id, s.host_id)

    killed_at = time.monotonic()
    runtime.kill("task-dock-a")
    gone = wait_exit(runtime, "task-dock-a", EXIT_DEADLINE_S + 1)
    print(f"docker runtime: kill() -> exit seen {gone.at - killed_at:.3f} s")
    assert gone.at - killed_at < EXIT_DEADLINE_S
    assert (gone.exit_code, gone.reason, gone.oom, gone.requested) == (
        137, ESSENTIAL_EXITED, False, False)
    assert runtime.running() == ["task-dock-b"]
    r = requests.post(f"http://127.0.0.1:{b.port}/predict", json=example_transaction(),
                      timeout=5)
    assert r.status_code == 200 and r.json()["task_id"] == "task-dock-b"
    assert runtime.exits() == []


def test_stop_is_a_requested_exit(runtime, spec):
    s = spec("task-dock-stop")
    since = time.monotonic()
    runtime.start(s)
    wait_ready(runtime, s, since)
    runtime.stop("task-dock-stop", timeout=10)
    gone = wait_exit(runtime, "task-dock-stop", EXIT_DEADLINE_S)
    assert (gone.exit_code, gone.reason, gone.requested) == (0, ESSENTIAL_EXITED, True)
    assert runtime.running() == []


def test_a_tiny_memory_limit_is_a_kernel_oom_kill(runtime, spec, docker_client):
    s = spec("task-dock-oom", memory_mib=OOM_LIMIT_MIB)
    started = time.monotonic()
    runtime.start(s)
    gone = wait_exit(runtime, "task-dock-oom", 20)
    print(f"docker runtime: {OOM_LIMIT_MIB} MiB limit -> OOM exit after "
          f"{gone.at - started:.2f} s")
    assert (gone.exit_code, gone.reason, gone.oom, gone.requested) == (
        137, OOM_REASON, True, False)
    state = docker_client.api.inspect_container(runtime.container_id(s.task_id))["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_a_task_restarts_under_its_name(runtime, spec):
    s = spec("task-dock-again")
    runtime.start(s)
    runtime.kill(s.task_id)
    wait_exit(runtime, s.task_id, 5)
    since = time.monotonic()
    runtime.start(s)  # the exited container of that name is replaced
    wait_ready(runtime, s, since)


def test_pulls_are_cached_per_host(runtime, docker_client, image):
    size = docker_client.images.get(image).attrs["Size"]
    first = runtime.pull("i-0a", image)
    assert not first.cached and first.badge == "simulated"
    assert first.size_bytes == int(size * runtime.compression)
    assert first.seconds == pytest.approx(first.size_bytes / runtime.bandwidth_bytes_per_s)
    assert first.seconds > 0
    again = runtime.pull("i-0a", image)
    assert again.cached and again.seconds == 0.0
    other = runtime.pull("i-0b", image)
    assert not other.cached and other.seconds == first.seconds
    with pytest.raises(PullError, match="CannotPullContainerError"):
        runtime.pull("i-0a", "fraudlab/no-such-image:none")


def test_close_leaves_no_container(docker_client, spec):
    rt = DockerRuntime(docker_client, close_timeout=2)
    specs = [spec("task-dock-c1"), spec("task-dock-c2")]
    try:
        for s in specs:
            rt.start(s)
        assert len(owned(docker_client, rt)) == 2
    finally:
        rt.close()
    assert owned(docker_client, rt) == []
    assert {(g.task_id, g.requested) for g in rt.exits()} == {("task-dock-c1", True),
                                                              ("task-dock-c2", True)}
    assert not rt._watcher.is_alive()


def test_remove_orphans_removes_only_dead_owners(runtime, spec, docker_client, image):
    s = spec("task-dock-live")
    runtime.start(s)
    dead_owner = f"{socket.gethostname()}/999999999/1/deadbeef"
    orphan = docker_client.api.create_container(
        image, name="fraudlab-orphan-test",
        labels={TASK_LABEL: "orphan", OWNER_LABEL: dead_owner},
        host_config=docker_client.api.create_host_config(network_mode="host"))["Id"]
    try:
        removed = remove_orphans(docker_client)
        assert "fraudlab-orphan-test" in removed
        assert not docker_client.api.containers(all=True, filters={"id": orphan})
        assert runtime.running() == ["task-dock-live"]  # its owner (this process) is alive
    finally:
        with contextlib.suppress(NotFound):  # gone already unless the test failed
            docker_client.api.remove_container(orphan, force=True)
