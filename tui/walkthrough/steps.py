"""The case study's parts as walkthrough steps.

Each step says what you'll do, its ``aws`` CLI equivalent, the fidelity badge, the
myth-vs-fact note (ecs-facts.md §11) and how to run it: through the kit's deploy steps
(``cloud.aws.steps``: plain boto3 calls against the local cloud's AWS endpoint) or the control
API. Running a step blocks; the walkthrough screen calls ``run`` from a thread worker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloud.aws.steps.base import short_cli
from cloud.aws.steps.ecr import (
    REPOSITORY,
    content_tag,
    create_repository,
    record_image,
    service_layers,
    service_manifest,
)
from cloud.aws.steps.ecs import CLUSTER, create_cluster, register_task_definition
from cloud.aws.steps.hosts import launch_hosts
from cloud.aws.steps.plan import deploy_all
from cloud.aws.steps.scaling import autoscale_target, parse_autoscale, scaling_steps
from cloud.core.instance_types import tasks_that_fit
from cloud.export import mapping
from cloud.image.inspect import engine_layers
from cloud.image.layers import (
    ASSUMED_BANDWIDTH_BYTES_PER_S,
    download_bytes,
    mb,
    pull_seconds,
    render_table,
)

SPIKE = "spike:10:0:36000"


@dataclass(frozen=True)
class Outcome:
    text: str
    badge: str


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    part: str  # where in the case study
    what: str  # what you'll do
    cli: str  # the aws CLI (or docker) equivalent
    badge: str  # real / emulated / simulated
    myth: str  # the case study's claim
    fact: str  # what is true, with its source
    run: Callable[[Any, float], Outcome] | None = None  # (backend, rate) → outcome


def describe_steps(results: list[Any]) -> str:
    """StepResults (cloud.aws.steps) as text: title, the aws command, what AWS really does,
    and every warning (the case study's myths, the emulator's quirks), as the labs show them."""
    lines = []
    for r in results:
        lines.append(f"• {r.title}" + ("" if r.changed else " (already in place)"))
        lines.append(f"  $ {short_cli(r.cli)}")
        lines.append(f"  In AWS: {r.aws_note}")
        lines += [f"  ⚠ {w}" for w in getattr(r, "warnings", None) or []]
    return "\n".join(lines)


def _badge(results: list[Any]) -> str:
    return results[-1].badge if results else "emulated"


def _image(backend: Any, rate: float) -> Outcome:
    manifest = service_manifest()
    tag = (f"tag {content_tag(manifest)} (the same files give the same tag and digest; "
           "`fraudlab build` builds the image with its layer table)")
    found = engine_layers("fraudlab/service:slim")
    if found is None:
        layers = service_layers()
        # No engine (or no built image): nothing is built; the kit only hashes the service's
        # files into a manifest, so the badge says simulated, not real.
        return Outcome(f"no built image in a Docker engine here: nothing was built; the kit "
                       f"hashed the service's files into an image manifest, {len(layers)} "
                       f"layers, {tag}", "simulated")
    rows, source = found
    size, measured = download_bytes(rows)
    return Outcome("\n".join([f"{source}:", *render_table(rows),
                              f"a cold host downloads {mb(size)} "
                              f"({'measured' if measured else 'estimated'} compressed): "
                              f"{pull_seconds(size):.1f} s at "
                              f"{ASSUMED_BANDWIDTH_BYTES_PER_S / 1e6:.0f} MB/s (assumed)", tag]),
                   "real")


def _ecr(backend: Any, rate: float) -> Outcome:
    ecr = backend.aws("ecr")
    manifest = service_manifest()
    results = [create_repository(ecr, REPOSITORY),
               record_image(ecr, REPOSITORY, content_tag(manifest), manifest)]
    return Outcome(describe_steps(results), _badge(results))


def _task_definition(backend: Any, rate: float) -> Outcome:
    manifest = service_manifest()
    image = record_image(backend.aws("ecr"), REPOSITORY, content_tag(manifest), manifest)
    taskdef = register_task_definition(backend.aws("ecs"), image=image.result["image"],
                                       cpu=256, memory=512)
    return Outcome(describe_steps([taskdef]), taskdef.badge)


def _cluster(backend: Any, rate: float) -> Outcome:
    ecs = backend.aws("ecs")
    results = [create_cluster(ecs), launch_hosts(backend.aws("ec2"), ecs, count=2)]
    return Outcome(describe_steps(results), _badge(results))


MAX_TASKS = 8  # the scalable target's MaxCapacity in the walkthrough


def _service(backend: Any, rate: float) -> Outcome:
    results = deploy_all(backend.aws, desired=4)
    target = autoscale_target(rate, float(backend.info.get("time_scale") or 12.0))
    metric, _ = parse_autoscale(f"requests:{target:g}")
    results += scaling_steps(backend.aws, metric=metric, target_value=target,
                             min_capacity=4, max_capacity=MAX_TASKS)
    new = [r for r in results if r.changed] or results[-1:]
    return Outcome("the kit creates the load balancer's target group first: create-service's "
                   "loadBalancers must name one; then service auto scaling: target tracking on "
                   f"ALBRequestCountPerTarget = {target:g} per lab minute, 4–{MAX_TASKS} tasks.\n"
                   + describe_steps(new) +
                   "\nwatch the dashboard (d): tasks go PROVISIONING → PENDING → RUNNING",
                   "emulated")


def _network(backend: Any, rate: float) -> Outcome:
    """The running tasks' network as describe-tasks and describe-target-health show it, and
    the three modes' answers to "how many per host" (cloud.ecs.network, ecs-facts.md §2)."""
    ecs = backend.aws("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING").get("taskArns", [])
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns[:10])["tasks"] if arns else []
    lines = []
    for t in tasks:
        bindings = [b for c in t.get("containers", []) for b in c.get("networkBindings") or []]
        enis = {d["name"]: d["value"] for a in t.get("attachments") or []
                for d in a.get("details", [])}
        where = (f"ENI {enis.get('networkInterfaceId')} {enis.get('privateIPv4Address')}"
                 if enis else ", ".join(f"hostPort {b['hostPort']} → containerPort "
                                        f"{b['containerPort']}" for b in bindings))
        lines.append(f"  task {t['taskArn'].rsplit('/', 1)[-1][:8]}: {where or '(starting)'}")
    fits = {mode: tasks_that_fit("t3.medium", 256, 512, mode).count
            for mode in ("bridge", "host", "awsvpc")}
    return Outcome("\n".join([
        "describe-tasks (networkBindings / attachments) of the running tasks:", *lines,
        f"tasks of 256 CPU / 512 MiB per t3.medium: bridge {fits['bridge']} (memory-bound, "
        f"dynamic host ports), host {fits['host']} (static port 8080), awsvpc "
        f"{fits['awsvpc']} (one ENI each; 3 ENIs minus the primary)",
        "targets: type instance = (instance id, host port) for bridge/host; type ip = (private "
        "IP, 8080) for awsvpc. The kit's traffic still goes to 127.0.0.1:<each task's port>.",
        "lab 04's last section registers a host-mode revision and watches the hosts refill"]),
        "emulated")


