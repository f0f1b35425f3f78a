"""The slim serving image, built and run the way ECS would run one task.

Builds ``fraudlab/service:slim`` with ``scripts/build_image.sh slim`` (Docker's layer cache
makes a rebuild take seconds; the first build a minute or two), runs it with
``--network host``, the task definition's limits (cpu 256 -> ``--cpus 0.25``, memory 512 ->
``--memory 512m``) and TASK_ID/HOST_ID, then checks readiness, predictions, the non-root
user, the limits Docker applied and the image's HEALTHCHECK. Every wait is bounded.

Skipped, with the reason, when no Docker engine answers.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from cloud.core.ports import free_port
from service.contract import example_transaction, to_model_row
from service.model import load_model
from service.validation import validate_body

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("FRAUDLAB_TEST_IMAGE_REPO", "fraudlab/service")
TAG = f"{IMAGE}:slim"
NANO_CPUS = 250_000_000  # cpu 256 of 1024 units
MEMORY = 512 * 1024 * 1024
TASK_ID = "test-task-0001"
HOST_ID = "test-host-a"

BUILD_TIMEOUT_S = 900
READY_TIMEOUT_S = 60
HEALTHY_TIMEOUT_S = 60  # first probe after the 10 s interval, at most 3 failures of 3 s each


@pytest.fixture(scope="module")
def image(docker_client, slim_image):
    return docker_client.images.get(slim_image)


def _wait_ready(container, base: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            logs = container.logs(tail=50).decode(errors="replace")
            pytest.fail(f"container stopped ({container.status}) before ready:\n{logs}")
        try:
            r = requests.get(f"{base}/ready", timeout=2)
            if r.status_code == 200 and r.json().get("task_id") == TASK_ID:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.25)
    logs = container.logs(tail=50).decode(errors="replace")
    pytest.fail(f"/ready not 200 within {READY_TIMEOUT_S} s (last: {last}):\n{logs}")


@pytest.fixture(scope="module")
def running(docker_client, image):
    """(container, base URL) of one task of the slim image, removed afterwards."""
    port = free_port()
    container = docker_client.containers.run(
        image.id,
        name=f"fraudlab-test-{uuid.uuid4().hex[:8]}",
        detach=True,
        network_mode="host",
        environment={"PORT": str(port), "TASK_ID": TASK_ID, "HOST_ID": HOST_ID},
        nano_cpus=NANO_CPUS,
        mem_limit=MEMORY,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(container, base)
        yield container, base
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def reference():
    """The same model scored on this machine, to compare the container's answers with."""
    return load_model("litert")


def test_image_metadata(image):
    config = image.attrs["Config"]
    assert "8080/tcp" in (config.get("ExposedPorts") or {})
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "8080"
    assert config["Cmd"] == ["gunicorn", "-c", "python:service.gunicorn_conf", "service.wsgi:app"]
    probe = config["Healthcheck"]["Test"]
    assert probe[0] == "CMD" and "healthcheck.py" in " ".join(probe)
    assert "curl" not in " ".join(probe)


def test_predict_one(running, reference):
    _, base = running
    tx = example_transaction()
    r = requests.post(f"{base}/predict", json=tx, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task_id"] == TASK_ID
    assert body["host_id"] == HOST_ID
    assert body["model_version"] == reference.version
    assert body["transaction_id"] == tx["transaction_id"]
    assert 0.0 <= body["score"] <= 1.0
    assert body["decision"] == reference.decision(body["score"])
    # The container's LiteRT gives the score this machine's LiteRT gives.
    expected = float(reference.scores([to_model_row(validate_body(tx).transactions[0])])[0])
    assert body["score"] == pytest.approx(expected, abs=1e-6)
    ready = requests.get(f"{base}/ready", timeout=5).json()
    assert ready["runtime"] == "litert"
    assert ready["host_id"] == HOST_ID


def test_predict_batch(running, reference):
    _, base = running
    instances = []
    for i in range(64):
        tx = example_transaction()
        tx["transaction_id"] = i
        tx["tx_amount"] = round(5.0 + 37.5 * i, 2)
        tx["terminal_risk_30day"] = (i % 8) / 8
        tx["terminal_risk_7day"] = (i % 4) / 4
        instances.append(tx)
    r = requests.post(f"{base}/predict", json={"instances": instances}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task_id"] == TASK_ID
    assert body["host_id"] == HOST_ID
    predictions = body["predictions"]
    assert [p["transaction_id"] for p in predictions] == list(range(64))
    for p in predictions:
        assert 0.0 <= p["score"] <= 1.0
        assert p["decision"] == reference.decision(p["score"])
    assert len({round(p["score"], 6) for p in predictions}) > 1


def test_runs_as_non_root(running):
    container, _ = running
    container.reload()
    user = container.attrs["Config"]["User"]
    assert user and user.split(":")[0] not in ("0", "root")
    code, out = container.exec_run(["id", "-u"])
    assert code == 0
    assert int(out.decode().strip()) != 0
    top = container.top(ps_args="-o uid,pid,args")
    uid_col = top["Titles"].index("UID")
    uids = {row[uid_col] for row in top["Processes"]}
    assert uids and not uids & {"0", "root"}, top


def test_task_limits_applied(running):
    container, _ = running
    container.reload()
    host = container.attrs["HostConfig"]
    assert host["NanoCpus"] == NANO_CPUS
    assert host["Memory"] == MEMORY
    assert host["NetworkMode"] == "host"


def test_docker_healthcheck_healthy(running):
    container, _ = running
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    health: dict = {}
    while time.monotonic() < deadline:
        container.reload()
        health = container.attrs["State"].get("Health") or {}
        if health.get("Status") in ("healthy", "unhealthy"):
            break
        time.sleep(1)
    assert health.get("Status") == "healthy", health
