"""Target groups beyond the kit's: one proxy each, on the port of the listener forwarding to it.

The kit's proxy (``LocalCloud.lb``, ``FRAUDLAB_LB_PORT``, default 8080) serves the kit's
target group: the first one a live service of the kit's cluster names in its
``loadBalancers`` (what :class:`cloud.lb.sync.TargetGroupSync` follows; it stays that group
while a service names it). Every other target group in use — named by a live service of any
cluster, or forwarded to by a listener's default action — gets a pool of its own: a
:class:`cloud.lb.proxy.LoadBalancer` and a :class:`GroupSync` (health-check settings,
algorithm and targets from the API, target health written back), made when the group comes
into use and stopped when it goes.

Every listener is a real port on 127.0.0.1 (:func:`local_port`): the one forwarding to the
kit's target group is the kit's proxy port; another listener's proxy listens on the
listener's own port when it is 1024 or more and free, else on a free port.
``delete-listener`` closes that port (the group's proxy, still checking the health of its
targets, moves to a port nobody is told of). :meth:`TargetGroupPools.listener_map` is the
mapping ``fraudlab status`` prints.

Nothing here runs until a learner makes a second target group or listener: with one group
the pools are empty, and the API is read again only after a write call that may change what
it reads (``cloud.core.api_writes``, :func:`changes_topology`), never on a timer alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.guards import forward_group
from cloud.core.clock import Clock
from cloud.core.ports import port_is_free
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import REGISTERED, Target
from cloud.lb.sync import TargetGroupSync, load_balancer_of

KIT_LISTENER = ("fraud-alb", 80)  # the kit's load balancer and listener port (steps.elb)
PRIVILEGED = 1024  # listener ports below it are not bound as they are (root only)
LIVE = ("ACTIVE", "DRAINING")
REREAD_SECONDS = 30.0  # the topology is re-read at least this often (a stamp is the rule)


# Write calls that cannot change what read_topology reads (clusters, live services and the
# groups they name, container instance counts; load balancers and listeners). Among them the
# kit's own, many during a scale-out: the syncs' RegisterTargets/DeregisterTargets.
NOT_TOPOLOGY = {
    "ecs": frozenset({
        "RegisterTaskDefinition", "DeregisterTaskDefinition", "DeleteTaskDefinitions",
        "RunTask", "StartTask", "StopTask", "TagResource", "UntagResource", "PutAttributes",
        "DeleteAttributes", "SubmitTaskStateChange", "SubmitContainerStateChange",
        "SubmitAttachmentStateChanges", "PutAccountSetting", "PutAccountSettingDefault",
        "DeleteAccountSetting", "UpdateContainerAgent"}),
    "elbv2": frozenset({
        "RegisterTargets", "DeregisterTargets", "CreateTargetGroup", "ModifyTargetGroup",
        "ModifyTargetGroupAttributes", "AddTags", "RemoveTags", "ModifyLoadBalancerAttributes",
        "ModifyListenerAttributes", "SetSecurityGroups", "SetSubnets", "SetIpAddressType",
        "AddListenerCertificates", "RemoveListenerCertificates"}),
}


def changes_topology(service: str, action: str) -> bool:
    """Whether a write call the emulator served (``service``: ``ecs``, ``elbv2``, …) may
    change the topology (pure): an ECS or ELB write not in ``NOT_TOPOLOGY`` (an unnamed
    action may)."""
    return service in NOT_TOPOLOGY and action not in NOT_TOPOLOGY[service]


# ---- what the API describes ---------------------------------------------------------------
@dataclass(frozen=True)
class ListenerInfo:
    """One ELBv2 listener: where the learner thinks it listens and where it forwards."""

    arn: str
    load_balancer_arn: str
    load_balancer: str  # its name
    port: int
    target_group: str | None  # the one group its default action forwards to


@dataclass(frozen=True)
class ClusterInfo:
    """One ECS cluster: its live services (name → target groups) and container instances."""

    name: str
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    instances: int = 0


@dataclass(frozen=True)
class Topology:
    clusters: dict[str, ClusterInfo] = field(default_factory=dict)
    listeners: tuple[ListenerInfo, ...] = ()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_topology(ecs: Any, elbv2: Any, previous: Topology | None = None, *,
                  clusters: bool = True, listeners: bool = True) -> Topology:
    """Every cluster's live services and instance count (``clusters``), every listener
    (``listeners``): API reads; what is not read again is ``previous``'s."""
    previous = previous or Topology()
    return Topology(read_clusters(ecs) if clusters else previous.clusters,
                    read_listeners(elbv2) if listeners else previous.listeners)


