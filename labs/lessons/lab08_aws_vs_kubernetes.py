"""Lab 08 — AWS vs Kubernetes, the real numbers (ROI from what this run measured) and
interview practice."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from cloud.export.mapping import CASE_STUDY_CLAIM, CORRECTION, CORRECTION_SOURCE, ROWS
from labs.kit import checks
from labs.kit.template import Lab, Step

REPORT = Path(__file__).resolve().parents[2] / "service" / "artifacts" / "report.json"
# The case study's business figures (Part 5 "Real Numbers"): inputs, not measurements.
TRANSACTIONS_PER_DAY = 1_000_000
LOSS_PER_FRAUD_USD = 500.0
# t3.medium on-demand, us-east-1, Linux (AWS price list); ALB hourly charge (LCUs extra).
T3_MEDIUM_USD_HOUR = 0.0416
ALB_USD_HOUR = 0.0225

def mapping_table() -> list[tuple[str, str, str, str]]:
    """(concept, ECS, Kubernetes, source) from the kit's shared table (cloud/export/mapping)."""
    return [(r.concept, r.ecs, r.kubernetes, r.source) for r in ROWS]


def mapping_widget() -> widgets.HTML:
    """The mapping as a table, with what differs and the case study's claim corrected."""
    rows = "".join(f"<tr><td><b>{html.escape(r.concept)}</b></td><td>{html.escape(r.ecs)}"
                   f"</td><td>{html.escape(r.kubernetes)}</td><td style='font-size:11px'>"
                   f"{html.escape(r.differs)}</td></tr>" for r in ROWS)
    return widgets.HTML(
        "<table><tr><th>concept</th><th>ECS</th><th>Kubernetes</th><th>what differs</th>"
        f"</tr>{rows}</table><p><i>The case study:</i> {html.escape(CASE_STUDY_CLAIM)}<br>"
        f"<i>Corrected:</i> {html.escape(CORRECTION)} ({html.escape(CORRECTION_SOURCE)})</p>")


def roi(measured: dict[str, Any], model: dict[str, Any], hosts: int) -> dict[str, Any]:
    """Savings and cost per day from the model's measured recall and this run's figures."""
    decline = model["at_thresholds"]["decline"]
    frauds = TRANSACTIONS_PER_DAY * model["fraud_rate"]
    caught = frauds * decline["recall"]
    false_alarms = TRANSACTIONS_PER_DAY * (1 - model["fraud_rate"]) * decline[
        "false_positive_rate"]
    cost = 24 * (hosts * T3_MEDIUM_USD_HOUR + ALB_USD_HOUR)
    saved = caught * LOSS_PER_FRAUD_USD
    per_s = TRANSACTIONS_PER_DAY / 86_400
    return {"frauds_per_day": round(frauds), "caught_per_day": round(caught),
            "recall": round(decline["recall"], 3), "false_alarms_per_day": round(false_alarms),
            "saved_usd_per_day": round(saved), "cost_usd_per_day": round(cost, 2),
            "payback_seconds": round(cost / saved * 86_400, 2) if saved else None,
            "average_tx_per_s": round(per_s, 1),
            "measured_recovery_s": (measured.get("crash") or {}).get("recovery_seconds"),
            "measured_failed_on_crash": (measured.get("crash") or {}).get("failed_requests"),
            "measured_scale_out_s": (measured.get("scale_out") or {}).get("seconds"),
            "measured_image_bytes": measured.get("image_bytes")}


def _numbers(session: Any) -> dict[str, Any]:
    model = json.loads(REPORT.read_text())
    hosts = len(session.snapshot().get("hosts") or []) or 2
    out = roi(session.measurements(), model, hosts)
    traffic = session.client.get("/v1/traffic") or {}
    phases = traffic.get("phases") or []
    served = [p["ok"] / p["seconds"] for p in phases if p.get("seconds")]
    out["measured_peak_tx_per_s_here"] = round(max(served), 1) if served else None
    out["note"] = ("the case study's 95% accuracy is not recall: the model measured here "
                   f"catches {out['recall']:.0%} of frauds at the decline threshold "
                   "(ecs-facts.md §11f)")
    session.record("roi", out)
    return out


def _mapping(session: Any) -> widgets.HTML:
    return mapping_widget()


