"""The control loop at idle: the local-cloud process's CPU with no traffic, a snapshot read at
40 tasks, and a crash during a slow image pull — on the process runtime.

    PYTHONPATH=. .venv/bin/python bench/bench_idle.py [--seconds 20] [--only cpu4,cpu40,pull]

Each case starts the local cloud as ``fraudlab up`` does (``python -m cloud.server.localcloud``
in the background, its own state directory and ports), deploys with the deploy steps
(``deploy_all``, as the integration tests do), and stops everything afterwards.

- ``cpu4`` / ``cpu40``: 4 tasks on 2 hosts, 40 tasks on 10 hosts (t3.medium, 256 CPU units /
  512 MiB each), no traffic; the process's utime+stime (``/proc/PID/stat``; its children, the
  tasks, are not counted) over ``--seconds``, as % of one core. ``cpu40`` also reads
  ``GET /v1/snapshot`` 50 times through the control API: median and p99.
- ``pull``: 2 tasks on 3 hosts, every uncached pull blocking 5 s (the process runtime's
  ``FRAUDLAB_PULL_WALL_SECONDS``); the desired count goes to 3 (its task pulls on the empty
  host), 1 s later a crash: the seconds from the crash request until a stream client sees the
  crashed task STOPPED and its replacement.

Targets (issue 13): ≤ 2 % of a core at 4 tasks, ≤ 5 % at 40 tasks; snapshot ≤ 10 ms at 40
tasks; the crash replaced and visible on the stream within 1 s. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.ecs import CLUSTER, SERVICE, update_service_desired
from cloud.aws.steps.plan import deploy_all
from cloud.core.ports import free_port
from cloud.server.control import ControlClient, ControlError
from cloud.server.launcher import connect, down, up
from cloud.server.stream import apply_changes

CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {"cpu4": 2.0, "cpu40": 5.0, "snapshot_ms": 10.0, "pull_crash_s": 1.0}
PULL_SECONDS = 5.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (not its children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _until(fn: Callable[[], Any], timeout: float = 300.0, what: str = "bench step") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


def _running(snap: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]


def _running_count(client: ControlClient) -> int:
    """RUNNING tasks in the snapshot; 0 while the local cloud is too busy to answer."""
    try:
        return len(_running(client.get("/v1/snapshot")))
    except ControlError:
        return 0


def start_cloud(env: dict[str, str] | None = None) -> tuple[dict[str, Any], ControlClient, Any]:
    """A fresh local cloud (process runtime): its cloud.json, a control client, an endpoint."""
    os.environ["FRAUDLAB_STATE_DIR"] = tempfile.mkdtemp(prefix="fraudlab-bench-idle-")
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    os.environ["FRAUDLAB_LB_PORT"] = str(free_port())
    os.environ.update(env or {})
    info, _, _ = up("process")
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    return info, connect(), endpoint


def idle_cpu(tasks: int, hosts: int, seconds: float, snapshot_reads: int = 0) -> dict[str, Any]:
    """% of a core the idle local cloud uses with ``tasks`` on ``hosts``; snapshot latency."""
    info, client, endpoint = start_cloud()
    try:
        deploy_all(endpoint.client, desired=tasks, placement="spread", hosts=hosts)
        _until(lambda: _running_count(client) >= tasks, 600,
               f"{tasks} RUNNING tasks")
        time.sleep(3.0)  # let the last health checks and write-backs settle
        pid = int(info["pid"])
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(pid) - c0
        out: dict[str, Any] = {"cpu_percent": 100.0 * used / (time.monotonic() - t0)}
        if snapshot_reads:
            times = []
            for _ in range(snapshot_reads):
                s = time.perf_counter()
                client.get("/v1/snapshot")
                times.append((time.perf_counter() - s) * 1000)
            times.sort()
            out["snapshot_median_ms"] = statistics.median(times)
            out["snapshot_p99_ms"] = times[min(len(times) - 1, int(len(times) * 0.99))]
        return out
    finally:
        down()


def crash_during_pull() -> dict[str, Any]:
    """Seconds from a crash request (sent while a 5 s pull runs) to the stream showing the
    crashed task STOPPED and a replacement; whether the pull really was uncached."""
    info, client, endpoint = start_cloud({"FRAUDLAB_PULL_WALL_SECONDS": str(PULL_SECONDS)})
    os.environ.pop("FRAUDLAB_PULL_WALL_SECONDS", None)
    seen: dict[str, Any] = {}
    got_first = threading.Event()
    stop = threading.Event()

    def follow() -> None:
        for kind, data in ControlClient(info["control_url"], client.session.headers[
                "Authorization"].removeprefix("Bearer ")).stream(interval=0.05, seconds=120):
            if kind in ("snapshot", "changes"):
                apply_changes(seen, data)
                got_first.set()
            if stop.is_set():
                return

    try:
        # one task per instance: the third goes to the empty host, whose pull is uncached
        deploy_all(endpoint.client, desired=2, placement="spread:instanceId", hosts=3)
        _until(lambda: _running_count(client) >= 2, 120, "2 RUNNING tasks")
        before = {t["task_id"] for t in client.get("/v1/snapshot")["tasks"]}
        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        _until(got_first.is_set, 30, "the stream's first snapshot")
        update_service_desired(endpoint.client("ecs"), CLUSTER, SERVICE, 3)
        time.sleep(1.0)  # the loop has read desired 3 and is pulling on the empty host
        t0 = time.monotonic()
        victim = client.post("/v1/crash")["crashed"]
        crash_call = time.monotonic() - t0

        def replaced() -> bool:
            tasks = seen.get("tasks", [])
            stopped = any(t["task_id"] == victim and t["last_status"] == "STOPPED"
                          for t in tasks)
            live = [t for t in tasks if t["desired_status"] == "RUNNING"
                    and t["task_id"] != victim]
            return stopped and len([t for t in live if t["task_id"] not in before]) >= 2

        _until(replaced, 60, "the replacement on the stream")
        visible = time.monotonic() - t0
        snap = client.get("/v1/snapshot")
        new = [t for t in snap["tasks"] if t["task_id"] not in before]
        return {"crash_to_stream_s": visible, "crash_call_s": crash_call,
                # a new task still pulling (no pull result yet), or one that pulled uncached
                "pull_uncached": any(
                    (t.get("port") is not None and t.get("pull_seconds") is None)
                    or (t.get("pull_cached") is False
                        and (t.get("pull_seconds") or 0) >= PULL_SECONDS) for t in new)}
    finally:
        stop.set()
        down()


def _verdict(value: float, target: float) -> str:
    return f"≤ {target:g}  {'met' if value <= target else 'MISSED'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", default="cpu4,cpu40,pull")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    rows: list[tuple[str, float, str, float]] = []

    def show(new: list[tuple[str, float, str, float]]) -> None:
        rows.extend(new)
        for name, value, unit, target in new:
            print(f"{name:<42}{value:>9.2f} {unit:<7}{_verdict(value, target)}", flush=True)

    if "cpu4" in only:
        r = idle_cpu(4, 2, args.seconds)
        show([("idle CPU, 4 tasks / 2 hosts", r["cpu_percent"], "% core", TARGETS["cpu4"])])
    if "cpu40" in only:
        r = idle_cpu(40, 10, args.seconds, snapshot_reads=50)
        show([("idle CPU, 40 tasks / 10 hosts", r["cpu_percent"], "% core", TARGETS["cpu40"]),
              ("GET /v1/snapshot median, 40 tasks", r["snapshot_median_ms"], "ms",
               TARGETS["snapshot_ms"]),
              ("GET /v1/snapshot p99, 40 tasks", r["snapshot_p99_ms"], "ms",
               TARGETS["snapshot_ms"])])
    if "pull" in only:
        r = crash_during_pull()
        show([(f"crash during a {PULL_SECONDS:g} s pull → on the stream",
               r["crash_to_stream_s"], "s", TARGETS["pull_crash_s"]),
              ("  of which the crash request itself", r["crash_call_s"], "s",
               TARGETS["pull_crash_s"])])
        if not r["pull_uncached"]:
            print("warning: the scale-up task's pull was cached: the pull figure is not a "
                  "crash *during* a pull", file=sys.stderr)
    return 0 if all(v <= t for _, v, _, t in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
