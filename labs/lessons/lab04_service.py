"""Lab 04 — the service: desired count, spread vs binpack, the image cache per host."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.ecs import CLUSTER, SERVICE, task_definition_spec
from cloud.ecs.placement import Host, TaskRequest, place
from labs.kit import checks
from labs.kit.template import Lab, Step

DESIRED = 4
REFILL_LIMIT = 180.0  # wall seconds to wait for a rollout to settle


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


def _per_host(snap: dict[str, Any], mode: str) -> dict[str, int]:
    running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"
               and t.get("network_mode") == mode]
    return dict(Counter(t["host"] for t in running))


def _roll_out(session: Any, task_definition: str, mode: str, minimum_healthy: int,
              want: int) -> dict[str, Any]:
    """update-service to ``task_definition``; wait until ``want`` tasks of ``mode`` run and no
    task of another mode does. Returns the hosts' counts, seconds and the latest event."""
    ecs = session.aws("ecs")
    ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=task_definition,
                       deploymentConfiguration={"minimumHealthyPercent": minimum_healthy,
                                                "maximumPercent": 200})

    def settled(snap: dict[str, Any]) -> bool:
        running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]
        return (len(running) == want and all(t.get("network_mode") == mode for t in running))

    seconds = session.wait_until(settled, REFILL_LIMIT)
    snap = session.snapshot()
    events = [e["message"] for e in session.service(snap).get("events") or []]
    return {"per_host": _per_host(snap, mode),
            "seconds": None if seconds is None else round(seconds, 2),
            "latest_event": events[0] if events else None}


def network_modes(session: Any) -> dict[str, Any]:
    """Three network modes, three answers to "how many per host", live.

    The service runs bridge tasks (hostPort 0: dynamic ports, ~7 per t3.medium by memory).
    Register a host-mode revision (static hostPort 8080) and roll it out: the hosts refill
    with ONE task each and the rest cannot be placed ("is already using a port required by
    your task"). Try an awsvpc revision: ECS refuses it for a target group of type instance.
    Then roll back to the bridge revision.
    """
    session.ensure_service(DESIRED)
    ecs = session.aws("ecs")
    [svc] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    bridge = svc["taskDefinition"]
    td = ecs.describe_task_definition(taskDefinition=bridge)["taskDefinition"]
    container = td["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container.get("environment", [])}

    def revision(mode: str) -> str:
        spec = task_definition_spec(td["family"], container["image"], int(td["cpu"]),
                                    int(td["memory"]), 8080, None, mode, env)
        return str(ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"])

    before = _per_host(session.snapshot(), td.get("networkMode") or "bridge")
    hosts = len([h for h in session.snapshot()["hosts"] if h["status"] == "ACTIVE"])
    # minimumHealthyPercent 50: the old tasks may go while only one per host can come up.
    host = _roll_out(session, revision("host"), "host", 50, min(DESIRED, hosts))
    try:
        ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=revision("awsvpc"))
        refused = "accepted (unexpected)"
    except ClientError as exc:
        refused = f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
    back = _roll_out(session, bridge, "bridge", 100, DESIRED)
    session.record("tasks_per_host_by_mode", {"bridge": before, "host": host["per_host"]})
    return {"bridge (hostPort 0, dynamic)": before,
            "host (static hostPort 8080)": host,
            "awsvpc with a target group of type instance": refused,
            "back to bridge": back,
            "note": "describe-tasks (and the snapshot's tasks: host_port, network) show each "
                    "task's host port; in host mode every task shows 8080 while its process "
                    "listens on a port of its own on 127.0.0.1 (one "
                    "loopback for all the kit's instances). awsvpc needs a target group of "
                    "type ip: 2 tasks per t3.medium (tests/integration/test_network_modes.py)"}


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
        Step("modes", "Three network modes, three answers to 'how many per host'",
             "Register a revision in host mode, update the service and watch the hosts refill "
             "(one task each); try awsvpc against the instance target group (refused); roll "
             "back to bridge.",
             "aws ecs register-task-definition --network-mode host … && aws ecs "
             "update-service --cluster fraud-cluster --service fraud-svc --task-definition …",
             "bridge with hostPort 0 gives each task a dynamic host port: ~7 per t3.medium, "
             "memory-bound. host binds the static port: one per instance. awsvpc gives each "
             "task an ENI: 2 per t3.medium (3 ENIs minus the primary, no trunking on T3) and "
             "needs a target group of type ip.",
             "ecs-facts.md §1.1, §2, §3", "simulated", network_modes),
    ],
    exercises=["Scale to 6 with session.scale(6) and watch the hosts view: where do the new "
               "tasks land? Then session.scale(4).",
               "Redeploy with session.deploy(placement='binpack') (a new deployment): how "
               "are tasks spread now? Put it back with placement='spread'."],
    checks=grade,
)
