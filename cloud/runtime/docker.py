"""Tasks as Docker containers: the image run as ECS's agent runs it, on the host network.

``start()`` creates and starts a container per task: ``network_mode="host"`` (the service
binds ``127.0.0.1:<port>``), ``nano_cpus`` = cpu / 1024 CPUs (a CFS quota, ECS's task-level
hard cap), ``mem_limit`` = ``memswap_limit`` = memory MiB (no swap beyond the limit, so the
kernel's OOM killer enforces it), and labels ``fraudlab.task`` / ``fraudlab.host`` /
``fraudlab.owner``. A daemon watcher polls this runtime's containers every 0.25 s and reports
each exit once: ``State.OOMKilled`` -> ``OOM_REASON`` (137), else ``ESSENTIAL_EXITED``.

Stopped containers stay (as ECS keeps them for a while, with their logs) until ``close()``,
which removes every container with this runtime's owner label; ``remove_orphans()`` removes
those of runtimes whose process is gone (a crashed lab).

``pull()`` is real for an image in a registry on this machine (the kit's local registry,
``127.0.0.1:PORT/…``, or LocalStack's ECR): each simulated host downloads the manifest and the
blobs it lacks over the Registry HTTP API v2 into its own layer store under the state
directory (``cloud.image.pull``; removed by ``close()``, as a host's disk goes with it), timed,
and the one engine behind every host gets the image by digest if it lacks it. A local build
(``fraudlab/service:slim``) keeps the simulated pull: size / bandwidth on the first pull per
host. ``PullResult.detail`` says which.

CPU and memory are measured from the container's cgroup: read straight from its files under
``/sys/fs/cgroup`` when the engine runs on this machine (v2 ``cpu.stat`` / ``memory.current``,
or v1 ``cpuacct.usage`` / ``memory.usage_in_bytes``; a few hundred bytes per read), else from one
``GET /containers/<id>/stats?stream=false&one-shot=true`` of the Docker API.

Two Docker facts a learner meets: PID 1 of a container ignores signals it has no handler for,
so a ``stop()`` while gunicorn is still booting waits out the timeout and ends in SIGKILL (137);
and the kernel's OOM killer kills one process of the container: when it picks a gunicorn
worker, the master respawns it and the container does not exit (no ECS exit either); the
container exits (137, OOMKilled) when PID 1 itself is killed, as with a very small limit.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from requests.exceptions import RequestException

from cloud.aws.endpoint import is_localstack_name
from cloud.core import state_dir as state
from cloud.core.owner import process_alive, start_time
from cloud.image.distribution import RegistryClient, RegistryError
from cloud.image.pull import prune_stores, pull_to_host, safe_name, store_owner
from cloud.image.reference import is_loopback_registry, parse_reference
from cloud.runtime.base import (
    ESSENTIAL_EXITED,
    OOM_REASON,
    ContainerExit,
    ContainerSpec,
    PullError,
    PullResult,
)

TASK_LABEL = "fraudlab.task"
HOST_LABEL = "fraudlab.host"
OWNER_LABEL = "fraudlab.owner"
BANDWIDTH_BYTES_PER_S = 50_000_000  # as the process runtime: a registry in the same region
COMPRESSION = 0.3  # registry layers are gzipped: a pull moves ~30 % of the unpacked size
ALIVE_STATES = {"created", "running", "restarting", "paused"}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_candidates(container_id: str, root: Path = CGROUP_ROOT) -> list[tuple[str, Path]]:
    """Where a container's cgroup may live: ("v2", dir) for the systemd and cgroupfs drivers,
    ("v1", cpuacct dir) for cgroup v1."""
    scope = f"docker-{container_id}.scope"
    return [("v2", root / "system.slice" / scope), ("v2", root / "docker" / container_id),
            ("v1", root / "cpuacct" / "docker" / container_id),
            ("v1", root / "cpu,cpuacct" / "docker" / container_id),
            ("v1", root / "cpuacct" / "system.slice" / scope)]


def v1_memory_dir(cpuacct_dir: Path) -> Path:
    """cgroup v1: the memory controller's directory of the cgroup whose cpuacct dir is given
    (``<root>/cpuacct/docker/<id>`` → ``<root>/memory/docker/<id>``)."""
    return cpuacct_dir.parents[2] / "memory" / cpuacct_dir.parts[-2] / cpuacct_dir.parts[-1]


def cpu_stat_seconds(text: str) -> float | None:
    """cgroup v2 ``cpu.stat`` → CPU seconds (its ``usage_usec`` line)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    return None


