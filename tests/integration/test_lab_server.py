"""`fraudlab lab` starts a real JupyterLab on 127.0.0.1 that wants its token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from optional import needs

pytestmark = needs("jupyterlab", reason="JupyterLab is not installed (the lab extra)")

ROOT = Path(__file__).resolve().parents[2]


def test_fraudlab_lab_serves_with_a_token(free_port_factory, tmp_path) -> None:
    port = free_port_factory()
    token = "t" * 32
    log = (tmp_path / "lab.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "lab", "--port", str(port), "--token", token],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "FRAUDLAB_STATE_DIR": str(tmp_path / "state"),
             "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
             "JUPYTER_DATA_DIR": str(tmp_path / "data")})
    url = f"http://127.0.0.1:{port}/api/status"
    try:
        deadline = time.monotonic() + 60
        reply = None
        while time.monotonic() < deadline:
            try:
                reply = requests.get(url, headers={"Authorization": f"token {token}"},
                                     timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, (tmp_path / "lab.log").read_text()
                time.sleep(0.3)
        assert reply is not None, (tmp_path / "lab.log").read_text()
        assert reply.status_code == 200, reply.text
        assert requests.get(url, timeout=5).status_code == 403
        assert requests.get(url, headers={"Authorization": "token wrong"},
                            timeout=5).status_code == 403
        link = f"http://127.0.0.1:{port}/lab?token={token}"
        deadline = time.monotonic() + 30  # printed once JupyterLab answers, not before
        while link not in (tmp_path / "lab.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = (tmp_path / "lab.log").read_text()
        assert link in text, text
        jupyter_log = tmp_path / "state" / "jupyterlab.log"
        assert str(jupyter_log) in text  # says where Jupyter's own log went
        assert "ServerApp" in jupyter_log.read_text()  # …and it went there, not to the screen
        assert "ServerApp" not in text and len(text.splitlines()) <= 4, text
    finally:
        process.send_signal(signal.SIGTERM)  # to `fraudlab lab` only: it stops JupyterLab
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
        log.close()
    assert code is not None, "fraudlab lab did not stop on SIGTERM"
    with pytest.raises(requests.ConnectionError):  # JupyterLab went with it
        requests.get(url, timeout=2)
