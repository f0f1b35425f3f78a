"""Writes the true state back into the emulator, so that ``describe_*`` calls tell the truth.

moto stores ECS resources but runs nothing (emulator-notes.md): ``create_service`` starts no
task, ``register_container_instance`` reports 4096 CPU / 7482 MiB whatever the instance, and
tasks advance one state per ``describe_tasks`` call. In-process, its backends are ours to
update: the controllers create each task under the id they chose, set its lastStatus,
stoppedReason and exit code, the service's running/pending counts, events and deployments
(moto keeps one deployment and never changes it), the service's task definition after a
rollback, and the container instances' registered and remaining resources. ECR images are
described with their true size (the sum of their layers, ``true_ecr_image_sizes``).

Against LocalStack there is nothing to write: its ECS runs tasks itself (paid tiers).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cloud.aws import guards

ACCOUNT = "123456789012"
REGION = "us-east-1"
_event_ids = itertools.count(1)


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _resources(cpu: int, memory: int, ports: Iterable[int]) -> list[dict[str, Any]]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": int(cpu), "doubleValue": 0.0,
         "longValue": 0},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": int(memory), "doubleValue": 0.0,
         "longValue": 0},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": sorted(str(p) for p in ports),
         "integerValue": 0, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [], "integerValue": 0,
         "doubleValue": 0.0, "longValue": 0},
    ]


def reset_moto(url: str) -> None:
    """Empty every moto backend (they are global to the process that runs the server)."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"),
                           timeout=10).close()


def _layer_sum(image: Any) -> int | None:
    """An ECR image's size as ECR reports it: the sum of its manifest's (compressed) layers."""
    import json

    try:
        manifest = json.loads(image.image_manifest)
    except (TypeError, ValueError):
        return None
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list):
        return None
    return sum(int(layer.get("size", 0)) for layer in layers if isinstance(layer, dict))


def true_ecr_image_sizes() -> None:
    """Make moto's ``describe_images`` report ``imageSizeInBytes`` as the sum of the image's
    layer sizes (what ECR reports for a pushed image) instead of its config blob's size.

    Installed once per process by ``MotoWriteBack``: every image put there afterwards — by
    ``fraudlab push`` from another process too — is described with its true size.
    """
    from moto.ecr.models import Image

    if getattr(Image, "_fraudlab_true_size", False):
        return
    Image.get_image_size_in_bytes = _layer_sum  # type: ignore[method-assign]
    Image._fraudlab_true_size = True  # type: ignore[attr-defined]


def stop_code(stopped_reason: str | None, started: bool) -> str:
    """ECS's stopCode for a task the kit stopped: the service scheduler's scale-in or
    replacement, a task that never started, or an essential container that exited."""
    if stopped_reason and stopped_reason.startswith(("Scaling activity initiated by",
                                                     "Task failed ELB health checks")):
        return "ServiceSchedulerInitiated"
    if stopped_reason and stopped_reason.startswith("Host EC2"):
        return "TerminationNotice"
    return "EssentialContainerExited" if started else "TaskFailedToStart"


