"""Recorded runs: what the local cloud did, sampled from its snapshots, kept in the state
directory (``runs/``, the newest ``KEPT`` only) for ``fraudlab report``.

A sample is plain arithmetic on consecutive snapshots (no decisions): offered rate, served
requests/s, p50/p99 of the latest one-second window, running vs desired tasks, requests per
target. Events are the timeline's crash, traffic and scaling entries.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloud.core.state_dir import state_dir

KEPT = 20  # runs kept in the state directory; older ones are deleted
EVERY_S = 1.0  # wall seconds between samples: each rate is an average over at least this
EVENT_KINDS = ("chaos", "traffic", "scaling", "exit")


def runs_dir() -> Path:
    return state_dir() / "runs"


@dataclass
class RunRecorder:
    """Feed it every snapshot you read; it keeps one sample per ``EVERY_S`` wall seconds."""

    name: str
    meta: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    _last: dict[str, Any] | None = None

    def add(self, snap: dict[str, Any]) -> None:
        wall = float(snap.get("lab_time") or 0.0) / float(snap.get("time_scale") or 1.0)
        for e in snap.get("timeline") or []:
            if e.get("kind") in EVENT_KINDS:
                self.events.setdefault(f"{e.get('lab')}{e.get('text')}",
                                       {"lab": e.get("lab"), "kind": e.get("kind"),
                                        "text": e.get("text")})
        if self._last is not None and wall < float(self._last["wall"]) + EVERY_S:
            return
        point = sample(snap, self._last)
        self.samples.append(point)
        self._last = point

    def follow(self, get_snapshot: Any, stop: threading.Event) -> threading.Thread:
        """Sample ``get_snapshot()`` every ``EVERY_S`` in a daemon thread until ``stop`` is
        set (a slow or failed answer is skipped: the run goes on without that sample)."""
        def loop() -> None:
            while not stop.wait(EVERY_S):
                try:
                    self.add(get_snapshot())
                except Exception:  # the recording never stops the demo
                    continue

        thread = threading.Thread(target=loop, daemon=True, name="run-recorder")
        thread.start()
        return thread

    def save(self, summary: dict[str, Any] | None = None, directory: Path | None = None) -> Path:
        directory = directory or runs_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        events = sorted(self.events.values(), key=lambda e: float(e.get("lab") or 0))
        path.write_text(json.dumps({"name": self.name, "meta": self.meta,
                                    "samples": self.samples, "events": events,
                                    "summary": summary or {}}, default=str))
        prune(directory)
        return path


def sample(snap: dict[str, Any], last: dict[str, Any] | None) -> dict[str, Any]:
    """One point of a run from a snapshot (and the previous point, for rates)."""
    scale = float(snap.get("time_scale") or 1.0)
    lab = float(snap.get("lab_time") or 0.0)
    lb = snap.get("load_balancer") or {}
    traffic = snap.get("traffic") or {}
    windows = traffic.get("windows") or [] if traffic.get("running") else []
    services = snap.get("services") or []
    requests = {t["id"]: int(t.get("requests", 0)) for t in lb.get("targets") or []
                if t.get("state") != "unused"}
    total = int((lb.get("totals") or {}).get("requests", 0))
    point = {"lab": lab, "wall": lab / scale,
             "offered": float(traffic.get("target_rate") or 0) if traffic.get("running") else 0,
             "total": total, "requests": requests,
             "p50_ms": float(windows[-1].get("p50_ms") or 0) if windows else 0.0,
             "p99_ms": float(windows[-1].get("p99_ms") or 0) if windows else 0.0,
             "running": sum(int(s.get("running", 0)) for s in services),
             "desired": sum(int(s.get("desired", 0)) for s in services),
             "served": 0.0, "per_target": {}}
    if last is not None and point["wall"] > last["wall"]:
        dt = point["wall"] - last["wall"]
        point["served"] = max(0, total - int(last["total"])) / dt
        point["per_target"] = {k: max(0, v - last["requests"].get(k, v)) / dt
                               for k, v in requests.items()}
    return point


def prune(directory: Path, kept: int = KEPT) -> list[Path]:
    """Delete all but the newest ``kept`` runs; the deleted paths."""
    runs = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    gone = runs[:-kept] if len(runs) > kept else []
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def find_run(name: str | None, directory: Path | None = None) -> Path:
    """A run by file, by name, or (None) the newest one."""
    directory = directory or runs_dir()
    if name and Path(name).is_file():
        return Path(name)
    if name:
        path = directory / f"{Path(name).stem}.json"
        if path.is_file():
            return path
        raise FileNotFoundError(f"no recorded run {name!r} in {directory}")
    runs = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(f"no recorded runs in {directory}: `fraudlab demo` records one")
    return runs[-1]


def new_name(label: str = "run") -> str:
    return time.strftime(f"%Y%m%d-%H%M%S-{label}")
