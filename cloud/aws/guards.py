"""What the local AWS answers itself, fixes or refuses: hooks on moto's in-process server.

moto stores resources and runs nothing; the kit's controllers run what it stores
(``cloud.ecs.controller``, ``cloud.lb.sync``, ``cloud.autoscaling.controller``). Between the two,
some calls would crash (HTTP 500) or lie. ``install()`` patches moto's classes once per process,
before its server answers (``cloud.aws.endpoint.start_moto``), so that every call either
happens for real and reads back as AWS reports it, or is refused with an AWS-shaped error:

ECS
- ``StopTask``: moto's answer was HTTP 500 (``list.remove`` in its resource bookkeeping). The
  task gets desiredStatus STOPPED, stopCode ``UserInitiated`` and the caller's reason; the
  request is queued for the cluster's controller (``take_stop_requests``), which drains the
  target, stops the container and lets the service scheduler replace it. An unknown task:
  ``InvalidParameterException`` "The referenced task was not found.".
- ``ListTasks``: desiredStatus RUNNING unless asked; ``serviceName``, ``family``,
  ``startedBy``, ``containerInstance``, ``desiredStatus``; ``maxResults``/``nextToken`` paging.
- ``DescribeTasks``: ``cpu``/``memory`` (the task definition's), ``stopCode``; unknown ids in
  ``failures`` (reason MISSING) as ECS lists them (networkBindings: ``cloud.ecs.writeback``).
- ``DescribeClusters``: running/pending task, active service and container instance counts
  counted from what exists (moto kept running totals that went negative).
- ``DeleteService`` (``--force`` too): a service with tasks left is DRAINING, desired count
  0, until the controller has stopped them, then INACTIVE; ListServices omits INACTIVE ones.
- ``CreateService``/``UpdateService`` answer the true runningCount (moto's UpdateService set it
  to the desired count before any task ran).
- ``CreateService`` in any cluster, any number per cluster: the local cloud runs a controller
  for every cluster with container instances or services (``serve_cluster`` names each).
- ``RunTask`` (count 1–10) and ``StartTask`` (the named container instances): queued for the
  cluster's controller (``take_launches``), which places the tasks as ECS does
  (``cloud.ecs.scheduler.launch_standalone``), starts them and creates them in the emulator;
  the call waits for that and answers them (PROVISIONING) with ``failures`` for what found no
  room (``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ... per container instance). Group
  ``family:<family>`` by default; nothing replaces them when they stop.
- ``UpdateService --force-new-deployment``: moto's new deployment id is queued for the
  controller (``take_forced``), which replaces every task through the rolling update; the
  answer shows the new PRIMARY (IN_PROGRESS) and the old one ACTIVE.
- ``CreateService`` keeps ``healthCheckGracePeriodSeconds`` (moto dropped it; 0 with a load
  balancer, as ECS): how long the scheduler ignores ELB health after a task started.
- Refused with ``UnsupportedFeatureException`` (HTTP 400) because nothing would run them:
  ``RunTask``/``StartTask`` in a cluster no controller of the local cloud runs or with a
  ``memberOf`` constraint, and FARGATE (launch type or capacity provider; only EC2 container
  instances run tasks here).

ELBv2
- ``CreateListener``: while a local cloud runs, each listener is a real port (a proxy per
  target group, ``cloud.lb.pools``), so ``OperationNotPermitted`` for what a proxy cannot serve:
  a default action that is not a forward to one target group, or a second listener forwarding
  to a group another listener already forwards to; re-creating the same one answers it as
  before; ``ModifyListener`` with new default actions is held to the same rules.
  ``CreateRule``: refused the same way (listeners route by their default action only).
- ``ModifyTargetGroup`` validates the resulting health check as ``CreateTargetGroup`` does:
  interval 5–300 s, timeout 2–120 s and smaller than the interval, thresholds 2–10, a path
  starting with ``/`` (``ValidationError``, ELBv2's wording where moto has it).

Application Auto Scaling
- ``DescribeScalingActivities`` (moto: HTTP 500) answers from the kit's own record of scaling
  activities (``serve_activities``), newest first, with paging.
- ``RegisterScalableTarget``/``PutScalingPolicy``: an ECS resource id must be
  ``service/<cluster>/<service>`` (``ValidationException``); a policy needs a registered
  scalable target (``ObjectNotFoundException``). While a local cloud runs, a scalable target
  in a cluster other than the kit's is refused (``ValidationException`` naming the limit:
  the kit's target tracking runs for its own cluster). Re-putting a policy replaces its alarms
  (moto left the old pair behind).
"""

from __future__ import annotations

import base64
import inspect
import json
import secrets
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloud.aws.network_guard import service_error
from cloud.ecs.network import network_configuration_error

