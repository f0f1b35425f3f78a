"""Lab 03 — task definition, cluster and hosts (1024 vs 2048 CPU units on t3.medium)."""

from __future__ import annotations

from typing import Any

from cloud.aws.steps.ecr import REPOSITORY, content_tag, create_repository, record_image
from cloud.aws.steps.ecs import create_cluster, register_task_definition
from cloud.aws.steps.hosts import launch_hosts
from labs.kit import checks
from labs.kit.template import Lab, Step
from labs.lessons.lab02_ecr import manifest

TASK_CPU, TASK_MEMORY = 256, 512


def _taskdef(session: Any) -> list[Any]:
    ecr = session.aws("ecr")
    m = manifest()
    create_repository(ecr, REPOSITORY)
    image = record_image(ecr, REPOSITORY, content_tag(m), m)
    return [register_task_definition(session.aws("ecs"), image=image.result["image"],
                                     cpu=TASK_CPU, memory=TASK_MEMORY)]


def _cluster(session: Any) -> list[Any]:
    ecs = session.aws("ecs")
    return [create_cluster(ecs), launch_hosts(session.aws("ec2"), ecs, count=2)]


def capacity(session: Any) -> list[dict[str, Any]]:
    """Per host, from describe-container-instances: registered CPU/memory and how many
    256-CPU / 512-MiB tasks fit by CPU and by memory."""
    ecs = session.aws("ecs")
    arns = ecs.list_container_instances(cluster=checks.CLUSTER)["containerInstanceArns"]
    rows = []
    for ci in ecs.describe_container_instances(cluster=checks.CLUSTER,
                                               containerInstances=arns)["containerInstances"]:
        reg = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
        rows.append({"instance": ci["ec2InstanceId"], "registered_cpu": reg.get("CPU"),
                     "registered_memory_mib": reg.get("MEMORY"),
                     "fit_by_cpu": (reg.get("CPU") or 0) // TASK_CPU,
                     "fit_by_memory": (reg.get("MEMORY") or 0) // TASK_MEMORY})
    return rows


def _capacity(session: Any) -> str:
    rows = capacity(session)
    lines = [f"{r['instance']}: {r['registered_cpu']} CPU units, {r['registered_memory_mib']} "
             f"MiB → {r['fit_by_cpu']} tasks by CPU, {r['fit_by_memory']} by memory: "
             f"{min(r['fit_by_cpu'], r['fit_by_memory'])} fit" for r in rows]
    if rows:
        session.record("tasks_per_host", min(rows[0]["fit_by_cpu"], rows[0]["fit_by_memory"]))
    return "\n".join(lines) + ("\nThe case study's '1024 CPU, 2 containers' is wrong: 2 vCPUs "
                               "= 2048 units, and memory binds first.")


def grade(session: Any) -> list[checks.CheckResult]:
    return [checks.task_definition(session, TASK_CPU, TASK_MEMORY),
            checks.hosts_registered(session, 2, 2048)]


LAB = Lab(
    3, "taskdef", "Task definition, cluster and hosts",
    do="Register the task definition, create the cluster, launch two t3.medium hosts and "
       "count how many tasks fit.",
    learn="1 vCPU = 1024 CPU units; a t3.medium registers 2048 units and a bit under 4 GiB.",
    need="The local cloud; lab 02's repository (created again if missing).",
    myth="A t3.medium provides 1024 CPU and 4 GB: it fits 2 containers of 256 CPU / 512 MB.",
    steps=[
        Step("taskdef", "Register the task definition", "fraud-detection: the image, 256 CPU "
             "units, 512 MiB, port 8080.", "aws ecs register-task-definition --family "
             "fraud-detection --cpu 256 --memory 512 …", "Registering stores an immutable "
             "revision and starts nothing; resources are reserved only when a task is "
             "placed.", "ecs-facts.md §2", "emulated", _taskdef),
        Step("cluster", "Cluster and hosts", "Create fraud-cluster and two t3.medium "
             "instances that register with it.", "aws ecs create-cluster --cluster-name "
             "fraud-cluster && aws ec2 run-instances --instance-type t3.medium --count 2 …",
             "ECS does not launch instances by itself unless a capacity provider with managed "
             "scaling is configured.", "ecs-facts.md §3, §11b", "emulated", _cluster),
        Step("capacity", "Count what fits", "Read registeredResources and divide.",
             "aws ecs describe-container-instances --cluster fraud-cluster",
             "t3.medium = 2 vCPU = 2048 CPU units; registered memory is below 4096 MiB; "
             "memory binds first (about 7 such tasks in bridge mode).",
             "ecs-facts.md §1, §11a", "emulated", _capacity),
    ],
    exercises=["Register a revision with 1024 CPU units: how many fit per host now?",
               "Why is registered memory below 4096 MiB? (the agent reserves some)"],
    checks=grade,
)
