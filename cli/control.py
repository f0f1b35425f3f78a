"""``fraudlab status|scale|crash|oom|slow|bad-deploy|kill-host|traffic|down|serve``: the
running local cloud's control API, asked and told."""

from __future__ import annotations

import argparse
import json
import os
import sys

from cli.narrate import status as render_status
from cloud.runtime.replica import GUNICORN
from cloud.server import launcher


def serve(args: argparse.Namespace) -> int:
    """Run one replica in the foreground, as the container image does."""
    os.environ.update({"PORT": str(args.port), "HOST": "127.0.0.1",
                       "MODEL_RUNTIME": args.runtime})
    os.execv(GUNICORN[0], GUNICORN)
    return 0  # not reached


def status(args: argparse.Namespace) -> int:
    """The local cloud's hosts, tasks, services and events (``--target aws``: cli/aws.py)."""
    snap = launcher.connect().get("/v1/snapshot")
    if args.json:
        print(json.dumps(snap, indent=2))
    else:
        render_status(sys.stdout, snap)
    return 0


def scale(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"desired": args.desired}
    if args.service:
        body["service"] = args.service
    step = launcher.connect().post("/v1/scale", body)
    if args.json:
        print(json.dumps(step, indent=2))
        return 0
    print(f"{step['cli']}\n{step['title']}" + ("" if step["changed"] else " (already so)"))
    for warning in step.get("warnings", [])[1:]:  # [0] is the case study's myth
        print(f"note: {warning}")
    print("watch `fraudlab status`: the service scheduler starts or stops tasks to match")
    return 0


def crash(args: argparse.Namespace) -> int:
    crashed = launcher.connect().post("/v1/crash", {"task": args.task})["crashed"]
    print(f"sent SIGKILL to task {crashed}: watch `fraudlab status` — ECS marks it STOPPED "
          "and the service scheduler starts a new task to replace it")
    return 0


def oom(args: argparse.Namespace) -> int:
    task = launcher.connect().post("/v1/oom", {"task": args.task})["oom"]
    print(f"task {task} is allocating more memory than its limit: its runtime's OOM killer "
          "ends it (stoppedReason \"OutOfMemoryError: Container killed due to memory usage\", "
          "exit code 137) and the service scheduler starts a new task — watch `fraudlab status`")
    return 0


def slow(args: argparse.Namespace) -> int:
    task = launcher.connect().post("/v1/slow", {"task": args.task, "ms": args.ms})["slow"]
    if args.ms:
        print(f"task {task} now answers /predict {args.ms} ms later (a slow dependency): round "
              "robin still sends it its share, least_outstanding_requests sends it fewer "
              "(`fraudlab deploy --algorithm least_outstanding_requests`); undo with "
              "`fraudlab slow --ms 0 " + task[:8] + "`")
    else:
        print(f"task {task} answers at its own speed again")
    return 0


def bad_deploy(args: argparse.Namespace) -> int:
    result = launcher.connect().post("/v1/bad-deployment", {})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"registered {result['task_definition'].rsplit('/', 1)[-1]} ({result['why']})")
    print(f"  {result['cli']}")
    print(f"the old tasks keep serving while the new ones fail; at "
          f"{result['circuit_breaker_threshold']} failed tasks the circuit breaker marks the "
          "deployment FAILED and rolls back to "
          f"{result['previous_task_definition'].rsplit('/', 1)[-1]} — watch `fraudlab status` "
          "or `aws ecs describe-services`")
    return 0


def kill_host(args: argparse.Namespace) -> int:
    killed = launcher.connect().post("/v1/kill-host", {"host": args.host})["killed_host"]
    print(f"terminated {killed}: its tasks stop with it; the scheduler places replacements "
          "on the hosts that are left (if they fit)")
    return 0


def traffic(args: argparse.Namespace) -> int:
    client = launcher.connect()
    if args.stop:
        snap = client.post("/v1/traffic/stop")
        print(json.dumps(snap, indent=2) if args.json else
              f"traffic stopped: {snap.get('completed', 0)} answered, errors "
              f"{snap.get('errors', {})}")
        return 0
    started = client.post("/v1/traffic", {"rate": args.rate, "profile": args.profile,
                                          "duration": args.duration})
    print(f"sending {args.profile} traffic at {args.rate} tx/s to the load balancer "
          f"{started['target']} (open loop, Poisson arrivals) for at most {args.duration} s; "
          "`fraudlab status` shows it, `fraudlab traffic --stop` stops it")
    return 0


def down(args: argparse.Namespace) -> int:
    print("the local cloud stopped; every replica with it" if launcher.down()
          else "no local cloud was running")
    return 0
