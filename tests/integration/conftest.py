"""A real replica: ``gunicorn service.wsgi:app`` as a child process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf",
            "service.wsgi:app"]


@dataclass
class GunicornReplica:
    """A running gunicorn process, its address and its log file."""

    process: subprocess.Popen
    port: int
    task_id: str
    host_id: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll ``/ready`` until it answers 200; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if requests.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"gunicorn not ready after {timeout:.0f} s:\n{self.logs()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL the process group if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@contextmanager
def run_replica(port: int, log_dir: Path, task_id: str = "task-test",
                host_id: str = "host-test", **env: str) -> Iterator[GunicornReplica]:
    """Start a replica on ``port``, wait until it is ready, and always stop it afterwards."""
    log = log_dir / f"gunicorn-{task_id}-{port}.log"
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "TASK_ID": task_id,
               "HOST_ID": host_id, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(GUNICORN, cwd=ROOT, env=environ, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    replica = GunicornReplica(process, port, task_id, host_id, log)
    try:
        replica.wait_ready()
        yield replica
    finally:
        replica.stop()


@pytest.fixture(scope="module")
def replica(free_port_factory: Callable[[], int],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornReplica]:
    """One replica shared by a test module."""
    with run_replica(free_port_factory(), tmp_path_factory.mktemp("replica")) as running:
        yield running


@pytest.fixture
def start_replica(free_port_factory: Callable[[], int],
                  tmp_path: Path) -> Iterator[Callable[..., GunicornReplica]]:
    """Start replicas in a test (``start_replica(task_id=..., **env)``); all stopped after it."""
    with ExitStack() as stack:
        def start(**kwargs: str) -> GunicornReplica:
            return stack.enter_context(run_replica(free_port_factory(), tmp_path, **kwargs))

        yield start
