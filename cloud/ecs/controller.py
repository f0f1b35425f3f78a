"""The ECS control loop: read desired state from the AWS API, reconcile, run, write back.

Each ``tick``: read the cluster's services and container instances through the AWS API
(what a learner changes with boto3 or `aws` is what the loop obeys), collect what the runtime
saw (exits, OOM kills, replicas answering ``/ready``), ask the pure scheduler
(``cloud.ecs.scheduler.reconcile``) what to do, do it (image pulls per host, start and stop
containers), and write the truth back into the emulator (``cloud.ecs.writeback``).

Blocking I/O stays outside the lock: the AWS API reads (only after a write call the
emulator served, ``cloud.core.api_writes``), the ``/ready`` probes, container starts and the
capacity provider's calls run before or after the locked decision; image pulls run in their
own workers and are collected on a later pass. Each pass publishes an immutable snapshot
(``published``, ``version``) together with its write-back; readers and the chaos actions
take it without waiting on the loop.

A service may have two deployments at once (a rolling update: the PRIMARY's new task
definition, an ACTIVE old one), so each task runs the task definition it was started with:
``TaskRun.task_definition``; ``ServiceSpec.task_definition`` is the service's (the PRIMARY's).
A new ``taskDefinition`` read from the API starts a deployment; a circuit-breaker rollback is
written back as the service's task definition.

Standalone tasks: RunTask/StartTask calls wait in the API's guards (``cloud.aws.guards``)
until a pass places them (``scheduler.launch_standalone``) and creates them; they run like a
service's tasks (``TaskRun.service`` is ``STANDALONE``) and nothing replaces them. ELB health:
``target_health(task_id)`` (injected; by default the load balancer's ``state_of``) feeds
"healthy"/"unhealthy" observations to the scheduler. A container the runtime cannot start, or
an image it cannot have, stops its task before RUNNING (TaskFailedToStart).

Chaos actions (the control API's; AWS has no API for them): ``crash`` (SIGKILL), ``oom`` (the
task really exceeds its memory limit, through the kit-only route ``POST /chaos/allocate`` that
``FRAUDLAB_CHAOS=1`` enables in the tasks the kit starts) and ``bad_deployment`` (a revision
that cannot start, rolled out through the AWS API as a learner would, with the deployment
circuit breaker and rollback on). ``deploy`` rolls out a task definition the same way.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from cloud.aws.steps.ecs import aws_cli
from cloud.core.clock import Clock, lab_to_epoch
from cloud.core.instance_types import instance_type
from cloud.core.ports import free_port
from cloud.ecs.capacity_provider import CapacityAutoscaler
from cloud.ecs.network import (
    TaskNetwork,
    api_target,
    attachments,
    describe,
    first_port,
    network_bindings,
    network_interfaces,
    static_host_port,
    task_network,
)
from cloud.ecs.placement import AWSVPC, DRAINING, Host, TaskRequest
from cloud.ecs.scheduler import (
    IN_PROGRESS,
    IN_PROGRESS_REASON,
    INACTIVE,
    PENDING,
    PRIMARY,
    RUNNING,
    STOPPED,
    Deployment,
    DeploymentConfig,
    Observation,
    Plan,
    ServiceState,
    TaskState,
    circuit_breaker_threshold,
    deployment_id_factory,
    launch_standalone,
    reconcile,
    run_standalone,
    task_id_factory,
)
from cloud.image.reference import kit_image
from cloud.lb.routing import Target
from cloud.runtime.base import ContainerSpec, PullError, PullResult, Runtime

READY_TIMEOUT = 0.25  # seconds for one GET /ready probe
PULL_WORKERS = 4  # image pulls at once (each blocks its worker, never the loop)
PULL_GRACE = 0.02  # seconds a pass waits for the pulls it started (a cache hit is done by then)
REREAD_SECONDS = 10.0  # the desired state is re-read at least this often, stamp or not
TARGET_GROUP = "fraud-tg"
CHAOS_ENV = {"FRAUDLAB_CHAOS": "1"}  # the kit's tasks get the chaos routes (service.chaos)
CHAOS_TIMEOUT = 5.0  # seconds for the chaos route to answer
# A container's stopTimeout when the task definition gives none: the agent's
# ECS_CONTAINER_STOP_TIMEOUT default (docs.aws.amazon.com/AmazonECS/latest/developerguide/
# ecs-agent-config.html; the container definition's stopTimeout overrides it).
STOP_TIMEOUT = 30
# TaskRun.service of a standalone task (RunTask/StartTask): no service name has parentheses
STANDALONE = "(standalone)"
# The bad revision: "tflite" is LiteRT's old name; the service knows litert and tensorflow, so
# its app fails to load, gunicorn's worker fails to boot and the container exits (code 3)
# before it ever answers /ready: the task never reaches RUNNING (circuit breaker stage 1).
BAD_ENVIRONMENT = {"MODEL_RUNTIME": "tflite"}
_REGISTER_KEYS = ("family", "taskRoleArn", "executionRoleArn", "networkMode",
                  "containerDefinitions", "volumes", "placementConstraints",
                  "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
                  "runtimePlatform", "ephemeralStorage")


@dataclass
class TaskRun:
    """What the loop knows about one task's container (the runtime's side of a task)."""

    task_id: str
    service: str
    host_id: str
    port: int
    image: str  # as the task definition names it
    # wall time (monotonic) when the container may start: once its pull is done
    launch_at: float = math.inf
    pull: PullResult | None = None  # None while pulling; .image is what the runtime runs
    task_definition: str = ""  # the one it was started with (not necessarily the service's)
    launched: bool = False
    ready: bool = False
    # the kit's service answers GET /ready once it can serve: RUNNING then; any other image
    # is RUNNING once its container runs (ECS: no container health check defined)
    probe_ready: bool = True
    healthy: bool = False  # its target passed the load balancer's health check
    exited: bool = False
    stop_timeout: int = STOP_TIMEOUT  # seconds from SIGTERM to SIGKILL when ECS stops it


@dataclass
class ServiceSpec:
    """A service as the AWS API describes it (the desired state)."""

    name: str
    arn: str
    desired_count: int
    task_definition: str
    cpu: int
    memory: int
    image: str
    environment: dict[str, str]
    strategy: str
    deployment_config: DeploymentConfig = field(default_factory=DeploymentConfig)
    deployment_id: str | None = None  # the API's PRIMARY deployment (a new service's first)
    network_mode: str = "bridge"  # the task definition's networkMode (cloud.ecs.network)
    host_port: int | None = None  # the static host port placement reserves (None: dynamic)
    target_groups: tuple[str, ...] = ()  # the ARNs its loadBalancers names
    health_check_grace: int = 0  # healthCheckGracePeriodSeconds


@dataclass(frozen=True)
class ContainerDef:
    """What a task definition's (first, essential) container runs."""

    image: str
    environment: dict[str, str]
    cpu: int
    memory: int
    command: tuple[str, ...] | None = None  # the container's command, when given
    entry_point: tuple[str, ...] | None = None  # its entryPoint, when given
    stop_timeout: int = STOP_TIMEOUT  # its stopTimeout: SIGTERM, then SIGKILL this much later


def container_def(td: dict[str, Any]) -> ContainerDef:
    """The container of a described task definition: task-level cpu/memory, else container."""
    container = td["containerDefinitions"][0]
    return ContainerDef(
        image=container.get("image", ""),
        environment={e["name"]: e["value"] for e in container.get("environment", [])},
        cpu=int(td.get("cpu") or container.get("cpu") or 256),
        memory=int(td.get("memory") or container.get("memory") or 512),
        command=tuple(container.get("command") or ()) or None,
        entry_point=tuple(container.get("entryPoint") or ()) or None,
        stop_timeout=int(container.get("stopTimeout") or STOP_TIMEOUT))


