"""Tasks of 256 CPU / 512 MiB per t3.medium in each network mode, measured in a real local cloud.

    .venv/bin/python bench/bench_network_modes.py [--runtime process] [--desired 10]

For each mode (bridge with hostPort 0, host, awsvpc) a fresh local cloud gets one t3.medium and
a service asking for ``--desired`` tasks (the kit's deploy steps, as a learner would); once the
scheduler reports a placement failure, it prints the tasks RUNNING on the instance, what
describe-tasks shows for one of them, the target group's targets, and ECS's event for the
first task that did not fit. Everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from cloud.aws.steps.plan import deploy_all
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud

MODES = ("bridge", "host", "awsvpc")
LIMIT = 300.0  # wall seconds per mode


def _measure(mode: str, runtime: str, desired: int) -> dict:
    os.environ["FRAUDLAB_STATE_DIR"] = tempfile.mkdtemp(prefix=f"netmodes-{mode}-")
    lc = LocalCloud(runtime, time_scale=12.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=desired, hosts=1, network_mode=mode)
        ecs, elbv2 = lc.endpoint.client("ecs"), lc.endpoint.client("elbv2")
        deadline = time.monotonic() + LIMIT
        event = None
        while time.monotonic() < deadline:
            [svc] = ecs.describe_services(cluster="fraud-cluster",
                                          services=["fraud-svc"])["services"]
            event = next((e["message"] for e in svc.get("events", [])
                          if "unable to place" in e["message"]), None)
            running = [t for t in lc.snapshot()["tasks"] if t["last_status"] == "RUNNING"]
            pending = [t for t in lc.snapshot()["tasks"] if t["last_status"] != "RUNNING"
                       and t["desired_status"] == "RUNNING"]
            if event and running and not pending:
                break
            time.sleep(0.5)
        arns = ecs.list_tasks(cluster="fraud-cluster", desiredStatus="RUNNING")["taskArns"]
        described = ecs.describe_tasks(cluster="fraud-cluster", tasks=arns[:1])["tasks"]
        shown = {}
        if described:
            c = described[0]["containers"][0]
            shown = {"networkBindings": c.get("networkBindings"),
                     "attachments": described[0].get("attachments")}
        arn = lc.lb_sync.target_group_arn
        targets = [(d["Target"]["Id"], d["Target"]["Port"]) for d in
                   elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                   ] if arn else []
        return {"running": len(running), "event": event, "shown": shown, "targets": targets}
    finally:
        lc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="process")
    parser.add_argument("--desired", type=int, default=10)
    args = parser.parse_args()
    for mode in MODES:
        got = _measure(mode, args.runtime, args.desired)
        print(f"{mode:7s}: {got['running']} tasks per t3.medium ({args.runtime} runtime, "
              f"desired {args.desired})")
        print(f"         describe-tasks: {got['shown']}")
        print(f"         targets: {got['targets'][:3]}{' …' if len(got['targets']) > 3 else ''}")
        print(f"         next task: {got['event']}")


if __name__ == "__main__":
    main()
