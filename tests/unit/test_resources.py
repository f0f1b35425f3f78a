"""Instance types as ECS registers them, and how many tasks fit (fact sheet §1, §2, §11a)."""

from __future__ import annotations

import pytest

from cloud.core.instance_types import (
    INSTANCE_TYPES,
    T3_MEDIUM_MYTH,
    Fit,
    fit_limits,
    instance_type,
    tasks_that_fit,
)


def test_t3_medium_registers_2048_cpu_units_and_about_3_8_gib() -> None:
    t3m = instance_type("t3.medium")
    assert (t3m.vcpu, t3m.memory_gib, t3m.max_enis) == (2, 4, 3)
    assert t3m.cpu_units == 2048  # NumCPU × 1024, not 1024
    assert t3m.registered_memory_mib() == 3891  # MemTotal-style, below 4096
    assert round(t3m.registered_memory_mib() / 1024, 1) == 3.8
    assert t3m.registered_memory_mib(reserved_memory_mib=256) == 3635


@pytest.mark.parametrize("name", sorted(INSTANCE_TYPES))
def test_every_type_registers_vcpu_times_1024_and_less_than_advertised_memory(name: str) -> None:
    t = INSTANCE_TYPES[name]
    assert t.cpu_units == t.vcpu * 1024 == 2048  # all six are 2-vCPU types
    assert 0 < t.registered_memory_mib() < t.advertised_memory_mib


def test_published_specs_of_the_table() -> None:
    assert {n: (t.memory_gib, t.max_enis) for n, t in INSTANCE_TYPES.items()} == {
        "t3.micro": (1, 2), "t3.small": (2, 3), "t3.medium": (4, 3), "t3.large": (8, 3),
        "m5.large": (8, 3), "c5.large": (4, 3)}


def test_t3_medium_fits_7_tasks_of_256_cpu_512_mib_bound_by_memory() -> None:
    fit = tasks_that_fit("t3.medium", 256, 512)
    assert fit == (7, "memory")  # 3891 // 512 = 7 < 2048 // 256 = 8
    assert fit_limits("t3.medium", 256, 512) == {"memory": 7, "cpu": 8}


def test_reserved_memory_can_cost_a_task() -> None:
    assert tasks_that_fit("t3.medium", 256, 512, reserved_memory_mib=256).count == 7  # 3635
    assert tasks_that_fit("t3.medium", 256, 512, reserved_memory_mib=400).count == 6  # 3491


def test_cpu_binds_on_a_bigger_instance() -> None:
    assert tasks_that_fit("t3.large", 256, 512) == Fit(8, "cpu")  # memory would allow 15


def test_awsvpc_is_limited_by_enis_minus_the_primary() -> None:
    assert tasks_that_fit("t3.medium", 256, 512, "awsvpc") == (2, "eni")
    assert tasks_that_fit("t3.micro", 256, 256, "awsvpc") == (1, "eni")


def test_trunking_only_helps_types_that_support_it() -> None:
    assert tasks_that_fit("m5.large", 256, 512, "awsvpc") == (2, "eni")
    assert tasks_that_fit("m5.large", 256, 512, "awsvpc", eni_trunking=True) == (8, "cpu")
    assert tasks_that_fit("t3.large", 256, 512, "awsvpc", eni_trunking=True) == (2, "eni")


def test_a_static_host_port_allows_one_copy_per_instance() -> None:
    assert tasks_that_fit("t3.medium", 256, 512, "host") == (1, "port")
    assert tasks_that_fit("t3.medium", 256, 512, static_host_port=True) == (1, "port")
    assert tasks_that_fit("t3.medium", 256, 4000) == (0, "memory")  # too big anywhere


def test_a_task_without_cpu_reservation_is_limited_by_memory_only() -> None:
    assert fit_limits("t3.medium", 0, 128) == {"memory": 30}


@pytest.mark.parametrize("args", [("t9.huge", 256, 512), ("t3.medium", 256, 0),
                                  ("t3.medium", -1, 512), ("t3.medium", 256, 512, "overlay")])
def test_bad_inputs_are_rejected(args: tuple) -> None:
    with pytest.raises(ValueError):
        tasks_that_fit(*args)


def test_the_case_study_myth_versus_the_facts() -> None:
    m = T3_MEDIUM_MYTH
    assert (m.myth_cpu_units, m.myth_memory_mib, m.myth_tasks) == (1024, 4096, 2)
    assert (m.fact_cpu_units, m.fact_memory_mib, m.fact_tasks, m.fact_binding) == (
        2048, 3891, 7, "memory")
    # Even its own numbers give 4 by CPU, not 2.
    assert m.myth_cpu_units // 256 == 4
    assert any("1024/256 = 4" in n for n in m.notes)
    assert "2048 CPU units" in m.fact and "7 tasks" in m.fact
    assert any("§1.2" in s for s in m.sources)
