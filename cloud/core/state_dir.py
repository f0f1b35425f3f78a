"""The per-user state directory: where the local cloud says where it is, and its token.

``$FRAUDLAB_STATE_DIR``, else ``$XDG_STATE_HOME/fraudlab``, else ``~/.local/state/fraudlab``.
The control API's token lives in a 0600 file there, as Jupyter keeps its runtime files.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

CLOUD_FILE = "cloud.json"
TOKEN_FILE = "token"
LOG_FILE = "cloud.log"
STARTUP_FAILED = "start-up failed: "
"""The log line ``fraudlab up`` shows when the local cloud cannot start (one line, a fix)."""


def state_dir() -> Path:
    explicit = os.environ.get("FRAUDLAB_STATE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        path = Path(base) / "fraudlab"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def new_token() -> str:
    """A fresh control-API token, written with mode 0600 (readable by this user only)."""
    token = secrets.token_urlsafe(32)
    path = state_dir() / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(path, 0o600)
    return token


def read_token() -> str | None:
    try:
        return (state_dir() / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def write_cloud(info: dict[str, Any]) -> None:
    path = state_dir() / CLOUD_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)


def read_cloud() -> dict[str, Any] | None:
    try:
        return json.loads((state_dir() / CLOUD_FILE).read_text())
    except (OSError, ValueError):
        return None


def clear_cloud() -> None:
    for name in (CLOUD_FILE,):
        with contextlib.suppress(FileNotFoundError):
            (state_dir() / name).unlink()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
