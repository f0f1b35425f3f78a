"""Target selection as an ALB target group does it (ecs-facts.md §6, §11d)."""

from __future__ import annotations

import pytest

from cloud.lb.routing import (
    DRAINING,
    HEALTHY,
    INITIAL,
    LEAST_OUTSTANDING,
    ROUND_ROBIN,
    UNHEALTHY,
    UNUSED,
    Target,
    choose,
    eligible,
    pick_target,
)


def targets(*states: str, outstanding: tuple[int, ...] = ()) -> list[Target]:
    counts = outstanding or (0,) * len(states)
    return [Target(f"t-{i + 1}", "127.0.0.1", 9000 + i, state, n)
            for i, (state, n) in enumerate(zip(states, counts, strict=True))]


def sequence(pool: list[Target], algorithm: str, n: int) -> list[str]:
    picked, rr = [], 0
    for _ in range(n):
        target, _reason, rr = pick_target(pool, algorithm, rr)
        assert target is not None
        picked.append(target.id)
    return picked


def test_round_robin_is_the_default_and_cycles_in_registration_order() -> None:
    pool = targets(HEALTHY, HEALTHY, HEALTHY)
    assert sequence(pool, ROUND_ROBIN, 7) == ["t-1", "t-2", "t-3", "t-1", "t-2", "t-3", "t-1"]
    target, reason, rr = pick_target(pool)
    assert (target.id, rr) == ("t-1", 1)
    assert reason == "round robin: t-1 (turn 1 of 3)"


def test_round_robin_ignores_how_busy_a_target_is() -> None:
    pool = targets(HEALTHY, HEALTHY, outstanding=(50, 0))
    assert sequence(pool, ROUND_ROBIN, 4) == ["t-1", "t-2", "t-1", "t-2"]


def test_least_outstanding_picks_the_least_busy_and_says_why() -> None:
    pool = targets(HEALTHY, HEALTHY, HEALTHY, outstanding=(2, 1, 0))
    target, reason, _ = pick_target(pool, LEAST_OUTSTANDING, 0)
    assert target.id == "t-3"
    assert reason == "least outstanding: t-3 (0) among t-1 (2), t-2 (1), t-3 (0)"


def test_least_outstanding_breaks_ties_by_round_robin() -> None:
    pool = targets(HEALTHY, HEALTHY, HEALTHY, outstanding=(0, 3, 0))
    assert sequence(pool, LEAST_OUTSTANDING, 4) == ["t-1", "t-3", "t-1", "t-3"]
    idle = targets(HEALTHY, HEALTHY, HEALTHY)
    assert sequence(idle, LEAST_OUTSTANDING, 4) == ["t-1", "t-2", "t-3", "t-1"]


def test_only_healthy_targets_are_eligible() -> None:
    pool = targets(UNHEALTHY, HEALTHY, INITIAL, DRAINING, HEALTHY, UNUSED)
    assert sequence(pool, ROUND_ROBIN, 4) == ["t-2", "t-5", "t-2", "t-5"]
    busy = targets(HEALTHY, UNHEALTHY, outstanding=(9, 0))
    assert pick_target(busy, LEAST_OUTSTANDING, 0)[0].id == "t-1"


def test_fail_open_when_no_target_is_healthy() -> None:
    pool = targets(UNHEALTHY, DRAINING, INITIAL, UNUSED, UNHEALTHY)
    assert sequence(pool, ROUND_ROBIN, 3) == ["t-1", "t-3", "t-5"]
    _, reason, _ = pick_target(pool, ROUND_ROBIN, 0)
    assert "fail-open" in reason


def test_no_registered_target_means_none() -> None:
    for pool in ([], targets(DRAINING, UNUSED)):
        target, reason, rr = pick_target(pool, LEAST_OUTSTANDING, 5)
        assert target is None and rr == 5 and "503" in reason


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="round_robin, least_outstanding_requests"):
        pick_target(targets(HEALTHY), "least_busy", 0)


@pytest.mark.parametrize("algorithm", [ROUND_ROBIN, LEAST_OUTSTANDING])
def test_choose_picks_what_pick_target_picks(algorithm: str) -> None:
    """The request path's choose() (no reason written) agrees with pick_target()."""
    pool = targets(HEALTHY, UNHEALTHY, HEALTHY, HEALTHY, outstanding=(3, 0, 1, 1))
    rr = 0
    for _ in range(9):
        want, _reason, next_rr = pick_target(pool, algorithm, rr)
        eligible_now, _ = eligible(pool)
        index = choose(eligible_now, algorithm, rr)
        assert (eligible_now[index], index + 1) == (want, next_rr)
        rr = next_rr
        eligible_now[index].outstanding += 1
