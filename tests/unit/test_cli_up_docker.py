"""``fraudlab up --runtime docker`` checks the engine first and builds a missing image, with the
build's log, before starting the local cloud (issue 16)."""

from __future__ import annotations

import io

import pytest

import cli.image
import cloud.runtime.choose
from cli.up import docker_ready
from cloud.runtime.choose import EngineProbe


def use_probe(monkeypatch: pytest.MonkeyPatch, found: EngineProbe) -> list[str]:
    """Answer the engine probe with ``found``; record what ``build_cli`` is asked to build."""
    built: list[str] = []

    def build_cli(target: str, tag: str | None, out: io.StringIO, *_: object) -> dict:
        built.append(target)
        print("Step 1/9 : FROM python:3.11-slim", file=out)
        return {}

    monkeypatch.setattr(cloud.runtime.choose, "probe_engine", lambda: found)
    monkeypatch.setattr(cli.image, "build_cli", build_cli)
    return built


def test_a_missing_image_is_built_with_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    built = use_probe(monkeypatch, EngineProbe("unix:///var/run/docker.sock", True, False))
    out = io.StringIO()
    docker_ready(out)
    assert built == ["slim"]
    assert "is not built yet: building it first" in out.getvalue()
    assert "Step 1/9" in out.getvalue()


def test_an_image_already_built_is_not_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    built = use_probe(monkeypatch, EngineProbe("unix:///var/run/docker.sock", True, True))
    docker_ready(io.StringIO())
    assert built == []


def test_a_failed_build_is_one_line_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    use_probe(monkeypatch, EngineProbe("unix:///var/run/docker.sock", True, False))

    def broken(*_: object) -> dict:
        raise RuntimeError("docker build --target slim failed: exit 1\nlog tail\nmore")

    monkeypatch.setattr(cli.image, "build_cli", broken)
    with pytest.raises(RuntimeError) as failure:
        docker_ready(io.StringIO())
    assert "\n" not in str(failure.value) and "`--runtime process`" in str(failure.value)