class MotoWriteBack:
    """Direct access to the in-process moto ECS backend (same process as its server)."""

    def __init__(self, account: str = ACCOUNT, region: str = REGION) -> None:
        from moto.ecs.models import ecs_backends
        from moto.moto_api import state_manager

        self.backend = ecs_backends[account][region]
        true_ecr_image_sizes()
        # Our controllers own the task lifecycle: stop moto advancing it on every describe.
        state_manager.set_transition(model_name="ecs::task",
                                     transition={"progression": "manual", "times": 999_999})

    def serve_cluster(self, cluster: str | None) -> None:
        """Tell the API's guards which cluster the controller runs (cloud.aws.guards)."""
        guards.serve_cluster(cluster)

    def take_stop_requests(self, cluster: str) -> list[tuple[str, str]]:
        """StopTask calls since the last take: (task id, reason)."""
        return guards.take_stop_requests(cluster)

    def take_launches(self, cluster: str) -> list[guards.Launch]:
        """RunTask/StartTask calls waiting to be placed (each answered by ``done``)."""
        return guards.take_launches(cluster)

    def take_forced(self, cluster: str) -> list[tuple[str, str, bool]]:
        """UpdateService calls that began a deployment: (service, its id, forced)."""
        return guards.take_forced(cluster)

    def container_instance(self, cluster: str, arn: str) -> Any:
        return self.backend.container_instances[cluster][arn.split("/")[-1]]

    def set_resources(self, cluster: str, ci_arn: str, registered: tuple[int, int],
                      remaining: tuple[int, int], ports: Iterable[int],
                      running: int, pending: int) -> None:
        """Registered and remaining CPU/memory, ports in use, task counts of one instance."""
        ci = self.container_instance(cluster, ci_arn)
        ports = list(ports)
        ci.registered_resources = _resources(*registered, [22, 2375, 2376, 51678, 51679])
        ci.remaining_resources = _resources(*remaining,
                                            [22, 2375, 2376, 51678, 51679, *ports])
        ci.running_tasks_count = running
        ci.pending_tasks_count = pending
        ci.attributes["ecs.os-type"] = "linux"  # moto guesses "windows" for its fake AMIs

    def create_task(self, cluster: str, task_definition: str, ci_arn: str, task_id: str,
                    group: str, started_by: str, created_at: float) -> None:
        """A task under our id, PROVISIONING, on ``ci_arn`` (moto's start_task, re-keyed)."""
        task = self._start_task(cluster, task_definition, ci_arn, started_by, group)
        tasks = self.backend.tasks[task.cluster_name]
        tasks.pop(task.task_arn)
        task.id = task_id
        task.last_status = "PROVISIONING"
        task.created_at = _utc(created_at)
        for container in task.containers:
            container.task_arn = task.task_arn  # moto puts the task definition's ARN here
            container.last_status = "PENDING"
            container.exitCode = None
        tasks[task.task_arn] = task

    def _start_task(self, cluster: str, task_definition: str, ci_arn: str, started_by: str,
                    group: str) -> Any:
        """moto's start_task; an awsvpc task is made as a bridge one (moto's start_task takes
        no networkConfiguration and would refuse it): its ENI is written by ``set_network``."""
        td = self.backend.describe_task_definition(task_definition)
        if td.network_mode != "awsvpc":
            return self.backend.start_task(cluster, task_definition, [ci_arn], {}, started_by,
                                           group=group)[0]
        from moto.ecs.models import Task

        view = copy.copy(td)
        view.network_mode = "bridge"
        ci = self.container_instance(cluster, ci_arn)
        task = Task(self.backend._get_cluster(cluster), view, ci.container_instance_arn,
                    self.backend._calculate_task_resource_requirements(td), backend=self.backend,
                    group=group, started_by=started_by)
        self.backend.tasks.setdefault(task.cluster_name, {})[task.task_arn] = task
        return task

    def set_network(self, cluster: str, task_id: str, bindings: list[dict[str, Any]],
                    attachments: list[dict[str, Any]],
                    interfaces: list[dict[str, Any]]) -> None:
        """describe-tasks' network: ``containers[].networkBindings`` (bridge, host),
        ``attachments`` and ``containers[].networkInterfaces`` (awsvpc) — cloud.ecs.network's;
        one write for the API's readers (guards.TASKS_LOCK)."""
        with guards.TASKS_LOCK:
            task = self._task(cluster, task_id)
            if task is None:
                return
            task.attachments = list(attachments)
            for container in task.containers:
                container.network_bindings = list(bindings)
                container.network_interfaces = list(interfaces)

    def _task(self, cluster: str, task_id: str) -> Any | None:
        for arn, task in self.backend.tasks.get(cluster, {}).items():
            if arn.endswith(task_id):
                return task
        return None

    def set_task(self, cluster: str, task_id: str, last_status: str, desired_status: str,
                 started_at: float | None = None, stopped_at: float | None = None,
                 stopped_reason: str | None = None, exit_code: int | None = None,
                 health: str | None = None) -> None:
        """lastStatus, desiredStatus, times, stoppedReason and the container's exit code, as
        one write for the API's readers (guards.TASKS_LOCK)."""
        with guards.TASKS_LOCK:
            task = self._task(cluster, task_id)
            if task is None:
                return
            task.last_status = last_status
            task.desired_status = desired_status
            if started_at is not None:
                task.started_at = _utc(started_at)
            if stopped_at is not None:
                task.stopped_at = _utc(stopped_at)
                task.stopping_at = _utc(stopped_at)
            if stopped_reason is not None:
                task.stopped_reason = stopped_reason
            if last_status == "STOPPED" and not getattr(task, "stop_code", None):
                task.stop_code = stop_code(stopped_reason, started_at is not None
                                           or getattr(task, "started_at", None) is not None)
            for container in task.containers:
                container.last_status = ("RUNNING" if last_status == "RUNNING" else
                                         "STOPPED" if last_status == "STOPPED" else "PENDING")
                if last_status == "STOPPED":
                    container.exitCode = exit_code
                    if stopped_reason:
                        container.reason = stopped_reason
                if health:
                    container.health_status = health

    def set_service(self, cluster: str, service: str, running: int, pending: int,
                    events: Iterable[tuple[float, str]]) -> None:
        """runningCount, pendingCount and the events (newest first, at most 100)."""
        svc = self.backend.services.get(f"{cluster}:{service}")
        if svc is None:
            return
        svc.running_count = running
        svc.pending_count = pending
        known = {e["message"] + str(e["createdAt"]): e for e in svc.events
                 if isinstance(e, dict)}
        out = []
        for at, message in events:
            key = message + str(_utc(at))
            out.append(known.get(key) or {"id": f"{next(_event_ids):08x}-fraudlab",
                                          "createdAt": _utc(at), "message": message})
        svc.events = out[:100]

    def set_deployments(self, cluster: str, service: str,
                        deployments: Iterable[dict[str, Any]]) -> None:
        """describe-services' ``deployments`` (PRIMARY first), with ECS's field names;
        createdAt/updatedAt as epoch seconds. Fields moto set that are not given (launchType,
        platformFamily, networkConfiguration…) are kept from its own first deployment."""
        svc = self.backend.services.get(f"{cluster}:{service}")
        if svc is None:
            return
        base = next((d for d in getattr(svc, "deployments", None) or []
                     if isinstance(d, dict)), {})
        kept = {k: v for k, v in base.items()
                if k in ("launchType", "platformFamily", "platformVersion",
                         "networkConfiguration")}
        out = []
        for d in deployments:
            row = {**kept, **d}
            for key in ("createdAt", "updatedAt"):
                if isinstance(row.get(key), int | float):
                    row[key] = _utc(row[key])
            out.append(row)
        svc.deployments = out

    def set_task_definition(self, cluster: str, service: str, task_definition: str) -> None:
        """The service's taskDefinition (after a circuit-breaker rollback)."""
        svc = self.backend.services.get(f"{cluster}:{service}")
        if svc is not None:
            svc.task_definition = task_definition