def memory_stat_value(text: str, key: str) -> int:
    """One counter of a cgroup ``memory.stat`` (0 when absent)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def stats_cpu_seconds(stats: Mapping[str, Any]) -> float | None:
    """The Docker API's stats → the container's total CPU seconds (``cpu_usage.total_usage``
    is in nanoseconds)."""
    total = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    return None if total is None else total / 1e9


def stats_memory_bytes(stats: Mapping[str, Any]) -> int | None:
    """The Docker API's stats → memory in use, as ``docker stats`` shows it: usage minus the
    inactive page cache (``inactive_file`` on cgroup v2, ``total_inactive_file`` on v1)."""
    mem = stats.get("memory_stats") or {}
    if "usage" not in mem:
        return None
    detail = mem.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    return max(0, int(mem["usage"]) - int(cache))


def owner_id() -> str:
    """This process as a container owner: ``host/pid/start-time/random``."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{start_time(pid)}/{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool | None:
    """Whether the runtime that labelled a container still runs; None if it cannot be told
    (another machine's process)."""
    parts = owner.split("/")
    if len(parts) != 4 or not parts[1].isdigit():
        return False
    host, pid, start, _ = parts
    if host != socket.gethostname():
        return None
    return process_alive(int(pid), start)


def remove_orphans(client: docker.DockerClient | None = None) -> list[str]:
    """Remove containers labelled ``fraudlab.task`` whose owner is not alive; their names."""
    own = client is None
    client = client or docker.from_env(timeout=30)
    removed = []
    try:
        for row in client.api.containers(all=True, filters={"label": TASK_LABEL}):
            if owner_alive((row.get("Labels") or {}).get(OWNER_LABEL, "")) is False:
                with contextlib.suppress(NotFound):
                    client.api.remove_container(row["Id"], force=True)
                removed.append(row["Names"][0].lstrip("/") if row.get("Names") else row["Id"])
    finally:
        if own:
            client.close()
    return removed


def pullable_registry(registry: str) -> bool:
    """Registries the runtime pulls from for real: on this machine (127.0.0.0/8, localhost),
    as the kit's registry and LocalStack's ECR (``*.localhost.localstack.cloud``) are."""
    return is_loopback_registry(registry) or is_localstack_name(registry.rsplit(":", 1)[0])


def container_name(task_id: str) -> str:
    return "fraudlab-" + re.sub(r"[^A-Za-z0-9_.-]", "-", task_id[:12])


