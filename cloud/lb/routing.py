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
    index = choose(pool, algorithm, rr_state)
    reason = explain(algorithm, [(t.id, t.outstanding) for t in pool], index, fail_open)
    return pool[index], reason, index + 1


def choose(pool: Sequence[Target], algorithm: str, rr_state: int) -> int:
    """The index in ``pool`` (eligible targets, not empty) of the next request's target, as
    :func:`pick_target` chooses it (the new cursor is that index + 1); no reason is written."""
    n = len(pool)
    start = rr_state % n
    if algorithm == ROUND_ROBIN:
        return start
    index = start
    best = pool[start].outstanding
    for step in range(1, n):
        i = (start + step) % n
        if pool[i].outstanding < best:
            index, best = i, pool[i].outstanding
    return index


def explain(algorithm: str, counts: Sequence[tuple[str, int]], index: int,
            fail_open: bool) -> str:
    """The reason :func:`pick_target` gives for choosing ``counts[index]`` (``counts``: the
    eligible targets' ids and outstanding requests when it chose)."""
    chosen, best = counts[index]
    if algorithm == ROUND_ROBIN:
        reason = f"round robin: {chosen} (turn {index + 1} of {len(counts)})"
    else:
        among = ", ".join(f"{t} ({n})" for t, n in counts)
        reason = f"least outstanding: {chosen} ({best}) among {among}"
    if fail_open:
        reason += " — fail-open: no healthy target, routing to all registered targets"
    return reason
