"""What every task runtime offers: start, stop and kill containers, report exits and pulls.

Like httpx's transports, the runtimes are interchangeable backends behind one small
interface: ``DockerRuntime`` (a real container per task) and ``ProcessRuntime`` (the same
service as a child process, where no Docker engine answers). The controllers never know which
one runs their tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

ESSENTIAL_EXITED = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
"""The ECS agent's wording (ecs-facts.md §2); exit code 137 = SIGKILL."""


@dataclass(frozen=True)
class ContainerSpec:
    """One task's container: what to run, where, with which limits."""

    task_id: str
    host_id: str  # the EC2 instance id the task was placed on
    image: str  # image reference (the Docker runtime runs it; the process runtime records it)
    cpu: int  # task CPU units: --cpus = cpu / 1024
    memory_mib: int  # hard limit: --memory
    port: int  # the host port the service listens on (network host)
    env: dict[str, str] = field(default_factory=dict)  # extra environment
    command: tuple[str, ...] | None = None  # the task definition's command (Docker: CMD)
    entry_point: tuple[str, ...] | None = None  # its entryPoint (Docker: ENTRYPOINT)


@dataclass(frozen=True)
class ContainerExit:
    """A container that stopped: ECS's stoppedReason and exit code."""

    task_id: str
    exit_code: int | None
    reason: str  # ESSENTIAL_EXITED, OOM_REASON, or "Task stopped by the scheduler" …
    oom: bool = False
    at: float = 0.0  # time.monotonic() when the exit was seen
    requested: bool = False  # caused by Runtime.stop() (or close()), not a crash


@dataclass(frozen=True)
class PullResult:
    """An image pull on one host: from the registry, or from that host's cache."""

    host_id: str
    image: str
    seconds: float
    cached: bool
    size_bytes: int | None = None  # the image's compressed size (what a full pull moves)
    badge: Literal["real", "simulated"] = "simulated"
    downloaded_bytes: int | None = None  # bytes that really came over the wire (real pulls)
    detail: str = ""  # where it came from, or why the pull was simulated


class PullError(RuntimeError):
    """The image cannot be had on that host (ECS: ``CannotPullContainerError``)."""


@runtime_checkable
class Runtime(Protocol):
    """A place where task containers run."""

    name: str  # "docker" or "process"

    def pull(self, host_id: str, image: str) -> PullResult:
        """Make ``image`` available on ``host_id``; the first pull per host costs time."""
        ...

    def start(self, spec: ContainerSpec) -> None:
        """Start the task's container; returns once it is launched (not yet ready)."""
        ...

    def stop(self, task_id: str, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` (ECS's stop sequence)."""
        ...

    def kill(self, task_id: str) -> None:
        """SIGKILL now (a crash): the exit shows code 137."""
        ...

    def exits(self) -> list[ContainerExit]:
        """Exits seen since the last call (non-blocking; each exit reported once)."""
        ...

    def running(self) -> list[str]:
        """Task ids whose containers are alive."""
        ...

    def cpu_seconds(self, task_id: str) -> float | None:
        """CPU seconds (user + system) the task's container has used since it started, or
        None when the runtime cannot tell (the task is unknown or gone). Cumulative, like a
        cgroup's ``cpuacct.usage``: callers take differences over time."""
        return None

    def memory_bytes(self, task_id: str) -> int | None:
        """Memory the task's container uses now (bytes), or None when unknown."""
        return None

    def close(self) -> None:
        """Stop every container this runtime started (no orphans)."""
        ...


def cpu_seconds(runtime: object, task_id: str) -> float | None:
    """``runtime.cpu_seconds(task_id)``, or None for a runtime without CPU accounting."""
    method = getattr(runtime, "cpu_seconds", None)
    return method(task_id) if callable(method) else None


def memory_bytes(runtime: object, task_id: str) -> int | None:
    """``runtime.memory_bytes(task_id)``, or None for a runtime without memory accounting."""
    method = getattr(runtime, "memory_bytes", None)
    return method(task_id) if callable(method) else None
