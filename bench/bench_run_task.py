"""Standalone tasks: how long ``run-task`` waits for the controller to place and create the
task (the call answers it PROVISIONING), and how long until it is RUNNING (its process
answers /ready) — process runtime, a local cloud with one service task on two hosts.

    .venv/bin/python bench/bench_run_task.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from cloud.aws.steps.plan import deploy_all
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud

CLUSTER, FAMILY = "fraud-cluster", "fraud-detection"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ["FRAUDLAB_STATE_DIR"] = tempfile.mkdtemp()
    lc = LocalCloud("process", time_scale=30.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=1, placement="spread", hosts=2)
        ecs = lc.endpoint.client("ecs")
        calls, running = [], []
        for _ in range(args.runs):
            t0 = time.monotonic()
            arn = ecs.run_task(cluster=CLUSTER, taskDefinition=FAMILY)["tasks"][0]["taskArn"]
            calls.append(time.monotonic() - t0)
            ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=[arn], WaiterConfig={
                "Delay": 0.2, "MaxAttempts": 600})
            running.append(time.monotonic() - t0)
            ecs.stop_task(cluster=CLUSTER, task=arn)
        print(f"run-task answered in median {statistics.median(calls) * 1000:.0f} ms (max "
              f"{max(calls) * 1000:.0f} ms); RUNNING after median "
              f"{statistics.median(running):.1f} s (max {max(running):.1f} s), n={args.runs}")
    finally:
        lc.stop()


if __name__ == "__main__":
    main()
