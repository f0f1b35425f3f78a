"""The pure decisions behind the target-group pools and the per-cluster controllers
(cloud/lb/pools.py, cloud/ecs/clusters.py)."""

from __future__ import annotations

from types import SimpleNamespace

from cloud.ecs.clusters import RuntimeView, SharedExits, clusters_to_run
from cloud.lb.pools import (
    ClusterInfo,
    Fanout,
    ListenerInfo,
    TargetGroupPools,
    Topology,
    changes_topology,
    combined_state,
    group_listener,
    groups_in_use,
    kit_group,
    local_port,
)
from cloud.lb.routing import Target
from cloud.runtime.base import ContainerExit


def _listener(arn: str, port: int, group: str | None) -> ListenerInfo:
    return ListenerInfo(arn, "alb-arn", "fraud-alb", port, group)


TOPOLOGY = Topology(
    {"fraud-cluster": ClusterInfo("fraud-cluster", {"fraud-svc": ("tg-kit",), "web": ("tg-web",)},
                                  2),
     "other": ClusterInfo("other", {"batch": ()}, 0),
     "empty": ClusterInfo("empty", {}, 0)},
    (_listener("l-80", 80, "tg-kit"), _listener("l-9000", 9000, "tg-web"),
     _listener("l-81", 81, "tg-lonely"), _listener("l-82", 82, None)))


def test_the_kit_group_is_the_first_named_and_stays_while_named() -> None:
    assert kit_group(TOPOLOGY, "fraud-cluster", None) == "tg-kit"
    assert kit_group(TOPOLOGY, "fraud-cluster", "tg-web") == "tg-web"  # sticky
    assert kit_group(TOPOLOGY, "fraud-cluster", "tg-gone") == "tg-kit"
    before = Topology({}, (_listener("l-80", 80, "tg-kit"), _listener("l-81", 81, "tg-x")))
    assert kit_group(before, "fraud-cluster", None) == "tg-kit"  # the kit's listener's
    assert kit_group(Topology({}, before.listeners[1:]), "fraud-cluster", None) is None


def test_groups_in_use_come_from_services_and_listeners() -> None:
    assert groups_in_use(TOPOLOGY) == ["tg-kit", "tg-web", "tg-lonely"]
    assert group_listener(TOPOLOGY, "tg-web").arn == "l-9000"
    assert group_listener(TOPOLOGY, "tg-none") is None


def test_a_listener_keeps_its_port_when_it_can() -> None:
    free = {9000}.__contains__
    assert local_port(_listener("a", 9000, "g"), free) == 9000
    assert local_port(_listener("a", 9001, "g"), free) == 0  # taken: a free port
    assert local_port(_listener("a", 80, "g"), lambda _p: True) == 0  # privileged
    assert local_port(None, free) == 0


def test_clusters_with_instances_or_services_get_a_controller() -> None:
    assert clusters_to_run(TOPOLOGY.clusters.values(), "fraud-cluster") == ["other"]


class _Runtime:
    name = "process"

    def __init__(self) -> None:
        self.pending = [ContainerExit("a1", 0, "done"), ContainerExit("b1", 137, "killed")]
        self.closed = False

    def exits(self) -> list[ContainerExit]:
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        self.closed = True


def test_each_controller_sees_its_own_tasks_exits_and_only_the_owner_closes() -> None:
    runtime = _Runtime()
    shared = SharedExits(runtime)
    a = RuntimeView(runtime, shared, owner=True)
    b = RuntimeView(runtime, shared, owner=False)
    a.owns, b.owns = (lambda t: t.startswith("a")), (lambda t: t.startswith("b"))
    assert [e.task_id for e in a.exits()] == ["a1"]
    assert [e.task_id for e in b.exits()] == ["b1"]  # kept for b although a asked first
    assert a.exits() == [] and b.name == "process"
    b.close()
    assert not runtime.closed
    a.close()
    assert runtime.closed


class _Lb:
    def __init__(self, states: dict[str, str]) -> None:
        self.states, self.calls = states, []

    def state_of(self, target_id: str) -> str | None:
        return self.states.get(target_id)

    def register(self, target) -> None:
        self.calls.append(("register", target.id))

    def deregister(self, target_id: str) -> None:
        self.calls.append(("deregister", target_id))