DEFAULT_STOP_REASON = "Task stopped by user"
"""stoppedReason when StopTask gives no reason (kit's wording; the console says so)."""
USER_INITIATED = "UserInitiated"
LIVE_SERVICE = ("ACTIVE", "DRAINING")
PENDING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")
MAX_LIST_RESULTS = 100
LAUNCH_TIMEOUT = 30.0  # seconds RunTask/StartTask wait for the controller to place the tasks
MAX_TASKS_PER_CALL = 10  # RunTask's count, StartTask's containerInstances (API reference)

ActivitySource = Callable[[], list[dict[str, Any]]]


class Refused(ValueError):
    """A pure check's refusal; the hooks turn it into the service's own error."""


def _ecs_error(code: str, message: str) -> Exception:
    from moto.ecs.exceptions import ECSException  # moto loads werkzeug: only where it runs

    return ECSException(code, message)


def _invalid(message: str) -> Exception:
    return _ecs_error("InvalidParameterException", message)


def _unsupported(message: str) -> Exception:
    """ECS's UnsupportedFeatureException (HTTP 400): here, what the local ECS does not run."""
    return _ecs_error("UnsupportedFeatureException", message)


def _aas_error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


@dataclass
class Launch:
    """A RunTask/StartTask call waiting for the cluster's controller: it places the tasks
    (``cloud.ecs.scheduler.launch_standalone``), creates them in the emulator and sets
    ``done``; the call then answers them and the ``failures``."""

    cluster: str
    task_definition: str  # the ARN
    count: int
    started_by: str
    group: str
    strategy: list[dict[str, Any]]
    distinct_instance: bool
    instances: list[str] | None = None  # StartTask: the container instances named
    done: threading.Event = field(default_factory=threading.Event)
    task_ids: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None  # InvalidParameterException's message


