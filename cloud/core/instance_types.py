"""EC2 instance types as ECS sees them, and how many tasks fit (fact sheet §1, §2, §11a).

- CPU units registered = vCPU × 1024 (agent ``getCpu()``: ``NumCPU * 1024``) — §1.2.
- Memory registered = MemTotal (from /proc/meminfo, below the advertised size because the
  kernel keeps some) minus ``ECS_RESERVED_MEMORY`` (default 0) — §1.2.
- Placement counts these registered (reserved) amounts, never live utilisation — §1.2.
- awsvpc: one ENI per task, the primary ENI is the instance's own — §1.1.
- A static host port (bridge with ``hostPort``, or host mode) allows one copy per instance — §2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

CPU_UNITS_PER_VCPU = 1024  # §1.2, agent ecs_client.go getCpu()


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type: the published specs (§1.1) and what ECS registers (§1.2).

    ``mem_total_mib`` is an ASSUMPTION: MemTotal minus kernel; AWS does not publish it. The kit
    uses 3,891 MiB for a t3.medium (95% of the advertised 4,096 MiB, i.e. "about 3.8 GiB") and
    the same 95% for the other types. AWS's own published examples for comparison: m4.large
    (8 GiB) → 7,985 MiB; c4.large (3.75 GiB) → 3,768 MiB (§1.2, memory-management.md and
    cloudwatch-metrics.md). Measure ``registeredResources`` on your AMI for the true figure.
    """

    name: str
    vcpu: int
    memory_gib: float
    max_enis: int
    mem_total_mib: int
    eni_trunking: bool = False  # m5/c5 support awsvpc ENI trunking; T3 does not (§1.1)
    trunk_tasks: int | None = None  # awsvpc tasks with trunking on (§1.1)
    baseline_per_vcpu: float | None = None  # T3 burstable baseline (§1.1, §1.3)

    @property
    def cpu_units(self) -> int:
        """ECS CPU units the agent registers: vCPU × 1024."""
        return self.vcpu * CPU_UNITS_PER_VCPU

    @property
    def advertised_memory_mib(self) -> int:
        return round(self.memory_gib * 1024)

    def registered_memory_mib(self, reserved_memory_mib: int = 0) -> int:
        """MemTotal minus ``ECS_RESERVED_MEMORY`` (default 0 on Linux, §1.2)."""
        if reserved_memory_mib < 0:
            raise ValueError(f"ECS_RESERVED_MEMORY cannot be negative: {reserved_memory_mib}")
        return max(0, self.mem_total_mib - reserved_memory_mib)

    def awsvpc_task_limit(self, trunking: bool = False) -> int:
        """Tasks in awsvpc mode: one ENI each, minus the primary ENI (§1.1)."""
        if trunking and self.eni_trunking and self.trunk_tasks is not None:
            return self.trunk_tasks
        return self.max_enis - 1


# vCPU/GiB: [EC2UG-2023] general-purpose-instances.md, compute-optimized-instances.md.
# Max ENIs: [EC2UG-2023] using-eni.md. Trunking: [ECSDG-2023] container-instance-eni.md.
# Baselines: [EC2UG-2023] burstable-credits-baseline-concepts.md. All in fact sheet §1.1.
INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType("t3.micro", 2, 1, max_enis=2, mem_total_mib=972, baseline_per_vcpu=0.10),
        InstanceType("t3.small", 2, 2, max_enis=3, mem_total_mib=1945, baseline_per_vcpu=0.20),
        InstanceType("t3.medium", 2, 4, max_enis=3, mem_total_mib=3891, baseline_per_vcpu=0.20),
        InstanceType("t3.large", 2, 8, max_enis=3, mem_total_mib=7782, baseline_per_vcpu=0.30),
        InstanceType("m5.large", 2, 8, max_enis=3, mem_total_mib=7782, eni_trunking=True,
                     trunk_tasks=10),
        InstanceType("c5.large", 2, 4, max_enis=3, mem_total_mib=3891, eni_trunking=True,
                     trunk_tasks=10),
    )
}


def instance_type(name: str | InstanceType) -> InstanceType:
    """Look up an instance type by name (or pass one through)."""
    if isinstance(name, InstanceType):
        return name
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown instance type {name!r}; the kit knows "
                         f"{', '.join(INSTANCE_TYPES)}") from None


NETWORK_MODES = ("bridge", "host", "awsvpc", "none")


class Fit(NamedTuple):
    """How many copies of a task fit on one empty instance, and what runs out first."""

    count: int
    binding: str  # "memory" | "cpu" | "eni" | "port"


