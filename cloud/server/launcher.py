"""Start, find and stop the local cloud process (``fraudlab up`` / ``down``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.core import state_dir as state
from cloud.server.control import ControlClient, ControlError

UP_TIMEOUT = 60.0


def running_cloud() -> dict[str, Any] | None:
    """The running local cloud's ``cloud.json``, or None (stale files are removed)."""
    info = state.read_cloud()
    if not info:
        return None
    if not state.pid_alive(int(info.get("pid", 0))):
        state.clear_cloud()
        return None
    return info


def connect() -> ControlClient:
    """A control-API client for the running local cloud; a clear error if there is none."""
    info = running_cloud()
    token = state.read_token()
    if not info or not token:
        raise ControlError("no local cloud is running: start it with `fraudlab up`")
    return ControlClient(info["control_url"], token)


def up(runtime: str = "auto", time_scale: float = 12.0,
       timeout: float = UP_TIMEOUT) -> tuple[dict[str, Any], float, bool]:
    """Start the local cloud in the background; returns (info, seconds, already_running)."""
    if time_scale <= 0:
        raise ValueError(f"--time-scale must be > 0, got {time_scale}")
    existing = running_cloud()
    if existing:
        return existing, 0.0, True
    started = time.monotonic()
    log_path = state.state_dir() / state.LOG_FILE
    log_start = log_path.stat().st_size if log_path.exists() else 0
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud.server.localcloud", "--runtime", runtime,
         "--time-scale", str(time_scale)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env=os.environ.copy())
    log.close()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = startup_reason(log_path, log_start)
            raise RuntimeError(f"the local cloud did not start: {reason} (log: {log_path})")
        info = state.read_cloud()
        if info and info.get("pid") == process.pid:
            try:
                connect().get("/v1/snapshot")
                return info, time.monotonic() - started, False
            except ControlError:
                pass
        time.sleep(0.05)
    process.terminate()
    raise TimeoutError(f"the local cloud was not ready after {timeout:.0f} s "
                       f"(log: {state.state_dir() / state.LOG_FILE})")


def startup_reason(log_path: Path, offset: int) -> str:
    """The one-line reason a local cloud gave in its log (from ``offset``) for not starting."""
    with log_path.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").strip().splitlines()
    for line in reversed(lines):
        if line.startswith(state.STARTUP_FAILED):
            return line.removeprefix(state.STARTUP_FAILED)
    return lines[-1].strip() if lines else "it exited without a word"


def down(timeout: float = 45.0) -> bool:
    """Stop the local cloud and wait until its process is gone; False if none ran."""
    info = running_cloud()
    if not info:
        return False
    pid = int(info["pid"])
    try:
        connect().post("/v1/down")
    except ControlError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and state.pid_alive(pid):
        _reap(pid)
        time.sleep(0.1)
    if state.pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    state.clear_cloud()
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
