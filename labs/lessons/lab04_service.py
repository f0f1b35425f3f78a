"""Lab 04 — the service: desired count, spread vs binpack, the image cache per host."""

from __future__ import annotations

from collections import Counter
from typing import Any

from labs.kit import checks
from labs.kit.template import Lab, Step

DESIRED = 4


def _service(session: Any) -> list[Any]:
    results = session.deploy(desired=DESIRED, placement="spread")
    seconds = session.wait_steady(DESIRED)
    session.record("steady_seconds", round(seconds, 2))
    return [r for r in results if r.changed] or results[-1:]


def placement(session: Any) -> str:
    """Tasks per host and the scheduler's reasons (the timeline's placement entries)."""
    snap = session.snapshot()
    running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]
    per_host = Counter(t["host"] for t in running)
    reasons = [e["text"] for e in snap["timeline"] if e["kind"] == "placement"][-DESIRED:]
    return ("tasks per host: " + ", ".join(f"{h}: {n}" for h, n in sorted(per_host.items()))
            + "\nwhy (the scheduler's reasons):\n" + "\n".join(f"• {r}" for r in reasons))


def image_cache(session: Any) -> str:
    """Which tasks pulled the image and which found it in their host's cache."""
    snap = session.snapshot()
    lines = []
    for t in snap["tasks"]:
        if t["last_status"] == "RUNNING":
            how = "cached on the host" if t.get("pull_cached") else (
                f"pulled ({t.get('pull_seconds') or 0:.0f} lab s)")
            lines.append(f"task {t['task_id'][:8]} on {t['host']}: image {how}")
    caches = {h["instance_id"]: len(h.get("image_cache") or []) for h in snap["hosts"]}
    return "\n".join(lines) + f"\nimages cached per host: {caches}"


def compare_strategies(session: Any, extra: int = 6) -> dict[str, Any]:
    """Where ``extra`` more 256/512 tasks would go on the current hosts under spread and
    binpack — asked of the kit's placement decision (``cloud.ecs.placement.place``, the function
    its scheduler uses), on the hosts' remaining resources from the snapshot."""
    from cloud.ecs.placement import Host, TaskRequest, place

    hosts = [Host(h["instance_id"], h["az"], h["type"], h["registered_cpu"],
                  h["registered_memory"], h["remaining_cpu"], h["remaining_memory"],
                  tasks_by_group=dict(h.get("tasks") or {}))
             for h in session.snapshot()["hosts"] if h["status"] == "ACTIVE"]
    out: dict[str, Any] = {}
    for strategy in ("spread", "binpack"):
        result = place([TaskRequest("fraud-svc", 256, 512)] * extra, hosts, strategy)
        out[strategy] = {"per_host": result.count_by_host(),
                         "unplaced": len(result.unplaced),
                         "first_reason": result.placements[0].reason if result.placements
                         else (result.unplaced[0].reason if result.unplaced else "")}
    return out


def grade(session: Any) -> list[checks.CheckResult]:
    return [checks.running_tasks_on_hosts(session, DESIRED, 2),
            checks.service_desired(session, DESIRED, "spread")]


LAB = Lab(
    4, "service", "The service",
    do="Create fraud-svc with desired count 4 behind the load balancer and watch the "
       "scheduler place the tasks.",
    learn="The service scheduler keeps the desired count; spread balances over AZs and "
          "hosts; each host pulls the image once, then uses its cache.",
    need="The local cloud; labs 02–03's resources (created again if missing).",
    myth="ECS automatically launches EC2 instances when you set the desired count.",
    live=True,
    steps=[
        Step("service", "Create the service", "Every deploy step, then wait for 4 RUNNING "
             "tasks that pass their health checks.", "aws ecs create-service --cluster "
             "fraud-cluster --service-name fraud-svc --desired-count 4 --placement-strategy "
             "type=spread,field=attribute:ecs.availability-zone …", "The scheduler places "
             "tasks by the strategy; without capacity no instance is launched (tasks stay "
             "unplaced, 'unable to place a task').", "ecs-facts.md §3, §4, §11b", "simulated",
             _service),
        Step("placement", "Where did they go?", "Tasks per host and the scheduler's reasons.",
             "aws ecs describe-tasks --cluster fraud-cluster --tasks …",
             "spread on attribute:ecs.availability-zone balances AZs first, then hosts; "
             "binpack on memory fills one host before the next.", "ecs-facts.md §3",
             "simulated", placement),
        Step("strategies", "Spread vs binpack", "Ask the placement decision where 6 more "
             "tasks would go under each strategy (nothing is started).",
             "aws ecs create-service … --placement-strategy type=binpack,field=memory",
             "binpack on memory picks the instance with the least memory left, so hosts fill "
             "one by one (fewer instances, less headroom); spread keeps AZs and hosts even.",
             "ecs-facts.md §3", "simulated", compare_strategies),
        Step("cache", "The image cache per host", "Which tasks pulled and which were cached.",
             "docker image ls (on each host)", "The agent caches images per instance; a "
             "second task on the same host does not download the layers again.",
             "ecs-facts.md §5", "simulated", image_cache),
    ],
    exercises=["Scale to 6 with session.scale(6) and watch the hosts view: where do the new "
               "tasks land? Then session.scale(4).",
               "Redeploy with session.deploy(placement='binpack') (a new deployment): how "
               "are tasks spread now? Put it back with placement='spread'."],
    checks=grade,
)