def fit_limits(instance: str | InstanceType, task_cpu: int, task_memory: int,
               network_mode: str = "bridge", *, static_host_port: bool | None = None,
               reserved_memory_mib: int = 0, eni_trunking: bool = False) -> dict[str, int]:
    """Each limit on copies per empty instance, by resource (only the limits that apply).

    ``static_host_port`` defaults to True in host mode (it needs a fixed hostPort, §2) and False
    otherwise (bridge with dynamic ports). A task CPU of 0 reserves no CPU: no CPU limit.
    """
    itype = instance_type(instance)
    if network_mode not in NETWORK_MODES:
        raise ValueError(f"network_mode must be one of {NETWORK_MODES}; got {network_mode!r}")
    if task_memory <= 0:
        raise ValueError(f"task memory must be > 0 MiB on EC2; got {task_memory}")
    if task_cpu < 0:
        raise ValueError(f"task CPU units cannot be negative; got {task_cpu}")
    limits = {"memory": itype.registered_memory_mib(reserved_memory_mib) // task_memory}
    if task_cpu > 0:
        limits["cpu"] = itype.cpu_units // task_cpu
    if network_mode == "awsvpc":
        limits["eni"] = itype.awsvpc_task_limit(eni_trunking)
    if static_host_port if static_host_port is not None else network_mode == "host":
        limits["port"] = 1
    return limits


def tasks_that_fit(instance: str | InstanceType, task_cpu: int, task_memory: int,
                   network_mode: str = "bridge", *, static_host_port: bool | None = None,
                   reserved_memory_mib: int = 0, eni_trunking: bool = False) -> Fit:
    """Copies of a task one empty instance holds, and the binding resource.

    >>> tasks_that_fit("t3.medium", 256, 512)
    Fit(count=7, binding='memory')

    On a tie the binding is reported in the order memory, cpu, eni, port.
    """
    limits = fit_limits(instance, task_cpu, task_memory, network_mode,
                        static_host_port=static_host_port,
                        reserved_memory_mib=reserved_memory_mib, eni_trunking=eni_trunking)
    binding = min(limits, key=lambda k: limits[k])  # dict order breaks ties
    return Fit(limits[binding], binding)


@dataclass(frozen=True)
class MythVsFact:
    """A tutorial claim, the numbers it uses, and the corrected numbers with sources."""

    myth: str
    fact: str
    myth_cpu_units: int
    myth_memory_mib: int
    myth_tasks: int
    fact_cpu_units: int
    fact_memory_mib: int
    fact_tasks: int
    fact_binding: str
    notes: tuple[str, ...]
    sources: tuple[str, ...]


def _t3_medium_myth() -> MythVsFact:
    t3m = INSTANCE_TYPES["t3.medium"]
    fit = tasks_that_fit(t3m, 256, 512)
    awsvpc = tasks_that_fit(t3m, 256, 512, "awsvpc")
    return MythVsFact(
        myth="t3.medium provides 1024 CPU units and 4 GB; fits 2 containers "
             "(256 CPU / 512 MB each)",
        fact=f"t3.medium has 2 vCPU, so ECS registers {t3m.cpu_units} CPU units; memory for "
             f"tasks is MemTotal minus ECS_RESERVED_MEMORY, below 4096 MiB (the kit assumes "
             f"{t3m.mem_total_mib} MiB). {fit.count} tasks of 256 CPU / 512 MiB fit, bound by "
             f"{fit.binding}.",
        myth_cpu_units=1024,
        myth_memory_mib=4096,
        myth_tasks=2,
        fact_cpu_units=t3m.cpu_units,
        fact_memory_mib=t3m.registered_memory_mib(),
        fact_tasks=fit.count,
        fact_binding=fit.binding,
        notes=(
            "Even on the claim's own numbers it does not follow: 1024/256 = 4 tasks by CPU and "
            "4096/512 = 8 by memory, not 2.",
            "The true limit can be lower for other reasons: a static hostPort allows 1 task "
            f"per instance; awsvpc allows {awsvpc.count} (3 ENIs minus the primary; T3 has no "
            "ENI trunking).",
            "CPU units are scheduling reservations, not sustained throughput: a t3.medium's "
            "baseline is 20% per vCPU (burst credits beyond that).",
            f"{t3m.mem_total_mib} MiB is an assumption (MemTotal minus kernel; AWS does not "
            "publish it).",
        ),
        sources=(
            "ecs-facts.md §1.2: aws/amazon-ecs-agent ecs_client.go getCpu() NumCPU*1024, "
            "getResources() MemTotal - ReservedMemory",
            "ecs-facts.md §1.1: EC2 User Guide general-purpose-instances.md, using-eni.md",
            "ecs-facts.md §2: service-event-messages.md (one copy per instance per host port)",
            "ecs-facts.md §11(a)",
        ),
    )


T3_MEDIUM_MYTH = _t3_medium_myth()
MYTHS: tuple[MythVsFact, ...] = (T3_MEDIUM_MYTH,)
