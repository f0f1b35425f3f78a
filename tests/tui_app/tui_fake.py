"""A fake control client with canned snapshots, for the TUI's pilot and snapshot tests."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cloud.server.control import ControlError

CANNED = Path(__file__).with_name("canned_snapshot.json")


def canned_snapshot() -> dict[str, Any]:
    """A fixed snapshot taken from a real local cloud (4 tasks on 2 hosts, one crashed)."""
    return json.loads(CANNED.read_text())


class FakeControl:
    """Answers like ``ControlClient``: canned snapshots, recorded actions, chosen failures."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.snapshot = snapshot if snapshot is not None else canned_snapshot()
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.failures: dict[str, str] = {}  # path → the error message the API answers
        self.replies: dict[str, Any] = {
            "/v1/crash": {"crashed": "88ae467b2f3169f021ca31969e3de7bb"},
            "/v1/kill-host": {"killed_host": "i-2c2938bfacc9ba898"},
            "/v1/slow": {"slow": "5d0c6a2e91f04b7e8a3c1f2d4e5b6a7c"},
            "/v1/traffic": {"traffic": "started", "target": "http://127.0.0.1:8080"},
            "/v1/traffic/stop": {"completed": 10},
            "/v1/traffic/profile": {"traffic": "changed"},
            "/v1/lb": {"algorithm": "least_outstanding_requests", "retry": True,
                       "retry_label": "kit-only: ALB does not retry"},
            "/v1/scale": {"cli": "aws ecs update-service --desired-count 5",
                          "title": "Set fraud-svc's desired count to 5"},
        }
        self.changes: list[dict[str, Any]] = []  # sent one per stream tick after the snapshot
        self.closed = threading.Event()

    def get(self, path: str) -> Any:
        if path in self.failures:
            raise ControlError(self.failures[path])
        return copy.deepcopy(self.snapshot)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        self.posts.append((path, body or {}))
        if path in self.failures:
            raise ControlError(self.failures[path])
        return copy.deepcopy(self.replies.get(path, {}))

    def stream(self, path: str = "/v1/stream", interval: float = 0.5,
               seconds: float = 3600.0) -> Iterator[tuple[str, Any]]:
        yield "snapshot", copy.deepcopy(self.snapshot)
        deadline = time.monotonic() + seconds
        while not self.closed.is_set() and time.monotonic() < deadline:
            if self.changes:
                yield "changes", self.changes.pop(0)
            else:
                yield "keep-alive", None
            time.sleep(0.02)


async def settle(pilot: Any, until: Callable[[], object], timeout: float = 15.0) -> None:
    """Let the app run until ``until()`` is true — polled between short pilot pauses; an
    exception (a widget not mounted yet) counts as not yet — and fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if until():
                return
        except Exception:  # e.g. NoMatches while a screen is being pushed
            pass
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for the app"
        await pilot.pause(0.05)


def shows(text: Callable[[], str], *needles: str) -> Callable[[], bool]:
    """A condition for ``settle``: ``text()`` contains every one of ``needles``."""
    return lambda: all(needle in text() for needle in needles)
