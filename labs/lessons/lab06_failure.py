"""Lab 06 — failure and recovery: kill a task or a host, the recovery stages, failed
requests, the retry knob."""

from __future__ import annotations

import time
from typing import Any

from cloud.aws.steps.hosts import launch_hosts
from labs.kit import checks
from labs.kit.template import Lab, Step

RECOVERY_LIMIT = 90.0


def _failed(session: Any) -> int:
    traffic = session.client.get("/v1/traffic") or {}
    return sum((traffic.get("errors") or {}).values()) + int(traffic.get("dropped") or 0)


def crash_and_recover(session: Any, retry: bool) -> dict[str, Any]:
    """Crash one task under traffic; seconds until a replacement serves; requests that
    failed meanwhile; the stages of the replacement from the timeline."""
    desired = session.ensure_service()
    del desired
    session.set_lb(retry=retry)
    session.change_traffic(phase="retry" if retry else "crash")
    time.sleep(1.0)
    want = session.service().get("desired") or 4
    before = {t["task_id"] for t in session.snapshot()["tasks"] if t["last_status"] == "RUNNING"}
    failed_before = _failed(session)
    crashed = session.crash()

    def replaced(snap: dict[str, Any]) -> bool:
        healthy = {t["id"] for t in snap["load_balancer"]["targets"] if t["state"] == "healthy"}
        new = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"
               and t["task_id"] not in before and t["task_id"] in healthy]
        return bool(new) and len(healthy) >= want

    seconds = session.wait_until(replaced, RECOVERY_LIMIT)
    time.sleep(0.5)
    snap = session.snapshot()
    dead = next((t for t in snap["tasks"] if t["task_id"] == crashed), {})
    new = [t["task_id"] for t in snap["tasks"] if t["last_status"] == "RUNNING"
           and t["task_id"] not in before]
    stages = [f"lab {e['lab']:.0f}s [{e['badge']}] {e['text']}" for e in snap["timeline"]
              if crashed in e.get("text", "") or e.get("task") == crashed
              or any(n in e.get("text", "") or e.get("task") == n for n in new)]
    session.set_lb(retry=False)
    return {"crashed": crashed, "stopped_reason": dead.get("stopped_reason"),
            "exit_code": dead.get("exit_code"), "replacement": new[:1],
            "recovery_seconds": None if seconds is None else round(seconds, 2),
            "recovery_lab_seconds": None if seconds is None else round(
                session.lab_seconds(seconds)),
            "failed_requests": _failed(session) - failed_before, "retry": retry,
            "stages": stages[-10:]}


def _crash(session: Any) -> dict[str, Any]:
    result = crash_and_recover(session, retry=False)
    session.record("crash", {k: result[k] for k in ("recovery_seconds", "failed_requests")})
    return result


def _retry(session: Any) -> dict[str, Any]:
    result = crash_and_recover(session, retry=True)
    session.record("crash_with_retry", {k: result[k] for k in ("recovery_seconds",
                                                                "failed_requests")})
    return result


def _kill_host(session: Any) -> dict[str, Any]:
    """Terminate one host; its tasks are replaced on the other; then relaunch the host."""
    session.ensure_service()
    want = session.service().get("desired") or 4
    began = time.monotonic()
    killed = session.kill_host()
    host = killed["killed_host"]

    def recovered(s: dict[str, Any]) -> bool:
        running = [t for t in s["tasks"] if t["last_status"] == "RUNNING"]
        return (not any(t["host"] == host for t in running) and len(running) >= want
                and sum(t["state"] == "healthy" for t in s["load_balancer"]["targets"]) >= want)

    seconds = session.wait_until(recovered, RECOVERY_LIMIT)
    ecs = session.aws("ecs")
    relaunch = launch_hosts(session.aws("ec2"), ecs, count=2)  # back to two hosts
    # The emulator answers RegisterContainerInstance with its own 4096 CPU / 7482 MiB until the
    # local cloud writes the agent's true values back on its next pass (emulator-notes.md):
    # wait for that pass, then read the hosts again (launch_hosts only describes now), so the
    # relaunched t3.medium is shown as ECS registers it (2048 CPU units, ecs-facts.md §1.2).
    new_ids = {r["instanceId"] for r in relaunch.result["hosts"]}
    session.wait_until(lambda s: new_ids <= {h["instance_id"] for h in s["hosts"]}, 30)
    relaunch = launch_hosts(session.aws("ec2"), ecs, count=2)
    session.record("host_recovery_seconds", None if seconds is None else round(seconds, 2))
    return {"killed": killed, "tasks_back_seconds": None if seconds is None else round(
        seconds, 2), "wall_seconds": round(time.monotonic() - began, 2),
        "relaunched": relaunch.result}


def grade(session: Any) -> list[checks.CheckResult]:
    crash = session.measurements().get("crash") or {}
    return [checks.CheckResult("the crashed task was replaced",
                               crash.get("recovery_seconds") is not None, f"crash: {crash}",
                               "run the crash step and wait for the replacement"),
            checks.running_tasks_on_hosts(session, 4, 1),
            checks.hosts_registered(session, 2)]


LAB = Lab(
    6, "failure", "Failure and recovery",
    do="Kill a task under traffic, then a whole host; time the recovery and count failed "
       "requests; try the kit-only retry knob.",
    learn="ECS replaces a dead task with a NEW task (placed, pulled, started, health-checked); "
          "requests in flight on it fail.",
    need="The deployed service (lab 04; deployed again if missing).",
    myth="Users see zero downtime when a container crashes.",
    live=True,
    steps=[
        Step("crash", "Crash a task", "SIGKILL one task under traffic and wait until its "
             "replacement is healthy.", "(no AWS API: the container dies) · aws ecs "
             "describe-tasks shows STOPPED, exit code 137", "Requests in flight on the dead "
             "task fail (502) and capacity is down until the replacement is placed, started "
             "and healthy.", "ecs-facts.md §4, §11g", "real", _crash),
        Step("retry", "The retry knob", "The same crash with the kit-only retry knob on.",
             "(no ALB setting: ALB does not retry a forwarded request)", "ALB surfaces a "
             "target's failure as 502/504; the knob shows what a client retry would save.",
             "ecs-facts.md §6", "simulated", _retry),
        Step("host", "Kill a host", "Terminate one instance; its tasks move to the other; "
             "then launch a replacement host.", "aws ec2 terminate-instances --instance-ids …",
             "Every task on the instance stops; the service scheduler places replacements "
             "where they fit; without an Auto Scaling group nobody replaces the instance.",
             "ecs-facts.md §3, §4", "simulated", _kill_host),
    ],
    exercises=["After the host came back, where are the tasks? (ECS does not rebalance a "
               "running service: only new placements use the new host)",
               "Compare failed_requests with and without retry: why is 'zero downtime' not "
               "what ALB gives you?",
               "Read the recovery stages: which took longest — placement, pull, start or "
               "the health checks?"],
    checks=grade,
)
