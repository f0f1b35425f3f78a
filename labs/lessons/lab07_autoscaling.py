"""Lab 07 — autoscaling: spike, alarms, cooldowns, scale-in with draining."""

from __future__ import annotations

import time
from typing import Any

from labs.kit import checks
from labs.kit.report import recording
from labs.kit.template import Lab, Step

DESIRED, MAX_TASKS = 4, 8
SCALE_OUT_LIMIT = 120.0
SCALE_IN_LIMIT = 180.0
RUN = "lab07"  # the recorded run's label (its file: runs/<time>-lab07.json)


def _policy(session: Any) -> list[Any]:
    session.ensure_service(DESIRED)
    results = session.deploy(desired=DESIRED, autoscale=True, max_tasks=MAX_TASKS)
    return [r for r in results if r.step in ("register-scalable-target",
                                             "put-scaling-policy")] or results[-2:]


def alarms(session: Any) -> str:
    scaling = session.scaling()
    lines = [f"{a['kind']}: {a['state']} — {a['reason'][:160]}" for a in scaling["alarms"]]
    lines += [f"last decision: {t['last_reason'][:200]}" for t in scaling["targets"]]
    return "\n".join(lines) or "no alarms yet: run the policy step"


def _spike(session: Any) -> dict[str, Any]:
    session.change_traffic(phase="normal")
    recording(session, RUN)  # from here on, one sample a second for the report step
    time.sleep(1.0)
    began = time.monotonic()
    session.spike()
    seconds = session.wait_until(
        lambda s: session.service(s).get("desired", 0) > DESIRED
        and session.service(s).get("running") == session.service(s).get("desired"),
        SCALE_OUT_LIMIT)
    svc = session.service()
    session.record("scale_out", {"seconds": None if seconds is None else round(seconds, 2),
                                 "to": svc.get("desired")})
    return {"scaled_out_seconds": None if seconds is None else round(seconds, 2),
            "lab_seconds": None if seconds is None else round(session.lab_seconds(seconds)),
            "desired": svc.get("desired"), "running": svc.get("running"),
            "wall_seconds": round(time.monotonic() - began, 2), "alarms": alarms(session)}


def _scale_in(session: Any) -> dict[str, Any]:
    began = time.monotonic()
    session.change_traffic(phase="scale-in")
    seconds = session.wait_until(
        lambda s: session.service(s).get("desired") == DESIRED
        and session.service(s).get("running") == DESIRED, SCALE_IN_LIMIT)
    phases = (session.client.get("/v1/traffic") or {}).get("phases", [])
    scale_in = next((p for p in phases if p["name"] == "scale-in"), {})
    session.record("scale_in", {"seconds": None if seconds is None else round(seconds, 2),
                                "failed_requests": scale_in.get("failed")})
    drained = [e["text"][:140] for e in session.snapshot()["timeline"]
               if "drain" in e["text"].lower()][-4:]
    return {"scaled_in_seconds": None if seconds is None else round(seconds, 2),
            "lab_seconds": None if seconds is None else round(session.lab_seconds(seconds)),
            "failed_requests_during_scale_in": scale_in.get("failed"),
            "wall_seconds": round(time.monotonic() - began, 2), "draining": drained}


def report(session: Any) -> Any:
    """The spike and the scale-in as ``fraudlab report`` draws them, inline."""
    return recording(session, RUN).view()


def grade(session: Any) -> list[checks.CheckResult]:
    return [checks.scaling_policy(session), checks.scaling_activity(session, "out"),
            checks.service_desired(session, DESIRED)]


LAB = Lab(
    7, "autoscaling", "Autoscaling",
    do="Add target tracking on ALBRequestCountPerTarget, send a ×10 spike, watch the alarm "
       "and the scale-out, then go back to normal and watch the scale-in drain targets.",
    learn="Application Auto Scaling changes the desired count after 3 datapoints above "
          "target (15 below to scale in), with cooldowns; ECS drains targets before stopping "
          "tasks.",
    need="The deployed service (lab 04; deployed again if missing).",
    myth="ECS detects 90% capacity and increases the desired count.",
    live=True,
    steps=[
        Step("policy", "Target tracking", "register-scalable-target (4–8 tasks), then a "
             "target-tracking policy on requests per target.", "aws application-autoscaling "
             "put-scaling-policy --policy-type TargetTrackingScaling …", "Target tracking "
             "creates and owns two CloudWatch alarms: AlarmHigh (3 of 3 one-minute "
             "datapoints) and AlarmLow (15 of 15).", "ecs-facts.md §7", "emulated", _policy),
        Step("spike", "Spike ×10", "Multiply traffic by 10 and wait for the scale-out.",
             "aws application-autoscaling describe-scaling-activities --service-namespace ecs",
             "ECS never changes the desired count itself: Application Auto Scaling does, "
             "after its alarm; cooldowns default to 300 s.", "ecs-facts.md §7, §11e",
             "simulated", _spike),
        Step("alarms", "The alarms", "Read both alarms and the last decision.",
             "aws cloudwatch describe-alarms --alarm-name-prefix TargetTracking-service/"
             "fraud-cluster/fraud-svc", "Scale-in only when far enough below target "
             "(usually >10%), never during a deployment.", "ecs-facts.md §7", "simulated",
             alarms),
        Step("scale-in", "Back to normal", "Normal traffic; wait for the scale-in and count "
             "failed requests while targets drain.", "aws elbv2 describe-target-health "
             "--target-group-arn … (draining)", "ECS deregisters each target and waits the "
             "deregistration delay (300 s default) before stopping its task.",
             "ecs-facts.md §6, §11g", "simulated", _scale_in),
        Step("report", "The run, plotted", "The spike and the scale-in as recorded once a "
             "second: offered vs served requests/s, p50/p99, running vs desired tasks, "
             "requests per target, the events marked.", "fraudlab report (the same plots "
             "as an HTML file)", "In AWS the same curves come from the load balancer's "
             "CloudWatch metrics (RequestCount, TargetResponseTime) and the service's "
             "running and desired counts (describe-services).", "ecs-facts.md §6, §7",
             "real", report),
    ],
    exercises=["Why did the scale-out wait? Count the AlarmHigh datapoints in alarms().",
               "Set DisableScaleIn on the policy (put-scaling-policy) and repeat the spike: "
               "what stays?"],
    checks=grade,
)
