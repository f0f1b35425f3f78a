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
    # A session leader that runs a busy child to completion (reaped: it lands in cutime).
    code = ("import subprocess,sys,time;"
            "subprocess.run([sys.executable,'-c','t=__import__(\"time\").time()\\n"
            "while __import__(\"time\").time()-t<0.3: pass']);time.sleep(5)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
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