def read_clusters(ecs: Any) -> dict[str, ClusterInfo]:
    """Every cluster's live services (name → target groups) and container instance count."""
    clusters: dict[str, ClusterInfo] = {}
    for arn in ecs.list_clusters().get("clusterArns", []):
        name = arn.rsplit("/", 1)[-1]
        try:
            arns = ecs.list_services(cluster=name).get("serviceArns", [])
            services: dict[str, tuple[str, ...]] = {}
            for i in range(0, len(arns), 10):
                for svc in ecs.describe_services(cluster=name,
                                                 services=arns[i:i + 10])["services"]:
                    if svc.get("status") in LIVE:
                        services[svc["serviceName"]] = tuple(dict.fromkeys(
                            lb["targetGroupArn"] for lb in svc.get("loadBalancers") or []
                            if lb.get("targetGroupArn")))
            instances = len(ecs.list_container_instances(cluster=name).get(
                "containerInstanceArns", []))
        except ClientError as exc:
            if _code(exc) not in ("ClusterNotFoundException", "ClusterNotFound"):
                raise
            continue
        clusters[name] = ClusterInfo(name, services, instances)
    return clusters


def read_listeners(elbv2: Any) -> tuple[ListenerInfo, ...]:
    """Every listener of every load balancer, with the group it forwards to."""
    listeners: list[ListenerInfo] = []
    for lb in elbv2.describe_load_balancers().get("LoadBalancers", []):
        for x in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            listeners.append(ListenerInfo(x["ListenerArn"], lb["LoadBalancerArn"],
                                          lb["LoadBalancerName"], int(x["Port"]),
                                          forward_group(x.get("DefaultActions"))))
    return tuple(listeners)


# ---- pure decisions -----------------------------------------------------------------------
def kit_group(topology: Topology, cluster: str, current: str | None) -> str | None:
    """The kit's target group: ``current`` while a live service of ``cluster`` names it,
    else the first group the first such service names (TargetGroupSync's rule). Before any
    service names one: the group of the kit's listener (``KIT_LISTENER``, what ``fraudlab
    deploy`` creates before its service) when no service of another cluster uses it."""
    info = topology.clusters.get(cluster)
    named = [g for groups in (info.services.values() if info else ()) for g in groups]
    if current in named:
        return current
    if named:
        return named[0]
    used = {g for c in topology.clusters.values() for gs in c.services.values() for g in gs}
    return next((x.target_group for x in topology.listeners
                 if (x.load_balancer, x.port) == KIT_LISTENER and x.target_group
                 and x.target_group not in used), None)


def groups_in_use(topology: Topology) -> list[str]:
    """Target groups a live service names or a listener forwards to, first seen first."""
    found = [g for c in topology.clusters.values() for gs in c.services.values() for g in gs]
    found += [x.target_group for x in topology.listeners if x.target_group]
    return list(dict.fromkeys(found))


def group_listener(topology: Topology, group: str) -> ListenerInfo | None:
    """The listener forwarding to ``group`` (the lowest port when several do)."""
    return min((x for x in topology.listeners if x.target_group == group),
               key=lambda x: (x.port, x.arn), default=None)


def local_port(listener: ListenerInfo | None, is_free: Callable[[int], bool]) -> int:
    """Where a group's proxy listens: its listener's port when 1024+ and free, else a free
    port (0)."""
    if listener is not None and listener.port >= PRIVILEGED and is_free(listener.port):
        return listener.port
    return 0


