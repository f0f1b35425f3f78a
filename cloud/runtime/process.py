"""Tasks as child processes: the image's command (gunicorn) run on this machine.

Each task is ``python -m gunicorn -c python:service.gunicorn_conf service.wsgi:app`` in its own
session (``start_new_session``), so its process group is the "container": ``kill()`` and the
end of ``stop()`` signal the whole group, and whatever is left of a group when its leader
exits is killed, as a PID namespace dies with its PID 1. One daemon watcher thread waits on
the leaders' pidfds (Linux ≥ 5.3: an exit is seen at once; elsewhere it polls every 0.1 s) and
samples memory every 0.5 s.

Limits, honestly:

- **memory** — a *simulated cgroup*: the watcher sums the PSS (proportional set size, from
  ``/proc/<pid>/smaps_rollup``) of every process in the task's session and SIGKILLs the group
  above ``spec.memory_mib``; the exit is reported as ECS reports a cgroup OOM kill
  (``OOM_REASON``, 137, ``oom=True``). Every sample reads the cheap RSS (PSS ≤ RSS); PSS, a
  walk of the page tables, is read when RSS is over the limit, the processes or RSS changed, and
  at least every ``PSS_MAX_AGE`` s for the memory metric. Unlike the kernel it samples (a spike
  shorter than 0.5 s escapes), always kills the whole task (the kernel's OOM killer picks one
  process, and gunicorn respawns a killed worker), and counts PSS rather than the cgroup's page
  charge.
  A child that calls ``setsid()`` itself escapes it. Needs ``/proc`` (Linux); elsewhere
  ``memory_enforced`` is False.
- **cpu** — recorded, not enforced (``cpu_enforced = False``): without cgroups there is no CPU
  quota. ``os.sched_setaffinity`` would pin cores, which is not a share of them, so it is not
  used; a task may use every core of the machine. It is *measured*: ``cpu_seconds()`` sums
  user + system time of every process in the task's session (gunicorn's master and workers)
  plus the time of the children they have reaped (``cutime``/``cstime``), so a worker that
  gunicorn replaced still counts, as it would in the container's cgroup.

``pull()`` is simulated: nothing is downloaded and nothing sleeps. The first pull of an image
on a host returns what the download would take (image size / bandwidth); later pulls there are
cached (ECS caches images per container instance, ecs-facts.md §5). The caller's clock decides
what to do with the seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cloud.image.reference import kit_image
from cloud.runtime.base import (
    ESSENTIAL_EXITED,
    OOM_REASON,
    ContainerExit,
    ContainerSpec,
    PullError,
    PullResult,
)

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf",
            "service.wsgi:app"]
SLIM_COMPRESSED_BYTES = 100_000_000  # fraudlab/service:slim: ~365 MB unpacked, ~100 MB gzipped
BANDWIDTH_BYTES_PER_S = 50_000_000  # 50 MB/s: a registry in the same region
TEST_IMAGE_REPO_ENV = "FRAUDLAB_TEST_IMAGE_REPO"  # the tests' name for the kit's image
PROCESS_IMAGE_LIMIT = (
    "CannotPullContainerError: FraudLab's process runtime runs only the kit's fraud-service "
    "image (fraudlab/service, or the fraud-detection repository in ECR or the kit's "
    "registry); {image} cannot run as a process. Start the local cloud with the Docker "
    "runtime (fraudlab up --runtime docker) to run other images.")
IMAGE_ENV = {"full": {"MODEL_RUNTIME": "tensorflow"}}  # ENV lines of the Dockerfile's targets
MIB = 1024 * 1024
PROC = Path("/proc")
CPU_SCAN_TTL = 0.05  # seconds one /proc scan answers cpu_seconds() for every task
# seconds between PSS readings (smaps_rollup) of a task under its limit whose RSS moved by more
# than PSS_RSS_SLACK (the memory metric is per lab minute: 5 s at time scale 12); a task whose
# processes changed is read at once; an unchanged one every PSS_MAX_AGE (other tasks starting
# or stopping change the share of the pages they have in common)
PSS_INTERVAL = 5.0
PSS_RSS_SLACK = 1024 * 1024
PSS_MAX_AGE = 30.0
# seconds a scan of /proc for the tasks' processes is trusted: a worker forked since then (gunicorn
# boots its worker after the master) is counted within this while a task is booting (younger
# than BOOT_SECONDS), within SETTLED_SCAN_INTERVAL afterwards (a worker gone: at once)
SCAN_INTERVAL = 1.0
SETTLED_SCAN_INTERVAL = 5.0
BOOT_SECONDS = 30.0
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# A benchmark knob: an uncached pull blocks this many wall seconds, as a slow registry would
# (bench/bench_idle.py's "crash during a 5 s pull"); unset, a pull is simulated and instant.
PULL_WALL_ENV = "FRAUDLAB_PULL_WALL_SECONDS"


def exit_code(returncode: int) -> int:
    """Popen's returncode as a shell (and Docker) shows it: killed by signal N -> 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def session_pids(sessions: set[int]) -> dict[int, list[int]]:
    """The live processes of each session id in ``sessions`` (from ``/proc/<pid>/stat``)."""
    found: dict[int, list[int]] = defaultdict(list)
    if not sessions or not PROC.is_dir():
        return found
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(b")") + 2:].split()
        sid = int(fields[3])
        if sid in sessions and fields[0] != b"Z":
            found[sid].append(int(entry.name))
    return found