def _load_balancer(backend: Any, rate: float) -> Outcome:
    reply = backend.client.post("/v1/traffic", {"rate": rate, "profile": "steady",
                                                "duration": 20, "phase": "look"})
    lb = backend.client.get("/v1/snapshot").get("load_balancer") or {}
    healthy = sum(t.get("state") == "healthy" for t in lb.get("targets") or [])
    return Outcome(f"20 s of traffic at {rate:g} tx/s to {reply.get('target')}: the "
                   f"{lb.get('algorithm', '?')} target group has {healthy} healthy targets; "
                   "the dashboard's routing feed shows each decision and why", "real")


def _traffic(backend: Any, rate: float) -> Outcome:
    reply = backend.client.post("/v1/traffic", {"rate": rate, "profile": "steady",
                                                "duration": 600, "phase": "normal"})
    return Outcome(f"steady {rate:g} tx/s (open loop, Poisson arrivals) to "
                   f"{reply.get('target')} for 10 minutes; t stops it", "real")


def _crash(backend: Any, rate: float) -> Outcome:
    crashed = backend.client.post("/v1/crash", {})["crashed"]
    return Outcome(f"SIGKILL to task {crashed[:8]}: it exits 137, ECS marks it STOPPED "
                   "(\"Essential container in task exited\") and the service scheduler starts "
                   "a new task — on the dashboard: the ✕ task and its replacement", "real")


def _spike(backend: Any, rate: float) -> Outcome:
    traffic = backend.client.get("/v1/snapshot").get("traffic") or {}
    if traffic.get("running"):
        backend.client.post("/v1/traffic/profile", {"rate": rate, "profile": SPIKE,
                                                     "phase": "spike"})
    else:
        backend.client.post("/v1/traffic", {"rate": rate, "profile": SPIKE, "duration": 600,
                                            "phase": "spike"})
    return Outcome(f"×10: {rate * 10:g} tx/s. Target tracking's AlarmHigh needs 3 one-minute "
                   "datapoints above target; then Application Auto Scaling raises the desired "
                   f"count (up to {MAX_TASKS}) — watch running vs desired and the scaling "
                   "events on the dashboard (d)", "simulated")