def deployment_config(svc: dict[str, Any]) -> DeploymentConfig:
    """describe-services' deploymentConfiguration (ECS's defaults where it says nothing;
    moto 5.2.5 drops it on CreateService and keeps what UpdateService sets)."""
    dc = svc.get("deploymentConfiguration") or {}
    cb = dc.get("deploymentCircuitBreaker") or {}
    return DeploymentConfig(int(dc.get("minimumHealthyPercent", 100)),
                            int(dc.get("maximumPercent", 200)),
                            bool(cb.get("enable", False)), bool(cb.get("rollback", False)))


def deployment_configuration(config: DeploymentConfig) -> dict[str, Any]:
    """A DeploymentConfig as the API's deploymentConfiguration."""
    return {"minimumHealthyPercent": config.minimum_healthy_percent,
            "maximumPercent": config.maximum_percent,
            "deploymentCircuitBreaker": {"enable": config.circuit_breaker,
                                         "rollback": config.rollback}}


def registration(td: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """register_task_definition arguments for a new revision of a described task definition,
    its first container's environment changed by ``environment``."""
    args = {k: td[k] for k in _REGISTER_KEYS if td.get(k) not in (None, [], {}, "")}
    first, *rest = td["containerDefinitions"]
    env = {e["name"]: e["value"] for e in first.get("environment", [])} | environment
    args["containerDefinitions"] = [
        {**first, "environment": [{"name": k, "value": v} for k, v in sorted(env.items())]},
        *rest]
    return args


@dataclass
class Timeline:
    """What happened, in order, for the UIs: lab time, wall time, kind, text, badge."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    limit: int = 500

    def add(self, clock: Clock, kind: str, text: str, badge: str = "simulated",
            **extra: Any) -> None:
        self.entries.append({"lab": round(clock.now(), 3), "wall": round(clock.wall(), 3),
                             "kind": kind, "text": text, "badge": badge, **extra})
        del self.entries[:-self.limit]


def target_groups(svc: dict[str, Any]) -> tuple[str, ...]:
    """The target group ARNs a described service's ``loadBalancers`` names, in order."""
    arns = [lb.get("targetGroupArn") for lb in svc.get("loadBalancers") or []]
    return tuple(dict.fromkeys(a for a in arns if a))


def target_group_name(arn: str | None) -> str:
    """``arn:…:targetgroup/<name>/<id>`` → ``<name>`` (the kit's group when unknown)."""
    parts = (arn or "").split(":")[-1].split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "targetgroup" else TARGET_GROUP


def strategy_name(placement_strategy: list[dict[str, str]] | None) -> str:
    """ECS placementStrategy → the scheduler's strategy name, from its FIRST entry (the one
    that ranks first); none → ECS's default for services, spread by AZ."""
    for s in placement_strategy or []:
        kind, field_ = s.get("type"), s.get("field") or ""
        if kind == "spread":
            return "spread:instanceId" if field_ in ("instanceId", "host") else "spread"
        if kind == "binpack":
            return f"binpack:{(field_ or 'memory').lower()}"
        if kind == "random":
            return "random"
    return "spread"


class ClusterController:
    """Owns one cluster's scheduling: desired state in, running replicas and truth out."""

    def __init__(self, endpoint: Any, runtime: Runtime, clock: Clock,
                 cluster: str = "fraud-cluster", writeback: Any | None = None,
                 seed: int | None = None,
                 resolve_image: Callable[[str], str] | None = None,
                 lb: Any | None = None,
                 api_generation: Callable[[str], int] | None = None,
                 target_health: Callable[[str], str | None] | None = None,
                 lb_for: Callable[[ServiceSpec], Any | None] | None = None) -> None:
        self.endpoint = endpoint
        # The emulator's write stamp per service (cloud.core.api_writes.generation) when it
        # runs in this process: the desired state is re-read only after a write call.
        self.api_generation = api_generation
        self._read_stamp: int | None = None
        self._read_by = float("-inf")
        self._desired: tuple[dict[str, ServiceSpec], dict[str, Host]] = ({}, {})
        self._written_counts: dict[str, Any] = {}  # what set_service/set_resources last wrote
        self.ecs = endpoint.client("ecs")
        self.runtime = runtime
        self.clock = clock
        self.cluster = cluster
        self.writeback = writeback
        self.resolve_image = resolve_image or (lambda image: image)
        self.lb = lb  # the load balancer's proxy: RUNNING tasks are its targets
        # Per service: the proxy of the target group its loadBalancers names (None: the
        # service is not load balanced). Without it every service's tasks go to ``lb``.
        self.lb_for = lb_for
        # A task's target health in its own service's target group ("healthy", "unhealthy",
        # "initial", "draining", …; None: no target): what ELB health feeds the scheduler.
        self.target_health: Callable[[str], str | None] = target_health or self._target_state
        self.standalone: tuple[TaskState, ...] = ()  # RunTask/StartTask's tasks
        self._standalone_observations: list[Observation] = []
        # service → (deployment id, forced) an UpdateService answered, until the scheduler
        # begins that deployment
        self._api_deployments: dict[str, tuple[str, bool]] = {}
        self._draining: dict[str, TaskRun] = {}  # deregistered, stopped once drained
        self.rng = random.Random(seed)
        self.new_id = task_id_factory(self.rng)
        self.new_deployment_id = deployment_id_factory(self.new_id)
        self.services: dict[str, ServiceState] = {}
        self.specs: dict[str, ServiceSpec] = {}
        self.runs: dict[str, TaskRun] = {}
        self.hosts: dict[str, Host] = {}
        self.pull_cache: dict[str, dict[str, PullResult]] = {}  # host → image → first pull
        self.timeline = Timeline()
        # Held only while the loop decides (reconcile and its bookkeeping, no I/O); readers
        # take the published snapshot instead (``snapshot``) and never wait on it.
        self.lock = threading.RLock()
        # The write-back into the emulator and the publication of the snapshot happen
        # together under it (memory only, no I/O): whoever reads the API and then the
        # snapshot, or the other way round, sees the same pass.
        self.publish_lock = threading.Lock()
        # The local cloud's whole snapshot: prepared (built, compared, diffed) before the
        # lock; what it returns is called under it (an O(1) commit).
        self.prepare_publication: Callable[[], Callable[[], Any]] = lambda: lambda: None
        # Serialises the capacity provider's writers (the loop's pass, a killed host).
        self.capacity_lock = threading.Lock()
        self._pull_pool = ThreadPoolExecutor(max_workers=PULL_WORKERS,
                                             thread_name_prefix="image-pull")
        self._pulls: dict[str, Future[PullResult]] = {}  # task id → its pull in progress
        self.version = 0  # bumped each time the published snapshot changes
        self._published: dict[str, Any] = {}
        self._taskdefs: dict[str, dict[str, Any]] = {}
        self._stopper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="task-stop")
        self._http = requests.Session()
        self._later: dict[str, list[Observation]] = {}  # seen while acting, applied next pass
        self._written_tasks: dict[str, Any] = {}  # task id → the TaskState last written back
        self._written_events: dict[str, tuple[tuple[Any, ...], list[tuple[float, str]]]] = {}
        self._written_deployments: dict[str, Any] = {}
        self._seen_td: dict[str, str] = {}  # service → the taskDefinition last read from the API
        self.autoscaler = CapacityAutoscaler(endpoint, clock, cluster, self.timeline,
                                             api_generation=api_generation)
        if writeback is not None:
            writeback.serve_cluster(cluster)  # the API refuses what this loop would not run
        self.networks: dict[str, TaskNetwork] = {}  # task id → its network (cloud.ecs.network)
        self._subnets: dict[str, tuple[str, str]] = {}  # instance → (subnet id, CIDR)
        self.publish()

    # -- reading the desired state ---------------------------------------------------------
    def _task_definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._taskdefs:
            td = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
            self._taskdefs[arn] = self._taskdefs[td["taskDefinitionArn"]] = td
        return self._taskdefs[arn]

    def container(self, task_definition: str) -> ContainerDef:
        """What a task of ``task_definition`` runs (described once, then cached)."""
        return container_def(self._task_definition(task_definition))

    def read_services(self) -> dict[str, ServiceSpec]:
        try:
            arns = self.ecs.list_services(cluster=self.cluster).get("serviceArns", [])
        except self.ecs.exceptions.ClusterNotFoundException:
            return {}  # nothing deployed yet
        specs: dict[str, ServiceSpec] = {}
        for i in range(0, len(arns), 10):
            for svc in self.ecs.describe_services(cluster=self.cluster,
                                                  services=arns[i:i + 10])["services"]:
                if svc.get("status") not in ("ACTIVE", "DRAINING"):  # DRAINING: deleted,
                    continue  # its tasks still stopping (desired count 0)
                td = self._task_definition(svc["taskDefinition"])
                c = container_def(td)
                primary = next((d for d in svc.get("deployments", [])
                                if d.get("status") == PRIMARY), {})
                specs[svc["serviceName"]] = ServiceSpec(
                    name=svc["serviceName"], arn=svc["serviceArn"],
                    desired_count=int(svc.get("desiredCount", 0)),
                    task_definition=td["taskDefinitionArn"], cpu=c.cpu, memory=c.memory,
                    image=c.image, environment=c.environment,
                    strategy=strategy_name(svc.get("placementStrategy")),
                    deployment_config=deployment_config(svc),
                    deployment_id=primary.get("id"),
                    network_mode=td.get("networkMode") or "bridge",
                    host_port=static_host_port(td),
                    target_groups=target_groups(svc),
                    health_check_grace=int(svc.get("healthCheckGracePeriodSeconds") or 0))
        return specs

    def read_hosts(self) -> dict[str, Host]:
        try:
            arns = self.ecs.list_container_instances(cluster=self.cluster).get(
                "containerInstanceArns", [])
        except self.ecs.exceptions.ClusterNotFoundException:
            return {}
        hosts: dict[str, Host] = {}
        if not arns:
            return hosts
        described = self.ecs.describe_container_instances(
            cluster=self.cluster, containerInstances=arns)["containerInstances"]
        for ci in described:
            if ci.get("status") not in ("ACTIVE", "DRAINING"):
                continue
            attrs = {a["name"]: a.get("value") for a in ci.get("attributes", [])}
            itype = attrs.get("ecs.instance-type") or "t3.medium"
            spec = instance_type(itype)
            hosts[ci["ec2InstanceId"]] = Host(
                ci["ec2InstanceId"], attrs.get("ecs.availability-zone") or "us-east-1a",
                spec.name, spec.cpu_units, spec.registered_memory_mib(),
                status=DRAINING if ci.get("status") == "DRAINING" else "ACTIVE",
                container_instance_arn=ci["containerInstanceArn"])
        return hosts

    def read_desired(self) -> tuple[dict[str, ServiceSpec], dict[str, Host]]:
        """The services and container instances as the API describes them: read again only
        when the API served an ECS write call since the last read (a learner's
        update-service, a new task definition, a host registered …), after the kit's own
        direct write that changes them (a rollback), or every ``REREAD_SECONDS``."""
        stamp = self.api_generation("ecs") if self.api_generation else None
        now = time.monotonic()
        if stamp is None or stamp != self._read_stamp or now >= self._read_by:
            self._desired = (self.read_services(), self.read_hosts())  # stamp taken before
            self._read_stamp, self._read_by = stamp, now + REREAD_SECONDS
            if any(s.network_mode == AWSVPC for s in self._desired[0].values()):
                for instance_id in self._desired[1]:
                    self._subnet(instance_id)  # asked of EC2 here, not under the lock
        specs, hosts = self._desired
        return dict(specs), dict(hosts)

    def _hosts_with_tasks(self, hosts: dict[str, Host]) -> list[Host]:
        """Hosts with every live task's reservation applied (remainingResources)."""
        for state in self.services.values():
            for t in state.tasks:
                if t.last_status != STOPPED and t.instance_id in hosts:
                    mode, port = self._task_ports(t.task_definition or state.task_definition)
                    hosts[t.instance_id].assign(t.cpu or state.task_cpu,
                                                t.memory or state.task_memory, port, state.name,
                                                eni=mode == AWSVPC)
        for t in self.standalone:
            if t.last_status != STOPPED and t.instance_id in hosts:
                mode, port = self._task_ports(t.task_definition)
                hosts[t.instance_id].assign(t.cpu, t.memory, port, t.group, eni=mode == AWSVPC)
        return list(hosts.values())

    # -- network modes (cloud.ecs.network) ------------------------------------------------
    def _task_ports(self, task_definition: str) -> tuple[str, int | None]:
        """(networkMode, static host port) of a task definition, for the reservation."""
        td = self._task_definition(task_definition)
        return td.get("networkMode") or "bridge", static_host_port(td)

    def _subnet(self, instance_id: str) -> tuple[str, str]:
        """(subnet id, CIDR) of an instance, asked of EC2 once."""
        if instance_id not in self._subnets:
            ec2 = self.endpoint.client("ec2")
            subnet_id, cidr = "", "10.0.0.0/24"
            with contextlib.suppress(Exception):  # an instance EC2 does not know: a default
                found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
                subnet_id = found[0]["Instances"][0].get("SubnetId") or ""
                if subnet_id:
                    cidr = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["CidrBlock"]
            self._subnets[instance_id] = (subnet_id, cidr)
        return self._subnets[instance_id]

    def _network(self, task_id: str, instance_id: str, task_definition: str,
                 local_port: int) -> TaskNetwork:
        """A starting task's network: bridge's dynamic host port is its local port (the
        kernel's ephemeral range); host's the static one; awsvpc an ENI in the subnet."""
        td = self._task_definition(task_definition)
        mode = td.get("networkMode") or "bridge"
        cport, _ = first_port(td)
        subnet_id, cidr = self._subnet(instance_id) if mode == AWSVPC else ("", "")
        taken = [n.private_ip for n in self.networks.values() if n.private_ip]
        net = task_network(mode, task_id, local_port, cport or 8080, instance_id=instance_id,
                           host_port=static_host_port(td), subnet_id=subnet_id,
                           cidr=cidr or None, taken_ips=taken)
        self.networks[task_id] = net
        return net

    def api_target(self, task_id: str, target_type: str) -> tuple[str, int] | None:
        """The (Id, Port) ECS registers for ``task_id`` in a target group of ``target_type``;
        None when the task's network does not fit that type (or is unknown)."""
        net = self.networks.get(task_id)
        if net is None:
            return None
        try:
            return api_target(target_type, net)
        except ValueError:
            return None

    def _network_view(self, task_id: str) -> dict[str, Any]:
        net = self.networks.get(task_id)
        if net is None:
            return {}
        return {"network_mode": net.mode, "host_port": net.host_port,
                "private_ip": net.private_ip, "eni": net.eni_id, "network": describe(net)}

    # -- observing the runtime -------------------------------------------------------------
    def _observations(self, ready: set[str]) -> dict[str, list[Observation]]:
        """What the runtime and the load balancer saw since the last pass; ``ready``: the
        tasks whose ``/ready`` answered 200 (probed before, outside the lock)."""
        now = self.clock.now()
        by_service: dict[str, list[Observation]] = self._later
        self._later = {}
        for ex in self.runtime.exits():
            run = self.runs.get(ex.task_id)
            if run is None:
                continue
            run.exited = True
            kind = "oom" if ex.oom else "exited"
            by_service.setdefault(run.service, []).append(
                Observation(ex.task_id, kind, ex.exit_code, now))
            self.timeline.add(self.clock, "exit", f"task {ex.task_id[:8]} exited: {ex.reason} "
                              f"(exit code {ex.exit_code})", "real", task=ex.task_id)
        for run in self.runs.values():
            if run.task_id in ready and not run.ready and not run.exited:
                run.ready = True
                by_service.setdefault(run.service, []).append(
                    Observation(run.task_id, "started", None, now))
                continue
            spec = self.specs.get(run.service)
            if not run.ready or run.exited or self.target_health is None or spec is None \
                    or run.service == STANDALONE or (run.healthy and not spec.target_groups):
                continue
            health = self.target_health(run.task_id)
            if health == "healthy" and not run.healthy:
                run.healthy = True  # counts for minimumHealthyPercent from now on
                by_service.setdefault(run.service, []).append(
                    Observation(run.task_id, "healthy", None, now))
            elif health == "unhealthy" and spec.target_groups:
                by_service.setdefault(run.service, []).append(Observation(
                    run.task_id, "unhealthy", None, now, target_group=spec.target_groups[0]))
        return by_service

    def _user_stops(self) -> None:
        """StopTask calls (taken from the API's guards): the task is marked to stop with the
        caller's reason, its target drained and its container stopped; the scheduler then
        records it STOPPED with that reason and starts a replacement, as ECS does."""
        if self.writeback is None:
            return
        now = self.clock.now()
        for task_id, reason in self.writeback.take_stop_requests(self.cluster):
            if any(t.task_id == task_id for t in self.standalone):
                self._stop_standalone(task_id, reason, now)
                continue
            for name, state in self.services.items():
                task = next((t for t in state.tasks if t.task_id == task_id), None)
                if task is None or task.last_status == STOPPED:
                    continue
                self.services[name] = replace(state, tasks=tuple(
                    replace(t, desired_status=STOPPED, stopping_at=now, stopped_reason=reason)
                    if t.task_id == task_id else t for t in state.tasks))
                self.timeline.add(self.clock, "stop", f"stop-task {task_id[:8]}: {reason}",
                                  "emulated", task=task_id)
                run = self.runs.get(task_id)
                if run is not None and run.launched and not run.exited and (
                        lb := self._lb(name)) and lb.state_of(task_id) not in (
                        None, "draining", "unused"):
                    lb.deregister(task_id)  # ECS drains the target, then stops the task
                    self._draining[task_id] = run
                else:
                    self._stop_run(name, task_id, reason, now)

    def _stop_standalone(self, task_id: str, reason: str, now: float) -> None:
        """StopTask on a standalone task: marked to stop with the caller's reason and its
        container stopped; nothing replaces it."""
        self.standalone = tuple(
            replace(t, desired_status=STOPPED, stopping_at=now, stopped_reason=reason)
            if t.task_id == task_id and t.last_status != STOPPED else t for t in self.standalone)
        self.timeline.add(self.clock, "stop", f"stop-task {task_id[:8]} (standalone): {reason}",
                          "emulated", task=task_id)
        self._stop_run(STANDALONE, task_id, reason, now)

    def _stop_run(self, service: str, task_id: str, reason: str, now: float) -> None:
        """A task StopTask marked: with no container (yet) there is nothing to stop and it is
        STOPPED at once (an exit observed for ``service`` next pass), else its container is
        stopped."""
        run = self.runs.get(task_id)
        if run is None or not run.launched or run.exited:
            if run is not None:
                run.exited = True
            self._later.setdefault(service, []).append(
                Observation(task_id, "exited", None, now, reason=reason))
        else:
            self._stop_container(run, kill=False)

    def _probe_ready(self) -> set[str]:
        """The launched, not yet ready tasks whose ``GET /ready`` answers 200, or whose image
        is not the kit's and whose container runs (blocking I/O: called outside the lock)."""
        return {run.task_id for run in list(self.runs.values())
                if run.launched and not run.ready and not run.exited
                and (self._ready(run) if run.probe_ready else True)}

    def _ready(self, run: TaskRun) -> bool:
        try:
            reply = self._http.get(f"http://127.0.0.1:{run.port}/ready", timeout=READY_TIMEOUT)
            return reply.status_code == 200
        except requests.RequestException:
            return False

    # -- one pass ----------------------------------------------------------------------------
    def tick(self) -> list[Plan]:
        """Read, reconcile, act, write back, publish. Returns the scheduler's plans.

        Only the loop's thread calls it. The AWS API reads, the ``/ready`` probes, container
        starts, write-backs and capacity calls run outside the lock; image pulls run in
        their own workers and are collected on a later pass, so a crash or a snapshot never
        waits on a pull."""
        self._collect_pulls()
        specs, hosts = self.read_desired()
        ready = self._probe_ready()
        launches = self.writeback.take_launches(self.cluster) if self.writeback else []
        for launch in launches:  # described here, not under the lock
            td = self._task_definition(launch.task_definition)
            if (td.get("networkMode") or "bridge") == AWSVPC:
                for instance_id in hosts:
                    self._subnet(instance_id)
        with self.lock:
            plans = self._decide(specs, hosts, ready)
            self._standalone_pass(launches, hosts)
        if self._pulls:  # quick pulls (cache hits, simulated) launch this pass
            futures_wait(list(self._pulls.values()), timeout=PULL_GRACE)
            self._collect_pulls()
        self._stop_drained()
        self._launch_due()
        self.publish()
        commit = self.prepare_publication()
        with self.publish_lock:
            self._write_back()
            commit()
        self._autoscale(plans)
        return plans

    def _decide(self, specs: dict[str, ServiceSpec], hosts: dict[str, Host],
                ready: set[str]) -> list[Plan]:
        """Reconcile every service and start the pulls of the tasks placed (no blocking I/O)."""
        self.hosts = hosts
        self._user_stops()
        observations = self._observations(ready)
        self._standalone_observations = observations.get(STANDALONE, [])
        for name, deployment_id, forced in (self.writeback.take_forced(self.cluster)
                                            if self.writeback else []):
            self._api_deployments[name] = (deployment_id, forced)
        plans = []
        for name, spec in specs.items():
            state = self.services.get(name) or self._new_service(spec)
            api_id, forced = self._api_deployments.get(name, (None, False))
            if forced:  # update-service --force-new-deployment
                state = replace(state, force_new=api_id)
                del self._api_deployments[name]
            if spec.task_definition != self._seen_td.get(name):
                # update_service(taskDefinition=…): the scheduler begins a deployment, under
                # the id the call answered
                first = name not in self._seen_td
                state = replace(state, task_definition=spec.task_definition,
                                task_cpu=spec.cpu, task_memory=spec.memory,
                                network_mode=spec.network_mode, host_port=spec.host_port,
                                next_deployment_id=None if first or forced else api_id)
                self._api_deployments.pop(name, None)
                self._seen_td[name] = spec.task_definition
            state = replace(state, desired_count=spec.desired_count,
                            strategy=spec.strategy, config=spec.deployment_config,
                            load_balanced=self._lb(name) is not None,
                            health_check_grace=float(spec.health_check_grace))
            self.specs = {**self.specs, name: spec}  # a new dict: readers see whole ones
            hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
            plan = reconcile(state, hosts, self.clock.now(), observations.get(name, ()),
                             new_id=self.new_id, rng=self.rng,
                             new_deployment_id=self.new_deployment_id)
            self.services[name] = plan.state
            self._apply(spec, plan)
            plans.append(plan)
        return plans

    def _new_service(self, spec: ServiceSpec) -> ServiceState:
        """A service seen for the first time: its first deployment IN_PROGRESS (the API's id)."""
        dep_id = spec.deployment_id or self.new_deployment_id()
        now = self.clock.now()
        first = Deployment(dep_id, spec.task_definition, spec.cpu, spec.memory, PRIMARY,
                           IN_PROGRESS, IN_PROGRESS_REASON.format(deployment=dep_id), now, now)
        return ServiceState(spec.name, spec.desired_count, spec.cpu, spec.memory, spec.host_port,
                            network_mode=spec.network_mode, strategy=spec.strategy,
                            deployment_id=dep_id,
                            task_definition=spec.task_definition,
                            config=spec.deployment_config, deployments=(first,))

    def _autoscale(self, plans: list[Plan]) -> None:
        """Cluster auto scaling, when the cluster has a managed-scaling capacity provider.

        The tasks no instance could take are what CAS sees waiting: in AWS they sit in
        PROVISIONING; here the scheduler reports them unplaced (with ECS's event) and places
        them on a later pass, once the instance CAS launched has registered.
        """
        waiting = [u.request for plan in plans for u in plan.unplaced]
        hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
        with self.capacity_lock:
            self.autoscaler.step(hosts, waiting)

    def _lb(self, service: str) -> Any | None:
        """The proxy a service's tasks register in (its target group's), or None."""
        if self.lb_for is None:
            return self.lb
        spec = self.specs.get(service)
        return self.lb_for(spec) if spec is not None else None

    def _target_state(self, task_id: str) -> str | None:
        """The state of a task's target in its service's target group (initial, healthy,
        unhealthy, draining, unused), or None (not load balanced, never registered)."""
        run = self.runs.get(task_id)
        lb = self._lb(run.service) if run is not None else None
        return lb.state_of(task_id) if lb is not None else None

    def targets_in(self, group: str) -> list[Target]:
        """What ECS keeps registered in target group ``group``: the RUNNING tasks (not being
        stopped or drained) of the services whose ``loadBalancers`` name it. A proxy made for
        the group after they started registers them (``cloud.lb.pools``)."""
        with self.lock:
            return [Target(t.task_id, "127.0.0.1", run.port)
                    for name, state in self.services.items()
                    if group in getattr(self.specs.get(name), "target_groups", ())
                    for t in state.tasks
                    if t.last_status == RUNNING and t.desired_status == RUNNING
                    and t.task_id not in self._draining
                    and (run := self.runs.get(t.task_id)) is not None and not run.exited]

    def _apply(self, spec: ServiceSpec, plan: Plan) -> None:
        lb = self._lb(spec.name)
        group = target_group_name(spec.target_groups[0] if spec.target_groups else None)
        for tr in plan.transitions:
            self.timeline.add(self.clock, "transition",
                              f"task {tr.task_id[:8]}: {tr.from_status} → {tr.to_status} "
                              f"({tr.reason})", task=tr.task_id)
            run = self.runs.get(tr.task_id)
            if tr.to_status == RUNNING and run and lb:
                lb.register(Target(tr.task_id, "127.0.0.1", run.port))
                self.timeline.add(self.clock, "event", f"(service {spec.name}) registered 1 "
                                  f"targets in (target-group {group})", task=tr.task_id)
            if (tr.to_status == STOPPED and lb and tr.task_id not in self._draining
                    and lb.state_of(tr.task_id) not in (None, "draining", "unused")):
                lb.deregister(tr.task_id)  # a crash: no draining, in-flight requests fail
            if tr.to_status == STOPPED and run and not run.exited:
                self._stop_container(run, kill=True)  # e.g. its host was terminated
        for note in plan.notes:  # deployment and circuit-breaker decisions: ours, not AWS's
            self.timeline.add(self.clock, "deployment", note, service=spec.name)
        for ev in plan.events:
            self.timeline.add(self.clock, "event", ev.message)
        if plan.rolled_back_to and self.writeback:
            # The service's taskDefinition is the rollback's; the API then reads it back.
            self.writeback.set_task_definition(self.cluster, spec.name, plan.rolled_back_to)
            self._seen_td[spec.name] = plan.rolled_back_to
            self._read_stamp = None  # the next pass reads the service's new task definition
        for start in plan.start:
            task = start.task
            td = task.task_definition or spec.task_definition
            self.timeline.add(self.clock, "placement", start.placement.reason, task=task.task_id)
            self._create_run(task, spec.name, td, f"service:{spec.name}")
        for stop in plan.stop:
            run = self.runs.get(stop.task_id)
            self.timeline.add(self.clock, "stop", f"stopping task {stop.task_id[:8]}: "
                              f"{stop.reason}", task=stop.task_id)
            if run and not run.exited and lb:
                # ECS deregisters the target and waits for draining before it stops the
                # task (ecs-facts.md §4 "Deregistration on stop").
                lb.deregister(stop.task_id)
                self._draining[stop.task_id] = run
                self.timeline.add(self.clock, "event", f"(service {spec.name}) deregistered 1 "
                                  f"targets in (target-group {group})", task=stop.task_id)
            elif run and not run.exited:
                self._stop_container(run, kill=False)

    def _create_run(self, task: TaskState, service: str, td: str, group: str) -> None:
        """A placed task's run: its network, its image pull started, and the task created in
        the emulator under its id (PROVISIONING)."""
        image = self.container(td).image
        host = task.instance_id or ""
        port = free_port()
        net = self._network(task.task_id, host, td, port)
        resolved = self.resolve_image(image)
        self.runs[task.task_id] = TaskRun(task.task_id, service, host, port, image,
                                          task_definition=td,
                                          probe_ready=self._is_kit_image(resolved))
        self._pulls[task.task_id] = self._start_pull(host, resolved)
        if self.writeback:
            ci = self.hosts[task.instance_id].container_instance_arn if task.instance_id \
                in self.hosts else None
            if ci:
                self.writeback.create_task(self.cluster, td, ci, task.task_id, group,
                                           task.started_by, time.time())
                self.writeback.set_network(self.cluster, task.task_id, network_bindings(net),
                                           attachments(net), network_interfaces(net))

    def _is_kit_image(self, image: str) -> bool:
        """The kit's service (answers /ready): every image the process runtime runs."""
        extra = tuple(filter(None, [os.environ.get("FRAUDLAB_TEST_IMAGE_REPO")]))
        return self.runtime.name == "process" or kit_image(image, extra)

    # -- standalone tasks (RunTask / StartTask) ----------------------------------------------
    def _standalone_pass(self, launches: list[Any], hosts: dict[str, Host]) -> None:
        """Place the RunTask/StartTask calls waiting (each answered through its ``done``),
        then one pass of the standalone tasks' lifecycle (``run_standalone``: nothing
        replaces them). Under the lock; no I/O (their task definitions were described)."""
        now = self.clock.now()
        for launch in launches:
            self._place_standalone(launch, now)
        if not self.standalone:
            return
        work = self._hosts_with_tasks({k: h.copy() for k, h in hosts.items()})
        plan = run_standalone(self.standalone, work, now, self._standalone_observations)
        self.standalone = plan.tasks
        for tr in plan.transitions:
            self.timeline.add(self.clock, "transition",
                              f"task {tr.task_id[:8]} (standalone): {tr.from_status} → "
                              f"{tr.to_status} ({tr.reason})", task=tr.task_id)
            run = self.runs.get(tr.task_id)
            if tr.to_status == STOPPED and run and not run.exited:
                self._stop_container(run, kill=True)  # e.g. its host was terminated

    def _place_standalone(self, launch: Any, now: float) -> None:
        """One RunTask/StartTask: placed on the hosts with room (``launch_standalone``),
        created in the emulator, then ``launch.done`` (the API call answers)."""
        try:
            td = self._task_definition(launch.task_definition)
            c = container_def(td)
            by_ci = {h.container_instance_arn.split("/")[-1]: h.instance_id
                     for h in self.hosts.values() if h.container_instance_arn}
            missing, instances = [], None
            if launch.instances is not None:
                instances = [by_ci[ref.split("/")[-1]] for ref in launch.instances
                             if ref.split("/")[-1] in by_ci]
                missing = [{"arn": ref, "reason": "MISSING"} for ref in launch.instances
                           if ref.split("/")[-1] not in by_ci]
            elif not any(h.status == "ACTIVE" for h in self.hosts.values()):
                launch.error = "No Container Instances were found in your cluster."
                return
            req = TaskRequest(launch.group, c.cpu, c.memory, static_host_port(td),
                              td.get("networkMode") or "bridge")
            work = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
            placed = launch_standalone(
                req, launch.count, work, now, task_definition=td["taskDefinitionArn"],
                started_by=launch.started_by, strategy=strategy_name(launch.strategy),
                distinct_instance=launch.distinct_instance, instances=instances,
                new_id=self.new_id, rng=self.rng)
            for start in placed.starts:
                self.standalone += (start.task,)
                self.timeline.add(self.clock, "placement", f"standalone task "
                                  f"{start.task.task_id[:8]} ({launch.group}): "
                                  f"{start.placement.reason}", task=start.task.task_id)
                self._create_run(start.task, STANDALONE, td["taskDefinitionArn"], launch.group)
                launch.task_ids.append(start.task.task_id)
            launch.failures = missing + [
                {"arn": self.hosts[i].container_instance_arn, "reason": reason}
                for i, reason in placed.failures]
        except Exception as exc:  # answered as the API's error, never left waiting
            launch.error = f"{type(exc).__name__}: {exc}"
        finally:
            launch.done.set()

    def _stop_drained(self) -> None:
        """Stop the containers of deregistered targets once the load balancer drained them."""
        for task_id, run in list(self._draining.items()):
            lb = self._lb(run.service)
            if lb is None or lb.state_of(task_id) in ("unused", None) or run.exited:
                del self._draining[task_id]
                if not run.exited:
                    self._stop_container(run, kill=False)

    def clock_to_wall(self, lab_seconds: float) -> float:
        to_wall = getattr(self.clock, "to_wall", None)
        return float(to_wall(lab_seconds)) if to_wall else lab_seconds

    def _start_pull(self, host: str, image: str) -> Future[PullResult]:
        """A pull in a worker; a runtime whose pulls never block (``pull_blocks`` False: the
        process runtime's simulated pull) answers at once, in this thread."""
        if getattr(self.runtime, "pull_blocks", True):
            return self._pull_pool.submit(self.runtime.pull, host, image)
        done: Future[PullResult] = Future()
        try:
            done.set_result(self.runtime.pull(host, image))
        except PullError as exc:
            done.set_exception(exc)
        return done

    def _collect_pulls(self) -> None:
        """The pulls that finished since the last pass: their task may launch (a real pull has
        already taken its time; a simulated one is waited out), or stops before RUNNING on a
        pull error (and restarts throttle)."""
        for task_id, future in list(self._pulls.items()):
            if not future.done():
                continue
            del self._pulls[task_id]
            run = self.runs.get(task_id)
            if run is None:
                continue
            try:
                pull = future.result()
            except PullError as exc:
                del self.runs[task_id]
                self._later.setdefault(run.service, []).append(
                    Observation(task_id, "exited", None, self.clock.now(), reason=str(exc)))
                self.timeline.add(self.clock, "pull", str(exc), "real", task=task_id)
                continue
            self._record_pull(run.host_id, run.image, pull)
            run.pull = pull
            run.launch_at = time.monotonic() + (0.0 if pull.badge == "real"
                                                else self.clock_to_wall(pull.seconds))

    def _record_pull(self, host_id: str, image: str, result: PullResult) -> None:
        """A finished pull into the host's image cache and the timeline."""
        cache = self.pull_cache.setdefault(host_id, {})
        if image not in cache:
            cache[image] = result
        if result.badge == "real":
            how = (f"cache hit ({result.seconds:.2f} s for the manifest)" if result.cached
                   else f"pulled from the registry in {result.seconds:.2f} s (wall, "
                        f"{result.downloaded_bytes or 0:,} bytes)")
        else:
            how = "cache hit" if result.cached else f"pulled in {result.seconds:.1f} s (lab)"
        self.timeline.add(self.clock, "pull", f"{host_id}: {image} {how}", result.badge,
                          host=host_id, seconds=result.seconds, cached=result.cached)

    def _launch_due(self) -> None:
        now = time.monotonic()
        for run in self.runs.values():
            if run.launched or run.exited or run.pull is None or run.launch_at > now:
                continue
            if run.service == STANDALONE:
                tasks: tuple[TaskState, ...] = self.standalone
            else:
                state = self.services.get(run.service)
                if self.specs.get(run.service) is None or state is None:
                    continue
                tasks = state.tasks
            task = next((t for t in tasks if t.task_id == run.task_id), None)
            if task is None or task.last_status == STOPPED or task.desired_status == STOPPED:
                run.exited = True
                continue
            c = self.container(run.task_definition)
            try:
                self.runtime.start(ContainerSpec(
                    run.task_id, run.host_id, run.pull.image, c.cpu, c.memory,
                    run.port, {**CHAOS_ENV, **c.environment}, command=c.command,
                    entry_point=c.entry_point))
            except Exception as exc:  # the container cannot start: the task stops, as ECS's
                self._failed_start(run, exc)
                continue
            run.launched, run.stop_timeout = True, c.stop_timeout
            self.timeline.add(self.clock, "launch", f"task {run.task_id[:8]} container "
                              f"started on {run.host_id} (port {run.port})",
                              "real",
                              task=run.task_id)

    def _failed_start(self, run: TaskRun, exc: Exception) -> None:
        """A container the runtime could not start (ECS: CannotStartContainerError, or
        CannotPullContainerError for an image the engine lacks): the task stops before RUNNING
        on the next pass (stopCode TaskFailedToStart; a service's restarts throttle)."""
        run.exited = True
        reason = str(exc) if isinstance(exc, PullError) else \
            f"CannotStartContainerError: {str(exc)[:400]}"
        self._later.setdefault(run.service, []).append(
            Observation(run.task_id, "exited", None, self.clock.now(), reason=reason))
        self.timeline.add(self.clock, "launch", f"task {run.task_id[:8]} container failed to "
                          f"start: {reason}", "real", task=run.task_id)

    def _stop_container(self, run: TaskRun, kill: bool) -> None:
        run.exited = run.exited or kill
        if kill:
            self._stopper.submit(self._quiet, self.runtime.kill, run.task_id)
        else:
            self._stopper.submit(self._quiet, self.runtime.stop, run.task_id, run.stop_timeout)

    @staticmethod
    def _quiet(fn: Any, *args: Any) -> None:
        with contextlib.suppress(Exception):
            fn(*args)

    def _write_tasks(self, tasks: tuple[TaskState, ...]) -> None:
        """Each task that changed (only we change tasks in the emulator)."""
        for t in tasks:
            if self._written_tasks.get(t.task_id) != t:
                self.writeback.set_task(
                    self.cluster, t.task_id, t.last_status, t.desired_status,
                    started_at=_epoch(self.clock, t.started_at),
                    stopped_at=_epoch(self.clock, t.stopped_at),
                    stopped_reason=t.stopped_reason, exit_code=t.exit_code)
                self._written_tasks[t.task_id] = t

    def _write_back(self) -> None:
        if not self.writeback:
            return
        self._write_tasks(self.standalone)
        for state in self.services.values():
            self._write_tasks(state.tasks)
            events, stamped = self._written_events.get(state.name, ((), []))
            if events != state.events:  # stamp each event's time once, not every pass
                stamped = [(_epoch(self.clock, e.at) or time.time(), e.message)
                           for e in state.events]
                self._written_events[state.name] = (state.events, stamped)
            # Again after any ECS write call: moto's UpdateService fakes runningCount.
            counts = (state.running_count, state.pending_count, state.events, self._read_stamp)
            if self._written_counts.get(state.name) != counts or self._read_stamp is None:
                self.writeback.set_service(self.cluster, state.name, state.running_count,
                                           state.pending_count, stamped)
                self._written_counts[state.name] = counts
            # describe-services lists the deployments still in play (ECS: once a rollback
            # completed, the failed one is gone and `wait services-stable` succeeds); the
            # snapshot keeps the FAILED one, INACTIVE, for the UIs.
            views = [v for v in state.deployment_views() if v.deployment.status != INACTIVE]
            if self._written_deployments.get(state.name) != views:  # only we change them
                self.writeback.set_deployments(self.cluster, state.name, [
                    {"id": v.deployment.id, "status": v.deployment.status,
                     "taskDefinition": v.deployment.task_definition,
                     "desiredCount": v.desired_count, "pendingCount": v.pending_count,
                     "runningCount": v.running_count, "failedTasks": v.deployment.failed_tasks,
                     "createdAt": _epoch(self.clock, v.deployment.created_at),
                     "updatedAt": _epoch(self.clock, v.deployment.updated_at),
                     "rolloutState": v.deployment.rollout_state,
                     "rolloutStateReason": v.deployment.rollout_state_reason} for v in views])
                self._written_deployments[state.name] = views
        hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
        for h in hosts:
            if not h.container_instance_arn:
                continue
            tasks = [t for s in self.services.values() for t in s.tasks
                     if t.instance_id == h.instance_id and t.last_status != STOPPED]
            tasks += [t for t in self.standalone
                      if t.instance_id == h.instance_id and t.last_status != STOPPED]
            ports = [self.networks[t.task_id].host_port for t in tasks
                     if t.task_id in self.networks and self.networks[t.task_id].host_port]
            args = ((h.registered_cpu, h.registered_memory), (h.cpu_free, h.memory_free), ports)
            counts = dict(running=sum(t.last_status == RUNNING for t in tasks),
                          pending=sum(t.last_status in ("PROVISIONING", PENDING) for t in tasks))
            key = (args, tuple(counts.values()), self._read_stamp)
            if self._written_counts.get(h.container_instance_arn) == key and key[-1] is not None:
                continue  # nothing changed since the last write and no ECS write call since
            self.writeback.set_resources(self.cluster, h.container_instance_arn, *args, **counts)
            self._written_counts[h.container_instance_arn] = key

    # -- actions -----------------------------------------------------------------------------
    def _running_task(self, task_id: str | None, what: str) -> dict[str, Any]:
        """The RUNNING task (with a container) that ``task_id`` or a prefix of it names; the
        first one when None. From the published snapshot: no lock, no wait on the loop."""
        running = [t for t in self._published.get("tasks", [])
                   if t["last_status"] == RUNNING and t["desired_status"] == RUNNING
                   and t["port"] is not None]
        if not running:
            raise ValueError(f"no RUNNING task to {what}")
        if task_id is None:
            return running[0]
        match = [t for t in running if t["task_id"].startswith(task_id)]
        if len(match) != 1:
            raise ValueError(f"no single RUNNING task matches {task_id!r}; running: "
                             + ", ".join(t["task_id"][:12] for t in running))
        return match[0]

    def crash(self, task_id: str | None = None) -> str:
        """SIGKILL one RUNNING task's container (chaos); returns its id. The loop sees the
        exit on its next pass (a pull in progress does not hold it up)."""
        task = self._running_task(task_id, "crash")["task_id"]
        self.timeline.add(self.clock, "chaos", f"crash: SIGKILL to task {task[:8]}", "real",
                          task=task)
        self.runtime.kill(task)
        return task

    def oom(self, task_id: str | None = None) -> str:
        """Make one RUNNING task really exceed its memory limit (chaos); returns its id.

        The task's kit-only route ``POST /chaos/allocate`` (present because the kit starts
        tasks with ``FRAUDLAB_CHAOS=1``) allocates as many MiB as the task's memory limit, on
        top of what it already uses. The runtime's OOM killer ends it — Docker: the kernel's
        cgroup; processes: the simulated cgroup — and ECS's stoppedReason "OutOfMemoryError:
        Container killed due to memory usage" with exit code 137 follow; the scheduler replaces
        the task (ecs-facts.md §2, §4).
        """
        task = self._running_task(task_id, "run out of memory")
        limit = task["memory"]
        self.timeline.add(self.clock, "chaos", f"oom: task {task['task_id'][:8]} allocates "
                          f"{limit} MiB on top of what it uses (its memory limit is "
                          f"{limit} MiB)", "real", task=task["task_id"])
        self._chaos_post(task["task_id"], task["port"], "/chaos/allocate", {"mib": limit}, 202)
        return str(task["task_id"])

    def slow(self, task_id: str | None = None, ms: int = 300) -> str:
        """Make one RUNNING task answer ``/predict`` ``ms`` later (chaos; 0 undoes it): a slow
        dependency. Its kit-only route ``POST /chaos/latency`` holds each request's thread
        for that long, so the task keeps more requests open — what least outstanding requests
        routes around and round robin does not (ecs-facts.md §6). Returns the task's id."""
        if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= 10_000:
            raise ValueError(f"ms must be an integer number of milliseconds in [0, 10000], "
                             f"not {ms!r}")
        task = self._running_task(task_id, "slow down")
        what = (f"answers /predict {ms} ms later (a slow dependency)" if ms
                else "answers at its own speed again")
        self.timeline.add(self.clock, "chaos", f"slow: task {task['task_id'][:8]} {what}",
                          "real", task=task["task_id"])
        self._chaos_post(task["task_id"], task["port"], "/chaos/latency", {"ms": ms}, 200)
        return str(task["task_id"])

    def _chaos_post(self, task_id: str, port: int, path: str, body: dict[str, Any],
                    expected: int) -> None:
        """POST to a task's kit-only chaos route; a clear error when it does not take it."""
        try:  # not under the lock: the loop goes on (and sees any exit)
            reply = requests.post(f"http://127.0.0.1:{port}{path}", json=body,
                                  timeout=CHAOS_TIMEOUT)
        except requests.RequestException as exc:
            raise RuntimeError(f"task {task_id} did not answer {path}: {exc}") from exc
        if reply.status_code == 404:
            raise RuntimeError(f"task {task_id} has no chaos route: it runs without "
                               "FRAUDLAB_CHAOS=1")
        if reply.status_code != expected:
            raise RuntimeError(f"task {task_id}: POST {path} answered "
                               f"{reply.status_code}: {reply.text[:200]}")

    def _service_spec(self, service: str | None) -> ServiceSpec:
        specs = self.specs  # the loop replaces the dict, never changes it in place
        if not specs:
            raise ValueError(f"no service in {self.cluster} yet: deploy first")
        name = service or next(iter(specs))
        if name not in specs:
            raise ValueError(f"no service {name!r}; services: {', '.join(specs)}")
        return specs[name]

    def deploy(self, task_definition: str, service: str | None = None, *,
               circuit_breaker: bool | None = None, rollback: bool | None = None,
               minimum_healthy_percent: int | None = None,
               maximum_percent: int | None = None) -> dict[str, Any]:
        """Roll the service out to ``task_definition`` as a learner would: UpdateService with
        it and the deployment configuration (the service's, with what is given changed)."""
        spec = self._service_spec(service)
        current = spec.deployment_config
        config = DeploymentConfig(
            current.minimum_healthy_percent if minimum_healthy_percent is None
            else minimum_healthy_percent,
            current.maximum_percent if maximum_percent is None else maximum_percent,
            current.circuit_breaker if circuit_breaker is None else circuit_breaker,
            current.rollback if rollback is None else rollback)
        args = {"cluster": self.cluster, "service": spec.name, "taskDefinition": task_definition,
                "deploymentConfiguration": deployment_configuration(config)}
        self.ecs.update_service(**args)

        cli = aws_cli("ecs", "update-service", cluster=self.cluster, service=spec.name,
                      task_definition=task_definition.rsplit("/", 1)[-1],
                      deployment_configuration=args["deploymentConfiguration"])
        self.timeline.add(self.clock, "deploy", f"update-service: {spec.name} to "
                          f"{task_definition.rsplit('/', 1)[-1]}", "emulated", cli=cli)
        return {"service": spec.name, "task_definition": task_definition,
                "previous_task_definition": spec.task_definition,
                "deployment_configuration": args["deploymentConfiguration"],
                "circuit_breaker_threshold": circuit_breaker_threshold(spec.desired_count),
                "cli": cli}

    def bad_deployment(self, service: str | None = None) -> dict[str, Any]:
        """Roll out a revision that cannot start, through the AWS API as a learner would.

        RegisterTaskDefinition: a new revision of the service's task definition with
        ``MODEL_RUNTIME=tflite`` (a runtime the service does not have: its container exits
        at boot, before it is ever ready); then UpdateService to it with the deployment
        circuit breaker and rollback on. The old tasks keep serving while the new ones fail;
        at the threshold the deployment is FAILED and rolled back (ecs-facts.md §4).
        """
        spec = self._service_spec(service)
        td = self.ecs.describe_task_definition(taskDefinition=spec.task_definition)[
            "taskDefinition"]
        new = self.ecs.register_task_definition(**registration(td, BAD_ENVIRONMENT))[
            "taskDefinition"]["taskDefinitionArn"]
        env = " ".join(f"{k}={v}" for k, v in BAD_ENVIRONMENT.items())
        self.timeline.add(self.clock, "chaos", f"bad deployment: registered "
                          f"{new.rsplit('/', 1)[-1]} with {env} (no such model runtime: the "
                          "container exits at boot)", "emulated")
        result = self.deploy(new, spec.name, circuit_breaker=True, rollback=True)
        return {**result, "environment": dict(BAD_ENVIRONMENT),
                "why": f"{env}: the service knows litert and tensorflow only, so gunicorn's "
                       "worker fails to boot and the container exits before it is ready; "
                       "the tasks never reach RUNNING (circuit breaker stage 1)"}

    def publish(self) -> bool:
        """Build the snapshot from the loop's state (the loop's thread, after a pass) and
        publish it when it changed (``version`` + 1); True if it did. ``lab_time`` is not part
        of the comparison: ``snapshot`` stamps it when read."""
        snap = self.build_snapshot()
        if snap == self._published:
            return False
        self._published = snap  # never mutated after this: readers share it
        self.version += 1
        return True

    @property
    def published(self) -> dict[str, Any]:
        """The last published snapshot, without ``lab_time`` (shared: do not change it)."""
        return self._published

    def snapshot(self) -> dict[str, Any]:
        """Everything the UIs show, JSON-ready: the last published snapshot (a shallow copy
        with the current lab time), taken without waiting on the loop."""
        return {"lab_time": round(self.clock.now(), 3), **self._published}

    def build_snapshot(self) -> dict[str, Any]:
        """The loop's state as the UIs show it (without ``lab_time``). Call from the loop."""
        tasks = []
        for s in self.services.values():
            for t in s.tasks:
                run = self.runs.get(t.task_id)
                tasks.append({
                    "task_id": t.task_id, "service": s.name, "host": t.instance_id,
                    "task_definition": t.task_definition, "started_by": t.started_by,
                    "last_status": t.last_status, "desired_status": t.desired_status,
                    "stopped_reason": t.stopped_reason, "exit_code": t.exit_code,
                    "port": run.port if run else None,
                    "url": f"http://127.0.0.1:{run.port}" if run else None,
                    "pull_seconds": run.pull.seconds if run and run.pull else None,
                    "pull_cached": run.pull.cached if run and run.pull else None,
                    "cpu": t.cpu or s.task_cpu, "memory": t.memory or s.task_memory,
                    **self._network_view(t.task_id)})
        tasks += [self._standalone_view(t) for t in self.standalone]
        hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
        return {
            "runtime": self.runtime.name,
            "cluster": self.cluster,
            "hosts": [{"instance_id": h.instance_id, "az": h.az, "type": h.instance_type,
                       "registered_cpu": h.registered_cpu,
                       "registered_memory": h.registered_memory,
                       "remaining_cpu": h.cpu_free, "remaining_memory": h.memory_free,
                       "status": h.status, "tasks": dict(h.tasks_by_group),
                       "image_cache": sorted(self.pull_cache.get(h.instance_id, {}))}
                      for h in hosts],
            "services": [{"name": s.name, "desired": s.desired_count,
                          "running": s.running_count, "pending": s.pending_count,
                          "strategy": s.strategy, "task_definition": s.task_definition,
                          "deployment_configuration": deployment_configuration(s.config),
                          "deployments": [
                              {"id": v.deployment.id, "status": v.deployment.status,
                               "task_definition": v.deployment.task_definition,
                               "desired": v.desired_count, "running": v.running_count,
                               "pending": v.pending_count,
                               "failed_tasks": v.deployment.failed_tasks,
                               "rollout_state": v.deployment.rollout_state,
                               "rollout_state_reason": v.deployment.rollout_state_reason}
                              for v in s.deployment_views()],
                          "events": [{"lab": e.at, "message": e.message}
                                     for e in s.events[:20]]}
                         for s in self.services.values()],
            "tasks": tasks,
            "capacity": self.autoscaler.snapshot(),
            "timeline": self.timeline.entries[-100:],
        }

    def _standalone_view(self, t: TaskState) -> dict[str, Any]:
        """A standalone task as the UIs show it: no service (``standalone`` True, its
        ``group``), so no view counts it as a service's."""
        run = self.runs.get(t.task_id)
        return {"task_id": t.task_id, "service": None, "standalone": True, "group": t.group,
                "host": t.instance_id, "task_definition": t.task_definition,
                "started_by": t.started_by, "last_status": t.last_status,
                "desired_status": t.desired_status, "stopped_reason": t.stopped_reason,
                "exit_code": t.exit_code, "port": run.port if run else None,
                "url": f"http://127.0.0.1:{run.port}" if run else None,
                "pull_seconds": run.pull.seconds if run and run.pull else None,
                "pull_cached": run.pull.cached if run and run.pull else None,
                "cpu": t.cpu, "memory": t.memory, **self._network_view(t.task_id)}

    def close(self) -> None:
        """Stop every container (no orphans)."""
        if self.writeback is not None:
            self.writeback.serve_cluster(None)  # no local cloud: the API's guards stand down
        self._stopper.shutdown(wait=False, cancel_futures=True)
        self._pull_pool.shutdown(wait=False, cancel_futures=True)
        self.runtime.close()


def _epoch(clock: Clock, lab: float | None) -> float | None:
    return None if lab is None else lab_to_epoch(clock, lab)
