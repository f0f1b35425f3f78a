"""Lab 05 — the load balancer: round robin vs least outstanding requests, the trace, a slow
target."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from labs.kit import checks
from labs.kit.template import Lab, Step

WINDOW = 6.0  # seconds of traffic per comparison


def _share(session: Any, seconds: float) -> dict[str, int]:
    """Requests each target received during ``seconds`` of traffic (load balancer counters)."""
    before = {t["id"]: t["requests"] for t in session.snapshot()["load_balancer"]["targets"]}
    time.sleep(seconds)
    after = session.snapshot()["load_balancer"]["targets"]
    return {t["id"][:8]: t["requests"] - before.get(t["id"], 0) for t in after}


def busy_target(session: Any, seconds: float = WINDOW, workers: int = 6) -> tuple[str, int]:
    """Make one target slow for real: send it extra requests directly (not through the load
    balancer) from ``workers`` threads for ``seconds``. Returns (task id, requests sent)."""
    from service.contract import example_transaction

    snap = session.snapshot()
    task = next(t for t in snap["tasks"] if t["last_status"] == "RUNNING")
    body = example_transaction()
    stop = time.monotonic() + seconds
    sent = Counter[str]()

    def hammer() -> None:
        with requests.Session() as http:
            while time.monotonic() < stop:
                try:
                    http.post(f"{task['url']}/predict", json=body, timeout=5)
                    sent["ok"] += 1
                except requests.RequestException:
                    sent["error"] += 1

    with ThreadPoolExecutor(workers) as pool:
        for _ in range(workers):
            pool.submit(hammer)
    return task["task_id"], sum(sent.values())


def compare(session: Any, algorithm: str, slow: bool) -> dict[str, Any]:
    """Requests per target in a window with ``algorithm``, optionally with one slow target."""
    session.set_lb(algorithm=algorithm)
    result: dict[str, Any] = {"algorithm": algorithm}
    if slow:
        out: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: out.update(
            zip(("slow", "direct"), busy_target(session), strict=True)), daemon=True)
        thread.start()
        result["share"] = _share(session, WINDOW)
        thread.join(WINDOW + 10)
        result["slow_target"] = str(out.get("slow", ""))[:8]
        result["direct_requests"] = out.get("direct")
    else:
        result["share"] = _share(session, WINDOW)
    return result


def _round_robin(session: Any) -> dict[str, Any]:
    session.ensure_service()
    session.change_traffic(phase="lb")
    return compare(session, "round_robin", slow=False)


def _trace(session: Any) -> str:
    lb = session.snapshot()["load_balancer"]
    return "\n".join(f"{e['reason']} → {e['status']} in {e['latency_ms']:.1f} ms; outstanding "
                     f"{ {k[:6]: v for k, v in e['outstanding'].items()} }"
                     for e in lb["trace"][-8:])


def _slow(session: Any) -> dict[str, Any]:
    rr = compare(session, "round_robin", slow=True)
    lor = compare(session, "least_outstanding_requests", slow=True)
    session.record("lb_compare", {"round_robin": rr, "least_outstanding_requests": lor})
    return {"round_robin": rr, "least_outstanding_requests": lor,
            "slow_target_share": {"round_robin": slow_share(rr),
                                  "least_outstanding_requests": slow_share(lor)},
            "read": "round robin gives the slow target its turn whatever it is doing; least "
                    "outstanding requests sends it fewer only while it holds more of the load "
                    "balancer's open requests than the others. Here every task shares this "
                    "machine's cores, so the direct load slows the others too and the gap is "
                    "small; in AWS each task has its own reserved CPU."}


def slow_share(result: dict[str, Any]) -> float | None:
    """The slow target's share of the load balancer's requests in one window."""
    share = result.get("share") or {}
    total = sum(share.values())
    slow = share.get(result.get("slow_target", ""))
    return None if not total or slow is None else round(slow / total, 3)


def grade(session: Any) -> list[checks.CheckResult]:
    return [checks.target_group_algorithm(session, "least_outstanding_requests"),
            checks.healthy_targets(session, 4),
            checks.measured(session, "lb_compare", "round robin and LOR compared",
                            "run the slow-target step")]


LAB = Lab(
    5, "load_balancer", "The load balancer",
    do="Send traffic through the ALB, read each routing decision, then make one target slow "
       "and compare round robin with least outstanding requests.",
    learn="ALB's default is round robin; least outstanding requests is opt-in per target "
          "group; health is binary.",
    need="The deployed service (lab 04; deployed again if missing).",
    myth="The load balancer always routes to the least busy container.",
    live=True,
    steps=[
        Step("rr", "Round robin", "Traffic at 20 tx/s; count requests per target.",
             "aws elbv2 describe-target-group-attributes --target-group-arn …",
             "round_robin is the default routing algorithm of a target group.",
             "ecs-facts.md §6, §11d", "real", _round_robin),
        Step("trace", "The per-request trace", "The load balancer's last decisions and why.",
             "(ALB access logs: target:port and request/target processing times)",
             "ALB logs which target served each request; it never says why — the kit's "
             "trace does.", "ecs-facts.md §6", "real", _trace),
        Step("slow", "A slow target", "Load one task directly and compare both algorithms.",
             "aws elbv2 modify-target-group-attributes --target-group-arn … --attributes "
             "Key=load_balancing.algorithm.type,Value=least_outstanding_requests",
             "With least_outstanding_requests a busy target gets fewer new requests; slow "
             "start cannot be combined with it.", "ecs-facts.md §6, §11d", "real", _slow),
    ],
    exercises=["Turn the kit-only retry knob on with session.set_lb(retry=True): what does ALB "
               "really do? (it does not retry: ecs-facts.md §6)",
               "Switch back with session.set_lb(algorithm='round_robin') and compare the "
               "trace's reasons."],
    checks=grade,
)