def _scale_in(backend: Any, rate: float) -> Outcome:
    traffic = backend.client.get("/v1/snapshot").get("traffic") or {}
    if traffic.get("running"):
        backend.client.post("/v1/traffic/profile", {"rate": rate, "profile": "steady",
                                                     "phase": "normal"})
    else:
        backend.client.post("/v1/traffic", {"rate": rate, "profile": "steady",
                                            "duration": 600, "phase": "normal"})
    return Outcome(f"back to {rate:g} tx/s. AlarmLow needs 15 one-minute datapoints below "
                   "target, then Application Auto Scaling lowers the desired count step by "
                   "step (to MinCapacity 4); ECS deregisters and drains each target before "
                   "stopping its task (SIGTERM, then SIGKILL after the stop timeout)",
                   "simulated")


def _kubernetes(backend: Any, rate: float) -> Outcome:
    """The ECS ↔ Kubernetes mapping (cloud/export/mapping.py), one line per concept."""
    lines = [f"{r.concept}: {_short(r.ecs)} ↔ {_short(r.kubernetes)}" for r in mapping.ROWS]
    return Outcome("\n".join([*lines, "`fraudlab export --format kubernetes` writes this "
                               "deployment as manifests; docs/aws-vs-kubernetes.md has the "
                               "timings and sources"]), "simulated")


DETAIL = re.compile(r" \([^()]*\)(?=[\s;,.]|$)")  # " (defaults)", not "(anti-)affinity"


def _short(text: str) -> str:
    """A mechanism without its parenthesised details: its first sentence, at most two clauses
    (never cut inside a clause, so nothing ends in a dangling comma)."""
    first = DETAIL.sub("", text).split(". ")[0]
    return "; ".join(first.split("; ")[:2]).rstrip(",. ")