def parse_stat(stat: bytes) -> tuple[str, int, int]:
    """``/proc/<pid>/stat`` → (state, session id, CPU clock ticks).

    The ticks are utime + stime + cutime + cstime: the process's own time and that of the
    children it has waited for (comm may hold spaces and parentheses: split after the last ")").
    """
    fields = stat[stat.rindex(b")") + 2:].split()
    return (fields[0].decode(), int(fields[3]),
            int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14]))


def session_cpu_seconds(sessions: set[int]) -> dict[int, float]:
    """CPU seconds used by each session in ``sessions``: every process in it, zombies included
    (their time moves to the parent's ``cutime`` once reaped, so the sum stays continuous)."""
    found: dict[int, float] = {}
    if not sessions or not PROC.is_dir():
        return found
    ticks: dict[int, int] = defaultdict(int)
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                _, sid, used = parse_stat(f.read())
        except (OSError, ValueError, IndexError):
            continue
        if sid in sessions:
            ticks[sid] += used
    hertz = os.sysconf("SC_CLK_TCK")
    for sid, used in ticks.items():
        found[sid] = used / hertz
    return found


def rss_bytes(pid: int) -> int:
    """The process's resident set size from ``/proc/<pid>/statm`` (cheap; 0 if it is gone)."""
    return rss_or_none(pid) or 0


def rss_or_none(pid: int) -> int | None:
    """The process's resident set size, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


def pss_bytes(pid: int) -> int:
    """The process's proportional set size (0 if it is gone); RSS where PSS is unavailable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return rss_bytes(pid)