class _Served:
    """What the local cloud in this process runs: its cluster, its scaling record, and the
    StopTask, RunTask/StartTask and force-new-deployment calls its controller has not taken
    yet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cluster: str | None = None  # the kit's cluster (the first one served)
        self.clusters: set[str] = set()  # every cluster a controller runs
        self.activities: ActivitySource | None = None
        self.stops: dict[str, list[tuple[str, str]]] = {}
        self.launches: dict[str, list[Launch]] = {}
        self.forced: dict[str, list[tuple[str, str, bool]]] = {}


SERVED = _Served()


def serve_cluster(cluster: str | None) -> None:
    """A cluster whose services a controller of the local cloud runs (the first one is the
    kit's); None: no local cloud, which also forgets every cluster and its scaling record."""
    with SERVED.lock:
        if cluster is None:
            SERVED.cluster, SERVED.activities = None, None
            SERVED.clusters.clear()
            SERVED.stops.clear()
            SERVED.forced.clear()
            for waiting in SERVED.launches.values():
                for launch in waiting:
                    launch.error = "The cluster's local controller stopped."
                    launch.done.set()
            SERVED.launches.clear()
            return
        if SERVED.cluster is None:
            SERVED.cluster = cluster
            SERVED.stops.clear()
        SERVED.clusters.add(cluster)


def serve_activities(source: ActivitySource | None) -> None:
    """Where DescribeScalingActivities reads: a callable returning the API's entries."""
    with SERVED.lock:
        SERVED.activities = source


def take_stop_requests(cluster: str) -> list[tuple[str, str]]:
    """The StopTask calls for ``cluster`` since the last take: (task id, reason)."""
    with SERVED.lock:
        return SERVED.stops.pop(cluster, [])


def take_launches(cluster: str) -> list[Launch]:
    """The RunTask/StartTask calls for ``cluster`` waiting to be placed."""
    with SERVED.lock:
        return SERVED.launches.pop(cluster, [])


def take_forced(cluster: str) -> list[tuple[str, str, bool]]:
    """UpdateService calls for ``cluster`` that began a deployment, since the last take:
    (service name, the new deployment's id as the call answered it, --force-new-deployment)."""
    with SERVED.lock:
        return SERVED.forced.pop(cluster, [])


def _served_cluster() -> str | None:
    with SERVED.lock:
        return SERVED.cluster


def _served_clusters() -> set[str]:
    with SERVED.lock:
        return set(SERVED.clusters)


def _serves(cluster: str) -> bool:
    """Whether a controller of the local cloud runs ``cluster``'s tasks."""
    with SERVED.lock:
        return cluster in SERVED.clusters


# ---- pure helpers ------------------------------------------------------------------------
def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a nextToken stands for; InvalidParameterException for anything else."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused("Invalid nextToken") from exc
    if not isinstance(offset, int) or offset < 0:
        raise Refused("Invalid nextToken")
    return offset


def page(items: list[Any], max_results: int | None, token: str | None,
         limit: int = MAX_LIST_RESULTS) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next (None on the last page)."""
    if max_results is not None and not 1 <= max_results <= limit:
        raise Refused(f"maxResults must be between 1 and {limit}")
    size = max_results or limit
    start = decode_token(token)
    chunk = items[start:start + size]
    return chunk, encode_token(start + size) if start + size < len(items) else None


def health_check_errors(interval: int, timeout: int, healthy: int, unhealthy: int,
                        path: str | None) -> str | None:
    """ELBv2's refusal of a target group's health check, or None (ranges from the
    CreateTargetGroup/ModifyTargetGroup API reference; wording as ELBv2 answers)."""
    if not 5 <= interval <= 300:
        return f"Health check interval '{interval}' must be between 5 and 300 seconds"
    if not 2 <= timeout <= 120:
        return f"Health check timeout '{timeout}' must be between 2 and 120 seconds"
    if timeout >= interval:
        return f"Health check timeout '{timeout}' must be smaller than the interval '{interval}'"
    for name, value in (("Healthy", healthy), ("Unhealthy", unhealthy)):
        if not 2 <= value <= 10:
            return f"{name} threshold count '{value}' must be between 2 and 10"
    if path is not None and (not path.startswith("/") or len(path) > 1024):
        return f"Health check path '{path}' must begin with a '/' character and can be " \
               "at most 1024 characters"
    return None


def ecs_resource_id_error(resource_id: str) -> str | None:
    """Why an ECS ResourceId is not ``service/<cluster>/<service>``, or None."""
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        return (f"Unsupported resource ID '{resource_id}' for service namespace ecs: an ECS "
                "service's resource ID is service/<cluster-name>/<service-name>")
    return None


# ---- ECS -----------------------------------------------------------------------------------
def _task_by_id(backend: Any, cluster: str, ref: str) -> Any | None:
    wanted = ref.split("/")[-1]
    return next((t for arn, t in backend.tasks.get(cluster, {}).items()
                 if arn.split("/")[-1] == wanted), None)


def _stop_task(self: Any, cluster_str: str, task_str: str, reason: str | None) -> Any:
    cluster = self._get_cluster(cluster_str)
    task = _task_by_id(self, cluster.name, task_str or "")
    if task is None:
        raise _invalid("The referenced task was not found.")
    if task.desired_status != "STOPPED":
        task.desired_status = "STOPPED"
        task.stopped_reason = reason or DEFAULT_STOP_REASON
        task.stop_code = USER_INITIATED
        task.stopping_at = datetime.now(UTC)
        if _serves(cluster.name):
            with SERVED.lock:  # the controller stops the container and writes STOPPED back
                SERVED.stops.setdefault(cluster.name, []).append(
                    (task.id, task.stopped_reason))
        else:  # nothing runs it: it is stopped at once
            task.last_status = "STOPPED"
            task.stopped_at = task.stopping_at
    return task


def _count(self: Any, cluster: Any) -> None:
    """A cluster's counts from its tasks, services and container instances."""
    tasks = list(self.tasks.get(cluster.name, {}).values())
    cluster.running_tasks_count = sum(t.last_status == "RUNNING" for t in tasks)
    cluster.pending_tasks_count = sum(t.last_status in PENDING_STATES for t in tasks)
    cluster.active_services_count = sum(
        s.cluster_name == cluster.name and s.status in LIVE_SERVICE
        for s in self.services.values())
    cluster.registered_container_instances_count = sum(
        ci.status in ("ACTIVE", "DRAINING")
        for ci in self.container_instances.get(cluster.name, {}).values())


def _counted(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_clusters(self: Any, *args: Any, **kwargs: Any) -> Any:
        clusters, failures = original(self, *args, **kwargs)
        for cluster in clusters:
            _count(self, cluster)
        return clusters, failures
    return describe_clusters


def _true_counts(original: Callable[..., Any]) -> Callable[..., Any]:
    """UpdateService answering the service's true running/pending counts."""
    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        cluster = self._get_cluster(service_properties.get("cluster", "default"))
        before = self._get_service(cluster.name, str(service_properties.get("service", "")))
        counts = before.running_count, before.pending_count
        service = original(self, service_properties)
        service.running_count, service.pending_count = counts
        return service
    return update_service


def _live_tasks(backend: Any, cluster: str, service: str) -> list[Any]:
    return [t for t in backend.tasks.get(cluster, {}).values()
            if t.group == f"service:{service}" and t.last_status != "STOPPED"]


def _draining_delete(original: Callable[..., Any]) -> Callable[..., Any]:
    """DeleteService as ECS does it: a service with tasks left is DRAINING with desired count
    0 (the controller stops its tasks), INACTIVE once they have stopped (``_settled``)."""
    def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        service = original(self, cluster_name, service_name, force)
        if (_serves(service.cluster_name)
                and _live_tasks(self, service.cluster_name, service.name)):
            service.status, service.desired_count = "DRAINING", 0
        return service
    return delete_service


def _settled(backend: Any, services: list[Any]) -> None:
    for service in services:
        if service.status == "DRAINING" and not _live_tasks(backend, service.cluster_name,
                                                             service.name):
            service.status = "INACTIVE"


def _settling_describe(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_services(self: Any, *args: Any, **kwargs: Any) -> Any:
        services, failures = original(self, *args, **kwargs)
        _settled(self, services)
        return services, failures
    return describe_services


def _live_list(original: Callable[..., Any]) -> Callable[..., Any]:
    """ListServices without the deleted (INACTIVE) services, as ECS lists them."""
    def list_services(self: Any, cluster_str: str, *args: Any, **kwargs: Any) -> Any:
        arns = original(self, cluster_str, *args, **kwargs)
        by_arn = {s.arn: s for s in self.services.values()}
        _settled(self, [by_arn[a] for a in arns if a in by_arn])
        return [a for a in arns if a not in by_arn or by_arn[a].status != "INACTIVE"]
    return list_services


def _task_cpu(task: Any) -> str | None:
    td = task._backend.task_definitions
    family, _, revision = task.task_definition_arn.rsplit("/", 1)[-1].partition(":")
    found = td.get(family, {}).get(int(revision)) if revision.isdigit() else None
    if found is None:
        return None
    cpu = found.cpu or sum(int(c.get("cpu") or 0) for c in found.container_definitions)
    return str(cpu) if cpu else None


def _task_memory(task: Any) -> str | None:
    td = task._backend.task_definitions
    family, _, revision = task.task_definition_arn.rsplit("/", 1)[-1].partition(":")
    found = td.get(family, {}).get(int(revision)) if revision.isdigit() else None
    if found is None:
        return None
    memory = found.memory or sum(int(c.get("memory") or 0) for c in found.container_definitions)
    return str(memory) if memory else None


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].split(":")[0]


def filter_tasks(tasks: list[Any], *, service: str | None, family: str | None,
                 started_by: str | None, container_instance: str | None,
                 desired_status: str | None) -> list[Any]:
    """ListTasks' filters; desiredStatus RUNNING when none is given (ECS's default)."""
    status = desired_status or "RUNNING"
    ci = container_instance.split("/")[-1] if container_instance else None
    return [t for t in tasks
            if t.desired_status == status
            and (service is None or t.group == f"service:{service.split('/')[-1]}")
            and (family is None or _family(t.task_definition_arn) == family)
            and (started_by is None or t.started_by == started_by)
            and (ci is None or (t.container_instance_arn or "").split("/")[-1] == ci)]


def _list_tasks(self: Any) -> Any:
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    tasks = filter_tasks(
        list(backend.tasks.get(cluster.name, {}).values()),
        service=self._get_param("serviceName"), family=self._get_param("family"),
        started_by=self._get_param("startedBy"),
        container_instance=self._get_param("containerInstance"),
        desired_status=self._get_param("desiredStatus"))
    try:
        chunk, token = page(tasks, self._get_int_param("maxResults"),
                            self._get_param("nextToken"))
    except Refused as exc:
        raise _invalid(str(exc)) from exc
    result: dict[str, Any] = {"taskArns": [t.task_arn for t in chunk]}
    if token:
        result["nextToken"] = token
    from moto.core.responses import ActionResult

    return ActionResult(result)


def _with_failures(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_tasks(self: Any) -> Any:
        result = original(self)
        asked = self._get_param("tasks", []) or []
        answer: dict[str, Any] = result.result  # type: ignore[assignment]
        found = {t.task_arn.split("/")[-1] for t in answer["tasks"]}
        answer["failures"] = [
            {"arn": ref if ref.startswith("arn:") else
             f"arn:aws:ecs:{self.region}:{self.current_account}:task/{ref}", "reason": "MISSING"}
            for ref in asked if ref.split("/")[-1] not in found]
        return result
    return describe_tasks


STANDALONE = ("FraudLab's local ECS runs tasks only in the clusters its local cloud runs "
              "(those with container instances or services: {served}); {call} in cluster "
              "{cluster} would start nothing, so it is refused.")
MEMBER_OF = ("FraudLab's local ECS supports the distinctInstance placement constraint only; "
             "memberOf expressions are not evaluated, so a task placed with one is refused.")
NO_INSTANCES = "No Container Instances were found in your cluster."


def launch_refusal(cluster: str, served: Collection[str], call: str,
                   constraints: list[dict[str, Any]] | None) -> str | None:
    """Why RunTask/StartTask cannot run for real here, or None (pure)."""
    if cluster not in served:
        return STANDALONE.format(served=", ".join(sorted(served)) or "none", call=call,
                                 cluster=cluster)
    if any(c.get("type") == "memberOf" for c in constraints or []):
        return MEMBER_OF
    return None


def _launch(self: Any, call: str, instances: list[str] | None) -> Any:
    """RunTask/StartTask: refused as AWS would, or queued for the controller, which places
    and creates the tasks; the answer describes them (PROVISIONING) and the failures."""
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    count = 1 if instances is not None else self._get_int_param("count", 1)
    if instances is not None and not 1 <= len(instances) <= MAX_TASKS_PER_CALL:
        raise _invalid(f"containerInstances must list 1 to {MAX_TASKS_PER_CALL} instances.")
    if not 1 <= count <= MAX_TASKS_PER_CALL:
        raise _invalid(f"count must be between 1 and {MAX_TASKS_PER_CALL}.")
    td = backend.describe_task_definition(self._get_param("taskDefinition"))
    constraints = self._get_param("placementConstraints") or []
    why = fargate_refusal(self._get_param("launchType"),
                          self._get_param("capacityProviderStrategy")) or \
        launch_refusal(cluster.name, _served_clusters(), call, constraints)
    if why:
        raise _unsupported(why)
    launch = Launch(cluster.name, td.arn, count, self._get_param("startedBy") or "",
                    self._get_param("group") or f"family:{td.family}",
                    self._get_param("placementStrategy") or [],
                    any(c.get("type") == "distinctInstance" for c in constraints), instances)
    with SERVED.lock:
        SERVED.launches.setdefault(cluster.name, []).append(launch)
    if not launch.done.wait(LAUNCH_TIMEOUT):
        with SERVED.lock:
            if launch in SERVED.launches.get(cluster.name, []):
                SERVED.launches[cluster.name].remove(launch)
        raise _ecs_error("ServerException", f"the local controller of {cluster.name} did not "
                         f"place the tasks within {LAUNCH_TIMEOUT:g} s")
    if launch.error:
        raise _invalid(launch.error)
    from moto.core.responses import ActionResult

    tasks = backend.describe_tasks(cluster.name, launch.task_ids) if launch.task_ids else []
    return ActionResult({"tasks": tasks, "failures": launch.failures})


def _run_task(self: Any) -> Any:
    return _launch(self, "RunTask", None)


def _start_task(self: Any) -> Any:
    return _launch(self, "StartTask", list(self._get_param("containerInstances") or []))


def _guarded_create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        name = self._get_param("serviceName")
        live = [s.name for s in backend.services.values()
                if s.cluster_name == cluster.name and s.status in LIVE_SERVICE]
        if name in live:
            raise _invalid("Creation of service was not idempotent.")
        # AWS validates the request first; the kit's own limits come after (a refusal that
        # names a limit must not hide a parameter AWS itself would refuse).
        if td_name := self._get_param("taskDefinition"):
            mode = backend.describe_task_definition(td_name).network_mode
            invalid = (service_error(mode, self._get_param("loadBalancers"))
                       or network_configuration_error(
                           mode, self._get_param("networkConfiguration")))
            if invalid:
                raise _invalid(invalid)
        why = fargate_refusal(self._get_param("launchType"),
                              self._get_param("capacityProviderStrategy"))
        if why:
            raise _unsupported(why)
        result = original(self)
        grace = self._get_param("healthCheckGracePeriodSeconds")
        if grace is not None or self._get_param("loadBalancers"):
            service = backend._get_service(cluster.name, name)  # moto drops it
            service.health_check_grace_period_seconds = int(grace or 0)  # ECS: 0 with an LB
        return result
    return create_service


FARGATE = ("FraudLab's local ECS runs the EC2 launch type only (tasks on the cluster's "
           "container instances); {what} would never start a task, so it is refused.")


def fargate_refusal(launch_type: str | None,
                    strategy: list[dict[str, Any]] | None) -> str | None:
    """Why a FARGATE service cannot run here, or None (pure)."""
    if launch_type == "FARGATE":
        return FARGATE.format(what="launchType FARGATE")
    names = [str(s.get("capacityProvider", "")) for s in strategy or []]
    if any(n.startswith("FARGATE") for n in names):
        return FARGATE.format(what="a FARGATE capacity provider")
    return None


def forced_deployments(old: list[dict[str, Any]], new_id: str, now: datetime,
                       task_definition: str | None = None) -> list[dict[str, Any]]:
    """describe-services' deployments right after UpdateService begins a deployment (pure): a
    new PRIMARY (of ``task_definition``, else the same one: --force-new-deployment),
    IN_PROGRESS with no task yet, the others ACTIVE."""
    live = [d for d in old if d.get("status") in ("PRIMARY", "ACTIVE")]
    if not live:
        return old
    primary = {**live[0], "id": new_id, "status": "PRIMARY", "runningCount": 0,
               "taskDefinition": task_definition or live[0].get("taskDefinition"),
               "pendingCount": 0, "failedTasks": 0, "createdAt": now, "updatedAt": now,
               "rolloutState": "IN_PROGRESS",
               "rolloutStateReason": f"ECS deployment {new_id} in progress."}
    rest = [{**d, "status": "ACTIVE", "updatedAt": now,
             "desiredCount": int(d.get("runningCount", 0)) + int(d.get("pendingCount", 0))}
            for d in live]
    return [primary, *rest]


def _guarded_update_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_service(self: Any) -> Any:
        backend = self.ecs_backend
        cluster = backend._get_cluster(self._get_param("cluster", "default"))
        why = fargate_refusal(None, self._get_param("capacityProviderStrategy"))
        if why:
            raise _unsupported(why)
        name = str(self._get_param("service", "")).split("/")[-1]
        served = _serves(cluster.name)
        before = backend._get_service(cluster.name, name)
        td_param = self._get_param("taskDefinition")
        new_td = backend.describe_task_definition(td_param).arn if td_param else None
        changed = served and new_td is not None and new_td != before.task_definition
        forced = served and bool(self._get_param("forceNewDeployment"))
        old = [dict(d) for d in before.deployments or [] if isinstance(d, dict)]
        result = original(self)
        service = backend._get_service(cluster.name, name)
        if new_td is not None:
            service.task_definition = new_td  # the ARN, as ECS answers (moto kept the input)
        if forced or changed:
            # ECS answers the new deployment at once; the controller begins it under this id
            new_id = service.deployments[0]["id"] if forced else \
                f"ecs-svc/{secrets.randbelow(10**19):019d}"
            service.deployments = forced_deployments(old, new_id, datetime.now(UTC),
                                                     service.task_definition)
            with SERVED.lock:  # the controller begins it (cloud.ecs.scheduler)
                SERVED.forced.setdefault(cluster.name, []).append((name, new_id, forced))
        return result
    return update_service


TASKS_LOCK = threading.Lock()
"""Held while the API answers a call that reads tasks (its answer serialized under it) and while
the controller writes a task back (cloud.ecs.writeback): describe-tasks never shows half a
write, such as lastStatus STOPPED before the container's exitCode."""
TASK_READS = frozenset({"DescribeTasks", "ListTasks"})


def _task_reads_locked(cls: type) -> Callable[..., Any]:
    """``cls.call_action`` taking TASKS_LOCK for TASK_READS. The parent's call_action is looked
    up per call: cloud.core.api_writes wraps BaseResponse's after this is installed."""
    def call_action(self: Any) -> Any:
        serve = super(cls, self).call_action
        if self._get_action() not in TASK_READS:  # RunTask waits on the controller: unlocked
            return serve()
        with TASKS_LOCK:
            return serve()
    return call_action


def _install_ecs() -> None:
    from moto.ecs import models as ecs_models
    from moto.ecs.responses import EC2ContainerServiceResponse

    backend = ecs_models.EC2ContainerServiceBackend
    backend.stop_task = _stop_task  # type: ignore[method-assign]
    backend.describe_clusters = _counted(backend.describe_clusters)  # type: ignore[method-assign]
    backend.update_service = _true_counts(backend.update_service)  # type: ignore[method-assign]
    backend.delete_service = _draining_delete(  # type: ignore[method-assign]
        backend.delete_service)
    backend.describe_services = _settling_describe(  # type: ignore[method-assign]
        backend.describe_services)
    backend.list_services = _live_list(backend.list_services)  # type: ignore[method-assign]
    task = ecs_models.Task
    task.cpu = property(_task_cpu)  # type: ignore[attr-defined]
    task.memory = property(_task_memory)  # type: ignore[attr-defined]
    task.stop_code = None  # type: ignore[attr-defined]
    task.stopping_at = None  # type: ignore[attr-defined]
    responses = EC2ContainerServiceResponse
    responses.call_action = _task_reads_locked(responses)  # type: ignore[method-assign]
    responses.list_tasks = _list_tasks  # type: ignore[method-assign]
    responses.describe_tasks = _with_failures(  # type: ignore[method-assign]
        responses.describe_tasks)
    responses.run_task = _run_task  # type: ignore[method-assign]
    responses.start_task = _start_task  # type: ignore[method-assign]
    responses.create_service = _guarded_create_service(  # type: ignore[method-assign]
        responses.create_service)
    responses.update_service = _guarded_update_service(  # type: ignore[method-assign]
        responses.update_service)


# ---- ELBv2 ---------------------------------------------------------------------------------
def _validated_modify(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def modify_target_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        given = signature.bind(self, *args, **kwargs).arguments
        tg = self.target_groups.get(given.get("arn"))
        if tg is not None:
            def pick(key: str, current: Any) -> Any:
                value = given.get(key)
                return current if value is None else value

            why = health_check_errors(
                int(pick("health_check_interval", tg.health_check_interval_seconds)),
                int(pick("health_check_timeout", tg.health_check_timeout_seconds)),
                int(pick("healthy_threshold_count", tg.healthy_threshold_count)),
                int(pick("unhealthy_threshold_count", tg.unhealthy_threshold_count)),
                given.get("health_check_path"))
            if why:
                raise _elb_validation(why)
        return original(self, *args, **kwargs)
    return modify_target_group


def _validated_create(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        if kwargs.get("protocol") in ("HTTP", "HTTPS") and kwargs.get("target_type") != "lambda":
            why = health_check_errors(
                int(kwargs.get("healthcheck_interval_seconds") or 30),
                int(kwargs.get("healthcheck_timeout_seconds") or 5),
                int(kwargs.get("healthy_threshold_count") or 5),
                int(kwargs.get("unhealthy_threshold_count") or 2),
                kwargs.get("healthcheck_path"))
            if why:
                raise _elb_validation(why)
        return original(self, name, **kwargs)
    return create_target_group


def _elb_validation(message: str) -> Exception:
    from moto.elbv2.exceptions import ValidationError

    return ValidationError(message)


LISTENER_ACTION = ("FraudLab's local load balancer runs a listener whose default action "
                   "forwards to one target group (each listener is a real port on "
                   "127.0.0.1); {what} would not be served as asked, so it is refused.")
LISTENER_SHARED = ("FraudLab's local load balancer runs one listener per target group (the "
                   "group's proxy listens on one port), and {name} port {port} already "
                   "forwards to {group}; forward this listener to another target group.")
RULES = ("FraudLab's local load balancer routes each listener by its default action only; "
         "listener rules (CreateRule) would not be applied, so they are refused.")


def forward_group(actions: list[dict[str, Any]] | None) -> str | None:
    """The one target group ARN a listener's default actions forward to, or None (pure)."""
    if not actions or len(actions) != 1 or actions[0].get("Type") != "forward":
        return None
    action = actions[0]
    groups = [g.get("TargetGroupArn") for g in
              (action.get("ForwardConfig") or {}).get("TargetGroups") or []]
    if action.get("TargetGroupArn"):
        groups.append(action["TargetGroupArn"])
    unique = set(groups)
    return unique.pop() if len(unique) == 1 and None not in unique else None


def listener_refusal(lb_arn: str, port: int, actions: list[dict[str, Any]] | None,
                     existing: list[tuple[str, str, int, str | None]]) -> str | None:
    """Why CreateListener cannot run for real here, or None (pure). ``existing``: every
    listener as (load balancer ARN, its name, port, the group it forwards to)."""
    if any(arn == lb_arn and int(p) == port for arn, _, p, _ in existing):
        return None  # the same listener again: ELBv2 answers it (or DuplicateListener)
    group = forward_group(actions)
    if group is None:
        kinds = ", ".join(str(a.get("Type")) for a in actions or []) or "no action"
        return LISTENER_ACTION.format(what=f"a default action of {kinds} (not a forward to "
                                           "one target group)")
    for _, name, other_port, other_group in existing:
        if other_group == group:
            return LISTENER_SHARED.format(name=name, port=other_port,
                                          group=group.split(":")[-1])
    return None


def _served_listener(original: Callable[..., Any]) -> Callable[..., Any]:
    """CreateListener: while a local cloud runs, what its proxies can serve (one port each)."""
    def create_listener(self: Any) -> Any:
        if _served_cluster() is not None:
            existing = [(lb.arn, lb.name, int(x.port),
                         forward_group([a.data for a in x.default_actions]))
                        for lb in self.elbv2_backend.load_balancers.values()
                        for x in lb.listeners.values()]
            why = listener_refusal(self._get_param("LoadBalancerArn"),
                                   self._get_int_param("Port"),
                                   self._get_params().get("DefaultActions"), existing)
            if why:
                raise _elb_error("OperationNotPermitted", why)
        return original(self)
    return create_listener


def _served_modify(original: Callable[..., Any]) -> Callable[..., Any]:
    """ModifyListener: new default actions must be what a proxy can serve (as created)."""
    def modify_listener(self: Any) -> Any:
        actions = self._get_params().get("DefaultActions")
        if _served_cluster() is not None and actions:
            arn = self._get_param("ListenerArn")
            existing = [(lb.arn, lb.name, int(x.port),
                         forward_group([a.data for a in x.default_actions]))
                        for lb in self.elbv2_backend.load_balancers.values()
                        for x in lb.listeners.values() if x.arn != arn]
            why = listener_refusal("", 0, actions, existing)
            if why:
                raise _elb_error("OperationNotPermitted", why)
        return original(self)
    return modify_listener


def _no_rules(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_rule(self: Any) -> Any:
        if _served_cluster() is not None:
            raise _elb_error("OperationNotPermitted", RULES)
        return original(self)
    return create_rule


def _elb_error(code: str, message: str) -> Exception:
    from moto.elbv2.exceptions import ELBClientError

    return ELBClientError(code, message)


def _install_elbv2() -> None:
    from moto.elbv2 import models as elbv2_models
    from moto.elbv2.responses import ELBV2Response

    ELBV2Response.create_listener = _served_listener(  # type: ignore[method-assign]
        ELBV2Response.create_listener)
    ELBV2Response.modify_listener = _served_modify(  # type: ignore[method-assign]
        ELBV2Response.modify_listener)
    ELBV2Response.create_rule = _no_rules(ELBV2Response.create_rule)  # type: ignore[method-assign]

    backend = elbv2_models.ELBv2Backend
    backend.modify_target_group = _validated_modify(  # type: ignore[method-assign]
        backend.modify_target_group)
    backend.create_target_group = _validated_create(  # type: ignore[method-assign]
        backend.create_target_group)


# ---- Application Auto Scaling ------------------------------------------------------------
def _checked_resource(namespace: str, resource_id: str) -> None:
    if namespace == "ecs":
        why = ecs_resource_id_error(resource_id or "")
        if why:
            raise _aas_error("ValidationException", why)


SCALING_CLUSTER = ("FraudLab's local Application Auto Scaling scales the services of the kit's "
                   "cluster, {served}; a scalable target in cluster {cluster} would never "
                   "scale, so it is refused.")


def scaling_refusal(resource_id: str, served: str | None) -> str | None:
    """Why an ECS scalable target cannot scale here (another cluster's service), or None."""
    parts = resource_id.split("/")
    if served is None or len(parts) != 3 or parts[1] == served:
        return None
    return SCALING_CLUSTER.format(served=served, cluster=parts[1])


def _validated_register(original: Callable[..., Any]) -> Callable[..., Any]:
    def register_scalable_target(self: Any, namespace: str, r_id: str, *args: Any,
                                 **kwargs: Any) -> Any:
        _checked_resource(namespace, r_id)
        why = scaling_refusal(r_id, _served_cluster()) if namespace == "ecs" else None
        if why:
            raise _aas_error("ValidationException", why)
        return original(self, namespace, r_id, *args, **kwargs)
    return register_scalable_target


def _replacing_put(original: Callable[..., Any]) -> Callable[..., Any]:
    def put_scaling_policy(self: Any, policy_name: str, service_namespace: str,
                           resource_id: str, scalable_dimension: str, *args: Any,
                           **kwargs: Any) -> Any:
        _checked_resource(service_namespace, resource_id)
        if resource_id not in self.targets.get(scalable_dimension, {}):
            raise _aas_error("ObjectNotFoundException",
                f"No scalable target registered for service namespace: {service_namespace}, "
                f"resource ID: {resource_id}, scalable dimension: {scalable_dimension}")
        from moto.applicationautoscaling.models import FakeApplicationAutoscalingPolicy

        key = FakeApplicationAutoscalingPolicy.formulate_key(
            service_namespace, resource_id, scalable_dimension, policy_name)
        old = self.policies.get(key)
        policy = original(self, policy_name, service_namespace, resource_id,
                          scalable_dimension, *args, **kwargs)
        if old is not None and old is not policy:
            old.delete_alarms(self.account_id, self.region_name)
        return policy
    return put_scaling_policy


def activity_page(entries: list[dict[str, Any]], resource_ids: list[str] | None,
                  dimension: str | None, namespace: str, max_results: int | None,
                  token: str | None) -> dict[str, Any]:
    """DescribeScalingActivities' answer from the kit's entries (newest first), pure."""
    found = [e for e in entries if e.get("ServiceNamespace") == namespace
             and (not resource_ids or e.get("ResourceId") in resource_ids)
             and (dimension is None or e.get("ScalableDimension") == dimension)]
    found.sort(key=lambda e: e.get("StartTime") or 0, reverse=True)
    chunk, next_token = page(found, max_results, token, limit=50)
    out: dict[str, Any] = {"ScalingActivities": chunk}
    if next_token:
        out["NextToken"] = next_token
    return out


def _describe_scaling_activities(self: Any) -> str:
    with SERVED.lock:
        source = SERVED.activities
    entries = source() if source else []
    rid = self._get_param("ResourceId")
    try:
        answer = activity_page(entries, [rid] if rid else None,
                               self._get_param("ScalableDimension"),
                               self._get_param("ServiceNamespace"),
                               self._get_int_param("MaxResults"),
                               self._get_param("NextToken"))
    except Refused as exc:
        raise _aas_error("ValidationException", str(exc)) from exc
    return json.dumps(answer)


def _install_autoscaling() -> None:
    from moto.applicationautoscaling import models as aas_models
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    backend = aas_models.ApplicationAutoscalingBackend
    backend.register_scalable_target = _validated_register(  # type: ignore[method-assign]
        backend.register_scalable_target)
    backend.put_scaling_policy = _replacing_put(  # type: ignore[method-assign]
        backend.put_scaling_policy)
    ApplicationAutoScalingResponse.describe_scaling_activities = (  # type: ignore[attr-defined]
        _describe_scaling_activities)


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto's classes (once per process; every backend and server in it). moto is
    imported here, not at the top: it loads werkzeug, and cloud/ imports no web framework
    where the emulator does not run (tests/unit/test_import_hygiene.py)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _install_ecs()
        _install_elbv2()
        _install_autoscaling()
        _installed = True
