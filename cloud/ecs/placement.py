"""Task placement: which container instance gets each task, and why (fact sheet §3).

ECS's pipeline (task-placement.md): (1) instances with enough CPU, memory, free ports and —
for ``awsvpc`` tasks — a free ENI attachment point, (2) constraints (``distinctInstance``;
binding), (3) the strategy ranks them (best effort), (4) the first is chosen. Placement counts
registered, reserved resources — never live use (§1.2). DRAINING instances receive no new tasks
(the kit follows AWS's container-instance draining behaviour; not in the fact sheet). Ties are
broken by AZ name, then instance id, so a lab replays the same way every time (ECS breaks them
at random).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cloud.core.instance_types import instance_type

ACTIVE, DRAINING = "ACTIVE", "DRAINING"
# Task definition network modes on EC2 Linux (§2; task_definition_parameters.md "networkMode").
BRIDGE, HOST, AWSVPC = "bridge", "host", "awsvpc"
NETWORK_MODES = (BRIDGE, HOST, AWSVPC)
# Agent default ECS_RESERVED_PORTS on Linux (§2): a task can never take these host ports.
RESERVED_PORTS = frozenset({22, 2375, 2376, 51678, 51679})
STRATEGIES = ("spread", "spread:instanceId", "binpack", "binpack:memory", "binpack:cpu",
              "random")

# ECS's wording (§3, service-event-messages.md; the trailing sentence and "Reason:" as captured
# in public describe-services output, e.g. ptokito/ECSClusterWithTerraform#3; the
# distinctInstance variant from aws/containers-roadmap#1201).
UNABLE_TO_PLACE = ("service {service} was unable to place a task because no container instance "
                   "met all of its requirements.")
TROUBLESHOOTING = ("For more information, see the Troubleshooting section of the Amazon ECS "
                   "Developer Guide.")
CLOSEST = {
    "cpu": "The closest matching container-instance {ci} has insufficient CPU units available.",
    "memory": "The closest matching container-instance {ci} has insufficient memory available.",
    "port": "The closest matching container-instance {ci} is already using a port required by "
            "your task.",
    "distinctInstance": 'The closest matching container-instance {ci} encountered error '
                        '"DistinctInstance placement constraint unsatisfied."',
    # awsvpc: no ENI attachment point left (service-event-messages.md lists "no ENI attachment
    # points"; the wording as ECS prints it, e.g. aws/aws-app-mesh-examples#342).
    "eni": 'The closest matching container-instance {ci} encountered error "RESOURCE:ENI".',
}
NO_INSTANCES = "Reason: No Container Instances were found in your cluster."


def gib(mib: float) -> str:
    """MiB as GiB with one decimal, as the reasons show it (3379 → '3.3')."""
    return f"{mib / 1024:.1f}"


@dataclass
class Host:
    """A container instance as placement sees it (registered and remaining resources)."""

    instance_id: str
    az: str
    instance_type: str
    registered_cpu: int
    registered_memory: int
    remaining_cpu: int | None = None  # None: all registered CPU is free
    remaining_memory: int | None = None
    ports_in_use: set[int] = field(default_factory=set)
    tasks_by_group: dict[str, int] = field(default_factory=dict)
    status: str = ACTIVE
    container_instance_arn: str | None = None
    enis_in_use: int = 0  # task ENIs attached (awsvpc); the primary ENI is not counted here

    def __post_init__(self) -> None:
        if self.remaining_cpu is None:
            self.remaining_cpu = self.registered_cpu
        if self.remaining_memory is None:
            self.remaining_memory = self.registered_memory
        if self.status not in (ACTIVE, DRAINING):
            raise ValueError(f"host status must be ACTIVE or DRAINING; got {self.status!r}")

    @classmethod
    def of_type(cls, instance_id: str, az: str, itype: str = "t3.medium", *,
                reserved_memory_mib: int = 0, **kw: object) -> Host:
        """An empty instance registering what the agent would for ``itype`` (§1.2)."""
        spec = instance_type(itype)
        return cls(instance_id, az, spec.name, spec.cpu_units,
                   spec.registered_memory_mib(reserved_memory_mib), **kw)  # type: ignore[arg-type]

    @property
    def container_instance_id(self) -> str:
        """The id ECS names in events: the container instance's, else the EC2 instance id."""
        if self.container_instance_arn:
            return self.container_instance_arn.rsplit("/", 1)[-1]
        return self.instance_id

    @property
    def eni_capacity(self) -> int:
        """awsvpc tasks this instance can hold: its max ENIs minus the primary, no trunking
        (§1.1; T-family instances have no ENI trunking)."""
        try:
            return instance_type(self.instance_type).awsvpc_task_limit()
        except ValueError:
            return 0

    @property
    def cpu_free(self) -> int:
        return int(self.remaining_cpu or 0)

    @property
    def memory_free(self) -> int:
        return int(self.remaining_memory or 0)

    def copy(self) -> Host:
        return Host(self.instance_id, self.az, self.instance_type, self.registered_cpu,
                    self.registered_memory, self.remaining_cpu, self.remaining_memory,
                    set(self.ports_in_use), dict(self.tasks_by_group), self.status,
                    self.container_instance_arn, self.enis_in_use)

    def assign(self, cpu: int, memory: int, host_port: int | None, group: str, *,
               eni: bool = False) -> None:
        """Reserve a task's resources on this instance (``eni``: an awsvpc task's ENI)."""
        self.remaining_cpu = self.cpu_free - cpu
        self.remaining_memory = self.memory_free - memory
        if host_port:
            self.ports_in_use.add(host_port)
        self.enis_in_use += eni
        self.tasks_by_group[group] = self.tasks_by_group.get(group, 0) + 1

    def release(self, cpu: int, memory: int, host_port: int | None, group: str, *,
                eni: bool = False) -> None:
        """Give back a stopped task's resources (never above the registered amounts)."""
        self.remaining_cpu = min(self.registered_cpu, self.cpu_free + cpu)
        self.remaining_memory = min(self.registered_memory, self.memory_free + memory)
        if host_port:
            self.ports_in_use.discard(host_port)
        self.enis_in_use = max(0, self.enis_in_use - eni)
        left = self.tasks_by_group.get(group, 0) - 1
        if left > 0:
            self.tasks_by_group[group] = left
        else:
            self.tasks_by_group.pop(group, None)


