"""Pure target selection, as an ALB target group does it (ecs-facts.md §6, §11d).

ALB's default algorithm is ``round_robin``; ``least_outstanding_requests`` is opt-in per target
group. Only healthy targets are eligible; if a target group has registered targets but none is
healthy, ALB "routes requests to all those targets, regardless of their health status"
(fail-open). With no registered target there is nothing to pick: the proxy answers 503.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ROUND_ROBIN = "round_robin"
LEAST_OUTSTANDING = "least_outstanding_requests"
ALGORITHMS = (ROUND_ROBIN, LEAST_OUTSTANDING)

# Target states, as DescribeTargetHealth names them.
INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DRAINING = "draining"
UNUSED = "unused"
REGISTERED = (INITIAL, HEALTHY, UNHEALTHY)  # states that may receive new requests


@dataclass
class Target:
    """One registered target: where it listens, its health state and its in-flight requests."""

    id: str
    host: str
    port: int
    state: str = INITIAL
    outstanding: int = 0
    weight: int = 1


def check_algorithm(name: str) -> str:
    """``name`` if the kit simulates it, else ValueError naming the choices."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown routing algorithm {name!r}: choose one of "
                         f"{', '.join(ALGORITHMS)} (weighted_random is not simulated)")
    return name


def eligible(targets: Sequence[Target]) -> tuple[list[Target], bool]:
    """The targets that may get a new request, and whether that is ALB's fail-open."""
    healthy = [t for t in targets if t.state == HEALTHY]
    if healthy:
        return healthy, False
    return [t for t in targets if t.state in REGISTERED], True


def _counts(targets: Sequence[Target]) -> str:
    return ", ".join(f"{t.id} ({t.outstanding})" for t in targets)


def pick_target(targets: Sequence[Target], algorithm: str = ROUND_ROBIN,
                rr_state: int = 0) -> tuple[Target | None, str, int]:
    """Choose the target of the next request: ``(target or None, reason, new rr_state)``.

    ``rr_state`` is the round-robin cursor (an int the caller keeps); least outstanding
    requests breaks ties by the same cursor, so equally idle targets take turns.
    """
    check_algorithm(algorithm)
    pool, fail_open = eligible(targets)
    if not pool:
        return None, "no registered targets (503)", rr_state
    n = len(pool)
    start = rr_state % n
    if algorithm == ROUND_ROBIN:
        index = start
        reason = f"round robin: {pool[index].id} (turn {index + 1} of {n})"
    else:
        index = start
        best = pool[start].outstanding
        for step in range(1, n):
            i = (start + step) % n
            if pool[i].outstanding < best:
                index, best = i, pool[i].outstanding
        reason = (f"least outstanding: {pool[index].id} ({best}) among {_counts(pool)}")
    if fail_open:
        reason += " — fail-open: no healthy target, routing to all registered targets"
    return pool[index], reason, index + 1
