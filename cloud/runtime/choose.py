"""Pick the task runtime: Docker where an engine answers and has the image, else processes.

``choose_runtime()`` returns the runtime with ``.why`` set to a sentence the UI can show,
e.g. "process runtime: no Docker engine answered at unix:///var/run/docker.sock (…)".
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloud.runtime.base import Runtime
from cloud.runtime.docker import DockerRuntime
from cloud.runtime.process import ProcessRuntime

DEFAULT_IMAGE = "fraudlab/service:slim"
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
PREFERENCES = ("auto", "docker", "process")


class RuntimeUnavailable(RuntimeError):
    """The runtime that was asked for cannot run here."""


@dataclass
class EngineProbe:
    """What a look at the Docker engine found."""

    address: str
    answered: bool
    has_image: bool = False
    detail: str = ""  # why it did not answer, or what is missing
    client: Any = None  # a docker.DockerClient when it answered


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE


def probe_engine(image: str = DEFAULT_IMAGE, timeout: float = 1.0) -> EngineProbe:
    """Ping the engine (``DOCKER_HOST`` or the default socket) within ``timeout`` and look
    for ``image`` in its store."""
    address = engine_address()
    try:
        import docker
        from docker.errors import ImageNotFound
    except ImportError:
        return EngineProbe(address, False, detail="the docker Python SDK is not installed")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # any failure to answer means: no engine for us
        return EngineProbe(address, False, detail=f"{type(exc).__name__}: {exc}"[:300])
    try:
        client.images.get(image)
    except ImageNotFound:
        return EngineProbe(address, True, False, f"image {image} is not built "
                           "(`fraudlab build`)", client)
    except Exception as exc:
        return EngineProbe(address, True, False, f"{type(exc).__name__}: {exc}"[:300], client)
    client.api.timeout = 60  # the probe's 1 s is too short for stop() and friends
    return EngineProbe(address, True, True, client=client)


def _accepted(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def choose_runtime(preference: str | None = None, *, image: str = DEFAULT_IMAGE,
                   probe: Callable[[str], EngineProbe] = probe_engine,
                   **kwargs: Any) -> Runtime:
    """The runtime for ``preference`` ("docker", "process", or None/"auto": Docker if an engine
    answers within ~1 s and has ``image``, else processes), with ``.why`` saying why.

    ``kwargs`` go to the chosen runtime's constructor; a keyword only the other runtime takes
    is dropped (so "auto" works with either), one that neither takes is a ``TypeError``.
    Raises ``ValueError`` for an unknown preference and ``RuntimeUnavailable`` when Docker is
    asked for and cannot run the image.
    """
    choice = (preference or "auto").strip().lower()
    if choice not in PREFERENCES:
        raise ValueError(f"unknown runtime {preference!r}: choose one of "
                         f"{', '.join(PREFERENCES)}")
    unknown = set(kwargs) - set(inspect.signature(DockerRuntime).parameters) \
        - set(inspect.signature(ProcessRuntime).parameters)
    if unknown:
        raise TypeError(f"no runtime takes {', '.join(sorted(unknown))}")

    if choice == "process":
        runtime: Any = ProcessRuntime(**_accepted(ProcessRuntime, kwargs))
        runtime.why = "process runtime: asked for"
        return runtime

    found = probe(image)
    if found.answered and found.has_image:
        docker_kwargs = {"client": found.client, **_accepted(DockerRuntime, kwargs)}
        runtime = DockerRuntime(**docker_kwargs)
        runtime.why = (f"docker runtime: {'asked for; ' if choice == 'docker' else ''}"
                       f"the engine at {found.address} answered and has {image}")
        return runtime
    if not found.answered:
        missing = f"no Docker engine answered at {found.address} ({found.detail})"
    else:
        missing = f"the Docker engine at {found.address} cannot run {image}: {found.detail}"
    if found.client is not None:
        found.client.close()
    if choice == "docker":
        fix = "" if found.answered else ": start the engine, or use `--runtime process`"
        raise RuntimeUnavailable(f"docker runtime asked for, but {missing}{fix}")
    runtime = ProcessRuntime(**_accepted(ProcessRuntime, kwargs))
    runtime.why = f"process runtime: {missing}"
    return runtime