def _killpg(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ExitWaiter:
    """Blocks until a watched process exits, :meth:`wake` is called or a timeout passes: an
    epoll of the processes' pidfds (Linux ≥ 5.3) and a wake-up pipe. Without pidfds
    (``waits_on_exits`` False) it only sleeps, and the caller polls."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._selector.register(self._read, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self.waits_on_exits = hasattr(os, "pidfd_open")

    def watch(self, pid: int) -> None:
        """Wake :meth:`wait` when ``pid`` exits (at once if it has already)."""
        if self.waits_on_exits:
            fd = None
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:  # already reaped: the caller's poll sees it
                pass
            except OSError:  # no pidfds on this kernel: poll
                self.waits_on_exits = False
            if fd is not None:
                with self._lock:
                    self._selector.register(fd, selectors.EVENT_READ)
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            os.write(self._write, b".")

    def wait(self, timeout: float | None) -> None:
        """Until an exit, a wake-up or ``timeout`` seconds (None: no limit)."""
        for key, _ in self._selector.select(timeout):
            if key.fd == self._read:
                with contextlib.suppress(OSError):
                    os.read(self._read, 4096)
                continue
            with self._lock:  # this process has exited: no more wake-ups from it
                self._selector.unregister(key.fd)
            os.close(key.fd)

    def close(self) -> None:
        with self._lock:
            for key in list(self._selector.get_map().values()):
                if key.fd != self._read:
                    os.close(key.fd)
            self._selector.close()
        os.close(self._read)
        os.close(self._write)


@dataclass
class _Task:
    spec: ContainerSpec
    process: subprocess.Popen
    log: Path
    stop_requested: bool = False
    oom: bool = False
    reported: bool = False
    memory_used: int | None = None  # bytes (PSS), as the watcher last measured it
    pss_due: float = 0.0  # monotonic time of the next PSS reading if RSS moved (under the limit)
    pss_stale: float = 0.0  # monotonic time of the next PSS reading in any case
    pss_rss: int = 0  # the RSS (bytes) when PSS was last read
    pids: tuple[int, ...] = ()  # its processes at the last PSS reading
    started: float = field(default_factory=time.monotonic)


class ProcessRuntime:
    """Each task the service as a child process group on 127.0.0.1 (see the module doc)."""

    name = "process"
    cpu_enforced = False
    memory_enforced = PROC.is_dir()
    on_exit: Callable[[], None] | None = None  # called (watcher thread) when exits are queued

    def __init__(self, log_dir: str | Path | None = None, *,
                 image_size_bytes: int = SLIM_COMPRESSED_BYTES,
                 bandwidth_bytes_per_s: float = BANDWIDTH_BYTES_PER_S,
                 poll_interval: float = 0.1, memory_interval: float = 0.5,
                 close_timeout: float = 5.0, pull_wall_seconds: float | None = None) -> None:
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="fraudlab-tasks-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.image_size_bytes = image_size_bytes
        self.bandwidth_bytes_per_s = bandwidth_bytes_per_s
        self.poll_interval = poll_interval
        self.memory_interval = memory_interval
        self.close_timeout = close_timeout
        self.pull_wall_seconds = (float(os.environ.get(PULL_WALL_ENV) or 0)
                                  if pull_wall_seconds is None else pull_wall_seconds)
        self.why = "process runtime"  # choose_runtime() tells why it was picked
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._exits: list[ContainerExit] = []
        self._pulled: set[tuple[str, str]] = set()
        self._cpu_scan: tuple[float, dict[int, float]] = (float("-inf"), {})
        # session → its processes, from the last scan of /proc (rescanned every PSS_INTERVAL,
        # at once when one of them is gone or a task is new)
        self._sessions: tuple[float, dict[int, list[int]]] = (float("-inf"), {})
        self._closing = threading.Event()
        self._closed = False
        self._exit_waiter = ExitWaiter()
        self._watcher = threading.Thread(target=self._watch, name="fraudlab-process-watcher",
                                         daemon=True)
        self._watcher.start()
        atexit.register(self.close)

    # -- Runtime ---------------------------------------------------------------------------

    @property
    def pull_blocks(self) -> bool:
        """Whether ``pull`` takes time in the call (only with ``PULL_WALL_ENV``)."""
        return self.pull_wall_seconds > 0

    def pull(self, host_id: str, image: str) -> PullResult:
        """Simulated: the first pull on ``host_id`` costs size / bandwidth seconds, then cached.
        Only the kit's fraud-service image can run as a process: any other image fails as
        ECS's agent reports a pull that cannot be had (``CannotPullContainerError``)."""
        extra = tuple(filter(None, [os.environ.get(TEST_IMAGE_REPO_ENV)]))
        if not kit_image(image, extra):
            raise PullError(PROCESS_IMAGE_LIMIT.format(image=image))
        with self._lock:
            cached = (host_id, image) in self._pulled
            self._pulled.add((host_id, image))
        if not cached and self.pull_wall_seconds > 0:  # a slow registry: the call takes the time
            time.sleep(self.pull_wall_seconds)
            return PullResult(host_id, image, self.pull_wall_seconds, cached,
                              self.image_size_bytes, "real",
                              detail=f"blocked {self.pull_wall_seconds:g} s ({PULL_WALL_ENV})")
        seconds = 0.0 if cached else self.image_size_bytes / self.bandwidth_bytes_per_s
        return PullResult(host_id, image, seconds, cached, self.image_size_bytes, "simulated",
                          detail="simulated: the process runtime runs the service without an "
                                 "image; the time is size / bandwidth")

    def start(self, spec: ContainerSpec) -> None:
        """Launch the task's gunicorn; its output goes to ``log_path(task_id)``."""
        if self._closed:
            raise RuntimeError("the process runtime is closed")
        with self._lock:
            old = self._tasks.get(spec.task_id)
            if old is not None and old.process.poll() is None:
                raise ValueError(f"task {spec.task_id} is already running")
        tag = spec.image.rsplit(":", 1)[-1] if ":" in spec.image else ""
        env = {**os.environ, **IMAGE_ENV.get(tag, {}), **spec.env,
               "HOST": "127.0.0.1", "PORT": str(spec.port), "TASK_ID": spec.task_id,
               "HOST_ID": spec.host_id}
        log = self.log_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', spec.task_id)}.log"
        with log.open("ab") as out:
            out.write(f"fraudlab: start {spec.task_id} on {spec.host_id} port {spec.port} "
                      f"(image {spec.image}, cpu {spec.cpu} not enforced, "
                      f"memory {spec.memory_mib} MiB simulated cgroup)\n".encode())
            out.flush()
            process = subprocess.Popen(GUNICORN, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        with self._lock:
            self._tasks[spec.task_id] = _Task(spec, process, log)
        self._exit_waiter.watch(process.pid)

    def stop(self, task_id: str, timeout: float = 30.0) -> None:
        """SIGTERM to the leader (as ``docker stop`` signals PID 1), SIGKILL the group after
        ``timeout``; blocks until the leader has exited. The exit is reported ``requested``."""
        task = self._live(task_id)
        if task is None:
            return
        task.stop_requested = True
        task.process.send_signal(signal.SIGTERM)
        try:
            task.process.wait(timeout)
        except subprocess.TimeoutExpired:
            _killpg(task.process.pid)
            task.process.wait(5)

    def kill(self, task_id: str) -> None:
        """SIGKILL the task's whole process group now (a crash: exit 137)."""
        task = self._live(task_id)
        if task is not None:
            _killpg(task.process.pid)

    def exits(self) -> list[ContainerExit]:
        """Exits seen since the last call, each once."""
        with self._lock:
            seen, self._exits = self._exits, []
        return seen

    def running(self) -> list[str]:
        """Task ids whose leader process is alive."""
        with self._lock:
            tasks = list(self._tasks.items())
        return [task_id for task_id, task in tasks if task.process.poll() is None]

    def cpu_seconds(self, task_id: str) -> float | None:
        """CPU seconds used by the task's process group so far (master, workers and the
        workers it has reaped); None once the task has exited or when there is no /proc.

        One scan of /proc serves every task asked within ``CPU_SCAN_TTL`` seconds."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.reported or task.process.poll() is not None:
                return None
            sessions = {t.process.pid for t in self._tasks.values() if not t.reported}
        at, scan = self._cpu_scan
        if time.monotonic() - at > CPU_SCAN_TTL or task.process.pid not in scan:
            scan = session_cpu_seconds(sessions)
            self._cpu_scan = (time.monotonic(), scan)
        return scan.get(task.process.pid)

    def memory_bytes(self, task_id: str) -> int | None:
        """The task's memory (PSS of its processes) as the simulated cgroup last measured it
        (when its RSS moved, at most every ``PSS_INTERVAL`` s, at least every ``PSS_MAX_AGE``
        s, at once when its processes change); None when not measured or the task has exited.
        Cheap: the metrics ask for every task each lab minute."""
        with self._lock:
            task = self._tasks.get(task_id)
        if (task is None or task.reported or not self.memory_enforced
                or task.process.poll() is not None):
            return None
        return task.memory_used

    def close(self) -> None:
        """Stop every task (SIGTERM, SIGKILL after ``close_timeout``), join the watcher."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        with self._lock:
            tasks = list(self._tasks.values())
        for task in tasks:
            if task.process.poll() is None:
                task.stop_requested = True
                task.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.close_timeout
        for task in tasks:
            try:
                task.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(task.process.pid)
                task.process.wait(5)
        for task in tasks:  # leftovers of groups whose leader exited first
            _killpg(task.process.pid)
        self._closing.set()
        self._exit_waiter.wake()
        self._watcher.join(timeout=5)
        if not self._watcher.is_alive():
            self._exit_waiter.close()
        self._reap()

    # -- extras ----------------------------------------------------------------------------

    def log_path(self, task_id: str) -> Path | None:
        """The task's log file (gunicorn's stdout and stderr)."""
        with self._lock:
            task = self._tasks.get(task_id)
        return task.log if task else None

    def pid(self, task_id: str) -> int | None:
        """The task's leader pid (also its session and process group id)."""
        with self._lock:
            task = self._tasks.get(task_id)
        return task.process.pid if task else None

    def __enter__(self) -> ProcessRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- watcher ---------------------------------------------------------------------------

    def _live(self, task_id: str) -> _Task | None:
        with self._lock:
            task = self._tasks.get(task_id)
        return task if task is not None and task.process.poll() is None else None

    def _watch(self) -> None:
        next_memory = 0.0
        while not self._closing.is_set():
            self._reap()
            if self.memory_enforced and time.monotonic() >= next_memory:
                next_memory = time.monotonic() + self.memory_interval
                self._enforce_memory()
            self._exit_waiter.wait(self._watch_timeout(next_memory))

    def _watch_timeout(self, next_memory: float) -> float | None:
        """Seconds the watcher may sleep: until the next memory sample, at most
        ``poll_interval`` when exits are not waited on; None: until an exit or a wake-up."""
        wait = max(0.0, next_memory - time.monotonic()) if self.memory_enforced else None
        if not self._exit_waiter.waits_on_exits:
            wait = self.poll_interval if wait is None else min(wait, self.poll_interval)
        return wait

    def _reap(self) -> None:
        """Queue the exit of every task whose leader has exited; kill what is left of it."""
        with self._lock:
            tasks = [t for t in self._tasks.values() if not t.reported]
        for task in tasks:
            code = task.process.poll()
            if code is None:
                continue
            _killpg(task.process.pid)
            reason = OOM_REASON if task.oom else ESSENTIAL_EXITED
            gone = ContainerExit(task.spec.task_id, exit_code(code), reason, oom=task.oom,
                                 at=time.monotonic(), requested=task.stop_requested)
            with self._lock:
                task.reported = True
                self._exits.append(gone)
            if self.on_exit is not None:
                self.on_exit()

    def _session_rss(self, sessions: set[int]) -> dict[int, tuple[list[int], int]]:
        """The processes of each session and their RSS: from the last scan of /proc while it
        is recent, covers ``sessions`` and all its processes are alive; else a new scan."""
        at, found = self._sessions
        rss: dict[int, tuple[list[int], int]] = {}
        if time.monotonic() - at < self._scan_interval() and sessions <= set(found):
            for sid in sessions:
                sizes = [rss_or_none(pid) for pid in found[sid]]
                if None in sizes:
                    break
                rss[sid] = (found[sid], sum(s or 0 for s in sizes))
            else:
                return rss
        found = session_pids(sessions)
        self._sessions = (time.monotonic(), found)
        return {sid: (pids, sum(rss_bytes(pid) for pid in pids)) for sid, pids in found.items()}

    def _scan_interval(self) -> float:
        """SCAN_INTERVAL while a task is booting (its workers are forked), else longer."""
        now = time.monotonic()
        with self._lock:
            booting = any(now - t.started < BOOT_SECONDS for t in self._tasks.values()
                          if not t.reported)
        return SCAN_INTERVAL if booting else SETTLED_SCAN_INTERVAL

    def _enforce_memory(self) -> None:
        """The simulated cgroup: SIGKILL a task whose processes' PSS exceeds its limit."""
        with self._lock:
            leaders = {t.process.pid: t for t in self._tasks.values()
                       if not t.reported and not t.oom}
        for sid, (pids, rss) in self._session_rss(set(leaders)).items():
            task = leaders[sid]
            limit = task.spec.memory_mib * MIB
            now = time.monotonic()
            # PSS <= RSS: under the limit by RSS (cheap), PSS cannot exceed it; PSS (a walk of
            # the page tables) is read for the memory metric when RSS moved (every
            # PSS_INTERVAL at most) or PSS_MAX_AGE passed, and at once when RSS is over the
            # limit or the processes changed.
            if (rss <= limit and tuple(pids) == task.pids and now < task.pss_stale
                    and (now < task.pss_due or abs(rss - task.pss_rss) <= PSS_RSS_SLACK)):
                continue
            used = sum(pss_bytes(pid) for pid in pids)
            task.memory_used, task.pss_rss, task.pids = used, rss, tuple(pids)
            task.pss_due, task.pss_stale = now + PSS_INTERVAL, now + PSS_MAX_AGE
            if used > limit and task.process.poll() is None:
                task.oom = True
                _killpg(sid)
                with task.log.open("ab") as out:
                    out.write(f"fraudlab: simulated cgroup: {used / MIB:.1f} MiB in "
                              f"{len(pids)} processes > limit {task.spec.memory_mib} MiB: "
                              f"SIGKILL\n".encode())
