"""Local cloud figures: ``fraudlab up`` to ready, deploy of 4 tasks to all serving, and a
killed task to its replacement serving — on the process runtime and, where a Docker engine
answers, the Docker runtime.

    .venv/bin/python bench/bench_cloud.py [--runs 3] [--runtimes process,docker]

Targets (issue 4): up ≤ 5 s; replacement serving ≤ 2 s (process), ≤ 5 s (Docker).
Each run uses its own state directory and AWS port; everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import requests

from cloud.aws.endpoint import open_endpoint
from cloud.core.ports import free_port
from cloud.server.launcher import connect, down, up
from service.contract import example_transaction

TARGETS = {"up": 5.0, "replace:process": 2.0, "replace:docker": 5.0}


def _serving(snap: dict, desired: int, exclude: set[str] = frozenset()) -> list[dict] | None:
    running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"
               and t["task_id"] not in exclude]
    if len(running) < desired:
        return None
    for t in running:
        try:
            r = requests.post(f"{t['url']}/predict", json=example_transaction(), timeout=2)
        except requests.RequestException:
            return None
        if r.status_code != 200:
            return None
    return running


def _until(fn, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError("bench step did not finish")


def one_run(runtime: str, desired: int = 4) -> dict[str, float]:
    from cloud.aws.steps.plan import deploy_all

    os.environ["FRAUDLAB_STATE_DIR"] = tempfile.mkdtemp(prefix="fraudlab-bench-")
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    info, up_seconds, _ = up(runtime)
    try:
        client = connect()
        endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
        t0 = time.monotonic()
        deploy_all(endpoint.client, desired=desired, placement="spread", hosts=2)
        _until(lambda: _serving(client.get("/v1/snapshot"), desired))
        deploy_seconds = time.monotonic() - t0
        victim = client.post("/v1/crash")["crashed"]
        t1 = time.monotonic()
        _until(lambda: _serving(client.get("/v1/snapshot"), desired, {victim}))
        replace_seconds = time.monotonic() - t1
    finally:
        t2 = time.monotonic()
        down()
        down_seconds = time.monotonic() - t2
    return {"up": up_seconds, "deploy": deploy_seconds, "replace": replace_seconds,
            "down": down_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runtimes", default="process,docker")
    args = parser.parse_args()
    print(f"{'runtime':<9}{'figure':<10}{'min':>8}{'median':>8}{'max':>8}  target")
    for runtime in args.runtimes.split(","):
        try:
            runs = [one_run(runtime) for _ in range(args.runs)]
        except Exception as exc:  # e.g. no Docker engine: say so and go on
            print(f"{runtime:<9}skipped: {exc}")
            continue
        for figure in ("up", "deploy", "replace", "down"):
            values = [r[figure] for r in runs]
            target = TARGETS.get(figure) or TARGETS.get(f"{figure}:{runtime}")
            verdict = "" if target is None else (
                f"≤ {target:.0f} s {'met' if statistics.median(values) <= target else 'MISSED'}")
            print(f"{runtime:<9}{figure:<10}{min(values):>7.2f}s"
                  f"{statistics.median(values):>7.2f}s{max(values):>7.2f}s  {verdict}")


if __name__ == "__main__":
    main()
