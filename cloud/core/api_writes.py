"""Write calls the in-process emulator served, per AWS service: a cheap version stamp.

The controllers read the desired state through the AWS API (what a learner changes with
``aws``/boto3 is what they obey). Re-reading it every pass costs an HTTP round trip per call
for both sides in one process; when the emulator runs in this process (moto), a controller
asks :func:`generation` instead and re-reads only when a write call (anything but
Describe/List/Get) was served since its last read — by a learner or by the kit. What the
kit writes straight into the emulator's backend (``cloud.ecs.writeback``) does not count:
the writer calls :func:`bump` when a reader must see it.

A loop that waits between passes can :func:`subscribe` to be told of each write as it is
served (the local cloud wakes its loop, so a learner's call takes effect at once).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

READ_PREFIXES = ("Describe", "List", "Get")
_counts: Counter[str] = Counter()
_lock = threading.Lock()
_installed = False
_listeners: list[Callable[[str, str], None]] = []


def is_write(action: str) -> bool:
    """Whether an API action (``UpdateService``, ``DescribeServices`` …) may change state."""
    return not action.startswith(READ_PREFIXES)


def bump(service: str, action: str = "") -> None:
    """Count a write to ``service`` (``action``: the API action, empty for a write that did
    not go through the API) and tell the subscribers, outside the lock."""
    with _lock:
        _counts[service] += 1
        listeners = list(_listeners)
    for listener in listeners:
        listener(service, action)


def subscribe(listener: Callable[[str, str], None]) -> Callable[[], None]:
    """Call ``listener(service, action)`` after each write is counted (in the thread that
    served it: keep it short, e.g. set an event); returns the call that unsubscribes."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)
    return unsubscribe


def generation(service: str) -> int:
    """How many write calls ``service`` has served (its version stamp)."""
    return _counts[service]


def install() -> None:
    """Count the write calls of moto's server in this process (idempotent). Each is counted
    once it has been served, so a reader that takes the stamp before reading never keeps a
    state older than its stamp."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    # moto is imported only here: the local cloud runs it in-process; nothing else needs it.
    from moto.core.responses import BaseResponse

    serve = BaseResponse.call_action

    def counted(self: Any) -> Any:
        try:
            return serve(self)
        finally:
            try:
                action = self._get_action()
            except Exception:  # not an action we can name: count it, to be safe
                action = ""
            if is_write(action or ""):
                bump(str(getattr(self, "service_name", "") or ""), action or "")

    BaseResponse.call_action = counted  # type: ignore[method-assign]
