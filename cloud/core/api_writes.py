"""Write calls the in-process emulator served, per AWS service: a cheap version stamp.

The controllers read the desired state through the AWS API (what a learner changes with
``aws``/boto3 is what they obey). Re-reading it every pass costs an HTTP round trip per call
for both sides in one process; when the emulator runs in this process (moto), a controller
asks :func:`generation` instead and re-reads only when a write call (anything but
Describe/List/Get) was served since its last read — by a learner or by the kit. What the
kit writes straight into the emulator's backend (``cloud.ecs.writeback``) does not count:
the writer calls :func:`bump` when a reader must see it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

READ_PREFIXES = ("Describe", "List", "Get")
_counts: Counter[str] = Counter()
_lock = threading.Lock()
_installed = False


def is_write(action: str) -> bool:
    """Whether an API action (``UpdateService``, ``DescribeServices`` …) may change state."""
    return not action.startswith(READ_PREFIXES)


def bump(service: str) -> None:
    """Count a write to ``service`` that did not go through the API."""
    with _lock:
        _counts[service] += 1


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
                bump(str(getattr(self, "service_name", "") or ""))

    BaseResponse.call_action = counted  # type: ignore[method-assign]
