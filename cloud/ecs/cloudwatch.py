"""The ECS service's CloudWatch metrics, published once per lab minute (ecs-facts.md §2, §7).

ECS sends ``CPUUtilization`` and ``MemoryUtilization`` for each service to ``AWS/ECS`` (dimensions
ClusterName, ServiceName) every minute, several samples aggregated into one datapoint (§7).
What they mean (§7, cloudwatch-metrics.md): the CPU units used by the service's tasks ÷ (the CPU
units the task definition reserves × the number of tasks) × 100; memory likewise, against the
task's memory (``memoryReservation`` if set, else ``memory``). On EC2 a container's ``cpu`` is a
relative share, not a cap, so CPUUtilization can exceed 100 % (§2).

The kit measures the real processes (or containers) of the RUNNING tasks through the runtime's
``cpu_seconds()`` (cumulative CPU seconds) and ``memory_bytes()``. A task's CPU use over a
minute is its CPU seconds' increase ÷ the wall seconds between the two readings — CPU is real
time, so the ratio is taken on the wall clock even though lab minutes are shorter — and
1 vCPU = 1024 CPU units. A task first seen RUNNING during the minute counts from its first
reading. :func:`utilization` is the pure part; :class:`ServiceMetrics` reads and publishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloud.core.clock import PERIOD, Clock, is_new_minute, lab_to_epoch, minute_of
from cloud.runtime.base import cpu_seconds, memory_bytes

NAMESPACE = "AWS/ECS"
CPU_UNITS_PER_VCPU = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class TaskRef:
    """A RUNNING task of a service and what its task definition reserves."""

    service: str
    task_id: str
    cpu_units: int  # task-level cpu (1024 = 1 vCPU)
    memory_mib: int  # memoryReservation if set, else memory


@dataclass(frozen=True)
class TaskSample:
    """One reading of a task: cumulative CPU seconds, memory now, at a wall time (monotonic)."""

    task: TaskRef
    wall: float
    cpu_seconds: float | None
    memory_bytes: int | None


@dataclass(frozen=True)
class TaskUsage:
    """A task over one minute: vCPUs used on average, and its share of what it reserves."""

    task_id: str
    service: str
    vcpus: float
    cpu_percent: float | None  # None: the task definition reserves no CPU
    memory_percent: float | None


def task_usage(before: TaskSample | None, after: TaskSample) -> TaskUsage | None:
    """A task's use between two readings; None without two CPU readings apart in time."""
    if (before is None or before.cpu_seconds is None or after.cpu_seconds is None
            or after.wall <= before.wall):
        return None
    ref = after.task
    vcpus = max(0.0, after.cpu_seconds - before.cpu_seconds) / (after.wall - before.wall)
    reserved = ref.cpu_units / CPU_UNITS_PER_VCPU
    memory = (after.memory_bytes / (ref.memory_mib * MIB) * 100
              if after.memory_bytes is not None and ref.memory_mib > 0 else None)
    return TaskUsage(ref.task_id, ref.service, vcpus,
                     vcpus / reserved * 100 if reserved > 0 else None, memory)


