"""choose_runtime(): which runtime, and why, with the engine probe injected (no Docker needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.runtime.choose import (
    DEFAULT_ENGINE,
    DEFAULT_IMAGE,
    EngineProbe,
    RuntimeUnavailable,
    choose_runtime,
    engine_address,
    probe_engine,
)
from cloud.runtime.docker import DockerRuntime
from cloud.runtime.process import ProcessRuntime

SOCKET = "unix:///var/run/docker.sock"


class FakeAPI:
    def containers(self, **_: object) -> list[dict]:
        return []


class FakeClient:
    """Just enough of docker.DockerClient for a DockerRuntime that runs nothing."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.closed = False

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def probe_of(answered: bool, has_image: bool = False, detail: str = "",
             client: FakeClient | None = None):
    asked: list[str] = []

    def probe(image: str) -> EngineProbe:
        asked.append(image)
        return EngineProbe(SOCKET, answered, has_image, detail, client)

    probe.asked = asked  # type: ignore[attr-defined]
    return probe


@pytest.fixture
def closing() -> Iterator[list]:
    """Runtimes to close after the test."""
    made: list = []
    yield made
    for runtime in made:
        runtime.close()


def test_auto_picks_docker_when_the_engine_has_the_image(closing):
    client = FakeClient()
    probe = probe_of(True, True, client=client)
    for preference in (None, "auto", " AUTO "):
        runtime = choose_runtime(preference, probe=probe)
        closing.append(runtime)
        assert isinstance(runtime, DockerRuntime)
        assert runtime._client is client
        assert runtime.why == f"docker runtime: the engine at {SOCKET} answered and has " \
                              f"{DEFAULT_IMAGE}"
    assert probe.asked == [DEFAULT_IMAGE] * 3


def test_auto_falls_back_to_processes_without_an_engine(closing, tmp_path):
    probe = probe_of(False, detail="ConnectionRefusedError: [Errno 111]")
    runtime = choose_runtime(probe=probe, log_dir=tmp_path)
    closing.append(runtime)
    assert isinstance(runtime, ProcessRuntime)
    assert runtime.log_dir == tmp_path
    assert runtime.why == (f"process runtime: no Docker engine answered at {SOCKET} "
                           f"(ConnectionRefusedError: [Errno 111])")


def test_auto_falls_back_to_processes_without_the_image(closing):
    client = FakeClient()
    probe = probe_of(True, False, "image fraudlab/service:slim is not built", client)
    runtime = choose_runtime("auto", probe=probe)
    closing.append(runtime)
    assert isinstance(runtime, ProcessRuntime)
    assert runtime.why.startswith(f"process runtime: the Docker engine at {SOCKET} cannot run")
    assert "not built" in runtime.why
    assert client.closed


def test_process_asked_for_never_probes(closing):
    probe = probe_of(True, True, client=FakeClient())
    runtime = choose_runtime("process", probe=probe, bandwidth_bytes_per_s=1e6)
    closing.append(runtime)
    assert isinstance(runtime, ProcessRuntime)
    assert runtime.bandwidth_bytes_per_s == 1e6
    assert runtime.why == "process runtime: asked for"
    assert probe.asked == []


def test_docker_asked_for(closing):
    runtime = choose_runtime("docker", probe=probe_of(True, True, client=FakeClient()),
                             poll_interval=0.5, log_dir="/nonexistent/ignored")
    closing.append(runtime)
    assert isinstance(runtime, DockerRuntime)
    assert runtime.poll_interval == 0.5
    assert runtime.why.startswith("docker runtime: asked for; the engine at")


def test_docker_asked_for_without_an_engine_is_a_clear_error():
    with pytest.raises(RuntimeUnavailable, match=f"no Docker engine answered at {SOCKET}"):
        choose_runtime("docker", probe=probe_of(False, detail="FileNotFoundError"))


def test_docker_asked_for_without_the_image_is_a_clear_error():
    client = FakeClient()
    with pytest.raises(RuntimeUnavailable, match="cannot run fraudlab/service:slim"):
        choose_runtime("docker", probe=probe_of(True, False, "not built", client))
    assert client.closed


def test_other_image_is_probed(closing):
    probe = probe_of(True, True, client=FakeClient())
    closing.append(choose_runtime(image="fraudlab/service:full", probe=probe))
    assert probe.asked == ["fraudlab/service:full"]


@pytest.mark.parametrize("preference", ["podman", "Docker!", "fargate"])
def test_unknown_preference(preference):
    with pytest.raises(ValueError, match=r"unknown runtime .*auto, docker, process"):
        choose_runtime(preference, probe=probe_of(False))


def test_a_keyword_no_runtime_takes_is_a_type_error():
    with pytest.raises(TypeError, match="no runtime takes bandwith"):
        choose_runtime("process", probe=probe_of(False), bandwith=1)


def test_engine_address(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_address() == DEFAULT_ENGINE == SOCKET
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert engine_address() == "tcp://127.0.0.1:2375"


def test_the_real_probe_reports_a_missing_engine(monkeypatch, tmp_path):
    address = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", address)
    found = probe_engine()
    assert (found.address, found.answered, found.has_image, found.client) == (
        address, False, False, None)
    assert found.detail


def test_auto_without_an_engine_end_to_end(monkeypatch, tmp_path, closing):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    runtime = choose_runtime(log_dir=tmp_path)
    closing.append(runtime)
    assert isinstance(runtime, ProcessRuntime)
    assert runtime.why.startswith(f"process runtime: no Docker engine answered at "
                                  f"unix://{tmp_path}/no-engine.sock (")
