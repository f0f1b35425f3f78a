"""Observer mode's cost: AWS API calls per poll and a poll's wall time, against the emulator
alone filled by the ECS-agent harness (tests/ecs_agent_harness.py). Prints figures; not a test.

    .venv/bin/python bench/bench_observer.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from botocore.config import Config
from ecs_agent_harness import CLUSTER, SERVICE, build_cluster, start_plain_emulator

from cloud.aws.observer import POLL_SECONDS, SLOW_POLL_SECONDS
from cloud.aws.observer_client import ObserverClient
from cloud.core.ports import free_port


def main(polls: int = 20) -> None:
    logging.getLogger("werkzeug").disabled = True
    endpoint = start_plain_emulator(free_port())
    calls: list[str] = []
    config = Config(retries={"max_attempts": 1, "mode": "standard"})

    def make(service: str) -> Any:
        client = endpoint.client(service, config)
        client.meta.events.register("before-call",
                                    lambda model, **_: calls.append(model.name))
        return client

    try:
        build_cluster(endpoint)
        client = ObserverClient(CLUSTER, SERVICE, make, poll_seconds=0)
        client.snapshot()  # makes the clients
        calls.clear()
        client.snapshot()
        fast = len(calls)
        calls.clear()
        client.observer._slow_at = None  # the CloudWatch/Application Auto Scaling part is due
        client.snapshot()
        full = len(calls)
        times = []
        for _ in range(polls):
            began = time.monotonic()
            client.snapshot()
            times.append(time.monotonic() - began)
        per_second = fast / POLL_SECONDS + (full - fast) / SLOW_POLL_SECONDS
        print(f"API calls per {POLL_SECONDS:g} s poll (ECS, ELBv2): {fast}")
        print(f"API calls every {SLOW_POLL_SECONDS:g} s (CloudWatch, Application Auto Scaling): "
              f"{full - fast}")
        print(f"average API calls per second: {per_second:.2f}")
        print(f"poll wall time against the emulator: median "
              f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
              f"({polls} polls)")
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
