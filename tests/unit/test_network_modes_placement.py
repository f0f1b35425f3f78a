"""How many 256-CPU/512-MiB tasks a t3.medium holds in each network mode (ecs-facts.md §2, §11a):
bridge with dynamic host ports ~7 (memory-bound), host with a static port 1, awsvpc 2 (3 ENIs
minus the primary, no trunking on T3) — and ECS's event when a mode's limit is hit."""

from __future__ import annotations

import pytest

from cloud.ecs.managed_scaling import instances_needed
from cloud.ecs.placement import AWSVPC, BRIDGE, HOST, Host, TaskRequest, place


def _hosts(n: int = 1, itype: str = "t3.medium") -> list[Host]:
    return [Host.of_type(f"i-{k}", "us-east-1a", itype) for k in range(n)]


@pytest.mark.parametrize(("mode", "host_port", "per_host", "failure"), [
    (BRIDGE, None, 7, "memory"),
    (HOST, 8080, 1, "port"),
    (AWSVPC, None, 2, "eni"),
])
def test_tasks_per_t3_medium_in_each_network_mode(mode, host_port, per_host, failure) -> None:
    req = TaskRequest("fraud-svc", 256, 512, host_port, mode)
    result = place([req] * 10, _hosts(), "spread")
    assert result.count_by_host() == {"i-0": per_host}
    assert {u.failure for u in result.unplaced} == {failure}


def test_awsvpc_full_instance_gives_ecs_resource_eni_event() -> None:
    result = place([TaskRequest("svc", 256, 512, network_mode=AWSVPC)] * 3, _hosts(), "spread")
    [unplaced] = result.unplaced
    assert 'encountered error "RESOURCE:ENI".' in unplaced.event
    assert unplaced.event.startswith("service svc was unable to place a task")
    assert "2 of 2 task ENIs in use" in unplaced.reason


def test_host_mode_second_task_names_the_port() -> None:
    result = place([TaskRequest("svc", 256, 512, 8080, HOST)] * 2, _hosts(), "spread")
    [unplaced] = result.unplaced
    assert "is already using a port required by your task" in unplaced.event
    assert "host port 8080 in use" in unplaced.reason


def test_awsvpc_has_no_host_port_and_releases_its_eni() -> None:
    req = TaskRequest("svc", 256, 512, 8080, AWSVPC)
    assert req.host_port is None and req.needs_eni
    [host] = place([req, req], _hosts(), "spread").hosts
    assert host.enis_in_use == 2
    host.release(256, 512, None, "svc", eni=True)
    assert host.enis_in_use == 1
    assert host.copy().enis_in_use == 1


def test_m5_large_holds_two_awsvpc_tasks_without_trunking() -> None:
    result = place([TaskRequest("svc", 256, 512, network_mode=AWSVPC)] * 5,
                   _hosts(itype="m5.large"), "spread")
    assert result.count_by_host() == {"i-0": 2}


def test_unknown_network_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="network mode"):
        TaskRequest("svc", 256, 512, network_mode="nat")


def test_cluster_auto_scaling_counts_enis() -> None:
    waiting = [TaskRequest("svc", 256, 512, network_mode=AWSVPC)] * 6
    needed, why = instances_needed([], waiting, "t3.medium")
    assert needed == 3, why
