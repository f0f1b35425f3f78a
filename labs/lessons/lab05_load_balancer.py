"""Lab 05 — the load balancer: round robin vs least outstanding requests, the trace, a slow
target."""

from __future__ import annotations

import time
from typing import Any

from labs.kit import checks
from labs.kit.template import Lab, Step

WINDOW = 6.0  # seconds of traffic per comparison


def _share(session: Any, seconds: float) -> dict[str, int]:
    """Requests each target received during ``seconds`` of traffic (load balancer counters)."""
    before = {t["id"]: t["requests"] for t in session.snapshot()["load_balancer"]["targets"]}
    time.sleep(seconds)
    after = session.snapshot()["load_balancer"]["targets"]
    return {t["id"][:8]: t["requests"] - before.get(t["id"], 0) for t in after}


SLOW_MS = 300  # the slow target's added latency per request


def compare(session: Any, algorithm: str, slow: bool) -> dict[str, Any]:
    """Requests per target in a window with ``algorithm``, optionally with one target made
    slow for real (``fraudlab slow``: it answers every /predict ``SLOW_MS`` later, as with a
    slow dependency, so it keeps more requests open)."""
    session.set_lb(algorithm=algorithm)
    result: dict[str, Any] = {"algorithm": algorithm}
    if not slow:
        result["share"] = _share(session, WINDOW)
        return result
    task = session.slow(ms=SLOW_MS)
    try:
        result["share"] = _share(session, WINDOW)
    finally:
        session.slow(task, 0)
    result["slow_target"] = task[:8]
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
            "read": f"round robin gives the slow target ({SLOW_MS} ms more per request) its "
                    "turn whatever it is doing, and every request it gets waits; least "
                    "outstanding requests sends it fewer, because it holds more of the load "
                    "balancer's open requests than the others."}


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
        Step("slow", "A slow target", "Make one task answer 300 ms later (`fraudlab slow`, a "
             "slow dependency) and compare both algorithms.",
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
