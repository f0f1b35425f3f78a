"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from worker_env import free_port as free_port_on_loopback
from worker_env import isolate_state_dir

if TYPE_CHECKING:
    from cloud.aws.endpoint import Endpoint

# Every local cloud a test starts (in-process or through the CLI) gets its load balancer on a
# free port instead of 8080, so several can run side by side.
os.environ.setdefault("FRAUDLAB_LB_PORT", "0")
isolate_state_dir()  # each test process (xdist worker) its own


@pytest.fixture(scope="session")
def free_port_factory() -> Callable[[], int]:
    """A function giving a free TCP port on 127.0.0.1 from this worker's range (usable from
    any fixture scope)."""
    return free_port_on_loopback


@pytest.fixture
def free_port(free_port_factory: Callable[[], int]) -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port_factory()


@pytest.fixture(scope="module")
def emulator(free_port_factory: Callable[[], int]) -> Iterator[Endpoint]:
    """moto alone on a loopback port for one test module (``ecs_agent_harness``'s plain
    emulator: the observer tests, terminal and HTTP), emptied when the module ends. A module
    that needs another emulator defines its own ``emulator``, which takes precedence."""
    from ecs_agent_harness import start_plain_emulator  # here: boto3 only where it is used

    from cloud.ecs.writeback import reset_moto

    endpoint = start_plain_emulator(free_port_factory())
    yield endpoint
    reset_moto(endpoint.url)  # moto's state is per process: the next module starts empty
    endpoint.stop()


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


SLOWEST_FIRST = ("test_lab_notebooks.py", "test_demo.py", "test_conformance_tasks.py",
                 "test_conformance_multi.py", "test_tui_live_80x24.py",
                 "test_conformance_guards.py", "test_network_modes.py",
                 "test_conformance_ecs.py", "test_cli_cloud.py", "test_user_aws_config.py",
                 "test_aws_real_emulated.py", "test_service_autoscaling.py",
                 "test_capacity_provider.py", "test_local_cloud_chaos.py",
                 "test_handbook_model.py", "test_local_cloud_lb.py", "test_docker_path.py",
                 "test_observer.py", "test_conformance_tasks_docker.py",
                 "test_crash_under_load.py", "test_lab_widgets.py", "test_local_cloud.py")
"""The longest files, longest first (per-file sums of ``--junitxml`` times in a whole run),
started first so that with ``--dist loadfile`` no worker is left alone with a long file at
the end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slowest files first; every file keeps its own order."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_configure(config: pytest.Config) -> None:
    """Keep SLOWEST_FIRST under ``--dist loadfile``: xdist otherwise reorders the files by their
    number of tests (its ``--loadscope-reorder`` default), which started the two longest files
    (two tests each) last and left one worker alone with them at the end."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
