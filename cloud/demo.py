"""``fraudlab demo``: the kit's main job, narrated, non-interactive.

Bring up the local cloud → deploy the fraud service the way a bank would (ECR, task
definition, cluster, two t3.medium hosts, a service of 4 tasks) → send real transactions
through the load balancer → crash one and watch ECS replace it → read the truth back
through the AWS API → stop everything. Each step carries its badge: REAL, EMULATED or SIMULATED.
"""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

from cloud.deploy import deploy
from cloud.endpoint import open_endpoint
from cloud.launcher import connect, down, running_cloud, up
from cloud.narrate import say
from service.examples import sample_requests
from service.model import ARTIFACTS


@dataclass
class DemoResult:
    """What the demo did and measured, for ``--json`` and for tests."""

    runtime: str = ""
    up_seconds: float = 0.0
    deploy_seconds: float = 0.0
    replace_seconds: float = 0.0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    crashed_task: str = ""
    replacement_task: str = ""
    stopped_reason: str = ""
    exit_code: int | None = None
    describe_services: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "decisions"} | {
            "transactions": len(self.decisions),
            "tasks_that_answered": len({d["task_id"] for d in self.decisions}),
            "frauds": sum(d["is_fraud"] for d in self.decisions),
            "frauds_flagged": sum(d["is_fraud"] and d["decision"] != "APPROVED"
                                  for d in self.decisions)}


def run_demo(desired: int = 4, count: int = 12, runtime: str = "auto", seed: int = 7,
             out: TextIO | None = None, quiet: bool = False) -> DemoResult:
    """The whole walkthrough; the local cloud it starts is stopped at the end, always."""
    if not 1 <= desired <= 20:
        raise ValueError(f"--desired must be between 1 and 20, got {desired}")
    if not 1 <= count <= 10_000:
        raise ValueError(f"--count must be between 1 and 10000, got {count}")
    if running_cloud():
        raise RuntimeError("a local cloud is already running: the demo starts its own — "
                           "stop that one with `fraudlab down` first")
    out = io.StringIO() if quiet else (out or sys.stdout)
    result = DemoResult()
    info, result.up_seconds, _ = up(runtime)
    result.runtime = info["runtime"]
    try:
        say(out, "real", f"Local cloud up in {result.up_seconds:.1f} s: runtime "
            f"{info['runtime']}, AWS API {info['aws_endpoint']} ({info['endpoint_kind']})",
            f"{info.get('runtime_why', '')}\na lab minute lasts "
            f"{60 / info['time_scale']:.1f} s of your time")
        started = time.monotonic()
        deploy(desired=desired, hosts=2, out=out)
        result.deploy_seconds = time.monotonic() - started
        _send_transactions(out, result, count, seed)
        _crash_and_recover(out, result, desired)
        _read_the_truth(out, result, info["aws_endpoint"])
    finally:
        down()
        say(out, "real", "Local cloud stopped: every replica with it")
    say(out, "real", "What the model's figures mean", _report_lesson())
    return result


