"""Task placement: strategies, constraints, ECS's no-capacity events (fact sheet §3)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from cloud.ecs.placement import (
    DRAINING,
    Host,
    TaskRequest,
    choose_tasks_to_stop,
    place,
)

SVC = "fraud-svc"
TASK = TaskRequest(SVC, 256, 512)
HEAD = (f"service {SVC} was unable to place a task because no container instance met all of "
        "its requirements.")
TAIL = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."


def two_t3_mediums() -> list[Host]:
    return [Host.of_type("i-0aaa", "us-east-1a"), Host.of_type("i-0bbb", "us-east-1b")]


@dataclass(frozen=True)
class Running:
    task_id: str
    instance_id: str


# --- strategies -------------------------------------------------------------------------------

def test_spread_puts_two_tasks_in_each_az() -> None:
    result = place([TASK] * 4, two_t3_mediums(), "spread")
    assert [p.az for p in result.placements] == ["us-east-1a", "us-east-1b"] * 2
    assert result.count_by_host() == {"i-0aaa": 2, "i-0bbb": 2}
    assert result.unplaced == []
    # 2048 - 256 = 1792 CPU, 3891 - 512 = 3379 MiB = 3.3 GiB after the first task.
    assert result.placements[1].reason == (
        "i-0bbb (us-east-1b): 1792 CPU / 3.3 GiB free after this task; "
        "fewest tasks of fraud-svc in us-east-1b (0 vs 1)")
    assert result.placements[3].reason == (
        "i-0bbb (us-east-1b): 1536 CPU / 2.8 GiB free after this task; "
        "fewest tasks of fraud-svc in us-east-1b (1 vs 2)")
    assert "tied" in result.placements[0].reason  # 0 vs 0: first AZ by name


def test_binpack_fills_one_host_first_up_to_7_by_memory() -> None:
    four = place([TASK] * 4, two_t3_mediums(), "binpack")
    assert four.count_by_host() == {"i-0aaa": 4}
    assert four.placements[1].reason.endswith("least memory left (2.8 GiB) among 2 candidates")
    eight = place([TASK] * 8, two_t3_mediums(), "binpack:memory")
    assert eight.count_by_host() == {"i-0aaa": 7, "i-0bbb": 1}
    full = next(h for h in eight.hosts if h.instance_id == "i-0aaa")
    assert (full.remaining_cpu, full.remaining_memory) == (2048 - 7 * 256, 3891 - 7 * 512)
    assert full.tasks_by_group == {SVC: 7}


def test_place_works_on_copies() -> None:
    hosts = two_t3_mediums()
    place([TASK] * 4, hosts, "binpack")
    assert all(h.remaining_memory == 3891 and not h.tasks_by_group for h in hosts)


def test_spread_within_one_az_prefers_the_instance_with_fewest_tasks() -> None:
    hosts = [Host.of_type("i-01", "us-east-1a"), Host.of_type("i-02", "us-east-1a")]
    hosts[0].assign(256, 512, None, SVC)
    result = place([TASK] * 3, hosts, "spread")
    assert [p.instance_id for p in result.placements] == ["i-02", "i-01", "i-02"]
    assert "fewest tasks of fraud-svc on this instance (0 vs 1)" in result.placements[0].reason


def test_spread_counts_tasks_already_running_in_each_az() -> None:
    hosts = two_t3_mediums()
    for _ in range(3):
        hosts[0].assign(256, 512, None, SVC)
    result = place([TASK] * 3, hosts, "spread")
    assert result.count_by_host() == {"i-0bbb": 3}  # 1a has 3 already: 1b catches up
    assert result.placements[0].reason.endswith("fewest tasks of fraud-svc in us-east-1b "
                                                "(0 vs 3)")


def test_binpack_cpu_leaves_the_least_cpu() -> None:
    hosts = two_t3_mediums()
    hosts[1].assign(1024, 256, None, "other-svc")
    result = place([TaskRequest(SVC, 512, 256)], hosts, "binpack:cpu")
    assert result.placements[0].instance_id == "i-0bbb"
    assert result.placements[0].reason.endswith("least CPU left (512 CPU units) among 2 "
                                                "candidates")


def test_random_is_reproducible_with_an_injected_generator() -> None:
    a = place([TASK] * 6, two_t3_mediums(), "random", rng=random.Random(42))
    b = place([TASK] * 6, two_t3_mediums(), "random", rng=random.Random(42))
    assert [p.instance_id for p in a.placements] == [p.instance_id for p in b.placements]
    assert all(p.reason.endswith("picked at random among 2 candidates") for p in a.placements)
    with pytest.raises(ValueError, match=r"random\.Random"):
        place([TASK], two_t3_mediums(), "random")


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="placement strategy"):
        place([TASK], two_t3_mediums(), "pack-tight")


def test_draining_instances_get_no_new_tasks() -> None:
    hosts = two_t3_mediums()
    hosts[0].status = DRAINING
    assert place([TASK] * 3, hosts).count_by_host() == {"i-0bbb": 3}


# --- the myth ---------------------------------------------------------------------------------

def test_the_1024_cpu_myth_would_fit_4_where_the_real_t3_medium_fits_7() -> None:
    myth = Host("i-0myth", "us-east-1a", "t3.medium", registered_cpu=1024,
                registered_memory=4096)
    mythical = place([TASK] * 8, [myth], "binpack")
    assert len(mythical.placements) == 4  # 1024 / 256, CPU-bound
    assert mythical.unplaced[0].failure == "cpu"
    real = place([TASK] * 8, [Host.of_type("i-0real", "us-east-1a")], "binpack")
    assert len(real.placements) == 7  # 3891 // 512, memory-bound
    assert real.unplaced[0].failure == "memory"


# --- no capacity ------------------------------------------------------------------------------

def test_insufficient_memory_event_names_the_closest_instance() -> None:
    result = place([TASK] * 8, [Host.of_type("i-0abc", "us-east-1a")], "binpack")
    [u] = result.unplaced
    assert u.event == (f"{HEAD} The closest matching container-instance i-0abc has "
                       f"insufficient memory available. {TAIL}")
    assert u.closest == "i-0abc"
    assert u.reason.endswith("i-0abc (us-east-1a) needs 512 MiB, has 307 MiB free")


def test_insufficient_cpu_event() -> None:
    big_cpu = TaskRequest(SVC, 1024, 256)
    result = place([big_cpu] * 3, [Host.of_type("i-0abc", "us-east-1a")])
    assert len(result.placements) == 2  # 2048 / 1024
    assert result.unplaced[0].failure == "cpu"
    assert result.unplaced[0].event == (f"{HEAD} The closest matching container-instance i-0abc "
                                        f"has insufficient CPU units available. {TAIL}")


def test_static_host_port_allows_one_task_per_instance() -> None:
    web = TaskRequest(SVC, 256, 512, host_port=8080)
    result = place([web] * 3, two_t3_mediums())
    assert result.count_by_host() == {"i-0aaa": 1, "i-0bbb": 1}
    [u] = result.unplaced
    assert u.failure == "port"
    assert u.event == (f"{HEAD} The closest matching container-instance i-0aaa is already "
                       f"using a port required by your task. {TAIL}")


def test_agent_reserved_ports_are_never_free() -> None:
    [u] = place([TaskRequest(SVC, 256, 512, host_port=22)], two_t3_mediums()).unplaced
    assert u.failure == "port"
    assert "host port 22 reserved by the ECS agent" in u.reason


def test_closest_match_is_the_instance_missing_fewest_requirements() -> None:
    tight = Host("i-0tight", "us-east-1a", "t3.medium", 2048, 3891, remaining_cpu=100,
                 remaining_memory=400)
    cpu_ok = Host("i-0cpuok", "us-east-1b", "t3.medium", 2048, 3891, remaining_cpu=2048,
                  remaining_memory=300)
    [u] = place([TASK], [tight, cpu_ok]).unplaced
    assert u.closest == "i-0cpuok"  # misses memory only; i-0tight misses CPU and memory
    assert "i-0cpuok has insufficient memory available" in u.event


def test_event_uses_the_container_instance_id_when_known() -> None:
    host = Host.of_type("i-0abc", "us-east-1a", container_instance_arn=(
        "arn:aws:ecs:us-east-1:123456789012:container-instance/lab/6f4e2c1d"))
    result = place([TaskRequest(SVC, 4096, 512)], [host])
    assert "container-instance 6f4e2c1d has insufficient CPU units" in result.unplaced[0].event


def test_no_instances_in_the_cluster() -> None:
    [u] = place([TASK], []).unplaced
    assert u.event == (f"{HEAD} Reason: No Container Instances were found in your cluster. "
                       f"{TAIL}")
    assert u.failure == "no-instances" and u.closest is None
    draining = two_t3_mediums()
    for h in draining:
        h.status = DRAINING
    [u2] = place([TASK], draining).unplaced
    assert u2.event == u.event
    assert "2 DRAINING" in u2.reason


def test_distinct_instance_constraint_is_binding() -> None:
    result = place([TASK] * 3, two_t3_mediums(), "binpack", distinct_instance=True)
    assert result.count_by_host() == {"i-0aaa": 1, "i-0bbb": 1}
    [u] = result.unplaced
    assert u.failure == "distinctInstance"
    assert 'encountered error "DistinctInstance placement constraint unsatisfied."' in u.event


# --- scale-in ---------------------------------------------------------------------------------

def test_spread_scale_in_keeps_azs_balanced() -> None:
    hosts = [*two_t3_mediums(), Host.of_type("i-0ccc", "us-east-1a")]
    tasks = [Running("t1", "i-0aaa"), Running("t2", "i-0aaa"), Running("t3", "i-0ccc"),
             Running("t4", "i-0bbb")]
    chosen = choose_tasks_to_stop(tasks, hosts, 2, "spread", group=SVC)
    # Both from 1a (3 vs 1, then 2 vs 1); then i-0aaa and i-0ccc tie at 1: first by id.
    assert [c.task_id for c in chosen] == ["t2", "t1"]
    assert chosen[0].reason == (
        "stop t2 on i-0aaa (us-east-1a): us-east-1a has the most tasks of fraud-svc (3 vs 1); "
        "stopping here keeps AZs balanced; i-0aaa has the most there (2)")
    three = choose_tasks_to_stop(tasks, hosts, 3, "spread", group=SVC)
    assert [c.task_id for c in three] == ["t2", "t1", "t3"]  # 1 vs 1: first AZ by name


def test_binpack_scale_in_empties_the_instance_with_most_memory_left() -> None:
    result = place([TASK] * 8, two_t3_mediums(), "binpack")
    tasks = [Running(f"t{i}", p.instance_id) for i, p in enumerate(result.placements)]
    [first] = choose_tasks_to_stop(tasks, result.hosts, 1, "binpack", group=SVC,
                                   task_memory=512)
    assert (first.task_id, first.instance_id) == ("t7", "i-0bbb")
    assert "most memory left (3.3 GiB) among 2 instances" in first.reason
    two = choose_tasks_to_stop(tasks, result.hosts, 2, "binpack", task_memory=512)
    assert [c.instance_id for c in two] == ["i-0bbb", "i-0aaa"]


def test_scale_in_bounds() -> None:
    tasks = [Running("t1", "i-0aaa")]
    assert [c.task_id for c in choose_tasks_to_stop(tasks, two_t3_mediums(), 5)] == ["t1"]
    assert choose_tasks_to_stop(tasks, two_t3_mediums(), 0) == []
    with pytest.raises(ValueError):
        choose_tasks_to_stop(tasks, two_t3_mediums(), -1)