QUESTIONS = [
    ("Explain your deployment architecture for the fraud model.",
     "Image in ECR, pinned by digest; a task definition (256 CPU units, 512 MiB); a cluster "
     "with EC2 hosts (or a capacity provider: ECS does not launch instances on its own); a "
     "service with desired count 4 behind an ALB target group (round robin by default); "
     "target tracking via Application Auto Scaling; crashes replaced by new tasks — with "
     "in-flight requests failing, so not 'zero downtime'."),
    ("What happens when a container crashes?",
     "The task stops (exit 137 on SIGKILL), the service scheduler starts a NEW task, it is "
     "placed, pulls (or uses the host's cached image), starts and must pass health checks "
     "before the ALB sends it traffic; requests in flight on the dead task get 502."),
    ("Who raises the desired count during a spike?",
     "Application Auto Scaling, after the target-tracking AlarmHigh sees 3 one-minute "
     "datapoints above target; ECS itself never changes it. Scale-in needs 15 below."),
]


def practice() -> widgets.VBox:
    """Interview questions: write an answer, then reveal the model answer."""
    rows = []
    for question, answer in QUESTIONS:
        box = widgets.Textarea(placeholder="your answer…", layout={"width": "90%"})
        reveal = widgets.Button(description="Show model answer")
        shown = widgets.HTML()

        def show(_b: Any, shown: widgets.HTML = shown, answer: str = answer) -> None:
            shown.value = f"<i>{html.escape(answer)}</i>"

        reveal.on_click(show)
        rows.append(widgets.VBox([widgets.HTML(f"<b>{html.escape(question)}</b>"), box,
                                  reveal, shown]))
    return widgets.VBox(rows)


def grade(session: Any) -> list[checks.CheckResult]:
    m = session.measurements()
    return [checks.measured(session, "roi", "the ROI was computed from measured figures",
                            "run the numbers step"),
            checks.CheckResult("the crash recovery was measured in this run (lab 06)",
                               (m.get("crash") or {}).get("recovery_seconds") is not None,
                               f"crash: {m.get('crash')}", "run lab 06's crash step"),
            checks.CheckResult("the scale-out was measured in this run (lab 07)",
                               (m.get("scale_out") or {}).get("seconds") is not None,
                               f"scale_out: {m.get('scale_out')}", "run lab 07's spike step")]


LAB = Lab(
    8, "aws_vs_kubernetes", "AWS vs Kubernetes, the real numbers",
    do="Map each ECS piece to Kubernetes, compute the ROI from what this run measured, and "
       "practise the interview answer.",
    learn="Both are declarative reconcilers; the differences are in recovery (replace vs "
          "restart) and who scales nodes.",
    need="Labs 01–07 run in this local cloud (their measurements are read back).",
    myth="Kubernetes is more automated than ECS.",
    steps=[
        Step("mapping", "ECS ↔ Kubernetes", "The same deployment in Kubernetes' words.",
             "kubectl create deployment fraud --image=… --replicas=4 && kubectl expose … "
             "· fraudlab export --format kubernetes (this deployment as manifests)",
             "Node autoscaling is not built into Kubernetes; kubelet restarts containers in "
             "place with CrashLoopBackOff while ECS replaces the task.",
             "ecs-facts.md §8, §11h", "simulated", _mapping),
        Step("numbers", "The real numbers", "Savings from the model's measured recall; cost "
             "of this run's hosts; recovery and scaling times measured in labs 06–07.",
             "aws ce get-cost-and-usage … (the bill) · aws cloudwatch get-metric-statistics …",
             "Accuracy is not recall: at a fraud rate under 1%, flagging nothing is >99% "
             "accurate and catches none.", "ecs-facts.md §9, §11f", "real", _numbers),
        Step("practice", "Interview practice", "Answer, then compare with a model answer.",
             "(none)", "A good answer names who does what: the scheduler, the ALB, "
             "Application Auto Scaling — and what fails during a crash.",
             "ecs-facts.md §11", "simulated", lambda s: practice()),
    ],
    exercises=["Change LOSS_PER_FRAUD_USD or the hosts count and recompute roi(): what "
               "dominates the result?",
               "Which ECS behaviours have no Kubernetes default (and the reverse)?"],
    checks=grade,
)
