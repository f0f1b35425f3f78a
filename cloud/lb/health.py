"""Pure target-health state machine of an ALB target group (ecs-facts.md §6, §11g).

States: ``initial`` → ``healthy`` / ``unhealthy``; ``deregister`` → ``draining`` → ``unused``.
Defaults (instance/ip targets): path ``/``, interval 30 s, timeout 5 s, healthy threshold 5,
unhealthy threshold 2, matcher ``200``. "After your target is registered, it must pass one
health check to be considered healthy"; afterwards an unhealthy target needs ``healthy_threshold``
consecutive passes and a healthy one ``unhealthy_threshold`` consecutive failures to flip.
Deregistration: ``draining`` until in-flight requests finish or the deregistration delay
(300 s) elapses, then ``unused``. All times are lab seconds from an injected clock.
Reason codes and descriptions are ALB's (DescribeTargetHealth ``TargetHealth.Reason`` and
``TargetHealth.Description``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cloud.lb.routing import DRAINING, HEALTHY, INITIAL, UNHEALTHY, UNUSED

REGISTRATION_IN_PROGRESS = "Elb.RegistrationInProgress"
INITIAL_HEALTH_CHECKING = "Elb.InitialHealthChecking"
RESPONSE_CODE_MISMATCH = "Target.ResponseCodeMismatch"
TIMEOUT = "Target.Timeout"
FAILED_HEALTH_CHECKS = "Target.FailedHealthChecks"
DEREGISTRATION_IN_PROGRESS = "Target.DeregistrationInProgress"
NOT_REGISTERED = "Target.NotRegistered"
# DescribeTargetHealth's description of each reason code (the failures add what was seen).
DESCRIPTIONS = {
    REGISTRATION_IN_PROGRESS: "Target registration is in progress",
    INITIAL_HEALTH_CHECKING: "Initial health checks in progress",
    RESPONSE_CODE_MISMATCH: "Health checks failed with these codes",
    TIMEOUT: "Request timed out",
    FAILED_HEALTH_CHECKS: "Health checks failed",
    DEREGISTRATION_IN_PROGRESS: "Target deregistration is in progress",
    NOT_REGISTERED: "Target is not registered to the target group",
}


def parse_matcher(matcher: str) -> tuple[tuple[int, int], ...]:
    """``"200"``, ``"200,202"`` or ``"200-299"`` as inclusive ranges (ALB allows 200–499)."""
    ranges = []
    for part in str(matcher).split(","):
        low, _, high = part.strip().partition("-")
        lo, hi = int(low), int(high or low)
        if not 200 <= lo <= hi <= 499:
            raise ValueError(f"health-check matcher {matcher!r}: codes must be within 200-499")
        ranges.append((lo, hi))
    return tuple(ranges)


@dataclass(frozen=True)
class HealthSettings:
    """A target group's health-check settings (ALB defaults; durations in lab seconds)."""

    path: str = "/"
    interval: float = 30.0
    timeout: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    deregistration_delay: float = 300.0

    def __post_init__(self) -> None:
        parse_matcher(self.matcher)
        if not self.timeout < self.interval:
            raise ValueError("health-check timeout must be smaller than the interval")
        if self.healthy_threshold < 1 or self.unhealthy_threshold < 1:
            raise ValueError("health-check thresholds must be >= 1")

    def matches(self, status: int) -> bool:
        return any(lo <= status <= hi for lo, hi in parse_matcher(self.matcher))


@dataclass(frozen=True)
class ProbeResult:
    """One health check: the HTTP status, or a timeout, or a connection error."""

    status: int | None = None
    timed_out: bool = False
    error: str = ""

    @classmethod
    def ok(cls, status: int = 200) -> ProbeResult:
        return cls(status=status)


@dataclass(frozen=True)
class TargetHealth:
    """A target's health as the load balancer sees it."""

    state: str = INITIAL
    reason_code: str | None = REGISTRATION_IN_PROGRESS
    passes: int = 0  # consecutive passing checks
    failures: int = 0  # consecutive failing checks
    last_check: float | None = None  # lab time of the last probe
    since: float = 0.0  # lab time of the last state change
    draining_since: float | None = None
    description: str | None = DESCRIPTIONS[REGISTRATION_IN_PROGRESS]  # goes with reason_code


def register(now: float) -> TargetHealth:
    """A newly registered target: ``initial`` until its first check."""
    return TargetHealth(state=INITIAL, reason_code=REGISTRATION_IN_PROGRESS, since=now)


def _failure(result: ProbeResult, settings: HealthSettings) -> tuple[str, str] | None:
    """(reason code, description) if the probe failed, else None."""
    if result.timed_out:
        return TIMEOUT, f"Request timed out (no answer within {settings.timeout:g} s)"
    if result.status is None:
        return FAILED_HEALTH_CHECKS, f"Health checks failed ({result.error or 'no answer'})"
    if not settings.matches(result.status):
        return (RESPONSE_CODE_MISMATCH,
                f"Health checks failed with these codes: [{result.status}]"
                f" (matcher {settings.matcher})")
    return None


