"""``fraudlab up / deploy / status / crash / down`` as a learner types them (process runtime).

Each test uses its own state directory and AWS port, and checks that stopping the local
cloud — with ``down`` or with a signal — leaves no replica process behind.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from cli_runner import cli_env, fraudlab


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path)


def cloud_pid(env) -> int:
    return json.loads((Path(env["FRAUDLAB_STATE_DIR"]) / "cloud.json").read_text())["pid"]


def replica_pids(snapshot) -> list[int]:
    """The processes (gunicorn masters and workers) of the RUNNING tasks, from /proc."""
    ports = {t["port"] for t in snapshot["tasks"] if t["last_status"] == "RUNNING"}
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        port = next((e[5:] for e in environ if e.startswith(b"PORT=")), None)
        if port and int(port) in ports and b"TASK_ID" in b"".join(environ):
            pids.append(int(proc.name))
    return pids


def gone(pids: list[int], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()
                 and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def test_up_deploy_crash_down(env) -> None:
    up = fraudlab(env, "up", "--runtime", "process")
    assert "local cloud up in" in up.stdout and "runtime process" in up.stdout
    assert "already running" in fraudlab(env, "up", "--runtime", "process").stdout
    try:
        deploy = fraudlab(env, "deploy", "--desired", "3", "--hosts", "2",
                          "--algorithm", "least_outstanding_requests")
        assert "$ aws ecs create-service" in deploy.stdout
        assert "$ aws elbv2 create-listener" in deploy.stdout
        assert "[EMULATED]" in deploy.stdout and "[SIMULATED]" in deploy.stdout
        assert "3 tasks RUNNING and answering" in deploy.stdout
        snap = json.loads(fraudlab(env, "status", "--json").stdout)
        assert sum(t["last_status"] == "RUNNING" for t in snap["tasks"]) == 3
        assert {h["registered_cpu"] for h in snap["hosts"]} == {2048}
        lb = snap["load_balancer"]
        assert lb["algorithm"] == "least_outstanding_requests"  # read from the target group
        assert lb["api"]["attributes"]["load_balancing.algorithm.type"] == lb["algorithm"]
        pids = replica_pids(snap)
        assert len(pids) >= 3  # gunicorn master and worker of each task
        crash = fraudlab(env, "crash")
        assert "sent SIGKILL to task" in crash.stdout
        bad = fraudlab(env, "crash", "--task", "zzzz", check=False)
        assert bad.returncode == 2 and "no single RUNNING task matches 'zzzz'" in bad.stderr
    finally:
        down = fraudlab(env, "down")
    assert "stopped" in down.stdout
    assert gone(pids)
    assert "no local cloud was running" in fraudlab(env, "down").stdout
    status = fraudlab(env, "status", check=False)
    assert status.returncode == 2 and "fraudlab up" in status.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_replica(env, signum) -> None:
    fraudlab(env, "up", "--runtime", "process")
    pid = cloud_pid(env)
    try:
        fraudlab(env, "deploy", "--desired", "2", "--hosts", "1")
        pids = replica_pids(json.loads(fraudlab(env, "status", "--json").stdout))
        assert len(pids) >= 2
    finally:
        os.kill(pid, signum)
    assert gone([pid, *pids], timeout=30)


def test_bad_input_is_a_clear_error(env) -> None:
    run = fraudlab(env, "up", "--time-scale", "0", check=False)
    assert run.returncode == 2 and "--time-scale must be > 0" in run.stderr
    run = fraudlab(env, "deploy", check=False)
    assert run.returncode == 2 and "no local cloud is running" in run.stderr
