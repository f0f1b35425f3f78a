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


IMAGE_REPO = os.environ.get("FRAUDLAB_TEST_IMAGE_REPO", "fraudlab/service")
SLIM_IMAGE = f"{IMAGE_REPO}:slim"
BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def docker_client():
    """The Docker engine's client; the test is skipped, with the reason, when none answers."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers (docker.from_env().ping() failed: "
                    f"{type(exc).__name__}: {exc})")
    yield client
    client.close()


@pytest.fixture(scope="session")
def slim_image(docker_client) -> str:
    """``fraudlab/service:slim`` built from this checkout (layer cache: seconds when cached).

    Always built, so a stale image from another checkout is never what the tests run; a
    build failure fails the test (it is the image's own test), it does not skip it.
    """
    import shutil

    if shutil.which("docker") is None:
        pytest.skip("the Docker engine answers but the docker CLI (needed to build) is missing")
    try:
        built = subprocess.run(["bash", str(ROOT / "scripts" / "build_image.sh"), "slim"],
                               cwd=ROOT, env={**os.environ, "IMAGE": IMAGE_REPO},
                               capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                               check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"building {SLIM_IMAGE} took more than {BUILD_TIMEOUT_S} s")
    if built.returncode != 0:
        pytest.fail(f"building {SLIM_IMAGE} failed:\n{built.stdout[-4000:]}\n"
                    f"{built.stderr[-4000:]}")
    return SLIM_IMAGE


@pytest.fixture(scope="module")
def module_state_dir(tmp_path_factory) -> Iterator[Path]:
    """A fresh FRAUDLAB_STATE_DIR for one test module, the old value restored after it."""
    old = os.environ.get("FRAUDLAB_STATE_DIR")
    path = tmp_path_factory.mktemp("state")
    os.environ["FRAUDLAB_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("FRAUDLAB_STATE_DIR", None)
    else:
        os.environ["FRAUDLAB_STATE_DIR"] = old


@pytest.fixture(scope="module")
def registry(module_state_dir):
    """The kit's local registry (Debian's docker-registry) on 127.0.0.1, for one module;
    skipped with the reason when the binary is not installed."""
    from cloud.image.registry import INSTALL_HINT, find_binary, start_registry, stop_registry

    if find_binary() is None:
        pytest.skip(f"no registry binary (docker-registry) is installed: {INSTALL_HINT}")
    info = start_registry()
    yield info
    stop_registry(info)


def _wait_for(predicate: Callable[[], object], timeout: float, what: str,
              interval: float = 0.05) -> object:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def wait_for() -> Callable[..., object]:
    """The bounded polling wait the local-cloud tests share."""
    return _wait_for


@pytest.fixture
def start_local_cloud(tmp_path, monkeypatch, free_port_factory) -> Iterator[Callable[..., object]]:
    """Start a process-runtime local cloud on free ports with its own state directory;
    every cloud started is stopped at teardown."""
    from cloud.server.localcloud import LocalCloud

    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    started: list[LocalCloud] = []

    def start(time_scale: float = 12.0, runtime: str = "process") -> LocalCloud:
        lc = LocalCloud(runtime, time_scale=time_scale, lb_port=0,
                        env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_factory()}"})
        started.append(lc)
        lc.start()
        return lc

    yield start
    for lc in started:
        lc.stop()