def observe(health: TargetHealth, result: ProbeResult, now: float,
            settings: HealthSettings) -> tuple[TargetHealth, str]:
    """Fold one probe result into the target's health: ``(new health, reason)``."""
    if health.state in (DRAINING, UNUSED):
        return health, f"{health.reason_code}: not health-checked while {health.state}"
    failed = _failure(result, settings)
    if failed is None:
        passes, failures = health.passes + 1, 0
        if health.state == INITIAL:
            new = replace(health, state=HEALTHY, reason_code=None, description=None,
                          passes=passes, failures=0, last_check=now, since=now)
            return new, f"healthy: passed its first health check ({result.status})"
        if health.state == UNHEALTHY and passes >= settings.healthy_threshold:
            new = replace(health, state=HEALTHY, reason_code=None, description=None,
                          passes=passes, failures=0, last_check=now, since=now)
            return new, (f"healthy: {passes} consecutive passing checks "
                         f"(healthy threshold {settings.healthy_threshold})")
        new = replace(health, passes=passes, failures=failures, last_check=now)
        if health.state == UNHEALTHY:
            return new, (f"{health.reason_code}: still unhealthy, {passes} of "
                         f"{settings.healthy_threshold} passing checks")
        return new, f"healthy: check passed ({result.status})"
    code, description = failed
    passes, failures = 0, health.failures + 1
    if health.state != UNHEALTHY and failures >= settings.unhealthy_threshold:
        new = replace(health, state=UNHEALTHY, reason_code=code, description=description,
                      passes=0, failures=failures, last_check=now, since=now)
        return new, (f"{code}: {description}; unhealthy after {failures} consecutive "
                     f"failures (unhealthy threshold {settings.unhealthy_threshold})")
    new = replace(health, passes=0, failures=failures, last_check=now,
                  reason_code=code if health.state == UNHEALTHY else health.reason_code,
                  description=description if health.state == UNHEALTHY else health.description)
    if health.state == UNHEALTHY:
        return new, f"{code}: {description}; still unhealthy"
    return new, (f"{code}: {description}; {failures} of {settings.unhealthy_threshold} "
                 f"failures, still {health.state}")


def due(health: TargetHealth, now: float, settings: HealthSettings) -> bool:
    """Whether the next health check is due (the first one at once after registration)."""
    if health.state in (DRAINING, UNUSED):
        return False
    return health.last_check is None or now - health.last_check >= settings.interval


def next_timer(health: TargetHealth, settings: HealthSettings,
               checks: bool = True) -> float | None:
    """Lab time the target next needs the checker: the end of its deregistration delay while
    draining; its next health check (when ``checks``: the first one is due at once); None
    when neither (``unused``). What :func:`due` and :func:`delay_elapsed` decide then."""
    if health.state == DRAINING:
        return (None if health.draining_since is None
                else health.draining_since + settings.deregistration_delay)
    if not checks or health.state == UNUSED:
        return None
    return health.since if health.last_check is None else health.last_check + settings.interval


def deregister(health: TargetHealth, now: float) -> tuple[TargetHealth, str]:
    """Deregistration starts: ``draining`` (no new requests; in-flight ones may finish)."""
    if health.state in (DRAINING, UNUSED):
        return health, f"{health.reason_code}: already {health.state}"
    new = replace(health, state=DRAINING, reason_code=DEREGISTRATION_IN_PROGRESS,
                  description=DESCRIPTIONS[DEREGISTRATION_IN_PROGRESS], since=now,
                  draining_since=now)
    return new, f"{DEREGISTRATION_IN_PROGRESS}: Target deregistration is in progress"


def settle(health: TargetHealth, now: float, in_flight: int,
           settings: HealthSettings) -> tuple[TargetHealth, str | None]:
    """A draining target becomes ``unused`` when its in-flight requests are done or the
    deregistration delay elapsed; ``(health, None)`` while nothing changes."""
    if health.state != DRAINING:
        return health, None
    waited = now - (health.draining_since if health.draining_since is not None else now)
    if in_flight <= 0:
        why = "no in-flight requests left"
    elif waited >= settings.deregistration_delay:
        why = (f"deregistration delay ({settings.deregistration_delay:g} s) elapsed with "
               f"{in_flight} request(s) still in flight (they get 502)")
    else:
        return health, None
    new = replace(health, state=UNUSED, reason_code=NOT_REGISTERED,
                  description=DESCRIPTIONS[NOT_REGISTERED], since=now)
    return new, f"{NOT_REGISTERED}: Target is not registered to the target group ({why})"


def delay_elapsed(health: TargetHealth, now: float, settings: HealthSettings) -> bool:
    """Whether a draining target's deregistration delay has run out."""
    return (health.draining_since is not None
            and now - health.draining_since >= settings.deregistration_delay)