class DockerRuntime:
    """Each task a container of ``spec.image`` on the host network (see the module doc)."""

    name = "docker"
    cpu_enforced = True
    memory_enforced = True
    on_exit: Callable[[], None] | None = None  # called (watcher thread) when exits are queued

    def __init__(self, client: docker.DockerClient | None = None, *,
                 bandwidth_bytes_per_s: float = BANDWIDTH_BYTES_PER_S,
                 compression: float = COMPRESSION, poll_interval: float = 0.25,
                 close_timeout: float = 5.0, layer_store: Path | None = None,
                 registry_pulls: bool = True) -> None:
        self._client = client or docker.from_env(timeout=60)
        self.registry_pulls = registry_pulls  # real pulls from registries on this machine
        self._own_store = layer_store is None
        self.layer_store = layer_store or self._default_store()
        self._client.ping()
        self.bandwidth_bytes_per_s = bandwidth_bytes_per_s
        self.compression = compression
        self.poll_interval = poll_interval
        self.close_timeout = close_timeout
        self.owner = owner_id()
        self.why = "docker runtime"  # choose_runtime() tells why it was picked
        self._lock = threading.Lock()
        self._containers: dict[str, str] = {}  # task id -> container id, until close()
        self._live: dict[str, str] = {}  # started, exit not yet reported
        self._stopping: set[str] = set()
        self._exits: list[ContainerExit] = []
        self._pulled: set[tuple[str, str]] = set()
        # One pull of an image per host at a time: a second task's pull waits for the first and
        # finds its layers there, as the engine's download manager shares an in-flight layer.
        self._pulling: dict[tuple[str, str], threading.Lock] = {}
        self._cgroups: dict[str, tuple[str, Path] | None] = {}  # container id -> its cgroup
        self._closing = threading.Event()
        self._closed = False
        self._watcher = threading.Thread(target=self._watch, name="fraudlab-docker-watcher",
                                         daemon=True)
        self._watcher.start()
        atexit.register(self.close)

    # -- Runtime ---------------------------------------------------------------------------

    def pull(self, host_id: str, image: str) -> PullResult:
        """Make ``image`` available on ``host_id``.

        An image in a registry on this machine (``127.0.0.1:PORT/…``, LocalStack's ECR) is
        pulled for real, per host, over the Registry HTTP API v2 into that host's layer store
        (``cloud.image.pull``): the manifest every time, the blobs the host lacks, timed — and
        the engine gets the image by digest if it lacks it. Any other image (a local build
        such as ``fraudlab/service:slim``) is simulated: its real compressed-size estimate,
        ``size / bandwidth`` seconds on the first pull per host, cached afterwards.
        """
        try:
            ref = parse_reference(image)
        except ValueError as exc:
            raise PullError(f"CannotPullContainerError: {exc}") from exc
        if self.registry_pulls and pullable_registry(ref.registry):
            return self._registry_pull(host_id, image, ref)
        return self._simulated_pull(host_id, image, f"simulated: {image} is a local image, not "
                                    f"in a registry the kit runs (`fraudlab push` puts it in one)")

    def _simulated_pull(self, host_id: str, image: str, detail: str) -> PullResult:
        try:
            size = int(self._client.images.get(image).attrs["Size"] * self.compression)
        except ImageNotFound as exc:
            raise PullError(f"CannotPullContainerError: {image} is not in the Docker engine's "
                            f"image store (build it: scripts/build_image.sh slim)") from exc
        with self._lock:
            cached = (host_id, image) in self._pulled
            self._pulled.add((host_id, image))
        seconds = 0.0 if cached else size / self.bandwidth_bytes_per_s
        return PullResult(host_id, image, seconds, cached, size, "simulated", detail=detail)

    def _registry_pull(self, host_id: str, image: str, ref: Any) -> PullResult:
        """A real pull onto one host (see ``pull``); ECS's default pull behaviour falls back to
        the host's cached image when the registry fails."""
        started = time.monotonic()
        registry = RegistryClient(f"http://{ref.registry}", timeout=60)
        with self._lock:
            pulling = self._pulling.setdefault((host_id, image), threading.Lock())
        try:
            with pulling:
                got = pull_to_host(registry, ref, self.layer_store / safe_name(host_id), host_id)
        except (RegistryError, OSError) as exc:
            with self._lock:
                had = (host_id, image) in self._pulled
            if had:  # ECS_IMAGE_PULL_BEHAVIOR=default: the cached image is used
                return PullResult(host_id, image, time.monotonic() - started, True, None, "real",
                                  0, f"registry failed ({exc}); the host's cached image is used "
                                  f"(ECS_IMAGE_PULL_BEHAVIOR=default)")
            raise PullError(f"CannotPullContainerError: {image}: {exc}") from exc
        engine = self._ensure_engine_has(ref, got.digest)
        with self._lock:
            self._pulled.add((host_id, image))
        blobs = len(got.blobs)
        fetched = sum(1 for b in got.blobs if not b.cached)
        detail = (f"real: manifest {got.digest[:19]}… from {ref.registry}; "
                  + (f"{fetched}/{blobs} blobs downloaded ({got.downloaded_bytes:,} bytes, "
                     f"sha256 checked)" if fetched else
                     f"all {blobs} blobs already on {host_id} (cache hit)") + engine)
        return PullResult(host_id, image, time.monotonic() - started, got.cached,
                          got.image_bytes, "real", got.downloaded_bytes, detail)

    def _ensure_engine_has(self, ref: Any, digest: str) -> str:
        """One engine serves every simulated host: give it the image (``docker pull`` by
        digest, then the tag) when it lacks it; a note for the pull's detail."""
        name = str(ref) if ref.tag or ref.digest else f"{ref.name}:latest"
        try:
            self._client.images.get(name)
            return ""
        except ImageNotFound:
            pass
        t0 = time.monotonic()
        by_digest = f"{ref.name}@{digest}"
        try:
            self._client.api.pull(by_digest)
            if ref.tag:
                self._client.api.tag(by_digest, ref.name, ref.tag)
        except (APIError, DockerException) as exc:
            raise PullError(f"CannotPullContainerError: the engine could not pull {by_digest}: "
                            f"{exc}") from exc
        return f"; the engine pulled {by_digest[:60]}… in {time.monotonic() - t0:.1f} s"

    def start(self, spec: ContainerSpec) -> None:
        """Create and start the task's container (no implicit pull: ``pull()`` first)."""
        if self._closed:
            raise RuntimeError("the docker runtime is closed")
        with self._lock:
            if spec.task_id in self._live:
                raise ValueError(f"task {spec.task_id} is already running")
        api = self._client.api
        memory = f"{spec.memory_mib}m"
        host_config = api.create_host_config(
            network_mode="host", mem_limit=memory, memswap_limit=memory,
            nano_cpus=spec.cpu * 1_000_000_000 // 1024 if spec.cpu > 0 else None)
        kwargs = dict(
            image=spec.image, name=container_name(spec.task_id), host_config=host_config,
            environment={**spec.env, "HOST": "127.0.0.1", "PORT": str(spec.port),
                         "TASK_ID": spec.task_id, "HOST_ID": spec.host_id},
            labels={TASK_LABEL: spec.task_id, HOST_LABEL: spec.host_id,
                    OWNER_LABEL: self.owner})
        if spec.command:  # the task definition's command/entryPoint replace the image's
            kwargs["command"] = list(spec.command)
        if spec.entry_point:
            kwargs["entrypoint"] = list(spec.entry_point)
        try:
            created = self._create(kwargs)
        except ImageNotFound as exc:
            raise PullError(f"CannotPullContainerError: {spec.image} is not in the Docker "
                            f"engine's image store") from exc
        with self._lock:
            self._containers[spec.task_id] = created
            self._stopping.discard(spec.task_id)
        try:
            api.start(created)
        except APIError:
            with contextlib.suppress(APIError):
                api.remove_container(created, force=True)
            raise
        with self._lock:
            self._live[spec.task_id] = created

    def stop(self, task_id: str, timeout: float = 30.0) -> None:
        """``docker stop``: SIGTERM to PID 1, SIGKILL after ``timeout`` (whole seconds,
        rounded up); blocks until the container has stopped. Reported ``requested``."""
        with self._lock:
            cid = self._live.get(task_id)
            if cid is None:
                return
            self._stopping.add(task_id)
        with contextlib.suppress(NotFound):
            self._client.api.stop(cid, timeout=math.ceil(timeout))

    def kill(self, task_id: str) -> None:
        """``docker kill``: SIGKILL now (a crash: exit 137)."""
        with self._lock:
            cid = self._live.get(task_id)
        if cid is not None:
            with contextlib.suppress(NotFound, APIError):  # 409: it is not running any more
                self._client.api.kill(cid)

    def exits(self) -> list[ContainerExit]:
        """Exits seen since the last call, each once."""
        with self._lock:
            seen, self._exits = self._exits, []
        return seen

    def running(self) -> list[str]:
        """Task ids whose containers are running (asks the engine)."""
        running = {row["Id"] for row in self._rows() if row.get("State") == "running"}
        with self._lock:
            return [task_id for task_id, cid in self._live.items() if cid in running]

    def cpu_seconds(self, task_id: str) -> float | None:
        """CPU seconds the task's container has used (its cgroup's usage); None once it has
        exited or when neither its cgroup files nor the stats API answer."""
        cid = self._live_id(task_id)
        if cid is None:
            return None
        found = self._cgroup(cid)
        if found is not None:
            kind, path = found
            try:
                if kind == "v2":
                    return cpu_stat_seconds((path / "cpu.stat").read_text())
                return int((path / "cpuacct.usage").read_text()) / 1e9
            except (OSError, ValueError):
                pass  # the container just went away: the stats API says what is left
        stats = self._stats(cid)
        return stats_cpu_seconds(stats) if stats else None

    def memory_bytes(self, task_id: str) -> int | None:
        """The container's memory in use, as ``docker stats`` counts it (page cache that can
        be dropped left out); None when unknown."""
        cid = self._live_id(task_id)
        if cid is None:
            return None
        found = self._cgroup(cid)
        if found is not None:
            kind, path = found
            try:
                if kind == "v2":
                    stat = (path / "memory.stat").read_text()
                    return max(0, int((path / "memory.current").read_text())
                               - memory_stat_value(stat, "inactive_file"))
                mem = v1_memory_dir(path)
                stat = (mem / "memory.stat").read_text()
                return max(0, int((mem / "memory.usage_in_bytes").read_text())
                           - memory_stat_value(stat, "total_inactive_file"))
            except (OSError, ValueError):
                pass
        stats = self._stats(cid)
        return stats_memory_bytes(stats) if stats else None

    def close(self) -> None:
        """Stop the running containers (SIGKILL after ``close_timeout``), report their exits,
        join the watcher and remove every container with this runtime's owner label."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._closing.set()
        self._watcher.join(timeout=10)
        with self._lock:
            live = list(self._live)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in pool.map(lambda t: self.stop(t, self.close_timeout), live):
                pass
        with contextlib.suppress(DockerException, RequestException):
            self._poll()
        for row in self._rows():
            with contextlib.suppress(NotFound):
                self._client.api.remove_container(row["Id"], force=True)
        if self._own_store:  # the hosts' disks go with them
            shutil.rmtree(self.layer_store, ignore_errors=True)

    # -- extras ----------------------------------------------------------------------------

    def container_id(self, task_id: str) -> str | None:
        with self._lock:
            return self._containers.get(task_id)

    def logs(self, task_id: str, tail: int = 100) -> str:
        """The container's last ``tail`` lines of output ("" if it is gone)."""
        cid = self.container_id(task_id)
        if cid is None:
            return ""
        try:
            return self._client.api.logs(cid, tail=tail).decode(errors="replace")
        except NotFound:
            return ""

    def __enter__(self) -> DockerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _default_store() -> Path:
        """``<state dir>/hosts/<pid>-<start>``: this runtime's hosts' layer stores (stores of
        runtimes whose process is gone are removed first)."""
        root = state.state_dir() / "hosts"
        prune_stores(root)
        return root / store_owner()

    def _create(self, kwargs: dict) -> str:
        """Create the container; an exited one of ours with the same name is replaced."""
        api = self._client.api
        try:
            return api.create_container(**kwargs)["Id"]
        except APIError as exc:
            if exc.status_code != 409:
                raise
            info = api.inspect_container(kwargs["name"])
            labels = info["Config"].get("Labels") or {}
            if labels.get(OWNER_LABEL) != self.owner or info["State"]["Running"]:
                raise RuntimeError(
                    f"a container named {kwargs['name']} already exists (owner "
                    f"{labels.get(OWNER_LABEL, 'unknown')}); task ids must differ in their "
                    f"first 12 characters, and remove_orphans() removes containers of runtimes "
                    f"that are gone") from exc
            api.remove_container(info["Id"], force=True)
            return api.create_container(**kwargs)["Id"]

    def _live_id(self, task_id: str) -> str | None:
        with self._lock:
            return self._live.get(task_id)

    def _cgroup(self, cid: str) -> tuple[str, Path] | None:
        """The container's cgroup directory on this machine (found once), or None."""
        if cid not in self._cgroups:
            self._cgroups[cid] = next(
                ((kind, path) for kind, path in cgroup_candidates(cid)
                 if (path / ("cpu.stat" if kind == "v2" else "cpuacct.usage")).is_file()),
                None)
        return self._cgroups[cid]

    def _stats(self, cid: str) -> dict[str, Any] | None:
        """One stats sample from the engine (one-shot: no wait for a second sample)."""
        api = self._client.api
        one_shot = None if docker.utils.version_lt(api.api_version, "1.41") else True
        try:
            stats = api.stats(cid, stream=False, one_shot=one_shot)
        except (NotFound, APIError, DockerException, RequestException):
            return None
        # A container that is not running answers with empty stats read at the zero time.
        if not isinstance(stats, dict) or str(stats.get("read", "")).startswith("0001-"):
            return None
        return stats

    def _rows(self) -> list[dict]:
        return self._client.api.containers(all=True,
                                           filters={"label": f"{OWNER_LABEL}={self.owner}"})

    def _watch(self) -> None:
        while not self._closing.wait(self.poll_interval):
            try:
                self._poll()
            except (DockerException, RequestException):
                continue  # the engine hiccuped: try again next tick

    def _poll(self) -> None:
        """Report every live container that is no longer alive (or is gone)."""
        with self._lock:
            if not self._live:
                return
        states = {row["Id"]: row.get("State") for row in self._rows()}
        with self._lock:
            live = dict(self._live)
        for task_id, cid in live.items():
            if states.get(cid) in ALIVE_STATES:
                continue
            try:
                state = self._client.api.inspect_container(cid)["State"]
                if state.get("Running"):
                    continue
                code, oom = state.get("ExitCode"), bool(state.get("OOMKilled"))
            except NotFound:  # removed behind our back (docker rm -f)
                code, oom = None, False
            gone = ContainerExit(task_id, code, OOM_REASON if oom else ESSENTIAL_EXITED,
                                 oom=oom, at=time.monotonic(),
                                 requested=task_id in self._stopping)
            with self._lock:
                if self._live.pop(task_id, None) is not None:
                    self._exits.append(gone)
                self._stopping.discard(task_id)
            if self.on_exit is not None:
                self.on_exit()
