"""What the dashboard shows, derived from snapshots by plain arithmetic (no decisions).

Every decision — placement, routing, health, scaling — is the local cloud's; it arrives in
the snapshot with its reason. Here we only count, difference and shorten for display.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

HISTORY = 120  # samples kept for the sparklines
BADGE_STYLE = {"real": "bold green", "emulated": "bold cyan", "simulated": "bold yellow"}
STATE_GLYPH = {"RUNNING": "●", "PENDING": "◐", "PROVISIONING": "○", "STOPPED": "✕"}
UNABLE = "unable to place"


def short(task_id: str | None, n: int = 8) -> str:
    return (task_id or "-")[:n]


def image_name(uri: str) -> str:
    """``…amazonaws.com/fraud-detection:svc-33a9…`` → ``fraud-detection:svc-33a9…``."""
    return uri.rsplit("/", 1)[-1]


def badge_label(badge: str | None) -> str:
    return f"[{(badge or '?').upper()}]"


RATE_WINDOW_S = 5.0  # wall seconds the request rates are averaged over (stated on screen)
STOPPED_KEPT_S = 30.0  # wall seconds a stopped task stays in its host box
BARS = " ▁▂▃▄▅▆▇█"  # index 0 (blank) is zero and only zero


def bars(values: list[float], top: float, width: int) -> str:
    """The last ``width`` values as bars on a scale from 0 to ``top``: zero draws as blank,
    anything above zero as at least ▁, so an all-zero series is an empty line."""
    out = []
    for v in values[-width:] if width > 0 else []:
        if v <= 0 or top <= 0:
            out.append(BARS[0])
        else:
            out.append(BARS[max(1, min(8, round(v / top * 8)))])
    return "".join(out)


@dataclass
class Rates:
    """Requests/s from consecutive snapshots, averaged over the last ``window`` wall seconds
    (lab time / time scale): a steady 20 tx/s reads 20, not 7 then 33, and a healthy target
    never reads 0.0 because a half-second happened to carry none of its requests."""

    window: float = RATE_WINDOW_S
    samples: deque[tuple[float, dict[str, int], int]] = field(
        default_factory=lambda: deque(maxlen=400))
    per_target: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    counted: bool = True  # False: the source reports no request counts (observer mode)

    def update(self, snap: dict[str, Any]) -> None:
        scale = float(snap.get("time_scale") or 1.0)
        wall = float(snap.get("lab_time") or 0.0) / scale
        lb = snap.get("load_balancer") or {}
        self.counted = not lb.get("observed")  # an ALB on AWS counts per minute
        if not self.counted:
            self.total = cloudwatch_rate(snap) or 0.0
            return
        requests = {t["id"]: int(t.get("requests", 0)) for t in lb.get("targets", [])}
        total = int((lb.get("totals") or {}).get("requests", 0))
        if self.samples and wall <= self.samples[-1][0]:
            return  # no lab time passed: nothing new to average
        self.samples.append((wall, requests, total))
        while len(self.samples) > 2 and self.samples[1][0] <= wall - self.window:
            self.samples.popleft()
        self.per_target, self.total = self._averages(requests, total, wall)

    def _averages(self, requests: dict[str, int], total: int,
                  wall: float) -> tuple[dict[str, float], float]:
        first_wall, _, first_total = self.samples[0]
        if wall <= first_wall:
            return {}, 0.0
        per_target = {}
        for target, count in requests.items():
            seen = next(((w, r[target]) for w, r, _ in self.samples if target in r), None)
            if seen is None or wall <= seen[0]:
                continue
            per_target[target] = max(0, count - seen[1]) / (wall - seen[0])
        return per_target, max(0, total - first_total) / (wall - first_wall)


@dataclass
class History:
    """The series the sparklines draw, one sample per snapshot."""

    throughput: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    p99: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    running: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    desired: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    rates: Rates = field(default_factory=Rates)
    stopped_at: dict[str, float] = field(default_factory=dict)  # task → wall s first seen
    stopped_shown: set[str] = field(default_factory=set)  # stopped tasks still shown
    unknown: set[str] = field(default_factory=set)  # series the source has no value for now

    def update(self, snap: dict[str, Any]) -> None:
        self.rates.update(snap)
        self._track_stopped(snap)
        self.throughput.append(round(self.rates.total, 1))
        traffic = snap.get("traffic") or {}
        windows = traffic.get("windows") or [] if traffic.get("running") else []
        alb_p99 = (snap.get("alb_metrics") or {}).get("TargetResponseTime_p99")
        self.p99.append(float(windows[-1].get("p99_ms") or 0.0) if windows else
                        float(alb_p99) * 1000 if alb_p99 is not None else 0.0)
        services = snap.get("services") or []
        self.running.append(float(sum(s.get("running", 0) for s in services)))
        self.desired.append(float(sum(s.get("desired", 0) for s in services)))
        per_service = ((snap.get("service_metrics") or {}).get("services") or {}).values()
        cpus = [float(m.get("CPUUtilization") or 0.0) for m in per_service]
        self.cpu.append(sum(cpus) / len(cpus) if cpus else 0.0)
        observed = bool(snap.get("source"))  # AWS: a metric without a datapoint is unknown
        self.unknown = {name for name, known in (("p99", windows or alb_p99 is not None),
                                                 ("cpu", cpus)) if observed and not known}

    def _track_stopped(self, snap: dict[str, Any]) -> None:
        """Remember when each task was first seen STOPPED; show only the recent ones."""
        now = float(snap.get("lab_time") or 0.0) / float(snap.get("time_scale") or 1.0)
        for t in snap.get("tasks") or []:
            if t.get("last_status") == "STOPPED":
                self.stopped_at.setdefault(str(t.get("task_id")), now)
        self.stopped_shown = recent_stopped(self.stopped_at, now)


def cloudwatch_rate(snap: dict[str, Any]) -> float | None:
    """Requests/s of the ALB's last CloudWatch minute (RequestCount / period); None if none."""
    metrics = snap.get("alb_metrics") or {}
    count, period = metrics.get("RequestCount"), metrics.get("period")
    return float(count) / float(period) if count is not None and period else None


