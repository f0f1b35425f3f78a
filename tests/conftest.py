"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from cloud.core.ports import free_port as free_port_on_loopback

# Every local cloud a test starts (in-process or through the CLI) gets its load balancer on a
# free port instead of 8080, so several can run side by side.
os.environ.setdefault("FRAUDLAB_LB_PORT", "0")


@pytest.fixture(scope="session")
def free_port_factory() -> Callable[[], int]:
    """A function giving a free TCP port on 127.0.0.1 (usable from any fixture scope)."""
    return free_port_on_loopback


@pytest.fixture
def free_port(free_port_factory: Callable[[], int]) -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port_factory()


@pytest.fixture(scope="session")
def simulated_requests() -> list[tuple[dict, int]]:
    """Request bodies with their true label (1 = fraud) from a small simulation's last days.

    200 customers, 400 terminals, 40 days (about a second); days 30 on have full histories.
    """
    from service.features import to_request, transform
    from service.simulator import SimulationConfig, simulate

    frame = transform(simulate(SimulationConfig(n_customers=200, n_terminals=400, nb_days=40)))
    recent = frame[frame.TX_TIME_DAYS >= 30]
    return [(to_request(row), int(row.TX_FRAUD)) for _, row in recent.iterrows()]