@dataclass(frozen=True)
class TaskRequest:
    """One task to place: its service (group), reserved CPU units and MiB, static host port
    and network mode (``awsvpc`` needs an ENI attachment point; §2)."""

    group: str
    cpu: int
    memory: int
    host_port: int | None = None  # None or 0: dynamic host port (bridge), no port check
    network_mode: str = BRIDGE

    def __post_init__(self) -> None:
        if self.cpu < 0 or self.memory <= 0:
            raise ValueError(f"task needs cpu >= 0 and memory > 0; got {self.cpu}/{self.memory}")
        if self.network_mode not in NETWORK_MODES:
            raise ValueError(f"network mode must be one of {NETWORK_MODES}; "
                             f"got {self.network_mode!r}")
        if self.host_port == 0 or self.network_mode == AWSVPC:
            object.__setattr__(self, "host_port", None)  # awsvpc: the task's own ENI, no host port

    @property
    def needs_eni(self) -> bool:
        return self.network_mode == AWSVPC


@dataclass(frozen=True)
class Placement:
    request: TaskRequest
    instance_id: str
    az: str
    reason: str


@dataclass(frozen=True)
class Unplaced:
    """A task nothing could take: ECS's event and the kit's plainer reason."""

    request: TaskRequest
    event: str
    reason: str
    failure: str  # "cpu" | "memory" | "port" | "eni" | "distinctInstance" | "no-instances"
    closest: str | None = None  # instance id of the closest match


