"""Start-up failures, as a learner meets them (issue 16): each is one line on stderr that names
the fix, no traceback fragment, and a non-zero exit — real ``fraudlab`` subprocesses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import cli_env, fraudlab


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on (and never answers)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def one_line_failure(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``fraudlab ARGS``; assert a non-zero exit and a one-line stderr; return that line."""
    run = fraudlab(env, *args, check=False, timeout=timeout)
    assert run.returncode != 0, f"fraudlab {' '.join(args)} exited 0: {run.stdout}"
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"fraudlab {' '.join(args)} printed:\n{run.stderr}"
    assert "Traceback" not in run.stderr and 'File "' not in run.stderr
    assert lines[0].startswith(f"fraudlab {args[0]}: ")
    return lines[0]


@pytest.mark.parametrize("args", [("status",), ("deploy",), ("scale", "3"), ("crash",),
                                  ("traffic", "--stop"), ("tui", "--attach")])
def test_commands_without_a_local_cloud_say_fraudlab_up(args: tuple[str, ...],
                                                       tmp_path: Path) -> None:
    line = one_line_failure(cli_env(tmp_path), *args)
    assert "no local cloud is running" in line and "`fraudlab up`" in line


def test_tui_without_a_terminal_names_the_demo(tmp_path: Path) -> None:
    line = one_line_failure(cli_env(tmp_path), "tui")
    assert "`fraudlab demo`" in line


def test_up_with_a_bad_time_scale(tmp_path: Path) -> None:
    assert "--time-scale must be > 0" in one_line_failure(cli_env(tmp_path), "up",
                                                          "--time-scale", "0")


def test_up_when_the_aws_port_is_taken(tmp_path: Path, taken_port: int) -> None:
    env = cli_env(tmp_path) | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{taken_port}"}
    line = one_line_failure(env, "up", "--runtime", "process")
    assert f"127.0.0.1:{taken_port}" in line and "AWS_ENDPOINT_URL" in line
    assert fraudlab(env, "status", check=False).returncode != 0  # nothing was left running


def test_up_when_the_load_balancer_port_is_taken(tmp_path: Path, taken_port: int) -> None:
    env = cli_env(tmp_path) | {"FRAUDLAB_LB_PORT": str(taken_port)}
    line = one_line_failure(env, "up", "--runtime", "process")
    assert "in use" in line and "FRAUDLAB_LB_PORT" in line
    assert fraudlab(env, "status", check=False).returncode != 0


def test_up_docker_without_an_engine_names_the_process_runtime(tmp_path: Path) -> None:
    env = cli_env(tmp_path) | {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    line = one_line_failure(env, "up", "--runtime", "docker")
    assert "no Docker engine answered" in line and "`--runtime process`" in line


def test_lab_on_a_taken_port(tmp_path: Path, taken_port: int) -> None:
    line = one_line_failure(cli_env(tmp_path), "lab", "--port", str(taken_port))
    assert f"port {taken_port}" in line and "--port" in line
