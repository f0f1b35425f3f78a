"""What each test process owns when the suite runs in parallel (pytest-xdist, ``-n 3``): its own
range of ports and its own state directory, so workers never meet."""

from __future__ import annotations

import atexit
import itertools
import os
import random
import shutil
import tempfile
import threading

from cloud.core.ports import free_port as any_free_port
from cloud.core.ports import port_is_free

PORT_BASE = 20_000
"""Test ports sit below Linux's ephemeral range (32768–60999): no outgoing connection of this
or another process takes one between ``free_port()`` and the bind."""
PORT_SPAN = 1_500
WORKERS = 8  # ranges 20000–31999, one per worker (gw0…gw7, then they wrap)

_lock = threading.Lock()
_counter = itertools.count(random.randrange(PORT_SPAN))  # another session starts elsewhere


def worker() -> str:
    """This process's xdist worker id (``gw0``, ``gw1``…), ``main`` without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_index() -> int:
    digits = worker().removeprefix("gw")
    return int(digits) % WORKERS if digits.isdigit() else 0


def free_port() -> int:
    """A free TCP port on 127.0.0.1 from this worker's range, each handed out once per lap."""
    base = PORT_BASE + worker_index() * PORT_SPAN
    for _ in range(PORT_SPAN):
        with _lock:
            port = base + next(_counter) % PORT_SPAN
        if port_is_free(port):
            return port
    return any_free_port()  # the whole range is busy: any port the kernel gives


def isolate_state_dir() -> str:
    """Give this test process a state directory of its own unless one is set (the learner's
    ``~/.local/state/fraudlab`` is never touched by a test)."""
    if not os.environ.get("FRAUDLAB_STATE_DIR"):
        path = tempfile.mkdtemp(prefix=f"fraudlab-{worker()}-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["FRAUDLAB_STATE_DIR"] = path
    return os.environ["FRAUDLAB_STATE_DIR"]
