"""``fraudlab demo``: the kit's main job, narrated, non-interactive.

Local cloud up → deploy the fraud service the way a bank would (ECR, task definition,
cluster, two t3.medium hosts, load balancer, a service of 4 tasks, target-tracking auto
scaling) → real transactions through the load balancer → steady traffic → kill a task under
load → a ×10 "Black Friday" spike → scale out → back to normal → scale in → the AWS API's
truth → down. Each step carries its badge: REAL, EMULATED or SIMULATED; the summary gives
failed requests and p99 per phase, the recovery, scale-out and scale-in times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

import requests

from cli.demo_summary import (
    DemoSummary,
    Milestone,
    phase_rows,
    render,
    spike_line,
    tasks_per_host,
)
from cli.deploy import deploy
from cli.narrate import say
from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.scaling import autoscale_target
from cloud.export.run_report import write as write_report
from cloud.export.runs import RunRecorder, new_name
from cloud.server.control import ControlClient
from cloud.server.launcher import connect, down, running_cloud, up
from service.examples import sample_requests
from service.model import ARTIFACTS

CLUSTER, SERVICE = "fraud-cluster", "fraud-svc"
DEMO_TIME_SCALE = 30.0  # a lab minute in 2 s: the 15-minute scale-in alarm in 30 s
STEADY_SECONDS = 10.0
SPIKE_LIMIT = 60.0  # wall seconds the spike may last while waiting for the scale-out
SCALE_IN_LIMIT = 120.0
RECOVERY_LIMIT = 60.0
HEALTHY_LIMIT = 15.0


class Demo:
    """One run of the walkthrough against a local cloud it started."""

    def __init__(self, out: TextIO, desired: int, max_tasks: int, rate: float,
                 spike: float, target: float) -> None:
        self.out = out
        self.desired, self.max_tasks = desired, max_tasks
        self.rate, self.spike, self.target = rate, spike, target
        self.per_target = 0.0  # requests per target per lab minute at the normal rate
        self.summary = DemoSummary()
        self.client: ControlClient | None = None
        self._seen: set[str] = set()
        self.recorder = RunRecorder(new_name("demo"))  # fed by its own thread (run_demo)

    # -- helpers -----------------------------------------------------------------------------
    def snap(self) -> dict[str, Any]:
        assert self.client is not None
        return self.client.get("/v1/snapshot")

    def mark_seen(self, snap: dict[str, Any]) -> None:
        """The timeline so far counts as told (``fraudlab deploy`` printed it already): the
        crash's narration must not reprint "has started 4 tasks" with the original ids."""
        self._seen.update(f"{e['wall']}{e['text']}" for e in snap["timeline"])

    def narrate_new(self, snap: dict[str, Any], kinds: tuple[str, ...]) -> None:
        """Timeline entries of these kinds not shown yet."""
        for entry in snap["timeline"]:
            key = f"{entry['wall']}{entry['text']}"
            if key not in self._seen and entry["kind"] in kinds:
                self._seen.add(key)
                say(self.out, entry["badge"], entry["text"])

    def wait(self, until: Callable[[dict[str, Any]], bool], limit: float,
             kinds: tuple[str, ...] = ("scaling", "event", "chaos", "exit")) -> float | None:
        """Poll the snapshot until ``until`` holds; seconds waited, or None at ``limit``."""
        started = time.monotonic()
        while time.monotonic() - started < limit:
            snap = self.snap()
            self.narrate_new(snap, kinds)
            if until(snap):
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    @staticmethod
    def service(snap: dict[str, Any]) -> dict[str, Any]:
        return next((s for s in snap["services"] if s["name"] == SERVICE), {})

    @staticmethod
    def healthy(snap: dict[str, Any]) -> int:
        return sum(t["state"] == "healthy" for t in snap["load_balancer"]["targets"])

    def serving(self, snap: dict[str, Any], n: int) -> bool:
        svc = self.service(snap)
        return (svc.get("desired") == n and svc.get("running") == n
                and self.healthy(snap) == n)

    def phase(self, name: str, rate: float, why: str) -> None:
        assert self.client is not None
        self.client.post("/v1/traffic/profile", {"rate": rate, "phase": name})
        say(self.out, "real", f"Traffic: {name} at {rate:g} tx/s", why)

    # -- the walkthrough -----------------------------------------------------------------------
    def deploy(self) -> None:
        started = time.monotonic()
        deploy(desired=self.desired, hosts=2, out=self.out,
               autoscale=f"requests:{self.target:g}", min_tasks=self.desired,
               max_tasks=self.max_tasks)
        self.client = connect()
        self.summary.deploy_seconds = round(time.monotonic() - started, 3)
        if self.wait(lambda s: self.serving(s, self.desired), 90, ()) is None:
            raise TimeoutError("the load balancer's targets did not pass their health checks")
        self.mark_seen(self.snap())
        say(self.out, "simulated", f"The load balancer's {self.desired} targets passed their "
            "health check (GET /health)", "In AWS: a registered target must pass one health "
            "check before the ALB sends it traffic; interval 30 s by default (ecs-facts.md §6)")

    def transactions(self, count: int, seed: int) -> list[dict[str, Any]]:
        lb = self.snap()["load_balancer"]
        examples = sample_requests(count, seed=seed, fraud_share=0.25)
        say(self.out, "real", f"Sending {len(examples)} simulated transactions to the load "
            f"balancer {lb['url']} ({lb['algorithm']})",
            "round_robin is ALB's default: it takes turns, it does not look for the least "
            "busy task (ecs-facts.md §6, §11d)")
        print(f"\n{'':12}{'transaction':>11} {'amount':>9} {'truth':>7}  {'decision':<9}"
              f"{'score':>7}  answered by", file=self.out)
        decisions = []
        session = requests.Session()
        for body, is_fraud in examples:
            reply = session.post(f"{lb['url']}/predict", json=body, timeout=10)
            reply.raise_for_status()
            data = reply.json()
            decisions.append({"transaction_id": body["transaction_id"],
                              "amount": body["tx_amount"], "is_fraud": bool(is_fraud),
                              "decision": data["decision"], "score": data["score"],
                              "task_id": data["task_id"], "host_id": data["host_id"]})
            print(f"{'':12}{body['transaction_id']:>11} {body['tx_amount']:>9.2f} "
                  f"{'FRAUD' if is_fraud else 'ok':>7}  {data['decision']:<9}"
                  f"{data['score']:>7.3f}  task {data['task_id'][:12]} on {data['host_id']}",
                  file=self.out)
        s = self.summary
        s.transactions = len(decisions)
        s.tasks_that_answered = len({d["task_id"] for d in decisions})
        s.frauds = sum(d["is_fraud"] for d in decisions)
        s.frauds_flagged = sum(d["is_fraud"] and d["decision"] != "APPROVED" for d in decisions)
        return decisions

    def steady(self) -> None:
        assert self.client is not None
        self.client.post("/v1/traffic", {"rate": self.rate, "profile": "steady",
                                          "phase": "steady", "duration": 900})
        say(self.out, "real", f"Traffic: steady at {self.rate:g} tx/s (open loop, Poisson "
            "arrivals, transactions from the simulator)",
            f"{self.per_target:.0f} requests per target per lab minute; the auto scaling "
            f"target is {self.target:g}")
        time.sleep(STEADY_SECONDS)
        self.summary.tasks_per_host["steady"] = tasks_per_host(self.snap())

    def crash(self) -> None:
        assert self.client is not None
        self.phase("crash", self.rate, "same rate; now a task dies under load")
        before = {t["task_id"] for t in self.snap()["tasks"] if t["last_status"] == "RUNNING"}
        crashed = self.client.post("/v1/crash")["crashed"]
        say(self.out, "real", f"Crash: SIGKILL to task {crashed[:12]}",
            "$ docker kill … (in AWS: the container dies; the ECS agent reports it)")

        def replaced(snap: dict[str, Any]) -> bool:
            new = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"
                   and t["task_id"] not in before]
            return bool(new) and self.serving(snap, self.desired)

        seconds = self.wait(replaced, RECOVERY_LIMIT)
        snap = self.snap()
        dead = next(t for t in snap["tasks"] if t["task_id"] == crashed)
        new = [t["task_id"] for t in snap["tasks"]
               if t["last_status"] == "RUNNING" and t["task_id"] not in before]
        self.summary.crash = Milestone(seconds is not None, _round(seconds), {
            "task": crashed, "replacement": new[0] if new else "",
            "stopped_reason": dead["stopped_reason"], "exit_code": dead["exit_code"]})
        if seconds is None:
            raise TimeoutError(f"no replacement task was serving within {RECOVERY_LIMIT:.0f} s")
        say(self.out, "simulated", f"ECS replaced it: new task {new[0][:12]} healthy behind "
            f"the load balancer {seconds:.1f} s after the crash",
            f"the crashed task is STOPPED: \"{dead['stopped_reason']}\" (exit code "
            f"{dead['exit_code']}); the replacement is a NEW task, placed again\n"
            "In AWS: requests in flight on the crashed task fail (502) — 'users see zero "
            "downtime' is not what happens (ecs-facts.md §11g); the summary counts them")
        time.sleep(2.0)

    def spike_and_scale_out(self) -> None:
        peak = self.rate * self.spike
        self.phase("spike", peak, f"×{self.spike:g} \"Black Friday\": target tracking needs "
                   "3 one-minute datapoints above its target (AlarmHigh 3 of 3) before it "
                   "raises the desired count (ecs-facts.md §7, §11e)")
        def scaled_out(snap: dict[str, Any]) -> bool:
            svc = self.service(snap)
            return svc.get("desired", 0) > self.desired and svc.get("running") == svc["desired"]

        seconds = self.wait(scaled_out, SPIKE_LIMIT)
        snap = self.snap()
        to = self.service(snap).get("desired", self.desired)
        # Behind the load balancer the new tasks take traffic once they pass a health check.
        healthy = self.wait(lambda s: self.healthy(s) >= to, HEALTHY_LIMIT) \
            if seconds is not None else None
        self.summary.scale_out = Milestone(seconds is not None, _round(seconds), {
            "from": self.desired, "to": to,
            "all_healthy_seconds": _round(None if healthy is None or seconds is None
                                          else seconds + healthy)})
        self.summary.tasks_per_host["peak"] = tasks_per_host(self.snap())
        if seconds is not None:
            say(self.out, "simulated", f"Scaled out {self.desired} → {to} tasks RUNNING "
                f"{seconds:.1f} s after the spike began"
                + (f", all healthy behind the load balancer after {seconds + healthy:.1f} s"
                   if healthy is not None else ""),
                "ECS itself never changes the desired count: Application Auto Scaling did, "
                "after its alarm (§7)")
        self.capacity_note(peak)

    def capacity_note(self, offered: float) -> None:
        """What the laptop could serve of the spike, and why it is not AWS's answer."""
        assert self.client is not None
        phases = self.client.get("/v1/traffic").get("phases", [])
        spike = next((p for p in phases if p["name"] == "spike"), None)
        if not spike or not spike["seconds"]:
            return
        say(self.out, "real", spike_line(spike, offered),
            f"every task shares this computer's {os.cpu_count()} cores: scaling out here adds "
            "processes, not CPU. In AWS new tasks land on instances with their own vCPUs, and "
            "the capacity provider adds instances when they do not fit (ecs-facts.md §3)")

    def normal_and_scale_in(self) -> None:
        """Back to the normal rate ("normal"); from the first task removed, "scale-in"."""
        assert self.client is not None
        frm = self.service(self.snap()).get("desired", self.desired)
        self.phase("normal", self.rate, "back to normal: scale-in waits for 15 of 15 "
                   "one-minute datapoints clearly below the target (AlarmLow), then removes "
                   "tasks gradually, draining each target first")
        began = time.monotonic()
        if self.wait(lambda s: self.service(s).get("desired", frm) < frm,
                     SCALE_IN_LIMIT) is None:
            self.summary.scale_in = Milestone(False, None, {"from": frm, "to": frm})
            return
        self.client.post("/v1/traffic/profile", {"rate": self.rate, "phase": "scale-in"})
        say(self.out, "real", f"Traffic: scale-in at {self.rate:g} tx/s",
            "the requests sent while tasks are removed are counted apart: none should fail")
        left = SCALE_IN_LIMIT - (time.monotonic() - began)
        done = self.wait(lambda s: self.serving(s, self.desired)
                         and all(t["state"] in ("healthy", "unused")
                                 for t in s["load_balancer"]["targets"]), max(left, 1.0))
        seconds = None if done is None else time.monotonic() - began
        snap = self.snap()
        self.summary.scale_in = Milestone(seconds is not None, _round(seconds), {
            "from": frm, "to": self.service(snap).get("desired")})
        self.summary.tasks_per_host["end"] = tasks_per_host(snap)
        if seconds is not None:
            say(self.out, "simulated", f"Scaled in {frm} → {self.desired} tasks "
                f"{seconds:.1f} s after traffic returned to normal",
                "each removed task was deregistered and drained before ECS stopped it")

    def finish(self, aws_endpoint: str) -> None:
        assert self.client is not None
        traffic = self.client.post("/v1/traffic/stop")
        self.summary.phases = phase_rows(traffic.get("phases", []))
        try:
            scaling = self.client.get("/v1/scaling")
            self.summary.scaling_activities = scaling.get("activities", [])[:10]
        except Exception:  # the route is optional for older clouds
            self.summary.scaling_activities = []
        ecs = open_endpoint({"AWS_ENDPOINT_URL": aws_endpoint}, start=False).client("ecs")
        svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        self.summary.describe_services = {k: svc[k] for k in ("desiredCount", "runningCount",
                                                               "pendingCount")}
        crashed = self.summary.crash.detail.get("task")
        detail = (f"$ aws ecs describe-services --cluster {CLUSTER} --services {SERVICE}\n"
                  f"  desiredCount {svc['desiredCount']}, runningCount {svc['runningCount']}, "
                  f"pendingCount {svc['pendingCount']}; latest event: "
                  f"{svc['events'][0]['message']}")
        if crashed:
            task = ecs.describe_tasks(cluster=CLUSTER, tasks=[crashed])["tasks"][0]
            detail += (f"\n$ aws ecs describe-tasks --cluster {CLUSTER} --tasks {crashed}\n"
                       f"  lastStatus {task['lastStatus']}, stoppedReason "
                       f"\"{task.get('stoppedReason')}\", exitCode "
                       f"{task['containers'][0].get('exitCode')}")
        say(self.out, "emulated", "The AWS API tells the truth", detail)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def run_demo(desired: int = 4, count: int = 12, runtime: str = "auto", seed: int = 7,
             out: TextIO | None = None, quiet: bool = False, rate: float = 100.0,
             spike: float = 10.0, max_tasks: int = 8, target: float | None = None,
             time_scale: float = DEMO_TIME_SCALE) -> tuple[DemoSummary, list[dict[str, Any]]]:
    """The whole walkthrough; the local cloud it starts is stopped at the end, always."""
    if not 1 <= desired <= 20:
        raise ValueError(f"--desired must be between 1 and 20, got {desired}")
    if not 1 <= count <= 10_000:
        raise ValueError(f"--count must be between 1 and 10000, got {count}")
    if not 1 <= rate <= 2000:
        raise ValueError(f"--rate must be between 1 and 2000 tx/s, got {rate:g}")
    if not 1.5 <= spike <= 20:
        raise ValueError(f"--spike must be between 1.5 and 20 (×), got {spike:g}")
    if not desired < max_tasks <= 20:
        raise ValueError(f"--max-tasks must be above --desired ({desired}) and at most 20, "
                         f"got {max_tasks}")
    if not 1 <= time_scale <= 120:
        raise ValueError(f"--time-scale must be between 1 and 120, got {time_scale:g}")
    if running_cloud():
        raise RuntimeError("a local cloud is already running: the demo starts its own — "
                           "stop that one with `fraudlab down` first")
    # Requests per target per lab minute at the normal rate, and the target above it.
    per_target = rate * 60 / time_scale / desired
    target = target if target is not None else autoscale_target(rate, time_scale, desired)
    out = io.StringIO() if quiet else (out or sys.stdout)
    demo = Demo(out, desired, max_tasks, rate, spike, target)
    demo.per_target = per_target
    began = time.monotonic()
    info, demo.summary.up_seconds, _ = up(runtime, time_scale)
    demo.summary.runtime, demo.summary.time_scale = info["runtime"], info["time_scale"]
    demo.recorder.meta = {"time_scale": info["time_scale"], "runtime": info["runtime"],
                          "rate": rate, "spike": spike}
    decisions: list[dict[str, Any]] = []
    recording = threading.Event()  # set: the recorder stops
    control = connect()
    demo.recorder.follow(lambda: control.get("/v1/snapshot"), recording)
    try:
        say(out, "real", f"Local cloud up in {demo.summary.up_seconds:.1f} s: runtime "
            f"{info['runtime']}, AWS API {info['aws_endpoint']} ({info['endpoint_kind']})",
            "\n".join(line for line in (info.get("runtime_why"), info.get("endpoint_note"))
                      if line) + "\nthe demo runs a lab minute in "
            f"{60 / info['time_scale']:.1f} s of your time (`--time-scale`)")
        demo.deploy()
        decisions = demo.transactions(count, seed)
        demo.steady()
        demo.crash()
        demo.spike_and_scale_out()
        demo.normal_and_scale_in()
        demo.finish(info["aws_endpoint"])
    finally:
        recording.set()
        down()
        say(out, "real", "Local cloud stopped: every replica with it")
    say(out, "real", "What the model's figures mean", _report_lesson())
    demo.summary.total_seconds = round(time.monotonic() - began, 1)
    run = demo.recorder.save(demo.summary.as_dict())
    report = write_report([run], run.with_suffix(".html"))
    say(out, "real", f"Run report: {report}", f"the recorded run: {run}; compare two runs with "
        "`fraudlab report RUN_A RUN_B`")
    return demo.summary, decisions


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


def command(args: argparse.Namespace) -> int:
    """``fraudlab demo``: the run, its summary, and (``--json``) the summary as JSON."""
    summary, decisions = run_demo(
        desired=args.desired, count=args.count, runtime=args.runtime, seed=args.seed,
        out=sys.stdout, rate=args.rate, spike=args.spike, max_tasks=args.max_tasks,
        target=args.target, time_scale=args.time_scale)
    render(summary, sys.stdout)
    if args.json:  # the last line, for scripts
        print(json.dumps(summary.as_dict() | {"decisions": decisions}, separators=(",", ":")))
    if not summary.lessons_shown:
        print("the demo did not show every lesson (see the summary above)", file=sys.stderr)
        return 1
    return 0
