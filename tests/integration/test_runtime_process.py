"""The process runtime with real processes: gunicorn replicas on free ports, real HTTP.

Two tasks answer with their own ids; a kill is seen as exit 137 within a second while the
other task keeps answering; stop() gives a requested exit; a memory limit below the service's
footprint is an OOM kill by the simulated cgroup; pulls are cached per host; close() leaves no
process behind. Every wait is bounded, and every test closes its runtime.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from cloud.runtime.base import (
    ESSENTIAL_EXITED,
    OOM_REASON,
    ContainerExit,
    ContainerSpec,
    Runtime,
)
from cloud.runtime.process import (
    SLIM_COMPRESSED_BYTES,
    ExitWaiter,
    ProcessRuntime,
    session_pids,
)
from service.contract import example_transaction

IMAGE = "fraudlab/service:slim"
READY_TIMEOUT_S = 60.0
EXIT_DEADLINE_S = 1.0  # a crash must be seen within a second


def wait_ready(runtime: ProcessRuntime, spec: ContainerSpec, since: float | None = None,
               timeout: float = READY_TIMEOUT_S) -> float:
    """Seconds from ``since`` (default: now) until ``/ready`` answers 200 with the task's id;
    fails with the task's log."""
    started = time.monotonic() if since is None else since
    while time.monotonic() - started < timeout:
        if spec.task_id not in runtime.running():
            pytest.fail(f"{spec.task_id} exited before ready:\n{log_of(runtime, spec.task_id)}")
        try:
            r = requests.get(f"http://127.0.0.1:{spec.port}/ready", timeout=1)
            if r.status_code == 200 and r.json()["task_id"] == spec.task_id:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    pytest.fail(f"{spec.task_id} not ready in {timeout:.0f} s:\n{log_of(runtime, spec.task_id)}")


def log_of(runtime: ProcessRuntime, task_id: str) -> str:
    path = runtime.log_path(task_id)
    return path.read_text(errors="replace")[-3000:] if path else ""


