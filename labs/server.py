"""``fraudlab lab``: JupyterLab on 127.0.0.1 with a token, opened on the lab notebooks.

JupyterLab runs from this Python (``sys.executable -m jupyterlab``), so its default
``python3`` kernel is this interpreter — the one that has the kit. The token is generated
unless given; the URL with it is printed. No browser is opened unless asked.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from cloud.core.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "labs" / "notebooks"


def lab_command(port: int, token: str, browser: bool = False,
                notebook_dir: Path = NOTEBOOKS) -> list[str]:
    """The JupyterLab command line (loopback only, token required)."""
    if not 0 < port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    if len(token) < 16:
        raise ValueError("--token must be at least 16 characters")
    if not notebook_dir.is_dir():
        raise ValueError(f"no notebook directory {notebook_dir}")
    argv = [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebook_dir}"]
    if not browser:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI run as root
        argv.append("--ServerApp.allow_root=True")
    return argv


def lab_env() -> dict[str, str]:
    """The server's (and its kernels') environment: the kit importable from this checkout."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


LOG_NAME = "jupyterlab.log"
READY_SECONDS = 90.0


def start_lab(port: int | None = None, token: str | None = None, browser: bool = False,
              log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start JupyterLab in the background, its log to ``log_path`` (else inherited);
    (process, URL with the token)."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("JupyterLab is not installed: pip install -e '.[lab]'") from exc
    port = port or free_port()
    token = token or secrets.token_urlsafe(24)
    # Same process group as `fraudlab lab`: Ctrl-C (or a signal to the group) reaches both.
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    try:
        process = subprocess.Popen(lab_command(port, token, browser), env=lab_env(),
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT if log else None)
    finally:
        if log is not None:
            log.close()  # the child keeps its own handle
    return process, f"http://127.0.0.1:{port}/lab?token={token}"


def wait_until_answering(url: str, process: subprocess.Popen,
                         timeout: float = READY_SECONDS) -> float:
    """Poll JupyterLab's /api/status (with the token) until it answers 200; seconds waited.
    Raises RuntimeError if the process exits first or nothing answers within ``timeout``."""
    import requests

    base, token = url.split("/lab?token=")
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {process.returncode}")
        try:
            reply = requests.get(f"{base}/api/status",
                                 headers={"Authorization": f"token {token}"}, timeout=2)
            if reply.status_code == 200:
                return time.monotonic() - began
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer at {base} within {timeout:.0f} s")
