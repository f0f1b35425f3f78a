"""``fraudlab demo``: serve the model and send it a few transactions, narrated.

Until the local cloud exists this is the kit's main job: one real replica (gunicorn, the
command the container image runs), realistic transactions from the handbook's simulator,
real HTTP requests, the real model's decisions — and what the figures do and do not mean.
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass, field

import requests

from cloud.replica import start_replica
from service.examples import sample_requests
from service.model import ARTIFACTS

BADGES = {"real": "[REAL]", "emulated": "[EMULATED]", "simulated": "[SIMULATED]"}


@dataclass
class DemoResult:
    """What the demo did, for ``--json`` and for tests."""

    ready_seconds: float = 0.0
    model_version: str = ""
    decisions: list[dict] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    exit_code: int | None = None

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        caught = [d for d in self.decisions if d["is_fraud"] and d["decision"] != "APPROVED"]
        return {
            "ready_seconds": round(self.ready_seconds, 3),
            "model_version": self.model_version,
            "transactions": len(self.decisions),
            "frauds": sum(d["is_fraud"] for d in self.decisions),
            "frauds_flagged": len(caught),
            "latency_ms_p50": round(lat[len(lat) // 2], 2) if lat else None,
            "latency_ms_max": round(lat[-1], 2) if lat else None,
            "replica_exit_code": self.exit_code,
        }


def _say(out, badge: str, title: str, detail: str = "") -> None:
    print(f"\n{BADGES[badge]:<12}{title}", file=out)
    for line in detail.splitlines():
        print(f"{'':12}{line}", file=out)


def run_demo(count: int = 10, seed: int = 7, runtime: str = "litert", out=None,
             quiet: bool = False) -> DemoResult:
    """Start a replica, send ``count`` transactions (a quarter of them frauds), stop it."""
    if count < 1 or count > 10_000:
        raise ValueError(f"--count must be between 1 and 10000, got {count}")
    out = io.StringIO() if quiet else (out or sys.stdout)
    result = DemoResult()
    replica = start_replica("task-demo-1", "laptop", runtime=runtime)
    try:
        _say(out, "real", f"Started one replica of the fraud service on {replica.url}",
             "$ gunicorn -c python:service.gunicorn_conf service.wsgi:app\n"
             "  (the image's command; in ECS: one task of the service, "
             "`aws ecs run-task …`)")
        result.ready_seconds = replica.wait_ready()
        ready = requests.get(f"{replica.url}/ready", timeout=5).json()
        result.model_version = str(ready.get("model_version", ""))
        _say(out, "real", f"Ready after {result.ready_seconds:.2f} s: GET /ready → 200",
             f"model {result.model_version}, runtime {ready.get('runtime', runtime)}")

        t0 = time.monotonic()
        examples = sample_requests(count, seed=seed, fraud_share=0.25)
        _say(out, "real", f"Simulated {len(examples)} transactions in "
             f"{time.monotonic() - t0:.1f} s",
             "the Fraud Detection Handbook's simulator and chapter-3 features "
             "(a quarter of them frauds, so the demo has some to show)")

        session = requests.Session()
        print(f"\n{'':12}{'transaction':>11} {'amount':>9} {'truth':>7}  "
              f"{'decision':<9}{'score':>7}  served by   ms", file=out)
        for body, is_fraud in examples:
            started = time.perf_counter()
            reply = session.post(f"{replica.url}/predict", json=body, timeout=10)
            elapsed = (time.perf_counter() - started) * 1000
            reply.raise_for_status()
            data = reply.json()
            result.latencies_ms.append(elapsed)
            result.decisions.append({
                "transaction_id": body["transaction_id"], "amount": body["tx_amount"],
                "is_fraud": bool(is_fraud), "decision": data["decision"],
                "score": data["score"], "task_id": data["task_id"],
                "host_id": data["host_id"]})
            print(f"{'':12}{body['transaction_id']:>11} {body['tx_amount']:>9.2f} "
                  f"{'FRAUD' if is_fraud else 'ok':>7}  {data['decision']:<9}"
                  f"{data['score']:>7.3f}  {data['task_id']:<11} {elapsed:.1f}", file=out)
    finally:
        result.exit_code = replica.stop()
    s = result.summary()
    _say(out, "real", f"Stopped the replica (SIGTERM, exit code {s['replica_exit_code']})",
         f"p50 {s['latency_ms_p50']} ms per request over HTTP; "
         f"{s['frauds_flagged']} of {s['frauds']} frauds flagged (REVIEW or DECLINED)")
    _say(out, "real", "What the model's figures mean",
         _report_lesson())
    return result


def _report_lesson() -> str:
    try:
        figures = json.loads((ARTIFACTS / "report.json").read_text())
    except (OSError, ValueError):
        return "no model report found"
    decline = figures["at_thresholds"]["decline"]
    return (f"On the handbook's test week: AUC {figures['auc_roc']:.3f}, "
            f"AP {figures['average_precision']:.3f}, "
            f"CP@100 {figures['card_precision_at_100']:.3f}.\n"
            f"At the decline threshold it catches {decline['recall']:.0%} of frauds with "
            f"{decline['precision']:.0%} precision; \"everything genuine\" would be "
            f"{figures['all_genuine_accuracy']:.2%} accurate and catch none.")
