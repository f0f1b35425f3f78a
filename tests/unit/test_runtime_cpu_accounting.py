"""CPU and memory accounting of the runtimes: the /proc and cgroup parsing (pure parts)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.runtime.base import cpu_seconds, memory_bytes
from cloud.runtime.docker import (
    cgroup_candidates,
    cpu_stat_seconds,
    memory_stat_value,
    stats_cpu_seconds,
    stats_memory_bytes,
    v1_memory_dir,
)
from cloud.runtime.process import parse_stat, session_cpu_seconds

STAT = (b"4242 (gunicorn: (worker) x) S 4240 4240 4240 0 -1 4194560 1 0 0 0 "
        b"150 30 7 3 20 0 5 0 12345 100 200")


def test_parse_stat_reads_after_the_last_parenthesis() -> None:
    state, session, ticks = parse_stat(STAT)
    assert (state, session) == ("S", 4240)
    assert ticks == 150 + 30 + 7 + 3  # utime + stime + cutime + cstime


def test_parse_stat_zombie() -> None:
    assert parse_stat(STAT.replace(b") S ", b") Z "))[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_session_cpu_seconds_counts_a_busy_session_and_its_reaped_children() -> None:
    # A session leader that runs a busy child to completion (reaped: it lands in cutime). The
    # child spins until it has used 0.3 s of CPU (process time, not wall time: on a loaded
    # machine a wall-time spin gets less CPU than it waits).
    code = ("import subprocess,sys,time;"
            "subprocess.run([sys.executable,'-c','import time\\n"
            "while time.process_time()<0.3: pass']);time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        used = 0.0
        while time.monotonic() < deadline:
            used = session_cpu_seconds({proc.pid}).get(proc.pid, 0.0)
            if used >= 0.25:
                break
            time.sleep(0.05)
        assert used >= 0.25
        assert session_cpu_seconds({os.getpid() + 10_000_000}) == {}
    finally:
        proc.kill()
        proc.wait()


def test_cgroup_v2_cpu_stat() -> None:
    text = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
    assert cpu_stat_seconds(text) == 2.5
    assert cpu_stat_seconds("user_usec 1\n") is None
    assert memory_stat_value("anon 10\ninactive_file 4096\n", "inactive_file") == 4096
    assert memory_stat_value("anon 10\n", "inactive_file") == 0


def test_cgroup_candidates_and_v1_memory_dir() -> None:
    root = Path("/sys/fs/cgroup")
    found = dict((str(p), k) for k, p in cgroup_candidates("abc", root))
    assert found["/sys/fs/cgroup/system.slice/docker-abc.scope"] == "v2"
    assert found["/sys/fs/cgroup/cpuacct/docker/abc"] == "v1"
    assert v1_memory_dir(root / "cpuacct" / "docker" / "abc") == root / "memory/docker/abc"
    assert v1_memory_dir(root / "cpu,cpuacct" / "docker" / "abc") == root / "memory/docker/abc"
    assert (v1_memory_dir(root / "cpuacct" / "system.slice" / "docker-abc.scope")
            == root / "memory/system.slice/docker-abc.scope")


def test_docker_stats_parsing() -> None:
    v2 = {"cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}},
          "memory_stats": {"usage": 300 * 2**20, "stats": {"inactive_file": 100 * 2**20}}}
    assert stats_cpu_seconds(v2) == 3.0
    assert stats_memory_bytes(v2) == 200 * 2**20
    v1 = {"memory_stats": {"usage": 50, "stats": {"total_inactive_file": 80}}}
    assert stats_memory_bytes(v1) == 0
    assert stats_cpu_seconds({}) is None
    assert stats_memory_bytes({"memory_stats": {}}) is None


def test_runtimes_without_accounting_say_none() -> None:
    class Bare:
        pass

    class Measured:
        def cpu_seconds(self, task_id: str) -> float:
            return 1.5

        def memory_bytes(self, task_id: str) -> int:
            return 7

    assert cpu_seconds(Bare(), "t") is None and memory_bytes(Bare(), "t") is None
    assert cpu_seconds(Measured(), "t") == 1.5 and memory_bytes(Measured(), "t") == 7


class _FakeAPI:
    api_version = "1.43"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def stats(self, cid, stream=True, one_shot=None):
        self.calls.append((cid, stream, one_shot))
        return {"cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000}},
                "memory_stats": {"usage": 64 * 2**20, "stats": {"inactive_file": 0}}}

    def containers(self, **kwargs):
        return []


class _FakeClient:
    def __init__(self) -> None:
        self.api = _FakeAPI()

    def ping(self) -> bool:
        return True


def test_docker_runtime_reads_cgroup_files_else_one_stats_sample(tmp_path, monkeypatch) -> None:
    from cloud.runtime import docker as docker_runtime

    client = _FakeClient()
    runtime = docker_runtime.DockerRuntime(client, poll_interval=60)
    try:
        assert runtime.cpu_seconds("t") is None  # not a live task
        runtime._live["t"] = "c1"
        # No cgroup files for c1 here: one one-shot stats call per reading.
        monkeypatch.setattr(docker_runtime, "CGROUP_ROOT", tmp_path)
        runtime._cgroups.clear()
        monkeypatch.setattr(docker_runtime, "cgroup_candidates",
                            lambda cid, root=tmp_path: [("v2", tmp_path / f"docker-{cid}")])
        assert runtime.cpu_seconds("t") == 1.5
        assert runtime.memory_bytes("t") == 64 * 2**20
        assert client.api.calls[0] == ("c1", False, True)
        # With the container's cgroup (v2) readable, the files answer and the API is not asked.
        group = tmp_path / "docker-c2"
        group.mkdir()
        (group / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 1\n")
        (group / "memory.current").write_text(str(100 * 2**20))
        (group / "memory.stat").write_text(f"anon 1\ninactive_file {36 * 2**20}\n")
        runtime._live["u"] = "c2"
        calls = len(client.api.calls)
        assert runtime.cpu_seconds("u") == 2.5
        assert runtime.memory_bytes("u") == 64 * 2**20
        assert len(client.api.calls) == calls
        # cgroup v1: cpuacct.usage (ns) and the memory controller's files beside it.
        cpuacct = tmp_path / "cpuacct" / "docker" / "c3"
        memory = tmp_path / "memory" / "docker" / "c3"
        cpuacct.mkdir(parents=True)
        memory.mkdir(parents=True)
        (cpuacct / "cpuacct.usage").write_text("750000000\n")
        (memory / "memory.usage_in_bytes").write_text(str(50 * 2**20))
        (memory / "memory.stat").write_text(f"total_inactive_file {10 * 2**20}\n")
        monkeypatch.setattr(docker_runtime, "cgroup_candidates",
                            lambda cid, root=tmp_path: [("v1", cpuacct)])
        runtime._live["v"] = "c3"
        assert runtime.cpu_seconds("v") == 0.75
        assert runtime.memory_bytes("v") == 40 * 2**20
        assert len(client.api.calls) == calls
    finally:
        runtime._live.clear()
        runtime.close()