STEPS: list[Step] = [
    Step("image", "Image", "Part 1: Docker & containers",
         "Package the model service (Python, LiteRT, gunicorn, the model) as an image; the "
         "kit hashes the service's files into an image manifest and its tag (real layers "
         "only with a Docker engine and `fraudlab build`).",
         "docker build -t fraud-detection .", "simulated",
         "ECS pulls a fresh image on every restart.",
         "A service is pinned to the image digest resolved at deployment: a replacement task "
         "gets the same image even if the tag moved (ecs-facts.md §11c).", _image),
    Step("ecr", "ECR", "Part 2: ECR, the warehouse",
         "Create the repository and record the image manifest under its tag.",
         "aws ecr create-repository --repository-name fraud-detection && docker push …",
         "emulated",
         "ECS pulls a fresh image from ECR on every restart.",
         "On EC2 the agent contacts the registry but reuses the host's cached layers "
         "(ECS_IMAGE_PULL_BEHAVIOR); only Fargate pulls the whole image every task "
         "(ecs-facts.md §11c, §5).", _ecr),
    Step("taskdef", "Task definition", "Part 3: ECS — the recipe",
         "Register fraud-detection: the image, 256 CPU units, 512 MiB, port 8080.",
         "aws ecs register-task-definition --family fraud-detection --cpu 256 --memory 512 …",
         "emulated",
         "A t3.medium provides 1024 CPU and 4 GB: it fits 2 containers of 256 CPU / 512 MB.",
         "t3.medium = 2 vCPU = 2048 CPU units; registered memory is below 4096 MiB; memory "
         "binds first: about 7 such tasks in bridge mode (1 with a static hostPort, 2 with "
         "awsvpc) (ecs-facts.md §11a).", _task_definition),
    Step("cluster", "Cluster and hosts", "Part 3: ECS — the workspace",
         "Create fraud-cluster and launch two t3.medium instances that register with it.",
         "aws ecs create-cluster --cluster-name fraud-cluster && aws ec2 run-instances …",
         "emulated",
         "ECS automatically launches EC2 instances when you set the desired count.",
         "Not by default: without an Auto Scaling group capacity provider with managed "
         "scaling, tasks that fit nowhere are not placed (\"unable to place a task\") "
         "(ecs-facts.md §11b).", _cluster),
    Step("service", "Service", "Part 3: ECS — the manager",
         "Create fraud-svc with desired count 4 behind the target group, with target "
         "tracking auto scaling (4–8 tasks); the scheduler places the tasks (spread over "
         "AZs), each host pulls the image once.",
         "aws ecs create-service --cluster fraud-cluster --service-name fraud-svc "
         "--desired-count 4 --load-balancers …", "emulated",
         "With desired count 4, ECS launches the 2 EC2 instances the tasks need.",
         "Desired count launches no instance: it tells the service scheduler how many tasks "
         "to keep on the registered instances; tasks that fit nowhere are not placed, unless "
         "an Auto Scaling group capacity provider with managed scaling adds instances "
         "(ecs-facts.md §11b).", _service),
    Step("network", "Network modes", "Part 3: ECS — how many per host",
         "Read the running tasks' networkBindings and targets back, and compare the three "
         "network modes' answers to 'how many tasks per t3.medium'.",
         "aws ecs describe-tasks --cluster fraud-cluster --tasks … --query "
         "'tasks[].containers[].networkBindings'", "emulated",
         "A t3.medium fits as many tasks as its CPU and memory allow, whatever the task "
         "definition says.",
         "The network mode decides too: bridge with dynamic host ports ~7 (memory-bound), "
         "host 1 (the static hostPort), awsvpc 2 (one ENI each, no trunking on T3); ECS "
         "refuses target type ip for bridge/host tasks (ecs-facts.md §11a, §2).", _network),
    Step("lb", "Load balancer", "Part 4: traffic director",
         "Send a little traffic through the ALB and watch each routing decision and its "
         "reason in the dashboard's feed.",
         "aws elbv2 describe-target-health --target-group-arn …", "real",
         "The load balancer always routes to the least busy container.",
         "ALB's default is round_robin; least_outstanding_requests is opt-in per target "
         "group; health is binary (ecs-facts.md §11d). Press a to switch.", _load_balancer),
    Step("traffic", "Traffic", "Part 5: complete workflow",
         "Steady traffic of simulated card transactions; each is scored by the real model.",
         "fraudlab traffic --rate 20", "real",
         "A 95%-accurate model catches 95% of frauds.",
         "Accuracy is not recall: at the handbook's 0.84% fraud rate, flagging nothing is "
         "99.2% accurate and catches none; see AUC ROC, Average Precision, CP@100 "
         "(ecs-facts.md §11f).", _traffic),
    Step("crash", "Crash", "Part 6: failure & recovery",
         "SIGKILL one task under load and watch ECS replace it.",
         "(no AWS API: kill the container) · aws ecs describe-tasks shows STOPPED, exit 137",
         "real",
         "Users see zero downtime when a container crashes.",
         "Not guaranteed: requests in flight on the dead task fail (502), and capacity is "
         "down until the replacement is placed, started and healthy (ecs-facts.md §11g).",
         _crash),
    Step("spike", "Spike", "Part 7: auto-scaling",
         "Multiply traffic by 10 and watch target tracking raise the desired count.",
         "aws application-autoscaling describe-scaling-activities --service-namespace ecs",
         "simulated",
         "ECS detects 90% capacity and increases the desired count.",
         "ECS never changes the desired count: Application Auto Scaling does, after 3 "
         "consecutive 1-minute datapoints above target, with cooldowns; \"90%\" resembles a "
         "capacity provider's targetCapacity, which scales instances (ecs-facts.md §11e).",
         _spike),
    Step("scale-in", "Scale-in", "Part 7: auto-scaling",
         "Traffic back to normal; target tracking lowers the desired count; targets drain "
         "first.",
         "aws cloudwatch describe-alarms --alarm-name-prefix TargetTracking-service/"
         "fraud-cluster/fraud-svc",
         "simulated",
         "ECS detects 20% capacity and decreases the desired count.",
         "Scale-in by target tracking needs 15 datapoints below target and is suspended "
         "during deployments; ECS drains targets (deregistration delay) before stopping "
         "tasks (ecs-facts.md §11e, §11g).", _scale_in),
    Step("k8s", "AWS vs Kubernetes", "Part 8: AWS vs GCP",
         "Compare the same deployment on Kubernetes.",
         "kubectl create deployment fraud --image=… --replicas=4 && kubectl expose …",
         "simulated",
         "Kubernetes is more automated than ECS.",
         "Both are declarative reconcilers; node autoscaling is not built into Kubernetes "
         "(Cluster Autoscaler/Karpenter), kubelet restarts containers in place with "
         "CrashLoopBackOff while ECS replaces the task (ecs-facts.md §11h).", _kubernetes),
]
