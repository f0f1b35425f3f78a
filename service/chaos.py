"""Kit-only chaos routes: NOT part of the model service's contract.

``create_app`` registers them only when the environment has ``FRAUDLAB_CHAOS=1``, which the
FraudLab local cloud's runtimes set for the tasks they run; anywhere else (a real deployment,
``fraudlab serve``, the tests of the contract) the routes do not exist and answer 404 like any
unknown path. They are left out of ``/openapi.json``.

``POST /chaos/allocate {"mib": N}`` answers 202, then allocates N MiB in a background thread,
16 MiB at a time, writing every byte so the memory is resident (as a leak is), and holds it
until the process dies. Asked for more than the task's memory limit, the task is OOM-killed by
its runtime: the kernel's cgroup OOM killer in a Docker container, the process runtime's
simulated cgroup otherwise; ECS reports "OutOfMemoryError: Container killed due to memory
usage", exit code 137.

``POST /chaos/latency {"ms": N}`` makes every later ``/predict`` of this process answer N ms
later (0 undoes it): a slow dependency, such as a feature store timing out. The wait holds one
of the replica's threads, as a slow call does, so the task keeps more requests open than the
others — what a least-outstanding-requests load balancer notices and round robin does not.

One adjustment makes the container die as ECS shows it: the kernel's OOM killer picks the
process using the most memory (this worker), and gunicorn's master would then start another
worker, leaving the container, and so the task, running. So the route first makes the master
(the container's PID 1) the OOM killer's first choice (``oom_score_adj`` 1000, which any
process may raise for its own user's processes): the kill then takes the whole container, as it
does a single-process server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from flask import Blueprint, Response, request

from service.responses import error_response, json_response

CHAOS_ENV = "FRAUDLAB_CHAOS"
MIB = 1 << 20
CHUNK_MIB = 16
MAX_MIB = 65536
MAX_LATENCY_MS = 10_000

bp = Blueprint("chaos", __name__)
_held: list[bytes] = []
_lock = threading.Lock()
_latency = {"ms": 0}


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the kit asked for the chaos routes (``FRAUDLAB_CHAOS=1``)."""
    return (os.environ if environ is None else environ).get(CHAOS_ENV) == "1"


def held_mib() -> int:
    """MiB this process holds for ``/chaos/allocate`` so far."""
    with _lock:
        return sum(len(block) for block in _held) // MIB


def _hold(mib: int) -> None:
    left = mib
    while left > 0:
        n = min(CHUNK_MIB, left)
        block = b"\x01" * (n * MIB)  # every page written: resident, not just reserved
        with _lock:
            _held.append(block)
        left -= n


def prefer_master_for_oom(proc: Path = Path("/proc")) -> bool:
    """Raise the gunicorn master's ``oom_score_adj`` to 1000; False if it is not our parent
    or cannot be changed (no /proc, another user)."""
    parent = proc / str(os.getppid())
    try:
        if b"gunicorn" not in (parent / "cmdline").read_bytes():
            return False
        (parent / "oom_score_adj").write_text("1000")
    except OSError:
        return False
    return True


@bp.post("/chaos/allocate")
def allocate() -> Response:

    body = request.get_json(silent=True)
    mib = body.get("mib") if isinstance(body, dict) else None
    if not isinstance(mib, int) or isinstance(mib, bool) or not 1 <= mib <= MAX_MIB:
        return error_response(400, "invalid_request", "mib",
                              f"mib must be an integer number of MiB in [1, {MAX_MIB}]")
    master = prefer_master_for_oom()
    before = held_mib()
    threading.Thread(target=_hold, args=(mib,), name="chaos-allocate", daemon=True).start()
    return json_response({"allocating_mib": mib, "held_mib": before, "pid": os.getpid(),
                          "master_first_for_oom_killer": master}, 202)


def latency_ms() -> int:
    """The delay added to each ``/predict`` of this process, in ms."""
    return _latency["ms"]


@bp.post("/chaos/latency")
def set_latency() -> Response:
    body = request.get_json(silent=True)
    ms = body.get("ms") if isinstance(body, dict) else None
    if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= MAX_LATENCY_MS:
        return error_response(400, "invalid_request", "ms",
                              f"ms must be an integer number of milliseconds in "
                              f"[0, {MAX_LATENCY_MS}]")
    before, _latency["ms"] = _latency["ms"], ms
    return json_response({"latency_ms": ms, "was_ms": before, "pid": os.getpid()})


@bp.before_app_request
def _delay_predict() -> None:
    """Wait the added latency before ``/predict`` runs (nothing when it is 0)."""
    ms = _latency["ms"]
    if ms and request.path == "/predict":
        time.sleep(ms / 1000)
