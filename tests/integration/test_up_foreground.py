"""``fraudlab up --foreground`` (docker-compose.yml's kit service): the local cloud in the
command's own process, reachable like a background one, stopped by SIGTERM with its state
cleared; and it refuses to start a second cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from cloud.core import state_dir as state


def test_up_in_the_foreground_serves_until_sigterm(tmp_path: Path, free_port_factory,
                                                   wait_for, monkeypatch) -> None:
    env = os.environ | {"FRAUDLAB_STATE_DIR": str(tmp_path), "FRAUDLAB_LB_PORT": "0",
                        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_factory()}"}
    env.pop("LOCALSTACK_HOST", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--foreground", "--runtime", "process"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cloud_file = tmp_path / state.CLOUD_FILE
        info = wait_for(lambda: cloud_file.exists() and json.loads(cloud_file.read_text()),
                        30, "cloud.json from the foreground local cloud")
        assert info["pid"] == process.pid  # the command's own process, not a child
        assert info["aws_endpoint"] == env["AWS_ENDPOINT_URL"]
        assert info["runtime_why"] == "process runtime: asked for"
        monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
        from cloud.server.launcher import connect

        snap = wait_for(lambda: connect().get("/v1/snapshot"), 10, "the control API")
        assert snap["runtime"] == "process"
        second = subprocess.run([sys.executable, "-m", "cli.main", "up", "--foreground"],
                                env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        assert f"already running (pid {process.pid})" in second.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not cloud_file.exists()
        output = process.stdout.read() if process.stdout else ""
        assert "local cloud ready" in output and "process runtime: asked for" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
