"""Several clusters on one runtime: a ClusterController per cluster, sharing the runtime.

The local cloud runs the kit's cluster from the start and a controller for every other
cluster once it has container instances or live services (:func:`clusters_to_run`): a
service in a cluster without instances then gets ECS's "unable to place a task because no
container instance met all of its requirements" event from its scheduler, not a silent
pendingCount. Each controller sees the runtime through a :class:`RuntimeView`: the exits of
its own tasks only (the runtime reports every container's exit once, to whoever asks
first), and only the kit's controller closes the runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from cloud.runtime.base import ContainerExit

KEEP_UNCLAIMED = 1_000  # exits no controller has claimed yet, kept for a later take


class SharedExits:
    """The runtime's exits, handed to the controller whose task exited."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._pending: list[ContainerExit] = []
        self._lock = threading.Lock()

    def take(self, owns: Callable[[str], bool]) -> list[ContainerExit]:
        with self._lock:
            found = self._pending + list(self.runtime.exits())
            mine = [e for e in found if owns(e.task_id)]
            self._pending = [e for e in found if not owns(e.task_id)][-KEEP_UNCLAIMED:]
        return mine


class RuntimeView:
    """The runtime as one controller sees it: its own tasks' exits; ``close`` closes the
    runtime only for its owner (the kit's controller). Everything else is the runtime's."""

    def __init__(self, runtime: Any, exits: SharedExits, *, owner: bool) -> None:
        self._runtime, self._exits, self._owner = runtime, exits, owner
        self.owns: Callable[[str], bool] = lambda _task_id: True

    def exits(self) -> list[ContainerExit]:
        return self._exits.take(self.owns)

    def close(self) -> None:
        if self._owner:
            self._runtime.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


def clusters_to_run(clusters: Iterable[Any], kit: str) -> list[str]:
    """The clusters other than ``kit`` that need a controller (pure): those with container
    instances or live services (``cloud.lb.pools.ClusterInfo``)."""
    return [c.name for c in clusters if c.name != kit and (c.instances or c.services)]


def cluster_summary(published: dict[str, Any]) -> dict[str, Any]:
    """Another cluster's controller snapshot, compact: hosts, services, live tasks."""
    return {"cluster": published.get("cluster"),
            "hosts": [h["instance_id"] for h in published.get("hosts", [])],
            "services": [{k: s[k] for k in ("name", "desired", "running", "pending")}
                         | {"events": s["events"][:3]} for s in published.get("services", [])],
            "tasks": [{k: t[k] for k in ("task_id", "service", "host", "last_status", "port")}
                      for t in published.get("tasks", []) if t["last_status"] != "STOPPED"]}