@dataclass(frozen=True)
class PlacementResult:
    placements: list[Placement]
    unplaced: list[Unplaced]
    hosts: list[Host]  # copies, with the placed tasks' resources reserved

    def count_by_host(self) -> dict[str, int]:
        return dict(Counter(p.instance_id for p in self.placements))


def parse_strategy(strategy: str) -> tuple[str, str]:
    """'spread' → ('spread', 'az'); 'binpack' → ('binpack', 'memory'); etc."""
    kinds = {"spread": ("spread", "az"), "spread:instanceId": ("spread", "instance"),
             "binpack": ("binpack", "memory"), "binpack:memory": ("binpack", "memory"),
             "binpack:cpu": ("binpack", "cpu"), "random": ("random", "")}
    try:
        return kinds[strategy]
    except KeyError:
        raise ValueError(f"placement strategy must be one of {STRATEGIES}; "
                         f"got {strategy!r}") from None


def failures(host: Host, req: TaskRequest, distinct_instance: bool = False) -> list[str]:
    """Requirements ``host`` misses for ``req``, in ECS's check order (empty: it fits)."""
    missing = []
    if host.cpu_free < req.cpu:
        missing.append("cpu")
    if host.memory_free < req.memory:
        missing.append("memory")
    if req.host_port and (req.host_port in host.ports_in_use or req.host_port in RESERVED_PORTS):
        missing.append("port")
    if req.needs_eni and host.enis_in_use >= host.eni_capacity:
        missing.append("eni")
    if distinct_instance and host.tasks_by_group.get(req.group, 0):
        missing.append("distinctInstance")
    return missing


def _detail(failure: str, host: Host, req: TaskRequest) -> str:
    where = f"{host.instance_id} ({host.az})"
    if failure == "cpu":
        return f"{where} needs {req.cpu} CPU units, has {host.cpu_free} free"
    if failure == "memory":
        return f"{where} needs {req.memory} MiB, has {host.memory_free} MiB free"
    if failure == "port":
        whose = "reserved by the ECS agent" if req.host_port in RESERVED_PORTS else "in use"
        return f"{where} has host port {req.host_port} {whose}"
    if failure == "eni":
        return (f"{where} has no ENI attachment point left ({host.enis_in_use} of "
                f"{host.eni_capacity} task ENIs in use; {host.instance_type} has no ENI trunking)")
    return f"{where} already runs a task of {req.group} (distinctInstance)"


def _unplaced(req: TaskRequest, hosts: Sequence[Host], distinct: bool) -> Unplaced:
    head = UNABLE_TO_PLACE.format(service=req.group)
    active = [h for h in hosts if h.status == ACTIVE]
    if not active:
        draining = len(hosts)
        reason = (f"no ACTIVE container instances ({draining} DRAINING)" if draining
                  else "no container instances are registered in the cluster")
        return Unplaced(req, f"{head} {NO_INSTANCES} {TROUBLESHOOTING}", reason, "no-instances")
    # The closest match misses the fewest requirements; then the most memory and CPU free.
    scored = sorted(active, key=lambda h: (len(failures(h, req, distinct)), -h.memory_free,
                                           -h.cpu_free, h.instance_id))
    host = scored[0]
    failure = failures(host, req, distinct)[0]
    event = f"{head} {CLOSEST[failure].format(ci=host.container_instance_id)} {TROUBLESHOOTING}"
    reason = (f"none of {len(active)} ACTIVE instances has room; closest match "
              f"{_detail(failure, host, req)}")
    return Unplaced(req, event, reason, failure, host.instance_id)


def _vs(counts: Iterable[int]) -> str:
    return ", ".join(str(c) for c in counts)