def dash(value: Any, fmt: str = "{}") -> str:
    """A value as text, or ``–`` when the source does not report it (never a made-up 0)."""
    return "–" if value is None else fmt.format(value)


def tasks_by_host(snap: dict[str, Any], stopped_shown: set[str] | None = None,
                  ) -> dict[str | None, list[dict[str, Any]]]:
    """Tasks per host; stopped ones only if in ``stopped_shown`` (None: all of them)."""
    out: dict[str | None, list[dict[str, Any]]] = {}
    for t in snap.get("tasks") or []:
        if (t.get("last_status") == "STOPPED" and stopped_shown is not None
                and t.get("task_id") not in stopped_shown):
            continue
        out.setdefault(t.get("host"), []).append(t)
    return out


def short_reason(reason: str) -> str:
    """ECS's long "unable to place a task because … insufficient memory …" in a few words."""
    if UNABLE not in reason:
        return reason
    found = re.search(r"insufficient [\w ]+? available", reason)
    return f"ECS: {UNABLE} a task … " + (found.group(0) if found else "no instance fits")


def unplaced(snap: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(service, tasks not placed, ECS's reason) for each service short of its desired count."""
    out = []
    for s in snap.get("services") or []:
        missing = s.get("desired", 0) - s.get("running", 0) - s.get("pending", 0)
        if missing <= 0:
            continue
        reason = next((e["message"] for e in s.get("events") or []
                       if UNABLE in e.get("message", "")), "waiting for the scheduler's next pass")
        out.append((s["name"], missing, reason))
    return out


SPIKE_TEXT = re.compile(r"\bspike:(\d+(?:\.\d+)?)(?::[\d.]+)* at (\d+(?:\.\d+)?) tx/s")


def human_event(text: str) -> str:
    """The timeline's ``spike:10:0:36000 at 20 tx/s`` (a profile spec and the base rate) in
    words: ``a ×10 spike, 200 tx/s (20 tx/s × 10)``."""
    def words(m: re.Match[str]) -> str:
        factor, base = float(m.group(1)), float(m.group(2))
        return f"a ×{factor:g} spike, {base * factor:g} tx/s ({base:g} tx/s × {factor:g})"

    return SPIKE_TEXT.sub(words, text)


def traffic_summary(snap: dict[str, Any]) -> str:
    traffic = snap.get("traffic") or {}
    if not traffic:
        return "no traffic"
    profile = (traffic.get("profile") or {}).get("name", "?")
    state = "running" if traffic.get("running") else f"stopped ({traffic.get('stop_reason')})"
    errors = sum((traffic.get("errors") or {}).values())
    lat = traffic.get("latency") or {}
    return (f"traffic {profile} {float(traffic.get('target_rate') or 0):.0f} tx/s {state} · "
            f"{traffic.get('completed', 0)} answered · {errors} errors · "
            f"p99 {lat.get('p99_ms', 0):.0f} ms")


def recent_stopped(stopped_at: dict[str, float], now: float,
                   kept: float = STOPPED_KEPT_S) -> set[str]:
    """The stopped tasks first seen stopped less than ``kept`` wall seconds ago."""
    return {task for task, when in stopped_at.items() if now - when < kept}
