"""The kit's local registry: CNCF distribution (Debian's ``docker-registry``) on 127.0.0.1.

Where LocalStack serves ECR, its own registry is the real one (``registry_for_repository``
says which). Otherwise the kit runs ``docker-registry serve <config>`` itself — no systemd —
with a generated config: filesystem storage under the state directory, HTTP on
``127.0.0.1:PORT``, **no authentication** (the package's default htpasswd auth is left out).
Docker lets clients use registries on 127.0.0.0/8 over plain HTTP, so ``docker push
127.0.0.1:PORT/fraud-detection:slim`` needs no TLS. ``registry.json`` in the state directory
says where it runs; ``stop_registry`` ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from cloud.core import state_dir as state
from cloud.core.ports import free_port, port_is_free
from cloud.image.distribution import RegistryClient
from cloud.image.reference import Reference, ecr_host, parse_reference

REGISTRY_FILE = "registry.json"
BINARY_ENV = "FRAUDLAB_REGISTRY_BIN"
BINARIES = ("docker-registry", "registry")  # Debian's package; upstream's binary name
DEFAULT_PORT = 5000
START_TIMEOUT_S = 15.0
INSTALL_HINT = ("install CNCF distribution: `apt-get install -y docker-registry` (Debian/Ubuntu), "
                "or set FRAUDLAB_REGISTRY_BIN to a `registry` binary")


class RegistryUnavailable(RuntimeError):
    """No registry can be had here (no binary, or it would not start)."""


@dataclass(frozen=True)
class RegistryInfo:
    """Where a registry answers and what runs it."""

    host: str  # "127.0.0.1:5000": the registry part of image references
    url: str  # "http://127.0.0.1:5000"
    kind: str  # "local" (the kit's docker-registry) or "localstack"
    auth: bool  # whether it asks for credentials
    pid: int | None = None
    root: str | None = None  # storage directory (local)
    binary: str | None = None
    config: str | None = None  # the generated config file (local)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def registry_config(root: Path, port: int, host: str = "127.0.0.1") -> str:
    """The distribution config (YAML): filesystem storage at ``root``, HTTP on host:port, no
    auth, deletes allowed, no access log."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be within 1..65535, got {port}")
    return "\n".join([
        "version: 0.1",
        "log:",
        "  level: warn",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {json.dumps(str(root))}",
        "  delete:",
        "    enabled: true",
        "  redirect:",
        "    disable: true",
        "http:",
        f"  addr: {host}:{port}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
        "",
    ])


def find_binary() -> str | None:
    """The registry binary: ``$FRAUDLAB_REGISTRY_BIN``, else ``docker-registry`` or
    ``registry`` on the PATH (or /usr/bin), else None."""
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in BINARIES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}",
                                                                       os.X_OK) else None)
        if found:
            return found
    return None


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether the Registry HTTP API v2 answers at ``url`` (``GET /v2/`` → 200 or 401)."""
    try:
        return requests.get(f"{url}/v2/", timeout=timeout).status_code in (200, 401)
    except requests.RequestException:
        return False


def _free_port(preferred: int) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    if port_is_free(preferred):
        return preferred
    try:
        return free_port()
    except OSError as exc:
        raise RegistryUnavailable("no free port on 127.0.0.1") from exc


def _dir() -> Path:
    path = state.state_dir() / "registry"
    path.mkdir(parents=True, exist_ok=True)
    return path


def running_registry() -> RegistryInfo | None:
    """The kit's registry recorded in the state directory, if its process lives and answers."""
    try:
        data = json.loads((state.state_dir() / REGISTRY_FILE).read_text())
        info = RegistryInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    if info.pid is not None and not state.pid_alive(info.pid):
        return None
    return info if answers(info.url) else None