def _spread(req: TaskRequest, fits: list[Host], hosts: list[Host], by_az: bool) -> tuple[Host, str]:
    """Replica scheduler default: AZ with fewest tasks of the service, then instance (§3)."""
    g = req.group
    parts = []
    pool = fits
    if by_az:
        az_tasks = Counter()
        for h in hosts:
            az_tasks[h.az] += h.tasks_by_group.get(g, 0)
        azs = sorted({h.az for h in fits}, key=lambda a: (az_tasks[a], a))
        az = azs[0]
        pool = [h for h in fits if h.az == az]
        others = [az_tasks[a] for a in azs[1:]]
        if others and az_tasks[az] < min(others):
            parts.append(f"fewest tasks of {g} in {az} ({az_tasks[az]} vs {_vs(others)})")
        elif others:
            parts.append(f"AZs tied on tasks of {g} ({az_tasks[az]} vs {_vs(others)}); "
                         f"{az} first by name")
        elif len({h.az for h in hosts if h.status == ACTIVE}) > 1:
            parts.append(f"{az} is the only AZ with an instance that has room")
    pool = sorted(pool, key=lambda h: (h.tasks_by_group.get(g, 0), h.instance_id))
    host = pool[0]
    if len(pool) > 1:
        mine = host.tasks_by_group.get(g, 0)
        others = [h.tasks_by_group.get(g, 0) for h in pool[1:]]
        word = "fewest" if mine < min(others) else "tied on"
        suffix = "" if word == "fewest" else "; first by id"
        parts.append(f"{word} tasks of {g} on this instance ({mine} vs {_vs(others)}){suffix}")
    return host, "; ".join(parts) or f"the only instance with room for {g}"


def _binpack(req: TaskRequest, fits: list[Host], resource: str) -> tuple[Host, str]:
    """Leave the least unused memory (or CPU) (§3)."""
    def left(h: Host) -> int:
        return h.memory_free - req.memory if resource == "memory" else h.cpu_free - req.cpu

    host = min(fits, key=lambda h: (left(h), h.instance_id))
    amount = f"{gib(left(host))} GiB" if resource == "memory" else f"{left(host)} CPU units"
    label = "memory" if resource == "memory" else "CPU"
    n = len(fits)
    return host, f"least {label} left ({amount}) among {n} candidate{'s' * (n != 1)}"


def place(requests: Iterable[TaskRequest], hosts: Sequence[Host], strategy: str = "spread", *,
          distinct_instance: bool = False, rng: random.Random | None = None) -> PlacementResult:
    """Place tasks one after another on copies of ``hosts``; each placement says why.

    ``strategy``: "spread" (ECS's default for services: ``attribute:ecs.availability-zone``,
    then the instance with the fewest tasks of the service), "spread:instanceId",
    "binpack" (= "binpack:memory"), "binpack:cpu", or "random" (needs ``rng``).
    """
    kind, field_ = parse_strategy(strategy)
    if kind == "random" and rng is None:
        raise ValueError("the random strategy needs an injected random.Random (rng=...)")
    work = [h.copy() for h in hosts]
    placed: list[Placement] = []
    unplaced: list[Unplaced] = []
    for req in requests:
        fits = [h for h in work if h.status == ACTIVE and not failures(h, req, distinct_instance)]
        if not fits:
            unplaced.append(_unplaced(req, work, distinct_instance))
            continue
        if kind == "spread":
            host, why = _spread(req, fits, work, by_az=field_ == "az")
        elif kind == "binpack":
            host, why = _binpack(req, fits, field_)
        else:
            assert rng is not None
            host = rng.choice(sorted(fits, key=lambda h: h.instance_id))
            why = f"picked at random among {len(fits)} candidate{'s' * (len(fits) != 1)}"
        host.assign(req.cpu, req.memory, req.host_port, req.group, eni=req.needs_eni)
        free = (f"{host.instance_id} ({host.az}): {host.cpu_free} CPU / "
                f"{gib(host.memory_free)} GiB free after this task")
        placed.append(Placement(req, host.instance_id, host.az, f"{free}; {why}"))
    return PlacementResult(placed, unplaced, work)


