"""What the dashboard shows, derived from snapshots by plain arithmetic (no decisions).

Every decision — placement, routing, health, scaling — is the local cloud's; it arrives in
the snapshot with its reason. Here we only count, difference and shorten for display.
"""

from __future__ import annotations

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


@dataclass
class Rates:
    """Per-second rates from successive snapshots (lab time / time scale = wall seconds)."""

    last_wall: float | None = None
    last_requests: dict[str, int] = field(default_factory=dict)
    last_total: int | None = None
    per_target: dict[str, float] = field(default_factory=dict)
    total: float = 0.0

    def update(self, snap: dict[str, Any]) -> None:
        scale = float(snap.get("time_scale") or 1.0)
        wall = float(snap.get("lab_time") or 0.0) / scale
        lb = snap.get("load_balancer") or {}
        requests = {t["id"]: int(t.get("requests", 0)) for t in lb.get("targets", [])}
        total = int((lb.get("totals") or {}).get("requests", 0))
        if self.last_wall is not None and wall > self.last_wall:
            dt = wall - self.last_wall
            self.per_target = {k: max(0, v - self.last_requests.get(k, v)) / dt
                               for k, v in requests.items()}
            if self.last_total is not None:
                self.total = max(0, total - self.last_total) / dt
        if self.last_wall is None or wall > self.last_wall:
            self.last_wall, self.last_requests, self.last_total = wall, requests, total


@dataclass
class History:
    """The series the sparklines draw, one sample per snapshot."""

    throughput: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    p99: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    running: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    desired: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    rates: Rates = field(default_factory=Rates)

    def update(self, snap: dict[str, Any]) -> None:
        self.rates.update(snap)
        self.throughput.append(round(self.rates.total, 1))
        windows = (snap.get("traffic") or {}).get("windows") or []
        self.p99.append(float(windows[-1].get("p99_ms") or 0.0) if windows else 0.0)
        services = snap.get("services") or []
        self.running.append(float(sum(s.get("running", 0) for s in services)))
        self.desired.append(float(sum(s.get("desired", 0) for s in services)))
        per_service = ((snap.get("service_metrics") or {}).get("services") or {}).values()
        cpus = [float(m.get("CPUUtilization") or 0.0) for m in per_service]
        self.cpu.append(sum(cpus) / len(cpus) if cpus else 0.0)


def tasks_by_host(snap: dict[str, Any]) -> dict[str | None, list[dict[str, Any]]]:
    out: dict[str | None, list[dict[str, Any]]] = {}
    for t in snap.get("tasks") or []:
        out.setdefault(t.get("host"), []).append(t)
    return out


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


def traffic_summary(snap: dict[str, Any]) -> str:
    traffic = snap.get("traffic") or {}
    if not traffic:
        return "no traffic"
    profile = (traffic.get("profile") or {}).get("name", "?")
    state = "running" if traffic.get("running") else f"stopped ({traffic.get('stop_reason')})"
    errors = sum((traffic.get("errors") or {}).values())
    lat = traffic.get("latency") or {}
    return (f"traffic {profile} {traffic.get('target_rate', 0):g} tx/s {state} · "
            f"{traffic.get('completed', 0)} answered · {errors} errors · "
            f"p99 {lat.get('p99_ms', 0):.0f} ms")