def start_registry(port: int | None = None, root: Path | None = None) -> RegistryInfo:
    """Start ``docker-registry serve`` on 127.0.0.1 (``port``, else 5000 if free, else any)
    with storage under the state directory; returns once ``GET /v2/`` answers."""
    binary = find_binary()
    if binary is None:
        raise RegistryUnavailable(f"no registry binary found: {INSTALL_HINT}")
    workdir = _dir()
    storage = root or workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    chosen = port if port is not None else _free_port(DEFAULT_PORT)
    config = workdir / f"config-{chosen}.yml"
    config.write_text(registry_config(storage, chosen))
    log = workdir / "registry.log"
    with log.open("ab") as out:
        process = subprocess.Popen([binary, "serve", str(config)], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{chosen}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers(url, timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            tail = log.read_text(errors="replace")[-800:]
            raise RegistryUnavailable(f"{binary} did not answer on {url} within "
                                      f"{START_TIMEOUT_S:.0f} s (exit {process.poll()}):\n{tail}")
        time.sleep(0.05)
    info = RegistryInfo(f"127.0.0.1:{chosen}", url, "local", False, process.pid, str(storage),
                        binary, str(config))
    (state.state_dir() / REGISTRY_FILE).write_text(json.dumps(info.as_dict(), indent=2))
    return info


def ensure_registry() -> tuple[RegistryInfo, bool]:
    """The running kit registry, or a new one: (info, started now)."""
    info = running_registry()
    if info is not None:
        return info, False
    return start_registry(), True


def stop_registry(info: RegistryInfo | None = None, timeout: float = 5.0) -> bool:
    """SIGTERM the kit's registry (SIGKILL after ``timeout``); whether one was running."""
    if info is None:
        try:
            info = RegistryInfo(**json.loads((state.state_dir() / REGISTRY_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return False
    stopped = False
    if info.pid is not None and state.pid_alive(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
            stopped = True
        deadline = time.monotonic() + timeout
        while state.pid_alive(info.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.pid, os.WNOHANG)
            time.sleep(0.05)
        if state.pid_alive(info.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        (state.state_dir() / REGISTRY_FILE).unlink()
    return stopped


def registry_for_repository(repository_uri: str, local: RegistryInfo | None) -> tuple[str, str]:
    """Where ``docker push`` goes for an ECR repository: (image name without tag, why).

    LocalStack's ECR serves a real registry at its repositoryUri (``…localhost.localstack.cloud
    :4566/<repo>``): push there. moto's repositoryUri (``<account>.dkr.ecr.<region>.amazonaws
    .com/<repo>``) names no registry: the kit's local registry stands in for it.
    """
    ref = parse_reference(repository_uri)
    if "localstack" in ref.registry or (ecr_host(ref.registry) is None
                                        and ref.registry != "docker.io"):
        return ref.name, f"{ref.registry} serves the registry for this repository"
    if local is None:
        raise RegistryUnavailable(f"{repository_uri} names no registry the kit can reach, and "
                                  f"the kit's local registry is not running")
    return (f"{local.host}/{ref.repository}",
            f"the emulator's ECR answers the API only; the kit's registry at {local.host} "
            f"stands in for {ref.registry}")


def stand_in(image: str) -> str | None:
    """The kit's registry reference that stands in for an emulated ECR image, if it has it.

    moto's ECR URIs (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``) name no
    registry; once ``fraudlab push`` put ``<repo>:<tag>`` in the kit's registry, hosts pull it
    from there (``127.0.0.1:PORT/<repo>:<tag>``), as EC2 hosts pull from ECR. None for any other
    image, or when the registry is not running or lacks that tag.
    """
    try:
        ref = parse_reference(image)
    except ValueError:
        return None
    if ecr_host(ref.registry) is None:
        return None
    local = running_registry()
    if local is None:
        return None
    if not RegistryClient(local.url).has_manifest(ref.repository, ref.ref):
        return None
    there = Reference(local.host, ref.repository, ref.tag, ref.digest)
    return str(there if ref.tag or ref.digest else there.with_tag("latest"))
