"""``fraudlab deploy``: the deploy steps through the AWS API, then watch the scheduler work.

The steps are plain boto3 calls made from this process against the running local cloud's
AWS endpoint — exactly what a learner could do with ``aws`` — and the local cloud's
controller picks the service up on its next pass, as ECS's scheduler would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from cli.narrate import say, step
from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.plan import deploy_all
from cloud.aws.steps.scaling import parse_autoscale, scaling_steps
from cloud.image.reference import parse_reference
from cloud.server.launcher import connect, running_cloud

STEADY_TIMEOUT = 90.0


def autoscale_settings(autoscale: str | None, min_tasks: int | None, max_tasks: int | None,
                       desired: int) -> tuple[str, float, int, int] | None:
    """``--autoscale``/``--min-tasks``/``--max-tasks`` checked: (metric, target, min, max), or
    None without ``--autoscale``. Min defaults to 1, Max to 10."""
    if autoscale is None:
        if min_tasks is not None or max_tasks is not None:
            raise ValueError("--min-tasks and --max-tasks go with --autoscale "
                             "(e.g. --autoscale requests:500 --min-tasks 2 --max-tasks 8)")
        return None
    metric, target = parse_autoscale(autoscale)
    low = 1 if min_tasks is None else min_tasks
    high = 10 if max_tasks is None else max_tasks
    if not 0 <= low <= 50:
        raise ValueError(f"--min-tasks must be between 0 and 50, got {low}")
    if not 1 <= high <= 50:
        raise ValueError(f"--max-tasks must be between 1 and 50, got {high}")
    if low > high:
        raise ValueError(f"--min-tasks ({low}) cannot exceed --max-tasks ({high})")
    if not low <= desired <= high:
        raise ValueError(f"--desired ({desired}) must be within --min-tasks ({low}) and "
                         f"--max-tasks ({high}): auto scaling would move it there at once")
    return metric, target, low, high


def deploy(desired: int = 4, placement: str = "spread", hosts: int = 2,
           out: TextIO | None = None, wait: bool = True, capacity_provider: bool = False,
           max_hosts: int = 4, algorithm: str = "round_robin", autoscale: str | None = None,
           min_tasks: int | None = None, max_tasks: int | None = None,
           image: str | None = None, network_mode: str = "bridge") -> dict[str, Any]:
    """Run the steps; with ``wait``, return once the service has ``desired`` RUNNING tasks.

    ``capacity_provider`` adds cluster auto scaling (``hosts`` to ``max_hosts`` instances);
    ``algorithm`` is the target group's routing algorithm. ``autoscale`` (``requests:TARGET``,
    ``cpu:TARGET`` or ``memory:TARGET``) adds service auto scaling after the service: a
    scalable target of ``min_tasks``–``max_tasks`` tasks and a target-tracking policy.
    ``image``: a pushed image (``fraudlab push``) for the task definition. ``network_mode``:
    the task definition's (bridge: dynamic host ports, ~7 tasks per t3.medium; host: one per
    instance; awsvpc: an ENI each, 2 per t3.medium — ecs-facts.md §2).
    """
    if not 0 <= desired <= 50:
        raise ValueError(f"--desired must be between 0 and 50, got {desired}")
    if not 1 <= hosts <= 10:
        raise ValueError(f"--hosts must be between 1 and 10, got {hosts}")
    if capacity_provider and not hosts <= max_hosts <= 10:
        raise ValueError(f"--max-hosts must be between --hosts ({hosts}) and 10, got {max_hosts}")
    scaling = autoscale_settings(autoscale, min_tasks, max_tasks, desired)
    if image is not None:
        parse_reference(image)  # a clear error for a malformed reference
    info = running_cloud()
    if not info:
        raise RuntimeError("no local cloud is running: start it with `fraudlab up`")
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    started = time.monotonic()
    results = deploy_all(endpoint.client, desired=desired, placement=placement, hosts=hosts,
                         capacity_provider=capacity_provider, max_hosts=max_hosts,
                         algorithm=algorithm, image=image, network_mode=network_mode)
    if scaling is not None:
        metric, target, low, high = scaling
        results += scaling_steps(endpoint.client, metric=metric, target_value=target,
                                 min_capacity=low, max_capacity=high)
    if out:
        for r in results:
            step(out, r)
    summary: dict[str, Any] = {"steps": [r.as_dict() for r in results],
                               "api_seconds": round(time.monotonic() - started, 3)}
    if wait:
        summary.update(wait_until_steady(desired, out, started))
    return summary


def wait_until_steady(desired: int, out: TextIO | None, started: float,
                      timeout: float = STEADY_TIMEOUT) -> dict[str, Any]:
    """Poll the snapshot until ``desired`` tasks are RUNNING and answering; narrate events."""
    client = connect()
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    snap: dict[str, Any] = {}
    while time.monotonic() < deadline:
        snap = client.get("/v1/snapshot")
        for entry in snap["timeline"]:
            key = f"{entry['wall']}{entry['text']}"
            if key not in seen and entry["kind"] in ("event", "placement", "pull",
                                                          "capacity"):
                seen.add(key)
                if out:
                    say(out, entry["badge"], entry["text"])
        running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]
        if len(running) == desired and all(s["running"] == s["desired"]
                                           for s in snap["services"]):
            seconds = time.monotonic() - started
            if out:
                say(out, "real", f"{desired} tasks RUNNING and answering after {seconds:.1f} s",
                    "\n".join(f"task {t['task_id'][:12]} on {t['host']}: {t['url']}"
                              for t in running))
            return {"steady_seconds": round(seconds, 3), "tasks": running}
        time.sleep(0.2)
    raise TimeoutError(f"the service did not reach {desired} RUNNING tasks in {timeout:.0f} s; "
                       "see `fraudlab status`")


def command(args: argparse.Namespace) -> int:
    """``fraudlab deploy`` on the local cloud (``--target aws``: cli/aws.py)."""
    desired = 4 if args.desired is None else args.desired
    result = deploy(desired=desired, placement=args.placement, hosts=args.hosts,
                    out=None if args.json else sys.stdout, wait=not args.no_wait,
                    capacity_provider=args.capacity_provider, max_hosts=args.max_hosts,
                    algorithm=args.algorithm, autoscale=args.autoscale,
                    min_tasks=args.min_tasks, max_tasks=args.max_tasks, image=args.image,
                    network_mode=args.network_mode)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0
