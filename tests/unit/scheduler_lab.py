"""The scheduler tests' lab: a service's state and its hosts on a manual clock, reconciled step
by step as the controller does."""

from __future__ import annotations

import random

from cloud.core.clock import ManualClock
from cloud.ecs.placement import Host
from cloud.ecs.scheduler import STOPPED, Observation, Plan, ServiceState, reconcile, task_id_factory


def two_hosts() -> list[Host]:
    """Two t3.medium hosts, one in us-east-1a and one in us-east-1b."""
    return [Host.of_type("i-0aaa", "us-east-1a"), Host.of_type("i-0bbb", "us-east-1b")]


class SchedulerLab:
    """``state`` on ``hosts`` (default: ``two_hosts()``), task ids from a seeded generator."""

    def __init__(self, state: ServiceState, hosts: list[Host] | None = None) -> None:
        self.clock = ManualClock()
        self.ids = task_id_factory(random.Random(0))
        self.state = state
        self.hosts = hosts if hosts is not None else two_hosts()

    def step(self, *observations: Observation, dt: float = 5.0) -> Plan:
        self.clock.advance(dt)
        plan = reconcile(self.state, self.hosts, self.clock.now(), observations,
                         new_id=self.ids)
        self.state, self.hosts = plan.state, plan.hosts
        return plan

    def live(self) -> list:
        return [t for t in self.state.tasks if t.last_status != STOPPED]