def wait_exit(runtime: Runtime, task_id: str, timeout: float) -> ContainerExit:
    """The task's exit from ``runtime.exits()``, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for gone in runtime.exits():
            if gone.task_id == task_id:
                return gone
        time.sleep(0.01)
    pytest.fail(f"no exit of {task_id} within {timeout} s")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "logs")
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def spec(free_port_factory: Callable[[], int]) -> Callable[..., ContainerSpec]:
    def make(task_id: str, host_id: str = "i-0a", memory_mib: int = 512,
             **env: str) -> ContainerSpec:
        return ContainerSpec(task_id, host_id, IMAGE, 256, memory_mib, free_port_factory(), env)

    return make


def test_is_a_runtime(runtime):
    assert isinstance(runtime, Runtime)
    assert runtime.name == "process"
    assert runtime.cpu_enforced is False


def test_two_tasks_answer_then_a_kill_is_seen_within_a_second(runtime, spec):
    a, b = spec("task-a", "i-0a"), spec("task-b", "i-0b")
    started = {}
    for s in (a, b):
        started[s.task_id] = time.monotonic()
        runtime.start(s)
    for s in (a, b):
        took = wait_ready(runtime, s, started[s.task_id])
        print(f"process runtime: start() -> /ready {took:.2f} s")
    assert sorted(runtime.running()) == ["task-a", "task-b"]
    for s in (a, b):
        r = requests.post(f"http://127.0.0.1:{s.port}/predict", json=example_transaction(),
                          timeout=5)
        assert r.status_code == 200, r.text
        assert (r.json()["task_id"], r.json()["host_id"]) == (s.task_id, s.host_id)
        assert 0.0 <= r.json()["score"] <= 1.0
    with pytest.raises(ValueError, match="already running"):
        runtime.start(a)

    killed_at = time.monotonic()
    runtime.kill("task-a")
    gone = wait_exit(runtime, "task-a", EXIT_DEADLINE_S + 1)
    print(f"process runtime: kill() -> exit seen {gone.at - killed_at:.3f} s")
    assert gone.at - killed_at < EXIT_DEADLINE_S
    assert (gone.exit_code, gone.reason, gone.oom, gone.requested) == (
        137, ESSENTIAL_EXITED, False, False)
    assert runtime.running() == ["task-b"]
    r = requests.post(f"http://127.0.0.1:{b.port}/predict", json=example_transaction(),
                      timeout=5)
    assert r.status_code == 200 and r.json()["task_id"] == "task-b"
    assert runtime.exits() == []  # each exit once


def test_stop_is_a_requested_exit(runtime, spec):
    s = spec("task-stop")
    runtime.start(s)
    wait_ready(runtime, s)
    runtime.stop("task-stop", timeout=10)
    gone = wait_exit(runtime, "task-stop", EXIT_DEADLINE_S)
    # gunicorn exits 0 on a graceful SIGTERM: what really happens is reported.
    assert (gone.exit_code, gone.reason, gone.requested) == (0, ESSENTIAL_EXITED, True)
    assert runtime.running() == []
    runtime.stop("task-stop")  # stopping a stopped task is a no-op


def test_a_task_that_cannot_boot_exits_with_its_code(runtime, spec):
    s = spec("task-bad", MODEL_RUNTIME="no-such-runtime")
    runtime.start(s)
    gone = wait_exit(runtime, "task-bad", READY_TIMEOUT_S)
    assert gone.exit_code not in (0, None, 137)
    assert (gone.reason, gone.requested, gone.oom) == (ESSENTIAL_EXITED, False, False)
    assert "MODEL_RUNTIME" in log_of(runtime, "task-bad")


def test_memory_above_the_limit_is_an_oom_kill(runtime, spec):
    s = spec("task-oom", memory_mib=30)  # the service needs ~60 MiB (PSS) once its worker runs
    started = time.monotonic()
    runtime.start(s)
    gone = wait_exit(runtime, "task-oom", 10)
    print(f"process runtime: 30 MiB limit -> OOM exit after {gone.at - started:.2f} s")
    assert (gone.exit_code, gone.reason, gone.oom, gone.requested) == (
        137, OOM_REASON, True, False)
    assert "simulated cgroup" in log_of(runtime, "task-oom")
    assert runtime.running() == []


def test_pulls_are_cached_per_host(runtime):
    first = runtime.pull("i-0a", IMAGE)
    assert not first.cached and first.badge == "simulated"
    assert first.seconds == pytest.approx(SLIM_COMPRESSED_BYTES / 50e6)
    assert first.size_bytes == SLIM_COMPRESSED_BYTES
    again = runtime.pull("i-0a", IMAGE)
    assert again.cached and again.seconds == 0.0
    other_host = runtime.pull("i-0b", IMAGE)
    assert not other_host.cached and other_host.seconds == first.seconds
    other_image = runtime.pull("i-0a", "fraudlab/service:full")
    assert not other_image.cached


def test_pull_time_follows_size_and_bandwidth(tmp_path):
    with ProcessRuntime(tmp_path, image_size_bytes=400_000_000,
                        bandwidth_bytes_per_s=10_000_000) as rt:
        assert rt.pull("i-0a", IMAGE).seconds == pytest.approx(40.0)


def test_close_leaves_no_process(tmp_path, spec):
    rt = ProcessRuntime(tmp_path)
    specs = [spec("task-c1"), spec("task-c2")]
    try:
        for s in specs:
            rt.start(s)
        for s in specs:
            wait_ready(rt, s)
        leaders = {rt.pid(s.task_id) for s in specs}
        pids = [pid for group in session_pids(leaders).values() for pid in group]
        assert len(pids) >= 4  # each task: gunicorn master and a worker
    finally:
        rt.close()
    assert not [pid for pid in pids if pid_alive(pid)]
    assert rt.running() == []
    assert {(g.task_id, g.requested) for g in rt.exits()} == {("task-c1", True),
                                                              ("task-c2", True)}
    assert not rt._watcher.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        rt.start(spec("task-late"))
    rt.close()  # twice is fine


def test_close_kills_a_group_whose_leader_ignores_sigterm(tmp_path, spec):
    rt = ProcessRuntime(tmp_path, close_timeout=1.0)
    s = spec("task-stubborn")
    try:
        rt.start(s)
        wait_ready(rt, s)
        leader = rt.pid(s.task_id)
        os.kill(leader, 19)  # SIGSTOP: the leader cannot act on SIGTERM
        started = time.monotonic()
    finally:
        rt.close()
    assert time.monotonic() - started < 5
    assert not pid_alive(leader)
    assert [(g.exit_code, g.requested) for g in rt.exits()] == [(137, True)]


def test_the_exit_waiter_returns_when_a_watched_process_exits() -> None:
    waiter = ExitWaiter()
    if not waiter.waits_on_exits:
        pytest.skip("no pidfds on this system: the watcher polls")
    proc = subprocess.Popen(["sleep", "60"])
    try:
        waiter.watch(proc.pid)
        waiter.wait(0)  # the wake-up watch() sent
        done = threading.Event()
        waiting = threading.Thread(target=lambda: (waiter.wait(None), done.set()), daemon=True)
        waiting.start()
        proc.kill()
        assert done.wait(10), "wait(None) did not return when the process exited"
    finally:
        proc.kill()
        proc.wait()
        waiter.close()


def test_an_exit_is_seen_without_polling_and_announced(tmp_path, spec):
    """Polling and memory sampling an hour apart: the exit still comes at once (pidfd) and
    ``on_exit`` is called (the local cloud wakes its loop with it)."""
    rt = ProcessRuntime(tmp_path / "logs", poll_interval=3600, memory_interval=3600)
    if not rt._exit_waiter.waits_on_exits:
        rt.close()
        pytest.skip("no pidfds on this system: the watcher polls")
    announced = threading.Event()
    rt.on_exit = announced.set
    try:
        s = spec("task-pidfd")
        rt.start(s)
        wait_ready(rt, s)
        rt.kill("task-pidfd")
        gone = wait_exit(rt, "task-pidfd", 30)
        assert (gone.exit_code, gone.requested) == (137, False)
        assert announced.is_set()
    finally:
        rt.close()