# ---- the pools ----------------------------------------------------------------------------
class GroupSync(TargetGroupSync):
    """TargetGroupSync for one given target group (not the one a service is found with)."""

    def __init__(self, arn: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.group_arn = arn

    def _find(self) -> None:
        self._found_at = time.monotonic()
        try:
            [tg] = self.elbv2.describe_target_groups(
                TargetGroupArns=[self.group_arn])["TargetGroups"]
        except ClientError as exc:
            if _code(exc) == "TargetGroupNotFound":
                self._forget()
                self._found_at = time.monotonic()
                return
            raise
        self.target_group = tg
        self.load_balancer, self.listeners = load_balancer_of(self.elbv2, tg)


@dataclass
class Pool:
    """One target group's proxy and sync, and the listener whose port the proxy holds."""

    arn: str
    lb: LoadBalancer
    sync: GroupSync
    listener: ListenerInfo | None


class TargetGroupPools:
    """The pools of every target group in use but the kit's (see the module docstring).

    ``refresh(topology)`` after each re-read; ``tick()`` each pass (the pools' syncs);
    ``lb_for_groups(arns)`` is the controllers' resolver. ``members(arn)``: the targets ECS
    keeps registered in a group (the RUNNING tasks of the services naming it, from the
    controllers): a pool registers them when it opens or moves, so a task that reached
    RUNNING before its group's pool existed is registered there all the same.
    """

    def __init__(self, make_sync: Callable[[str, LoadBalancer], GroupSync],
                 make_lb: Callable[[int], LoadBalancer], main_lb: LoadBalancer,
                 cluster: str, *, on_change: Callable[[str], None] | None = None,
                 is_free: Callable[[int], bool] = port_is_free,
                 members: Callable[[str], list[Target]] | None = None) -> None:
        self.make_sync, self.make_lb, self.main_lb = make_sync, make_lb, main_lb
        self.cluster = cluster
        self.members = members or (lambda _arn: [])
        self.on_change = on_change or (lambda _text: None)
        self.is_free = is_free
        self.pools: dict[str, Pool] = {}
        self.kit_group: str | None = None
        self.topology = Topology()

    def refresh(self, topology: Topology) -> None:
        """Make, move and stop pools to match the API's target groups and listeners."""
        self.topology = topology
        self.kit_group = kit_group(topology, self.cluster, self.kit_group)
        wanted = [g for g in groups_in_use(topology) if g != self.kit_group]
        for arn in [a for a in self.pools if a not in wanted]:
            self._close(self.pools.pop(arn), "no service or listener uses it any more")
        for arn in wanted:
            listener = group_listener(topology, arn)
            pool = self.pools.get(arn)
            if pool is None:
                self.pools[arn] = self._open(arn, listener)
            elif _moved(pool.listener, listener):
                self._rebind(pool, listener)

    def _open(self, arn: str, listener: ListenerInfo | None) -> Pool:
        lb = self.make_lb(local_port(listener, self.is_free)).start()
        pool = Pool(arn, lb, self.make_sync(arn, lb), listener)
        self.on_change(f"target group {_name(arn)}: its own proxy on {lb.url}"
                       + (f" (listener port {listener.port} of {listener.load_balancer})"
                          if listener else " (no listener forwards to it yet)"))
        if self._register_members(pool):
            self.on_change(f"target group {_name(arn)}: the running tasks of the services "
                           "naming it registered in it")
        return pool

    def _register_members(self, pool: Pool) -> int:
        """Register in ``pool`` the running tasks of the services naming its group (what ECS
        registers in every group a service names; registering a registered one is a no-op)."""
        targets = self.members(pool.arn)
        for target in targets:
            pool.lb.register(target)
        return len(targets)

    def _rebind(self, pool: Pool, listener: ListenerInfo | None) -> None:
        """The group's listener changed: its proxy moves to the new port, targets kept."""
        old = pool.lb
        rows = old.snapshot(trace_limit=0)["targets"]
        old.stop()  # first: its port closes (and may be the one the listener wants)
        new = self.make_lb(local_port(listener, self.is_free))
        new.set_algorithm(old.algorithm)
        new.set_health_settings(old.health_settings)
        new.retry_on_connect_error = old.retry_on_connect_error
        new.start()
        for row in rows:
            if row["state"] in REGISTERED:
                new.register(Target(row["id"], row["host"], int(row["port"])))
        pool.lb, pool.sync.lb, pool.listener = new, new, listener
        self._register_members(pool)
        self.on_change(f"target group {_name(pool.arn)}: its proxy moved to {new.url}"
                       + (f" (listener port {listener.port} of {listener.load_balancer})"
                          if listener else " (its listener was deleted)"))

    def _close(self, pool: Pool, why: str) -> None:
        pool.lb.stop()
        self.on_change(f"target group {_name(pool.arn)}: its proxy stopped ({why})")

    def tick(self) -> list[str]:
        """One pass of every pool's sync; the errors, as text (the others still run)."""
        errors = []
        for pool in list(self.pools.values()):
            try:
                pool.sync.tick()
            except Exception as exc:
                errors.append(f"{_name(pool.arn)}: {type(exc).__name__}: {exc}")
        return errors

    def lb_for_groups(self, groups: tuple[str, ...]) -> Any | None:
        """The proxy a service naming ``groups`` registers its tasks in: each group's pool,
        the kit's proxy for the kit's group (or before any group is known); several groups:
        a :class:`Fanout` over their proxies; None when none is known."""
        found = [lb for lb in (self._lb_for_group(g) for g in groups) if lb is not None]
        if len(found) > 1:
            return Fanout(tuple(dict.fromkeys(found)))
        return found[0] if found else None

    def _lb_for_group(self, group: str) -> LoadBalancer | None:
        pool = self.pools.get(group)
        if pool is not None:
            return pool.lb
        return self.main_lb if self.kit_group in (None, group) else None

    def listener_map(self) -> list[dict[str, Any]]:
        """Every listener: its load balancer and port, where it really listens."""
        out = []
        for x in sorted(self.topology.listeners, key=lambda x: (x.load_balancer, x.port)):
            pool = self.pools.get(x.target_group or "")
            lb = (self.main_lb if x.target_group and x.target_group == self.kit_group
                  else pool.lb if pool is not None and pool.listener is not None
                  and pool.listener.arn == x.arn else None)
            out.append({"load_balancer": x.load_balancer, "port": x.port,
                        "listener_arn": x.arn, "target_group": _name(x.target_group),
                        "local_port": lb.port if lb else None,
                        "url": lb.url if lb else None})
        return out

    def snapshot(self) -> list[dict[str, Any]]:
        """Each pool: its group, proxy, targets and what the API reads back."""
        out = []
        for pool in self.pools.values():
            snap = pool.lb.snapshot(trace_limit=0)
            out.append({"target_group": _name(pool.arn), "target_group_arn": pool.arn,
                        "url": pool.lb.url,
                        "listener_port": pool.listener.port if pool.listener else None,
                        "algorithm": snap["algorithm"], "totals": snap["totals"],
                        "targets": [{k: t[k] for k in ("id", "port", "state", "reason")}
                                    for t in snap["targets"]],
                        "api": pool.sync.snapshot()})
        return out

    def close(self) -> None:
        for pool in self.pools.values():
            with contextlib.suppress(Exception):
                pool.lb.stop()
        self.pools.clear()


@dataclass(frozen=True)
class Fanout:
    """A service's tasks in several target groups (ECS registers each task in every group its
    ``loadBalancers`` names): registration goes to each proxy; the state is the least
    advanced one (healthy only when healthy in every group, unused only when drained in
    every group)."""

    lbs: tuple[Any, ...]

    def register(self, target: Target) -> None:
        for lb in self.lbs:
            lb.register(target)

    def deregister(self, target_id: str) -> None:
        for lb in self.lbs:
            if lb.state_of(target_id) not in (None, "draining", "unused"):
                lb.deregister(target_id)

    def state_of(self, target_id: str) -> str | None:
        return combined_state([lb.state_of(target_id) for lb in self.lbs])


def combined_state(states: list[str | None]) -> str | None:
    """One target's state over several groups (pure): see :class:`Fanout`."""
    for state in ("unhealthy", "initial", "healthy", "draining", "unused"):
        if state in states:
            return state
    return None


def _moved(old: ListenerInfo | None, new: ListenerInfo | None) -> bool:
    return (old.arn, old.port) != (new.arn, new.port) if old and new else old is not new


def _name(arn: str | None) -> str | None:
    """``arn:…:targetgroup/<name>/<id>`` → ``<name>``."""
    if not arn:
        return None
    parts = arn.split(":")[-1].split("/")
    return parts[1] if len(parts) == 3 else arn


def make_pools(elbv2: Any, ecs: Any, clock: Clock, main_lb: LoadBalancer, cluster: str, *,
               write_back: bool, api_generation: Callable[[str], int] | None,
               api_target: Callable[[str, str], tuple[str, int] | None],
               on_change: Callable[[str], None],
               members: Callable[[str], list[Target]] | None = None) -> TargetGroupPools:
    """The local cloud's pools: proxies like the kit's, syncs like its sync."""
    def make_lb(port: int) -> LoadBalancer:
        lb = LoadBalancer(port=port, clock=clock, health=main_lb.health_settings)
        if hasattr(main_lb, "on_event"):  # what wakes the local cloud's idle loop, if any
            lb.on_event = main_lb.on_event
        return lb

    def make_sync(arn: str, lb: LoadBalancer) -> GroupSync:
        sync = GroupSync(arn, elbv2, ecs, lb, cluster, write_back=write_back,
                         api_generation=api_generation, on_change=on_change)
        sync.api_target = api_target
        return sync

    return TargetGroupPools(make_sync, make_lb, main_lb, cluster, on_change=on_change,
                            members=members)
