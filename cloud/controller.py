"""The ECS control loop: read desired state from the AWS API, reconcile, run, write back.

Each ``tick``: read the cluster's services and container instances through the AWS API
(what a learner changes with boto3 or `aws` is what the loop obeys), collect what the runtime
saw (exits, OOM kills, replicas answering ``/ready``), ask the pure scheduler
(``cloud.scheduler.reconcile``) what to do, do it (image pulls per host, start and stop
containers), and write the truth back into the emulator (``cloud.emulator``).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import requests

from cloud.autoscaler import CapacityAutoscaler
from cloud.clock import Clock, lab_to_epoch
from cloud.lb.routing import Target
from cloud.placement import DRAINING, Host
from cloud.replica import free_port
from cloud.resources import instance_type
from cloud.runtime.base import ContainerSpec, PullError, PullResult, Runtime
from cloud.scheduler import (
    PENDING,
    RUNNING,
    STOPPED,
    Observation,
    Plan,
    ServiceState,
    reconcile,
    task_id_factory,
)

READY_TIMEOUT = 0.25  # seconds for one GET /ready probe
SERVICE_PREFIX = "ecs-svc/"
TARGET_GROUP = "fraud-tg"


@dataclass
class TaskRun:
    """What the loop knows about one task's container (the runtime's side of a task)."""

    task_id: str
    service: str
    host_id: str
    port: int
    image: str
    launch_at: float  # wall time (monotonic) when the container may start (after its pull)
    pull: PullResult | None = None
    launched: bool = False
    ready: bool = False
    exited: bool = False


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
                 lb: Any | None = None) -> None:
        self.endpoint = endpoint
        self.ecs = endpoint.client("ecs")
        self.runtime = runtime
        self.clock = clock
        self.cluster = cluster
        self.writeback = writeback
        self.resolve_image = resolve_image or (lambda image: image)
        self.lb = lb  # the load balancer's proxy: RUNNING tasks are its targets
        self._draining: dict[str, TaskRun] = {}  # deregistered, stopped once drained
        self.rng = random.Random(seed)
        self.new_id = task_id_factory(self.rng)
        self.services: dict[str, ServiceState] = {}
        self.specs: dict[str, ServiceSpec] = {}
        self.runs: dict[str, TaskRun] = {}
        self.hosts: dict[str, Host] = {}
        self.pull_cache: dict[str, dict[str, PullResult]] = {}  # host → image → first pull
        self.timeline = Timeline()
        self.lock = threading.RLock()
        self._taskdefs: dict[str, dict[str, Any]] = {}
        self._stopper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="task-stop")
        self._http = requests.Session()
        self._later: dict[str, list[Observation]] = {}  # seen while acting, applied next pass
        self._written_tasks: dict[str, Any] = {}  # task id → the TaskState last written back
        self._written_events: dict[str, tuple[tuple[Any, ...], list[tuple[float, str]]]] = {}
        self.autoscaler = CapacityAutoscaler(endpoint, clock, cluster, self.timeline)

    # -- reading the desired state ---------------------------------------------------------
    def _task_definition(self, arn: str) -> dict[str, Any]:
        if arn not in self._taskdefs:
            self._taskdefs[arn] = self.ecs.describe_task_definition(
                taskDefinition=arn)["taskDefinition"]
        return self._taskdefs[arn]

    def read_services(self) -> dict[str, ServiceSpec]:
        try:
            arns = self.ecs.list_services(cluster=self.cluster).get("serviceArns", [])
        except self.ecs.exceptions.ClusterNotFoundException:
            return {}  # nothing deployed yet
        specs: dict[str, ServiceSpec] = {}
        for i in range(0, len(arns), 10):
            for svc in self.ecs.describe_services(cluster=self.cluster,
                                                  services=arns[i:i + 10])["services"]:
                if svc.get("status") != "ACTIVE":
                    continue
                td = self._task_definition(svc["taskDefinition"])
                container = td["containerDefinitions"][0]
                specs[svc["serviceName"]] = ServiceSpec(
                    name=svc["serviceName"], arn=svc["serviceArn"],
                    desired_count=int(svc.get("desiredCount", 0)),
                    task_definition=td["taskDefinitionArn"],
                    cpu=int(td.get("cpu") or container.get("cpu") or 256),
                    memory=int(td.get("memory") or container.get("memory") or 512),
                    image=container.get("image", ""),
                    environment={e["name"]: e["value"] for e in container.get("environment", [])},
                    strategy=strategy_name(svc.get("placementStrategy")))
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

    def _hosts_with_tasks(self, hosts: dict[str, Host]) -> list[Host]:
        """Hosts with every live task's reservation applied (remainingResources)."""
        for state in self.services.values():
            for t in state.tasks:
                if t.last_status != STOPPED and t.instance_id in hosts:
                    hosts[t.instance_id].assign(state.task_cpu, state.task_memory, None,
                                                state.name)
        return list(hosts.values())

    # -- observing the runtime -------------------------------------------------------------
    def _observations(self) -> dict[str, list[Observation]]:
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
            if run.launched and not run.ready and not run.exited and self._ready(run):
                run.ready = True
                by_service.setdefault(run.service, []).append(
                    Observation(run.task_id, "started", None, now))
        return by_service

    def _ready(self, run: TaskRun) -> bool:
        try:
            reply = self._http.get(f"http://127.0.0.1:{run.port}/ready", timeout=READY_TIMEOUT)
            return reply.status_code == 200
        except requests.RequestException:
            return False

    # -- one pass ----------------------------------------------------------------------------
    def tick(self) -> list[Plan]:
        """Read, reconcile, act, write back. Returns the scheduler's plans (for tests/UIs)."""
        with self.lock:
            specs = self.read_services()
            self.hosts = self.read_hosts()
            observations = self._observations()
            plans = []
            for name, spec in specs.items():
                state = self.services.get(name) or ServiceState(
                    name, spec.desired_count, spec.cpu, spec.memory, None, spec.strategy,
                    deployment_id=f"{SERVICE_PREFIX}{abs(hash(spec.arn)) % 10**19:019d}")
                state = replace(state, desired_count=spec.desired_count,
                                strategy=spec.strategy, task_cpu=spec.cpu,
                                task_memory=spec.memory)
                self.specs[name] = spec
                hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
                plan = reconcile(state, hosts, self.clock.now(), observations.get(name, ()),
                                 new_id=self.new_id, rng=self.rng)
                self.services[name] = plan.state
                self._apply(spec, plan)
                plans.append(plan)
            self._stop_drained()
            self._launch_due()
            self._write_back()
            self._autoscale(plans)
            return plans

    def _autoscale(self, plans: list[Plan]) -> None:
        """Cluster auto scaling, when the cluster has a managed-scaling capacity provider.

        The tasks no instance could take are what CAS sees waiting: in AWS they sit in
        PROVISIONING; here the scheduler reports them unplaced (with ECS's event) and places
        them on a later pass, once the instance CAS launched has registered.
        """
        waiting = [u.request for plan in plans for u in plan.unplaced]
        hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
        self.autoscaler.step(hosts, waiting)

    def _apply(self, spec: ServiceSpec, plan: Plan) -> None:
        for tr in plan.transitions:
            self.timeline.add(self.clock, "transition",
                              f"task {tr.task_id[:8]}: {tr.from_status} → {tr.to_status} "
                              f"({tr.reason})", task=tr.task_id)
            run = self.runs.get(tr.task_id)
            if tr.to_status == RUNNING and run and self.lb:
                self.lb.register(Target(tr.task_id, "127.0.0.1", run.port))
                self.timeline.add(self.clock, "event", f"(service {spec.name}) registered 1 "
                                  f"targets in (target-group {TARGET_GROUP})", task=tr.task_id)
            if (tr.to_status == STOPPED and self.lb and tr.task_id not in self._draining
                    and self.lb.state_of(tr.task_id) not in (None, "draining", "unused")):
                self.lb.deregister(tr.task_id)  # a crash: no draining, in-flight requests fail
            if tr.to_status == STOPPED and run and not run.exited:
                self._stop_container(run, kill=True)  # e.g. its host was terminated
        for ev in plan.events:
            self.timeline.add(self.clock, "event", ev.message)
        for start in plan.start:
            task = start.task
            self.timeline.add(self.clock, "placement", start.placement.reason, task=task.task_id)
            try:
                pull = self._pull(task.instance_id or "", spec.image)
            except PullError as exc:  # the task stops before RUNNING (and restarts throttle)
                self._later.setdefault(spec.name, []).append(
                    Observation(task.task_id, "exited", None, self.clock.now(), reason=str(exc)))
                self.timeline.add(self.clock, "pull", str(exc), "real", task=task.task_id)
                continue
            port = free_port()
            self.runs[task.task_id] = TaskRun(
                task.task_id, spec.name, task.instance_id or "", port, spec.image,
                launch_at=time.monotonic() + self.clock_to_wall(pull.seconds), pull=pull)
            if self.writeback:
                ci = self.hosts[task.instance_id].container_instance_arn if task.instance_id \
                    in self.hosts else None
                if ci:
                    self.writeback.create_task(self.cluster, spec.task_definition, ci,
                                               task.task_id, f"service:{spec.name}",
                                               task.started_by, time.time())
        for stop in plan.stop:
            run = self.runs.get(stop.task_id)
            self.timeline.add(self.clock, "stop", f"stopping task {stop.task_id[:8]}: "
                              f"{stop.reason}", task=stop.task_id)
            if run and not run.exited and self.lb:
                # ECS deregisters the target and waits for draining before it stops the
                # task (ecs-facts.md §4 "Deregistration on stop").
                self.lb.deregister(stop.task_id)
                self._draining[stop.task_id] = run
                self.timeline.add(self.clock, "event", f"(service {spec.name}) deregistered 1 "
                                  f"targets in (target-group {TARGET_GROUP})", task=stop.task_id)
            elif run and not run.exited:
                self._stop_container(run, kill=False)

    def _stop_drained(self) -> None:
        """Stop the containers of deregistered targets once the load balancer drained them."""
        for task_id, run in list(self._draining.items()):
            if self.lb is None or self.lb.state_of(task_id) in ("unused", None) or run.exited:
                del self._draining[task_id]
                if not run.exited:
                    self._stop_container(run, kill=False)

    def clock_to_wall(self, lab_seconds: float) -> float:
        to_wall = getattr(self.clock, "to_wall", None)
        return float(to_wall(lab_seconds)) if to_wall else lab_seconds

    def _pull(self, host_id: str, image: str) -> PullResult:
        cache = self.pull_cache.setdefault(host_id, {})
        result = self.runtime.pull(host_id, self.resolve_image(image))
        if image not in cache:
            cache[image] = result
        how = "cache hit" if result.cached else f"pulled in {result.seconds:.1f} s (lab)"
        self.timeline.add(self.clock, "pull", f"{host_id}: {image} {how}", result.badge,
                          host=host_id, seconds=result.seconds, cached=result.cached)
        return result

    def _launch_due(self) -> None:
        now = time.monotonic()
        for run in self.runs.values():
            if run.launched or run.exited or run.launch_at > now:
                continue
            spec = self.specs.get(run.service)
            state = self.services.get(run.service)
            if spec is None or state is None:
                continue
            task = next((t for t in state.tasks if t.task_id == run.task_id), None)
            if task is None or task.last_status == STOPPED or task.desired_status == STOPPED:
                run.exited = True
                continue
            self.runtime.start(ContainerSpec(
                run.task_id, run.host_id, self.resolve_image(run.image), spec.cpu, spec.memory,
                run.port, dict(spec.environment)))
            run.launched = True
            self.timeline.add(self.clock, "launch", f"task {run.task_id[:8]} container "
                              f"started on {run.host_id} (port {run.port})",
                              "real",
                              task=run.task_id)

    def _stop_container(self, run: TaskRun, kill: bool) -> None:
        run.exited = run.exited or kill
        if kill:
            self._stopper.submit(self._quiet, self.runtime.kill, run.task_id)
        else:
            self._stopper.submit(self._quiet, self.runtime.stop, run.task_id)

    @staticmethod
    def _quiet(fn: Any, *args: Any) -> None:
        with contextlib.suppress(Exception):
            fn(*args)

    def _write_back(self) -> None:
        if not self.writeback:
            return
        for state in self.services.values():
            for t in state.tasks:
                if self._written_tasks.get(t.task_id) == t:
                    continue  # only we change tasks in the emulator: write what changed
                self.writeback.set_task(
                    self.cluster, t.task_id, t.last_status, t.desired_status,
                    started_at=_epoch(self.clock, t.started_at),
                    stopped_at=_epoch(self.clock, t.stopped_at),
                    stopped_reason=t.stopped_reason, exit_code=t.exit_code)
                self._written_tasks[t.task_id] = t
            events, stamped = self._written_events.get(state.name, ((), []))
            if events != state.events:  # stamp each event's time once, not every pass
                stamped = [(_epoch(self.clock, e.at) or time.time(), e.message)
                           for e in state.events]
                self._written_events[state.name] = (state.events, stamped)
            # Counts every pass: moto's UpdateService fakes runningCount = desiredCount.
            self.writeback.set_service(self.cluster, state.name, state.running_count,
                                       state.pending_count, stamped)
        hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
        for h in hosts:
            if not h.container_instance_arn:
                continue
            tasks = [t for s in self.services.values() for t in s.tasks
                     if t.instance_id == h.instance_id and t.last_status != STOPPED]
            ports = [self.runs[t.task_id].port for t in tasks if t.task_id in self.runs]
            self.writeback.set_resources(
                self.cluster, h.container_instance_arn,
                (h.registered_cpu, h.registered_memory), (h.cpu_free, h.memory_free), ports,
                running=sum(t.last_status == RUNNING for t in tasks),
                pending=sum(t.last_status in ("PROVISIONING", PENDING) for t in tasks))

    # -- actions -----------------------------------------------------------------------------
    def crash(self, task_id: str | None = None) -> str:
        """SIGKILL one RUNNING task's container (chaos); returns its id."""
        with self.lock:
            running = [t.task_id for s in self.services.values() for t in s.tasks
                       if t.last_status == RUNNING and t.task_id in self.runs]
            if not running:
                raise ValueError("no RUNNING task to crash")
            if task_id is None:
                task_id = running[0]
            match = [t for t in running if t.startswith(task_id)]
            if len(match) != 1:
                raise ValueError(f"no single RUNNING task matches {task_id!r}; running: "
                                 + ", ".join(t[:12] for t in running))
            self.timeline.add(self.clock, "chaos", f"crash: SIGKILL to task {match[0][:8]}",
                              "real", task=match[0])
            self.runtime.kill(match[0])
            return match[0]

    def snapshot(self) -> dict[str, Any]:
        """Everything the UIs show, JSON-ready."""
        with self.lock:
            tasks = []
            for s in self.services.values():
                for t in s.tasks:
                    run = self.runs.get(t.task_id)
                    tasks.append({
                        "task_id": t.task_id, "service": s.name, "host": t.instance_id,
                        "last_status": t.last_status, "desired_status": t.desired_status,
                        "stopped_reason": t.stopped_reason, "exit_code": t.exit_code,
                        "port": run.port if run else None,
                        "url": f"http://127.0.0.1:{run.port}" if run else None,
                        "pull_seconds": run.pull.seconds if run and run.pull else None,
                        "pull_cached": run.pull.cached if run and run.pull else None})
            hosts = self._hosts_with_tasks({k: h.copy() for k, h in self.hosts.items()})
            return {
                "lab_time": round(self.clock.now(), 3),
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
                              "strategy": s.strategy,
                              "events": [{"lab": e.at, "message": e.message}
                                         for e in s.events[:20]]}
                             for s in self.services.values()],
                "tasks": tasks,
                "capacity": self.autoscaler.snapshot(),
                "timeline": self.timeline.entries[-100:],
            }

    def close(self) -> None:
        """Stop every container (no orphans)."""
        self._stopper.shutdown(wait=False, cancel_futures=True)
        self.runtime.close()


def _epoch(clock: Clock, lab: float | None) -> float | None:
    return None if lab is None else lab_to_epoch(clock, lab)