def test_a_target_in_several_groups_is_as_advanced_as_its_slowest() -> None:
    assert combined_state(["healthy", "healthy"]) == "healthy"
    assert combined_state(["healthy", "initial"]) == "initial"
    assert combined_state(["unhealthy", "healthy"]) == "unhealthy"
    assert combined_state(["draining", "unused"]) == "draining"
    assert combined_state(["unused", None]) == "unused"
    assert combined_state([None, None]) is None
    a, b = _Lb({"t": "healthy"}), _Lb({"t": "draining"})
    fan = Fanout((a, b))
    fan.deregister("t")
    assert a.calls == [("deregister", "t")] and b.calls == []  # b drains it already
    assert fan.state_of("t") == "healthy"


class _Proxy:
    """A pool's proxy as TargetGroupPools uses it: registrations kept, no port."""

    def __init__(self, port: int) -> None:
        self.port, self.url, self.targets = port, f"http://127.0.0.1:{port}", {}
        self.algorithm, self.health_settings, self.retry_on_connect_error = "rr", None, False

    def start(self) -> _Proxy:
        return self

    def stop(self) -> None:
        pass

    def register(self, target) -> None:
        self.targets.setdefault(target.id, target)

    def set_algorithm(self, name: str) -> None:
        self.algorithm = name

    def set_health_settings(self, settings) -> None:
        self.health_settings = settings

    def snapshot(self, trace_limit: int = 0) -> dict:
        return {"targets": [{"id": t.id, "host": t.host, "port": t.port, "state": "healthy"}
                            for t in self.targets.values()]}


def test_a_pool_made_after_its_tasks_started_registers_them() -> None:
    """A service names the kit's group and tg-web; its task reached RUNNING (registered in
    the kit's proxy) before the topology showed tg-web: tg-web's pool, made then, registers
    the running task (as ECS registers a task in every group its service names)."""
    running = {"tg-web": [Target("t1", "127.0.0.1", 4001), Target("t2", "127.0.0.1", 4002)]}
    notes: list[str] = []
    pools = TargetGroupPools(lambda arn, lb: SimpleNamespace(lb=lb), _Proxy, _Proxy(8080),
                             "fraud-cluster", is_free=lambda _p: True, on_change=notes.append,
                             members=lambda arn: running.get(arn, []))
    kit_only = Topology({"fraud-cluster": ClusterInfo("fraud-cluster", {"dual": ("tg-kit",)})},
                        (_listener("l-80", 80, "tg-kit"),))
    pools.refresh(kit_only)
    assert pools.pools == {}
    both = Topology({"fraud-cluster": ClusterInfo("fraud-cluster",
                                                  {"dual": ("tg-kit", "tg-web")})},
                    kit_only.listeners)
    pools.refresh(both)
    assert sorted(pools.pools["tg-web"].lb.targets) == ["t1", "t2"]
    assert notes[-1] == ("target group tg-web: the running tasks of the services naming it "
                         "registered in it")
    # its listener comes later: the proxy moves, its targets and the running tasks with it
    running["tg-web"].append(Target("t3", "127.0.0.1", 4003))
    pools.refresh(Topology(both.clusters, (*both.listeners, _listener("l-9000", 9000,
                                                                       "tg-web"))))
    moved = pools.pools["tg-web"].lb
    assert moved.port == 9000 and sorted(moved.targets) == ["t1", "t2", "t3"]


def test_only_writes_that_may_change_the_topology_count() -> None:
    assert changes_topology("ecs", "CreateService")
    assert changes_topology("ecs", "UpdateService")  # it may name other load balancers
    assert changes_topology("elbv2", "CreateListener")
    assert changes_topology("elbv2", "")  # an action it cannot name: re-read, to be safe
    assert not changes_topology("elbv2", "RegisterTargets")  # the syncs' own, each scale-out
    assert not changes_topology("elbv2", "ModifyTargetGroupAttributes")
    assert not changes_topology("ecs", "RegisterTaskDefinition")
    assert not changes_topology("cloudwatch", "PutMetricData")
