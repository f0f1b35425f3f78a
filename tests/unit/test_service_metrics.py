"""The service's CPUUtilization / MemoryUtilization as ECS defines them (ecs-facts.md §2, §7):
CPU used by the service's tasks ÷ (task-definition CPU × tasks) × 100, 1 vCPU = 1024 units."""

from __future__ import annotations

import pytest

from cloud.core.clock import ManualClock
from cloud.ecs.cloudwatch import (
    MIB,
    ServiceMetrics,
    TaskRef,
    TaskSample,
    task_usage,
    utilization,
)

A = TaskRef("fraud-svc", "a", 256, 512)
B = TaskRef("fraud-svc", "b", 256, 512)


def sample(ref: TaskRef, wall: float, cpu: float | None, mem_mib: float | None = None):
    return TaskSample(ref, wall, cpu, None if mem_mib is None else int(mem_mib * MIB))


def test_a_quarter_vcpu_task_using_an_eighth_of_a_core_is_at_50_percent() -> None:
    usage = task_usage(sample(A, 0, 10.0), sample(A, 5, 10.625, 128))
    assert usage is not None
    assert usage.vcpus == pytest.approx(0.125)
    assert usage.cpu_percent == pytest.approx(50)
    assert usage.memory_percent == pytest.approx(25)


def test_no_usage_without_two_readings_apart_in_time() -> None:
    assert task_usage(None, sample(A, 5, 1.0)) is None
    assert task_usage(sample(A, 5, 1.0), sample(A, 5, 2.0)) is None
    assert task_usage(sample(A, 0, None), sample(A, 5, 2.0)) is None
    # cumulative counters never go back: a dip counts as no CPU, not negative CPU
    dipped = task_usage(sample(A, 0, 2.0), sample(A, 1, 1.9))
    assert dipped is not None and dipped.vcpus == 0


def test_service_average_is_cpu_used_over_cpu_reserved() -> None:
    before = {"a": sample(A, 0, 0.0), "b": sample(B, 0, 0.0)}
    after = [sample(A, 10, 2.5, 256), sample(B, 10, 0.0, 128)]  # 0.25 and 0 vCPU
    got = utilization(before, after)["fraud-svc"]
    assert got["CPUUtilization"] == pytest.approx((0.25 + 0.0) / (2 * 0.25) * 100)  # 50 %
    assert got["MemoryUtilization"] == pytest.approx((256 + 128) / (2 * 512) * 100)
    assert got["RunningTasks"] == 2


def test_cpu_can_exceed_100_percent_on_ec2() -> None:
    # A container's cpu is a share, not a cap: a 256-unit task alone can use a whole core (§2).
    got = utilization({"a": sample(A, 0, 0.0)}, [sample(A, 1, 1.0)])
    assert got["fraud-svc"]["CPUUtilization"] == pytest.approx(400)


def test_a_task_new_this_minute_counts_only_from_its_first_reading() -> None:
    before = {"a": sample(A, 0, 0.0)}
    after = [sample(A, 10, 1.25), sample(B, 10, 3.0)]  # b has no earlier reading
    got = utilization(before, after)["fraud-svc"]
    assert got["CPUUtilization"] == pytest.approx(0.125 / 0.25 * 100)
    assert got["RunningTasks"] == 1


def test_services_are_separate_and_unmeasured_ones_absent() -> None:
    other = TaskRef("other-svc", "c", 1024, 2048)
    got = utilization({"a": sample(A, 0, 0.0), "c": sample(other, 0, 0.0)},
                      [sample(A, 2, 0.25), sample(other, 2, 1.0)])
    assert got["fraud-svc"]["CPUUtilization"] == pytest.approx(50)
    assert got["other-svc"]["CPUUtilization"] == pytest.approx(50)
    assert utilization({}, [sample(A, 2, 0.25)]) == {}


class FakeRuntime:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    def cpu_seconds(self, task_id: str) -> float | None:
        return self.cpu.get(task_id)

    def memory_bytes(self, task_id: str) -> int | None:
        return 100 * MIB if task_id in self.cpu else None


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def put_metric_data(self, **kwargs) -> None:
        self.calls.append(kwargs)


def test_service_metrics_publish_once_per_lab_minute() -> None:
    clock, wall = ManualClock(), [0.0]
    runtime, cw = FakeRuntime(), FakeCloudWatch()
    running = [A]
    metrics = ServiceMetrics(cw, runtime, clock, "fraud-cluster", lambda: running,
                             monotonic=lambda: wall[0])
    runtime.cpu["a"] = 1.0
    assert metrics.tick() is None  # baseline
    clock.advance(30)
    wall[0] = 2.5
    running = [A, B]
    runtime.cpu["b"] = 5.0
    assert metrics.tick() is None  # mid-minute: b's first reading
    clock.advance(30)
    wall[0] = 5.0
    runtime.cpu["a"], runtime.cpu["b"] = 1.625, 5.3125  # a: 0.125 vCPU, b: 0.125 vCPU
    got = metrics.tick()
    assert got is not None
    assert got["fraud-svc"]["CPUUtilization"] == pytest.approx(50)
    assert got["fraud-svc"]["MemoryUtilization"] == pytest.approx(100 / 512 * 100)
    assert metrics.latest is got
    [call] = cw.calls
    assert call["Namespace"] == "AWS/ECS"
    names = {d["MetricName"]: d for d in call["MetricData"]}
    assert set(names) == {"CPUUtilization", "MemoryUtilization"}
    assert names["CPUUtilization"]["Dimensions"] == [
        {"Name": "ClusterName", "Value": "fraud-cluster"},
        {"Name": "ServiceName", "Value": "fraud-svc"}]
    assert names["CPUUtilization"]["Unit"] == "Percent"
    assert metrics.tick() is None  # same minute
    assert {t["task_id"] for t in metrics.snapshot()["tasks"]} == {"a", "b"}