class TaskOnHost(Protocol):
    """Anything with a task id and the instance it runs on (e.g. scheduler.TaskState)."""

    @property
    def task_id(self) -> str: ...

    @property
    def instance_id(self) -> str | None: ...


@dataclass(frozen=True)
class StopChoice:
    task_id: str
    instance_id: str | None
    reason: str


def choose_tasks_to_stop(tasks: Sequence[TaskOnHost], hosts: Sequence[Host], n: int,
                         strategy: str = "spread", *, group: str = "this service",
                         task_cpu: int = 0, task_memory: int = 0,
                         rng: random.Random | None = None) -> list[StopChoice]:
    """Which ``n`` tasks scale-in stops, and why (§3).

    spread: keep AZs balanced — stop from the AZ with the most tasks, then the instance with the
    most; binpack: stop from the instance with the most remaining memory/CPU (it is emptied
    first). Within the chosen instance ECS picks at random: with ``rng`` so does the kit,
    without it the task listed last (the newest, if ``tasks`` are oldest first).
    """
    if n < 0:
        raise ValueError(f"cannot stop a negative number of tasks: {n}")
    kind, field_ = parse_strategy(strategy)
    if kind == "random" and rng is None:
        raise ValueError("the random strategy needs an injected random.Random (rng=...)")
    by_id = {h.instance_id: h.copy() for h in hosts}
    az_of = {h.instance_id: h.az for h in hosts}
    pool = list(tasks)
    chosen: list[StopChoice] = []

    def pick(candidates: list[TaskOnHost]) -> TaskOnHost:
        return rng.choice(candidates) if rng is not None else candidates[-1]

    while pool and len(chosen) < n:
        if kind == "spread":
            per_inst = Counter(str(t.instance_id) for t in pool)
            per_az = Counter(az_of.get(str(t.instance_id), "?") for t in pool)
            if field_ == "az":
                az = min(per_az, key=lambda a: (-per_az[a], a))
                in_az = [i for i in per_inst if az_of.get(i, "?") == az]
                inst = min(in_az, key=lambda i: (-per_inst[i], i))
                others = [per_az[a] for a in sorted(per_az) if a != az]
                why = (f"{az} has the most tasks of {group} ({per_az[az]} vs {_vs(others)}); "
                       "stopping here keeps AZs balanced" if others
                       else f"all tasks of {group} are in {az}")
                if len(in_az) > 1:
                    why += f"; {inst} has the most there ({per_inst[inst]})"
            else:
                inst = min(per_inst, key=lambda i: (-per_inst[i], i))
                why = f"{inst} runs the most tasks of {group} ({per_inst[inst]})"
        elif kind == "binpack":
            insts = sorted({str(t.instance_id) for t in pool})

            def free(i: str) -> int:
                h = by_id.get(i)
                if h is None:
                    return -1
                return h.memory_free if field_ == "memory" else h.cpu_free

            inst = min(insts, key=lambda i: (-free(i), i))
            amount = f"{gib(free(inst))} GiB" if field_ == "memory" else f"{free(inst)} CPU units"
            label = "memory" if field_ == "memory" else "CPU"
            why = (f"most {label} left ({amount}) among {len(insts)} instances with tasks of "
                   f"{group}; binpack empties the emptiest instance first")
        else:
            assert rng is not None
            inst = str(rng.choice(sorted({str(t.instance_id) for t in pool})))
            why = "picked at random"
        task = pick([t for t in pool if str(t.instance_id) == inst])
        pool.remove(task)
        if inst in by_id:
            by_id[inst].release(task_cpu, task_memory, None, group)
        where = f"{inst} ({az_of[inst]})" if inst in az_of else inst
        chosen.append(StopChoice(task.task_id, task.instance_id, f"stop {task.task_id} on "
                                 f"{where}: {why}"))
    return chosen
