"""The local cloud process: AWS endpoint, controllers, runtime and control API in one owner.

``fraudlab up`` starts ``python -m cloud.server.localcloud`` in the background; it writes where it
is (``cloud.json``) and its token into the state directory, then ticks the ECS controller a
few times a second until ``fraudlab down``, SIGTERM or SIGINT — and then stops every replica
it started, so no process or container is left behind.

At idle (every service steady, a pass that changed nothing) the loop waits longer between
passes (``IDLE_TICK_SECONDS``, and never past the next lab-minute boundary, when the
per-minute publishers run); whatever can change the state ends that wait at once: a write call
the emulator served (a learner's ``update-service``), a container's exit, a target's health
change. A busy loop keeps its tick (an exit is seen within one, as before); a control-API
action always runs a pass at once. Without the emulator in this process (no write wake-up) it
ticks every ``TICK_SECONDS``.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from cloud.autoscaling.controller import ScalingController
from cloud.aws.endpoint import Endpoint, EndpointError, isolate_aws_environment, open_endpoint
from cloud.aws.steps.ecs import update_service_desired
from cloud.aws.steps.hosts import deregister_host
from cloud.core import api_writes
from cloud.core import state_dir as state
from cloud.core.clock import PERIOD, LabClock, PassClock, minute_of
from cloud.ecs.cloudwatch import ServiceMetrics, TaskRef
from cloud.ecs.clusters import RuntimeView, SharedExits, cluster_summary, clusters_to_run
from cloud.ecs.controller import ClusterController, ServiceSpec
from cloud.ecs.writeback import MotoWriteBack, reset_moto
from cloud.image.registry import stand_in
from cloud.lb.cloudwatch import LoadBalancerMetrics
from cloud.lb.health import HealthSettings
from cloud.lb.pools import REREAD_SECONDS, changes_topology, make_pools, read_topology
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import Target
from cloud.lb.sync import TargetGroupSync
from cloud.runtime.choose import choose_runtime
from cloud.runtime.docker import remove_orphans
from cloud.server.control import ControlServer, RawJSON
from cloud.server.stream import SnapshotFeed
from cloud.traffic.generator import TrafficGenerator
from cloud.traffic.profiles import parse_profile

TICK_SECONDS = 0.2
IDLE_TICK_SECONDS = 1.0  # between passes at idle (module doc); events wake the loop sooner
MINUTE_MARGIN = 0.02  # wall seconds past a lab-minute boundary the idle loop wakes at
QUIET_WRITES = frozenset({"PutMetricData"})  # the kit's own per-minute writes wake no one
CLUSTER = "fraud-cluster"
LB_PORT = 8080


LOCAL_IMAGE = "fraudlab/service:slim"


def local_image(image: str) -> str:
    """The image a host runs for a task definition's image.

    An emulated ECR URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``) is pulled
    from the kit's registry when ``fraudlab push`` put that tag there; otherwise it stands for
    the image built locally by ``scripts/build_image.sh`` (a simulated pull). Anything else
    runs as named.
    """
    if ".dkr.ecr." not in image:
        return image

    return stand_in(image) or LOCAL_IMAGE


class LocalCloud:
    """Everything the kit runs, owned by one process."""

    def __init__(self, runtime: str | None = None, time_scale: float = 12.0,
                 env: dict[str, str] | None = None, control_port: int = 0,
                 cluster: str = CLUSTER, lb_port: int | None = None) -> None:
        isolate_aws_environment()  # before moto is imported: it reads the AWS config then
        self.clock = LabClock(time_scale=time_scale)
        # The per-minute publishers and target tracking see one lab instant per loop pass.
        self.pass_clock = PassClock(self.clock)
        self.endpoint: Endpoint = open_endpoint(env if env is not None else os.environ)
        if self.endpoint.kind == "aws":  # the kit's controllers never write into real AWS
            raise EndpointError("the local cloud only runs against an emulator on 127.0.0.1")
        writeback = None
        generation = None  # the emulator's write stamp, when it runs in this process
        if self.endpoint.kind == "moto" and self.endpoint._server is not None:
            reset_moto(self.endpoint.url)  # a new local cloud starts from an empty account
            writeback = MotoWriteBack()
            api_writes.install()
            generation = api_writes.generation
        self.runtime = choose_runtime(runtime)
        if self.runtime.name == "docker":
            remove_orphans()  # containers a crashed local cloud left behind
        self.runtime_why = str(getattr(self.runtime, "why", ""))

        port = lb_port if lb_port is not None else int(os.environ.get("FRAUDLAB_LB_PORT", LB_PORT))
        # ALB's defaults (interval 30 s, thresholds 5/2) on lab time; the path the service has.
        self.lb = LoadBalancer(port=port, clock=self.clock, health=HealthSettings(path="/health"))
        self.traffic: Any = None

        self.metrics = LoadBalancerMetrics(
            self.endpoint.client("cloudwatch"), self.lb, self.pass_clock,
            arns=lambda: (self.lb_sync.load_balancer.get("LoadBalancerArn"),
                          self.lb_sync.target_group_arn))
        # Every cluster's controller sees the runtime through its own view (its tasks' exits).
        self._exits = SharedExits(self.runtime)
        self._writeback, self._generation = writeback, generation
        view = RuntimeView(self.runtime, self._exits, owner=True)
        self.controller = ClusterController(self.endpoint, view, self.clock, cluster,
                                            writeback=writeback, resolve_image=local_image,
                                            lb=self.lb, api_generation=generation,
                                            lb_for=self._lb_for)
        view.owns = self.controller.runs.__contains__
        self.clusters: dict[str, ClusterController] = {}  # the other clusters' controllers
        self._topology_stamp: tuple[int, int] | None = None
        self._topology_by = float("-inf")
        # ECS and ELB write calls that may change the topology (``changes_topology``): the
        # kit's own RegisterTargets and the like are not re-read after
        self._topology_writes: Counter[str] = Counter()
        self._writes_lock = threading.Lock()
        # published together with the controller's write-back (see publish_lock)
        self.controller.prepare_publication = self.prepare_publication

        # The target group in the API configures the proxy; targets and health go back.
        self.lb_sync = TargetGroupSync(
            self.endpoint.client("elbv2"), self.endpoint.client("ecs"), self.lb, cluster,
            write_back=writeback is not None, api_generation=generation,
            on_change=lambda text: self.controller.timeline.add(self.clock, "lb", text,
                                                                "emulated"))
        self.lb_sync.api_target = self.controller.api_target  # targets as ECS registers them
        # Every other target group in use: its own proxy and sync (cloud.lb.pools).
        self.pools = make_pools(
            self.endpoint.client("elbv2"), self.endpoint.client("ecs"), self.clock, self.lb,
            cluster, write_back=writeback is not None, api_generation=generation,
            api_target=self._api_target,
            on_change=lambda text: self.controller.timeline.add(self.clock, "lb", text,
                                                                "emulated"),
            members=self._group_targets)

        self.service_metrics = ServiceMetrics(self.endpoint.client("cloudwatch"), self.runtime,
                                              self.pass_clock, cluster, self._running_tasks)
        self.scaling = ScalingController(self.endpoint, self.pass_clock, cluster,
                                         self.controller.timeline, api_generation=generation)
        self.token = state.new_token()
        # What the UIs read: published by the loop after each pass that changed something.
        self.feed = SnapshotFeed(stamp=lambda: {"lab_time": round(self.clock.now(), 3)})
        self.control = ControlServer(self.token, self._routes(), port=control_port,
                                     streams={"/v1/stream": self.feed})
        self._wake = threading.Event()  # an action asks for a pass now
        self._changes = threading.Event()  # an event since the pass began (see _on_event)
        self._idle = False  # the loop is in an idle wait (longer than a tick)
        # Idle passes may wait longer only when every change can wake the loop: the
        # emulator's writes, the runtime's exits and the targets' health changes.
        self._events_wake = generation is not None and hasattr(self.runtime, "on_exit")
        if generation is not None:  # the topology's stamp, and the wake-up on a write
            self._unsubscribe = api_writes.subscribe(self._on_api_write)
        if self._events_wake:
            self.runtime.on_exit = self._on_event
        self.lb.on_event = self._on_event
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._loop = threading.Thread(target=self._run, daemon=True, name="controller")
        self.tick_errors: list[str] = []

    def _routes(self) -> dict[tuple[str, str], Any]:
        routes = {
            ("GET", "/v1/snapshot"): lambda _: self.snapshot_json(),
            ("POST", "/v1/crash"): lambda body: {"crashed": self.controller.crash(
                body.get("task"))},
            ("POST", "/v1/oom"): lambda body: {"oom": self.controller.oom(body.get("task"))},
            ("POST", "/v1/slow"): lambda body: {"slow": self.controller.slow(
                body.get("task"), body.get("ms", 300))},
            ("POST", "/v1/bad-deployment"): lambda _: self.controller.bad_deployment(),
            ("POST", "/v1/kill-host"): lambda body: self.kill_host(body.get("host")),
            ("POST", "/v1/down"): lambda _: self._down_soon(),
            ("GET", "/v1/lb"): lambda _: self.lb.snapshot(),
            ("POST", "/v1/lb"): self.configure_lb,
            ("POST", "/v1/traffic"): self.start_traffic,
            ("POST", "/v1/traffic/stop"): lambda _: self.stop_traffic(),
            ("POST", "/v1/traffic/profile"): self.change_traffic,
            ("GET", "/v1/traffic"): lambda _: self.traffic_snapshot(),
            ("GET", "/v1/scaling"): lambda _: self.scaling.snapshot(),
            ("POST", "/v1/scale"): self.scale,
        }
        return {key: self._then_wake(handler) if key[0] == "POST" else handler
                for key, handler in routes.items()}

    def _then_wake(self, handler: Any) -> Any:
        """``handler``, then a pass of the loop at once (what it changed shows without
        waiting for the next tick)."""
        def run(body: dict[str, Any]) -> Any:
            try:
                return handler(body)
            finally:
                self._wake.set()
        return run

    def _lb_for(self, spec: ServiceSpec) -> LoadBalancer | None:
        """The proxy of the target group a service names (the controllers' resolver)."""
        return self.pools.lb_for_groups(spec.target_groups)

    def _group_targets(self, group: str) -> list[Target]:
        """The targets ECS keeps registered in ``group``, from every cluster's controller."""
        return [target for ctrl in (self.controller, *self.clusters.values())
                for target in ctrl.targets_in(group)]

    def _api_target(self, task_id: str, target_type: str) -> tuple[str, int] | None:
        """(Id, Port) as ECS registers ``task_id``, from the controller that runs it."""
        for ctrl in (self.controller, *self.clusters.values()):
            if task_id in ctrl.networks:
                return ctrl.api_target(task_id, target_type)
        return None

    def _topology(self) -> None:
        """Clusters, services and listeners read again after an ECS or ELB write call that
        may change them (or every REREAD_SECONDS without a write stamp): pools and
        controllers follow them."""
        with self._writes_lock:
            stamp = ((self._topology_writes["ecs"], self._topology_writes["elbv2"])
                     if self._generation else None)
        now = time.monotonic()
        old = self._topology_stamp
        due = old is None or stamp is None
        if stamp == old and (stamp is not None or now < self._topology_by):
            return
        topology = read_topology(
            self.endpoint.client("ecs"), self.endpoint.client("elbv2"), self.pools.topology,
            clusters=due or stamp[0] != old[0], listeners=due or stamp[1] != old[1])
        self._topology_stamp, self._topology_by = stamp, now + REREAD_SECONDS
        self.pools.refresh(topology)
        for name in clusters_to_run(topology.clusters.values(), self.controller.cluster):
            if name not in self.clusters:
                self.clusters[name] = self._cluster_controller(name)

    def _cluster_controller(self, name: str) -> ClusterController:
        view = RuntimeView(self.runtime, self._exits, owner=False)
        ctrl = ClusterController(self.endpoint, view, self.clock, name,
                                 writeback=self._writeback, resolve_image=local_image,
                                 api_generation=self._generation, lb_for=self._lb_for)
        view.owns = ctrl.runs.__contains__
        self.controller.timeline.add(self.clock, "cluster", f"cluster {name}: its own "
                                     "controller runs its services' tasks", "emulated")
        return ctrl

    def _others(self) -> bool:
        """The part of a pass beyond the kit's cluster and target group: the topology (after
        a write), the other clusters' controllers, the other target groups' syncs. True when
        every other cluster's services are steady (the loop may idle)."""
        self._guard(self._topology)
        steady = True
        for ctrl in list(self.clusters.values()):
            plans = self._guard(ctrl.tick)
            steady = steady and plans is not None and all(plan.steady for plan in plans)
        for error in self.pools.tick():
            self.tick_errors.append(error)
            del self.tick_errors[:-20]
        return steady

    def _running_tasks(self) -> list[Any]:
        """The RUNNING tasks with a container, and what their task definition reserves."""
        with self.controller.lock:  # a task's own reservation (its task definition) if set
            return [TaskRef(name, t.task_id, getattr(t, "cpu", 0) or state.task_cpu,
                            getattr(t, "memory", 0) or state.task_memory)
                    for name, state in self.controller.services.items() for t in state.tasks
                    if t.last_status == "RUNNING" and t.task_id in self.controller.runs]

    def scale(self, body: dict[str, Any]) -> dict[str, Any]:
        """A manual ``update-service --desired-count`` (the API call a learner would make)."""
        desired = body.get("desired")
        if not isinstance(desired, int) or isinstance(desired, bool) or not 0 <= desired <= 50:
            raise ValueError(f"desired must be a whole number of tasks from 0 to 50, got "
                             f"{desired!r}")
        ecs = self.endpoint.client("ecs")
        try:
            arns = ecs.list_services(cluster=self.controller.cluster).get("serviceArns", [])
        except ecs.exceptions.ClusterNotFoundException:
            arns = []
        names = sorted(arn.rsplit("/", 1)[-1] for arn in arns)
        service = body.get("service")
        if service is None:
            if len(names) != 1:
                raise ValueError("no service is deployed yet: `fraudlab deploy` first" if not names
                                 else f"several services: say which one ({', '.join(names)})")
            service = names[0]
        if not isinstance(service, str) or service not in names:
            raise ValueError(f"no service {service!r} in {self.controller.cluster}; services: "
                             f"{', '.join(names) or 'none'}")
        step = update_service_desired(ecs, self.controller.cluster, service, desired)
        self.controller.timeline.add(self.clock, "scaling",
                                     f"manual scale: update-service --desired-count {desired} "
                                     f"({service})", "emulated")
        out = step.as_dict()
        target = next((t for t in self.scaling.snapshot()["targets"]
                       if t["ResourceId"] == f"service/{self.controller.cluster}/{service}"),
                      None)
        if target and not target["MinCapacity"] <= desired <= target["MaxCapacity"]:
            out["warnings"] = [*out["warnings"], (
                f"{service} is a scalable target ({target['MinCapacity']}–"
                f"{target['MaxCapacity']} tasks): Application Auto Scaling brings the desired "
                "count back within Min/Max only at its next scaling activity, not at once "
                "(RegisterScalableTarget API reference).")]
        return out

    def configure_lb(self, body: dict[str, Any]) -> dict[str, Any]:
        """The target group's algorithm (written through ModifyTargetGroupAttributes once the
        service has a target group) and the kit-only retry knob."""
        if "algorithm" in body:
            self.lb_sync.set_algorithm(str(body["algorithm"]))
        if "retry" in body:
            if not isinstance(body["retry"], bool):
                raise ValueError("retry must be true or false")
            self.lb.retry_on_connect_error = body["retry"]
        snap = self.lb.snapshot(trace_limit=0)
        return {"algorithm": snap["algorithm"], "retry": snap["retry_on_connect_error"],
                "retry_label": snap["retry_label"]}

    def start_traffic(self, body: dict[str, Any]) -> dict[str, Any]:
        """Open-loop traffic to the load balancer (replaces any running traffic)."""
        duration = body.get("duration", 600)
        if not isinstance(duration, int | float) or not 0 < duration <= 3600:
            raise ValueError(f"duration must be in (0, 3600] seconds, got {duration!r}")
        rate, name, profile, phase = _traffic_request(body)
        self.stop_traffic()
        self.traffic = TrafficGenerator(self.lb.url, profile, clock=self.clock,
                                        max_duration=float(duration), phase=phase or name)
        self.traffic.start()
        self.controller.timeline.add(self.clock, "traffic",
                                     f"traffic: {name} at {rate:g} tx/s to {self.lb.url}", "real")
        return {"traffic": "started", "target": self.lb.url, "rate": rate, "profile": name}

    def change_traffic(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new rate/profile for the running traffic, optionally as a new named phase."""
        if self.traffic is None or not self.traffic.running:
            raise ValueError("no traffic is running: start it with POST /v1/traffic")
        rate, name, profile, phase = _traffic_request(body)
        self.traffic.set_profile(profile, phase=phase)
        self.controller.timeline.add(self.clock, "traffic", f"traffic: now {name} at {rate:g} "
                                     f"tx/s" + (f" (phase {phase})" if phase else ""), "real")
        return {"traffic": "changed", "rate": rate, "profile": name, "phase": phase}

    def stop_traffic(self) -> dict[str, Any]:
        if self.traffic is not None:
            self.traffic.stop()
        return self.traffic_snapshot()

    def traffic_snapshot(self) -> dict[str, Any]:
        return self.traffic.snapshot().as_dict() if self.traffic is not None else {}

    def start(self) -> None:
        self.publish()  # the first snapshot, before anyone can ask
        self.lb.start()
        self.control.start()
        self._loop.start()
        state.write_cloud({"pid": os.getpid(), "control_url": self.control.url,
                           "aws_endpoint": self.endpoint.url, "endpoint_kind": self.endpoint.kind,
                           "endpoint_note": self.endpoint.note,
                           "runtime": self.runtime.name, "runtime_why": self.runtime_why,
                           "time_scale": self.clock.time_scale, "cluster": self.controller.cluster,
                           "lb_url": self.lb.url,
                           "started_at": time.time()})

    def _run(self) -> None:
        while not self._stop.is_set():
            self._changes.clear()
            version = self.feed.version
            plans = self._guard(self.controller.tick)
            self._guard(self.lb_sync.tick)
            others_steady = self._others()  # other clusters and target groups, if any
            self.pass_clock.freeze()  # one lab minute for the publishers and target tracking
            try:
                alb = self._guard(self.metrics.tick)
                service = self._guard(self.service_metrics.tick)
                self._guard(self.scaling.tick, alb, service)
            finally:
                self.pass_clock.release()
            self._guard(self.publish)
            wait, _ = next_pass_in(
                events_wake=self._events_wake,
                changed=self.feed.version != version or self._changes.is_set(),
                steady=(others_steady and plans is not None
                        and all(plan.steady for plan in plans)),
                lab_now=self.clock.now(), time_scale=self.clock.time_scale)
            self._idle = wait > TICK_SECONDS
            if self._idle and self._changes.is_set():  # came after the decision
                self._wake.set()
            self._wake.wait(wait)
            self._wake.clear()
            self._idle = False

    def _on_event(self) -> None:
        """Something may have changed (an exit, a target event, an API write): it ends an
        idle wait; a busy loop sees it on its next tick."""
        self._changes.set()
        if self._idle:
            self._wake.set()

    def _on_api_write(self, service: str, action: str) -> None:
        """A write call the emulator served: counted for the topology when it may change it;
        it wakes the loop (not the kit's own metric data)."""
        if changes_topology(service, action):
            with self._writes_lock:
                self._topology_writes[service] += 1
        if self._events_wake and action not in QUIET_WRITES:
            self._on_event()

    def _guard(self, step: Any, *args: Any) -> Any:
        """Run one part of a pass; an error is recorded (the UIs show it) and the rest runs."""
        try:
            return step(*args)
        except Exception as exc:
            self.tick_errors.append(f"{type(exc).__name__}: {exc}")
            del self.tick_errors[:-20]
            return None

    def snapshot_json(self) -> RawJSON:
        """The snapshot as the control API sends it: serialised once per version."""
        with self.controller.publish_lock:
            return RawJSON(self.feed.snapshot_json())

    def snapshot(self) -> dict[str, Any]:
        """Everything the UIs show: the last published snapshot with the lab time now. It
        waits at most for a write-back in progress (memory only), never for the loop's I/O."""
        with self.controller.publish_lock:
            return self.feed.snapshot()

    def publish(self) -> bool:
        """Build the snapshot after a pass and publish it if it changed (True then); only
        the commit is under the publish lock."""
        commit = self.prepare_publication()
        with self.controller.publish_lock:
            return bool(commit())

    def prepare_publication(self) -> Callable[[], bool]:
        """The snapshot built, compared and diffed now; the returned call publishes it."""
        prepared = self.feed.prepare(self.build_snapshot())
        return lambda: self.feed.commit(prepared)

    def build_snapshot(self) -> dict[str, Any]:
        """The whole snapshot, without the lab time (the loop's thread)."""
        snap = dict(self.controller.published)
        lb = self.lb.snapshot(trace_limit=20)
        lb.pop("lab_time", None)  # the snapshot's own lab_time says it; it would change a pass
        lb["api"] = self.lb_sync.snapshot()
        lb["listeners"] = self.pools.listener_map()  # each listener's real port
        lb["target_groups"] = self.pools.snapshot()  # the other target groups' proxies
        snap.update({"clusters": [cluster_summary(c.published) for c in self.clusters.values()],
                     "load_balancer": lb, "traffic": self.traffic_snapshot(),
                     "alb_metrics": self.metrics.latest,
                     "service_metrics": self.service_metrics.snapshot(),
                     "scaling": self.scaling.snapshot(),
                     "aws_endpoint": self.endpoint.url, "endpoint": self.endpoint.describe(),
                     "endpoint_note": self.endpoint.note,
                     "runtime_why": self.runtime_why, "time_scale": self.clock.time_scale,
                     "tick_errors": list(self.tick_errors[-5:])})
        return snap

    def kill_host(self, host: str | None) -> dict[str, Any]:
        """Terminate one EC2 instance (all its tasks die with it); the scheduler replaces them."""
        hosts = sorted(self.controller.hosts)
        if not hosts:
            raise ValueError("the cluster has no hosts")
        host = host or hosts[0]
        if host not in hosts:
            raise ValueError(f"no host {host!r}; hosts: {', '.join(hosts)}")
        with self.controller.capacity_lock:  # the loop's capacity pass changes it too
            in_group = self.controller.autoscaler.replace(host)
        # The scheduler sees the instance gone on its next pass: it stops the instance's
        # tasks ("Host EC2 … terminated") and the controller kills their containers.
        deregister_host(self.endpoint.client("ec2"), self.endpoint.client("ecs"),
                        self.controller.cluster, host)
        self.controller.timeline.add(
            self.clock, "chaos", f"kill host: {host} terminated"
            + ("; its Auto Scaling group launches a replacement instance" if in_group
               else ""), "real")
        return {"killed_host": host, "replaced_by_auto_scaling_group": in_group}

    def _down_soon(self) -> dict[str, Any]:
        threading.Timer(0.1, self.stop).start()
        return {"stopping": True}

    def stop(self) -> None:
        """Stop the loop and every replica, then the API endpoint; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        if self._generation is not None:
            self._unsubscribe()
        if self._loop.is_alive() and self._loop is not threading.current_thread():
            self._loop.join(5)
        try:
            self.stop_traffic()
            for ctrl in self.clusters.values():
                ctrl.close()
            self.controller.close()  # every container, of every cluster
            self.pools.close()
            self.lb.stop()
        finally:
            self.control.stop()
            self.endpoint.stop()
            state.clear_cloud()
            self._stopped.set()

    def wait(self) -> None:
        """Block until ``stop`` has finished (every replica stopped)."""
        while not self._stopped.wait(0.5):
            pass


def next_pass_in(*, events_wake: bool, changed: bool, steady: bool, lab_now: float,
                 time_scale: float) -> tuple[float, str]:
    """Wall seconds from the end of a pass to the next one, and why.

    ``changed``: the pass published a new snapshot; ``steady``: every service is in ECS's
    steady state (desired tasks RUNNING, nothing starting or stopping). Idle, the loop waits
    ``IDLE_TICK_SECONDS``, or less to be at the next lab minute's start."""
    if not events_wake:
        return TICK_SECONDS, "no wake-up on the emulator's writes: a pass every tick"
    if changed:
        return TICK_SECONDS, "the pass changed the snapshot"
    if not steady:
        return TICK_SECONDS, "a service is not in its steady state"
    to_minute = (minute_of(lab_now) + PERIOD - lab_now) / time_scale + MINUTE_MARGIN
    return (min(IDLE_TICK_SECONDS, max(to_minute, TICK_SECONDS)),
            "idle: the next pass at the next lab minute or when something wakes the loop")


def _traffic_request(body: dict[str, Any]) -> tuple[float, str, Any, str | None]:
    """rate, profile name, profile and phase of a traffic request, validated."""
    rate = body.get("rate", 50)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 5000:
        raise ValueError(f"rate must be a number of requests per second in (0, 5000], "
                         f"got {rate!r}")
    name = str(body.get("profile", "steady"))
    phase = body.get("phase")
    if phase is not None and (not isinstance(phase, str) or not 0 < len(phase) <= 40):
        raise ValueError(f"phase must be a name of 1-40 characters, got {phase!r}")
    return float(rate), name, parse_profile(name, float(rate)), phase


def startup_failure(exc: BaseException) -> str:
    """One line for a start-up failure: what went wrong and what to do."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (f"a port the local cloud needs is in use ({exc.strerror or exc}): stop what "
                "listens there (`fraudlab down` if it is another local cloud), or pick free "
                "ports with FRAUDLAB_LB_PORT and AWS_ENDPOINT_URL")
    if isinstance(exc, RuntimeError | ValueError):  # the kit's own errors say what to do
        return str(exc).replace("\n", " ")
    return (f"{type(exc).__name__}: {exc}".replace("\n", " ")
            + " (the traceback is in the log; report it if it persists)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the FraudLab local cloud (run by `fraudlab up`)")
    parser.add_argument("--runtime", choices=("auto", "docker", "process"), default="auto")
    parser.add_argument("--time-scale", type=float, default=12.0)
    parser.add_argument("--control-port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        cloud = LocalCloud(None if args.runtime == "auto" else args.runtime, args.time_scale,
                           control_port=args.control_port)

        def on_signal(signum: int, _frame: Any) -> None:
            cloud.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        cloud.start()
    except Exception as exc:  # the log keeps the traceback; the learner gets one line
        if not sys.stderr.isatty() or os.environ.get("FRAUDLAB_DEBUG"):
            traceback.print_exc()  # into cloud.log (`fraudlab up`), not onto a terminal
        print(state.STARTUP_FAILED + startup_failure(exc), flush=True)
        # No task runs yet; the threads a half-started cloud left (the AWS endpoint, the load
        # balancer's loop) end with the process (a graceful stop can wait on them forever).
        os._exit(1)
    print(f"local cloud ready: control {cloud.control.url}, AWS {cloud.endpoint.url}, "
          f"runtime {cloud.runtime.name}", flush=True)
    for line in (cloud.runtime_why, cloud.endpoint.note):
        if line:
            print(line, flush=True)
    cloud.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
