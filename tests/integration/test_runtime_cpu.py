"""Both runtimes measure a real task's CPU (gunicorn master + worker) and memory.

The Docker case needs an engine (skipped here with the reason, run in CI): its numbers come
from the container's cgroup files, or the stats API where they are not readable.
"""

from __future__ import annotations

import time

import pytest
import requests

from cloud.runtime.base import ContainerSpec
from cloud.runtime.process import ProcessRuntime
from service.contract import example_transaction


def _ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} not ready in {timeout} s")


def _check(runtime, image: str, port: int) -> None:
    spec = ContainerSpec("task-cpu", "i-0a", image, 256, 1024, port)
    assert runtime.cpu_seconds("task-cpu") is None  # unknown task
    runtime.start(spec)
    url = f"http://127.0.0.1:{port}"
    _ready(url)
    booted = runtime.cpu_seconds("task-cpu")
    assert booted is not None and booted > 0.1  # importing the model costs CPU
    with requests.Session() as http:
        for _ in range(200):
            assert http.post(f"{url}/predict", json=example_transaction(),
                             timeout=5).status_code == 200
    time.sleep(0.3)  # the process runtime's /proc scan cache and memory sampling
    loaded = runtime.cpu_seconds("task-cpu")
    assert loaded is not None and loaded > booted
    # Memory is sampled (the process runtime reads PSS every few seconds, the Docker runtime
    # asks the engine): wait for a reading that covers the loaded worker.
    deadline = time.monotonic() + 15
    while (memory := runtime.memory_bytes("task-cpu")) is None or memory <= 20 * 2**20:
        assert time.monotonic() < deadline, f"memory stayed at {memory} bytes"
        time.sleep(0.2)
    print(f"{runtime.name}: boot {booted:.2f} CPU s; +{loaded - booted:.3f} CPU s for 200 "
          f"requests; memory {memory / 2**20:.0f} MiB")
    runtime.stop("task-cpu", timeout=5)
    assert runtime.cpu_seconds("task-cpu") is None
    assert runtime.memory_bytes("task-cpu") is None


def test_process_runtime_cpu_and_memory(tmp_path, free_port) -> None:
    runtime = ProcessRuntime(tmp_path / "logs")
    try:
        _check(runtime, "fraudlab/service:slim", free_port)
    finally:
        runtime.close()


@pytest.mark.docker
def test_docker_runtime_cpu_and_memory(docker_client, slim_image, free_port) -> None:
    from cloud.runtime.docker import DockerRuntime

    runtime = DockerRuntime(docker_client, close_timeout=2)
    try:
        _check(runtime, slim_image, free_port)
    finally:
        runtime.close()
