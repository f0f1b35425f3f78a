"""One replica of the fraud service as a local process (gunicorn), started and stopped.

The seed of the process runtime: the same command the container image runs, with the task's
identity and port in its environment, as ECS gives a container its environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import requests

from cloud.core.ports import free_port

APP = "service.wsgi:app"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", APP]


@dataclass
class Replica:
    """A running replica: its process, address and identity."""

    task_id: str
    host_id: str
    port: int
    process: subprocess.Popen = field(repr=False)
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Seconds from start until ``/ready`` answers 200; raises if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.task_id} exited with code "
                                   f"{self.process.returncode} before it was ready")
            try:
                if requests.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return time.monotonic() - self.started_at
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"replica {self.task_id} not ready after {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL to its process group after ``timeout`` (ECS's default stop
        timeout: 30 s).

        gunicorn finishes in-flight requests within its graceful timeout (20 s) first.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # master and workers
                self.process.wait()
        return self.process.returncode


def start_replica(task_id: str, host_id: str = "laptop", port: int | None = None,
                  runtime: str = "litert", quiet: bool = True, *, app: str = APP,
                  prefix: Sequence[str] = (), env: Mapping[str, str] | None = None,
                  output: IO[bytes] | None = None) -> Replica:
    """Start ``gunicorn service.wsgi:app`` on 127.0.0.1 with the task's environment.

    ``app``: another WSGI callable under the same gunicorn settings; ``prefix``: a command
    to run it under (``taskset -c 0``); ``env``: more environment; ``output``: a file for
    its stdout and stderr (else discarded when ``quiet``, inherited when not)."""
    port = port or free_port()
    full_env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "TASK_ID": task_id,
                "HOST_ID": host_id, "MODEL_RUNTIME": runtime, **(env or {})}
    out: IO[bytes] | int | None = output if output is not None else (
        subprocess.DEVNULL if quiet else None)
    process = subprocess.Popen([*prefix, *GUNICORN[:-1], app], env=full_env, stdout=out,
                               stderr=subprocess.STDOUT if output is not None else out,
                               start_new_session=True)
    return Replica(task_id, host_id, port, process)