def utilization(before: Mapping[str, TaskSample],
                after: Iterable[TaskSample]) -> dict[str, dict[str, float]]:
    """Per service: ``CPUUtilization`` = Σ vCPUs used ÷ Σ vCPUs reserved × 100 over its tasks
    with two readings, ``MemoryUtilization`` = Σ memory ÷ Σ memory reserved × 100 over its tasks
    with a memory reading, and ``RunningTasks`` (the tasks measured). A service none of whose
    tasks has two readings has no CPU datapoint this minute (CloudWatch: no data)."""
    used: dict[str, float] = {}
    reserved: dict[str, float] = {}
    mem_used: dict[str, float] = {}
    mem_reserved: dict[str, float] = {}
    counted: dict[str, int] = {}
    for sample in after:
        ref = sample.task
        usage = task_usage(before.get(ref.task_id), sample)
        if usage is not None and ref.cpu_units > 0:
            used[ref.service] = used.get(ref.service, 0.0) + usage.vcpus
            reserved[ref.service] = (reserved.get(ref.service, 0.0)
                                     + ref.cpu_units / CPU_UNITS_PER_VCPU)
            counted[ref.service] = counted.get(ref.service, 0) + 1
        if sample.memory_bytes is not None and ref.memory_mib > 0:
            mem_used[ref.service] = mem_used.get(ref.service, 0.0) + sample.memory_bytes
            mem_reserved[ref.service] = (mem_reserved.get(ref.service, 0.0)
                                         + ref.memory_mib * MIB)
    out: dict[str, dict[str, float]] = {}
    for service in sorted(set(used) | set(mem_used)):
        metrics: dict[str, float] = {}
        if service in used:
            metrics["CPUUtilization"] = used[service] / reserved[service] * 100
            metrics["RunningTasks"] = float(counted[service])
        if service in mem_used:
            metrics["MemoryUtilization"] = mem_used[service] / mem_reserved[service] * 100
        out[service] = metrics
    return out


class ServiceMetrics:
    """Call ``tick`` often: at each lab-minute boundary it reads every RUNNING task, publishes
    each service's CPUUtilization and MemoryUtilization and returns them (else None).

    ``tasks`` lists the RUNNING tasks (the ECS controller's view); ``runtime`` measures them.
    """

    def __init__(self, cloudwatch: Any, runtime: Any, clock: Clock, cluster: str,
                 tasks: Callable[[], Iterable[TaskRef]],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cloudwatch = cloudwatch
        self.runtime = runtime
        self.clock = clock
        self.cluster = cluster
        self.tasks = tasks
        self.monotonic = monotonic
        self.latest: dict[str, dict[str, float]] = {}
        self.per_task: list[TaskUsage] = []
        self._minute: float | None = None
        self._samples: dict[str, TaskSample] = {}

    def _read(self, ref: TaskRef) -> TaskSample:
        return TaskSample(ref, self.monotonic(), cpu_seconds(self.runtime, ref.task_id),
                          memory_bytes(self.runtime, ref.task_id))

    def tick(self) -> dict[str, dict[str, float]] | None:
        now = self.clock.now()
        minute = minute_of(now)
        running = list(self.tasks())
        if not is_new_minute(now, self._minute):
            for ref in running:  # a task that turned RUNNING: its first reading
                if ref.task_id not in self._samples:
                    self._samples[ref.task_id] = self._read(ref)
            return None
        after = [self._read(ref) for ref in running]
        first, start = self._minute is None, self._minute
        self._minute = minute
        before, self._samples = self._samples, {s.task.task_id: s for s in after}
        if first:
            return None  # the baseline: a whole minute has not been seen yet
        self.per_task = [u for s in after if (u := task_usage(before.get(s.task.task_id), s))]
        self.latest = utilization(before, after)
        self._publish(self.latest, start if start is not None else minute - PERIOD)
        return self.latest

    def _publish(self, latest: Mapping[str, Mapping[str, float]], window_start: float) -> None:
        at = lab_to_epoch(self.clock, window_start)
        data = [{"MetricName": name, "Value": latest[service][name], "Timestamp": at,
                 "Unit": "Percent",
                 "Dimensions": [{"Name": "ClusterName", "Value": self.cluster},
                                {"Name": "ServiceName", "Value": service}]}
                for service in latest for name in ("CPUUtilization", "MemoryUtilization")
                if name in latest[service]]
        for i in range(0, len(data), 20):
            self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[i:i + 20])

    def snapshot(self) -> dict[str, Any]:
        """The latest minute per service and per task, for the UIs."""
        return {"services": self.latest,
                "tasks": [{"task_id": u.task_id, "service": u.service,
                           "vcpus": round(u.vcpus, 4),
                           "cpu_percent": None if u.cpu_percent is None
                           else round(u.cpu_percent, 2),
                           "memory_percent": None if u.memory_percent is None
                           else round(u.memory_percent, 2)} for u in self.per_task]}