def _send_transactions(out: TextIO, result: DemoResult, count: int, seed: int) -> None:
    client = connect()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lb = client.get("/v1/lb")
        healthy = [t for t in lb["targets"] if t["state"] == "healthy"]
        running = [t for t in client.get("/v1/snapshot")["tasks"]
                   if t["last_status"] == "RUNNING"]
        if healthy and len(healthy) == len(running):
            break
        time.sleep(0.1)
    else:
        raise TimeoutError("the load balancer's targets did not pass their health checks")
    say(out, "simulated", f"The load balancer's {len(healthy)} targets passed their health "
        "check (GET /health)", "In AWS: a registered target must pass one health check "
        "before the ALB sends it traffic; interval 30 s by default (ecs-facts.md §6)")
    examples = sample_requests(count, seed=seed, fraud_share=0.25)
    say(out, "real", f"Sending {len(examples)} simulated transactions to the load balancer "
        f"{lb['url']} ({lb['algorithm']})",
        "round_robin is ALB's default: it takes turns, it does not look for the least busy "
        "task (ecs-facts.md §6, §11d)")
    print(f"\n{'':12}{'transaction':>11} {'amount':>9} {'truth':>7}  {'decision':<9}"
          f"{'score':>7}  answered by", file=out)
    session = requests.Session()
    for body, is_fraud in examples:
        reply = session.post(f"{lb['url']}/predict", json=body, timeout=10)
        reply.raise_for_status()
        data = reply.json()
        result.decisions.append({"transaction_id": body["transaction_id"],
                                 "amount": body["tx_amount"], "is_fraud": bool(is_fraud),
                                 "decision": data["decision"], "score": data["score"],
                                 "task_id": data["task_id"], "host_id": data["host_id"]})
        print(f"{'':12}{body['transaction_id']:>11} {body['tx_amount']:>9.2f} "
              f"{'FRAUD' if is_fraud else 'ok':>7}  {data['decision']:<9}{data['score']:>7.3f}"
              f"  task {data['task_id'][:12]} on {data['host_id']}", file=out)


def _crash_and_recover(out: TextIO, result: DemoResult, desired: int) -> None:
    client = connect()
    before = {t["task_id"] for t in client.get("/v1/snapshot")["tasks"]
              if t["last_status"] == "RUNNING"}
    result.crashed_task = client.post("/v1/crash")["crashed"]
    killed = time.monotonic()
    say(out, "real", f"Crash: SIGKILL to task {result.crashed_task[:12]}",
        "$ docker kill … (in AWS: the container dies; the ECS agent reports it)")
    deadline = killed + 60
    while time.monotonic() < deadline:
        snap = client.get("/v1/snapshot")
        running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]
        new = [t for t in running if t["task_id"] not in before]
        if len(running) == desired and new and _answers(new[0]["url"]):
            result.replace_seconds = time.monotonic() - killed
            result.replacement_task = new[0]["task_id"]
            break
        time.sleep(0.05)
    else:
        raise TimeoutError("no replacement task was serving within 60 s")
    crashed = next(t for t in snap["tasks"] if t["task_id"] == result.crashed_task)
    result.stopped_reason, result.exit_code = crashed["stopped_reason"], crashed["exit_code"]
    say(out, "simulated", f"ECS replaced it: new task {result.replacement_task[:12]} serving "
        f"{result.replace_seconds:.2f} s after the crash",
        f"the crashed task is STOPPED: \"{result.stopped_reason}\" (exit code "
        f"{result.exit_code}); the replacement is a NEW task, placed again by the scheduler\n"
        "In AWS: a replacement also waits for its image pull and, behind a load balancer, "
        "for a passing health check (ecs-facts.md §4, §10); requests in flight on the "
        "crashed task failed — 'zero downtime' is not what happens (§11g)")


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _read_the_truth(out: TextIO, result: DemoResult, aws_endpoint: str) -> None:
    ecs = open_endpoint({"AWS_ENDPOINT_URL": aws_endpoint}, start=False).client("ecs")
    svc = ecs.describe_services(cluster="fraud-cluster", services=["fraud-svc"])["services"][0]
    result.describe_services = {k: svc[k] for k in ("desiredCount", "runningCount",
                                                     "pendingCount")}
    task = ecs.describe_tasks(cluster="fraud-cluster", tasks=[result.crashed_task])["tasks"][0]
    say(out, "emulated", "The AWS API tells the truth",
        "$ aws ecs describe-services --cluster fraud-cluster --services fraud-svc\n"
        f"  desiredCount {svc['desiredCount']}, runningCount {svc['runningCount']}, "
        f"pendingCount {svc['pendingCount']}; latest event: {svc['events'][0]['message']}\n"
        f"$ aws ecs describe-tasks --cluster fraud-cluster --tasks {result.crashed_task}\n"
        f"  lastStatus {task['lastStatus']}, stoppedReason \"{task.get('stoppedReason')}\", "
        f"exitCode {task['containers'][0].get('exitCode')}")


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
