"""ECS placementStrategy as the scheduler reads it: the first entry ranks first."""

from __future__ import annotations

import pytest

from cloud.ecs.controller import strategy_name


@pytest.mark.parametrize(("strategy", "name"), [
    (None, "spread"),  # ECS's default for services: spread by AZ
    ([], "spread"),
    ([{"type": "spread", "field": "attribute:ecs.availability-zone"},
      {"type": "spread", "field": "instanceId"}], "spread"),
    ([{"type": "spread", "field": "instanceId"}], "spread:instanceId"),
    ([{"type": "binpack", "field": "memory"}], "binpack:memory"),
    ([{"type": "binpack", "field": "CPU"}], "binpack:cpu"),
    ([{"type": "random"}], "random"),
])
def test_strategy_name(strategy, name) -> None:
    assert strategy_name(strategy) == name
