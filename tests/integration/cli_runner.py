"""Run ``fraudlab`` as a learner types it, each run with its own state directory and AWS port
(a helper module of the CLI tests, as tests/tui_app/tui_fake.py is of the TUI's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cloud.core.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def cli_env(state_dir: Path) -> dict[str, str]:
    """This environment with ``state_dir`` as the state directory and a free AWS port."""
    return {**os.environ, "FRAUDLAB_STATE_DIR": str(state_dir),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}


def fraudlab(env: dict[str, str], *args: str, timeout: float = 120,
             check: bool = True) -> subprocess.CompletedProcess:
    """``fraudlab ARGS`` in a subprocess; with ``check``, exit 0 is asserted (output shown)."""
    run = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    if check:
        assert run.returncode == 0, f"fraudlab {' '.join(args)}: {run.stderr}{run.stdout}"
    return run
