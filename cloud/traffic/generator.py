"""The open-loop traffic generator: ``POST /predict`` at Poisson times, whatever the answers.

A closed-loop tool (wrk) waits for an answer before the next request, so a slow service slows
the load and hides its own queueing. Here a scheduler thread fires requests at their planned
times; a pool of worker threads (one keep-alive ``http.client`` connection each) sends them,
and latency runs from the *scheduled* time, so waiting for a free connection counts. The pool
size is the in-flight cap: an arrival that finds every worker busy is counted as dropped
(client saturated), never delayed silently. Threads + ``http.client`` measured leaner here than
asyncio + aiohttp (about 250 vs 450 CPU µs per request on this 2-core machine).

Caps on total requests and wall duration make every run end by itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import queue
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from cloud.core.clock import Clock, LabClock
from cloud.traffic.arrivals import next_arrival
from cloud.traffic.profiles import RateProfile

FLAGGED = frozenset({"DECLINED", "REVIEW"})
DEFAULT_FRAUD_SHARE = 0.05
LOOKAHEAD = 0.05  # wall seconds drawn at a time, so profile changes and stop() act promptly
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class LatencyHistogram:
    """Log-linear buckets of integer microseconds, ~0.1 % precision (HdrHistogram's scheme).

    Values below 2,048 µs are exact; larger ones keep their top 11 bits. Percentiles report the
    bucket's highest value, capped by the exact maximum, so p50 <= p95 <= p99 <= max.
    """

    SUB_BITS = 11

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.total = 0
        self.max = 0
        self.sum = 0

    def record(self, micros: int) -> None:
        v = max(0, micros)
        shift = v.bit_length() - self.SUB_BITS
        key = v if shift <= 0 else (v | ((1 << shift) - 1))
        self.counts[key] += 1
        self.total += 1
        self.sum += v
        self.max = max(self.max, v)

    def percentiles(self, *qs: float) -> list[int]:
        """Values (µs) at the given percentiles (0-100); zeros when empty."""
        if not self.total:
            return [0 for _ in qs]
        ranks = [max(1, math.ceil(q / 100 * self.total)) for q in qs]
        out: list[int] = [self.max] * len(qs)
        seen, keys = 0, sorted(self.counts)
        todo = sorted(range(len(qs)), key=lambda i: ranks[i])
        j = 0
        for key in keys:
            seen += self.counts[key]
            while j < len(todo) and ranks[todo[j]] <= seen:
                out[todo[j]] = min(key, self.max)
                j += 1
            if j == len(todo):
                break
        return out

    def summary(self) -> dict[str, float]:
        """count, mean, p50, p95, p99, max in milliseconds."""
        p50, p95, p99 = self.percentiles(50, 95, 99)
        mean = self.sum / self.total / 1000 if self.total else 0.0
        return {"count": self.total, "mean_ms": mean, "p50_ms": p50 / 1000,
                "p95_ms": p95 / 1000, "p99_ms": p99 / 1000, "max_ms": self.max / 1000}


@dataclass
class Window:
    """One wall second of traffic (for live charts)."""

    second: int
    target_rate: float = 0.0
    sent: int = 0
    dropped: int = 0
    completed: int = 0
    ok: int = 0
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram, repr=False)

    def as_dict(self) -> dict:
        p50, p99 = self.latency.percentiles(50, 99)
        return {"second": self.second, "target_rate": self.target_rate, "sent": self.sent,
                "dropped": self.dropped, "completed": self.completed, "ok": self.ok,
                "errors": self.errors, "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
                "max_ms": self.latency.max / 1000}


@dataclass(frozen=True)
class Snapshot:
    """Live statistics; ``as_dict()`` is JSON-ready (for the control API)."""

    running: bool
    stop_reason: str | None
    url: str
    profile: dict
    elapsed_s: float
    profile_time_s: float
    target_rate: float
    scheduled: int
    sent: int
    dropped: int
    in_flight: int
    completed: int
    ok: int
    errors: dict[str, int]
    latency: dict[str, float]
    send_lag: dict[str, float]
    tasks: dict[str, int]
    decisions: dict[str, int]
    frauds: dict[str, int]
    windows: list[dict]
    phases: list[dict] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Phase:
    """A named stretch of one run (e.g. "steady", "spike"): its own counters and latencies.

    A request counts in the phase it was scheduled in, even if it completes in the next.
    """

    name: str
    started_s: float
    target_rate: float
    ended_s: float | None = None
    scheduled: int = 0
    sent: int = 0
    dropped: int = 0
    completed: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def as_dict(self, now_s: float) -> dict:
        end = self.ended_s if self.ended_s is not None else now_s
        return {"name": self.name, "started_s": round(self.started_s, 3),
                "ended_s": None if self.ended_s is None else round(self.ended_s, 3),
                "seconds": round(max(0.0, end - self.started_s), 3),
                "target_rate": self.target_rate, "scheduled": self.scheduled,
                "sent": self.sent, "dropped": self.dropped, "completed": self.completed,
                "ok": self.ok, "errors": dict(self.errors),
                "failed": self.dropped + sum(self.errors.values()),
                "latency": self.latency.summary()}


class _Stats:
    """Counters shared by the scheduler and the workers (one lock)."""

    def __init__(self, window_seconds: int, phase: str = "start", rate: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.window_seconds = window_seconds
        self.windows: dict[int, Window] = {}
        self.phases: list[Phase] = [Phase(phase, 0.0, rate)]
        self.scheduled = self.sent = self.dropped = self.completed = self.ok = 0
        self.in_flight = 0
        self.errors: Counter[str] = Counter()
        self.tasks: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.frauds: Counter[str] = Counter()
        self.latency = LatencyHistogram()
        self.lag = LatencyHistogram()

    def window(self, second: int) -> Window:
        w = self.windows.get(second)
        if w is None:
            w = self.windows[second] = Window(second)
            for old in [s for s in self.windows if s <= second - self.window_seconds]:
                del self.windows[old]
        return w

    def new_phase(self, name: str, at_s: float, rate: float) -> None:
        with self.lock:
            self.phases[-1].ended_s = at_s
            self.phases.append(Phase(name, at_s, rate))

    def scheduled_one(self, second: int, sent: bool, target: float) -> int:
        """Count one scheduled request; returns the index of its phase."""
        with self.lock:
            self.scheduled += 1
            phase = self.phases[-1]
            phase.scheduled += 1
            w = self.window(second)
            w.target_rate = target
            if sent:
                self.sent += 1
                phase.sent += 1
                self.in_flight += 1
                w.sent += 1
            else:
                self.dropped += 1
                phase.dropped += 1
                w.dropped += 1
            return len(self.phases) - 1

    def done(self, second: int, latency_us: int, lag_us: int, status: int | None,
             error: str | None, answer: dict | None, label: int, phase_index: int = -1) -> None:
        with self.lock:
            self.in_flight -= 1
            w = self.window(second)
            phase = self.phases[phase_index]
            self.lag.record(lag_us)
            if status is not None:
                self.completed += 1
                phase.completed += 1
                w.completed += 1
                self.latency.record(latency_us)
                phase.latency.record(latency_us)
                w.latency.record(latency_us)
            if error is None:
                self.ok += 1
                phase.ok += 1
                w.ok += 1
            else:
                self.errors[error] += 1
                phase.errors[error] += 1
                w.errors += 1
            if answer:
                task = answer.get("task_id")
                if task is not None:
                    self.tasks[str(task)] += 1
                decision = answer.get("decision")
                if error is None and isinstance(decision, str):
                    self.decisions[decision] += 1
                    flagged = decision in FLAGGED
                    if label:
                        self.frauds["sent"] += 1
                        self.frauds["flagged"] += flagged
                    else:
                        self.frauds["false_alarms"] += flagged


def _error_kind(status: int) -> str | None:
    return None if 200 <= status < 300 else f"http_{status // 100}xx"


class TrafficGenerator:
    """Open-loop ``POST {url}/predict`` following a rate profile; see the module docstring.

    ``clock`` gives lab time (profile times are lab seconds since ``start``/``set_profile``;
    default: lab time = wall time). ``requests``: (body, true label) pairs replayed in a cycle;
    default ``service.examples.sample_requests(2000, seed, fraud_share=0.05)``.
    """

    def __init__(self, url: str, profile: RateProfile, *, clock: Clock | None = None,
                 requests: Sequence[tuple[dict, int]] | None = None, seed: int = 0,
                 max_in_flight: int = 64, timeout: float = 5.0,
                 max_requests: int = 1_000_000, max_duration: float = 600.0,
                 drain: float = 1.0, window_seconds: int = 60, path: str = "/predict",
                 phase: str = "start") -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"target must be an http:// URL, got {url!r}")
        for name, value in (("max_in_flight", max_in_flight), ("max_requests", max_requests),
                            ("window_seconds", window_seconds)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        for name, value in (("timeout", timeout), ("max_duration", max_duration)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
        self.url = url.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or 80
        self._path = (parts.path.rstrip("/") + path) if parts.path.strip("/") else path
        self.clock: Clock = clock or LabClock(time_scale=1.0)
        self.max_in_flight, self.timeout = int(max_in_flight), float(timeout)
        self.max_requests, self.max_duration = int(max_requests), float(max_duration)
        self.drain = max(0.0, float(drain))
        if requests is None:  # pandas, for the first traffic only: at the top it added 0.5 s
            # and 44 MiB to every local cloud's start (farm-bench, 2026-12-06)
            from service.examples import sample_requests
            requests = sample_requests(2000, seed=seed, fraud_share=DEFAULT_FRAUD_SHARE)
        if not requests:
            raise ValueError("requests must hold at least one (body, label) pair")
        self._bodies = [(json.dumps(b, separators=(",", ":")).encode(), int(label))
                        for b, label in requests]
        self._rng = random.Random(seed)
        self._profile = profile
        self._profile_lab0 = 0.0
        self._profile_version = 0
        self._stats = _Stats(int(window_seconds), phase, profile.peak)
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._conns: list[http.client.HTTPConnection | None] = [None] * self.max_in_flight
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._aborting = False
        self._thread: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._t0 = 0.0
        self._t_end: float | None = None
        self.stop_reason: str | None = None

    # -- control ---------------------------------------------------------------------------

    def start(self) -> TrafficGenerator:
        """Start sending (once); returns self."""
        if self._thread is not None:
            raise RuntimeError("a traffic generator starts once; make a new one")
        self._workers = [threading.Thread(target=self._work, args=(i,), daemon=True,
                                          name=f"traffic-worker-{i}")
                         for i in range(self.max_in_flight)]
        for w in self._workers:
            w.start()
        self._t0 = time.monotonic()  # after the pool exists: its start-up is not send lag
        self._profile_lab0 = self.clock.now()
        self._thread = threading.Thread(target=self._schedule, daemon=True,
                                        name="traffic-scheduler")
        self._thread.start()
        return self

    def set_profile(self, profile: RateProfile, phase: str | None = None) -> None:
        """Follow ``profile`` from now on; its time 0 is now (a spike's start counts from here).

        ``phase`` starts a new named phase (its own failures and latencies in ``phases``).
        """
        if not (math.isfinite(profile.peak) and profile.peak >= 0):
            raise ValueError(f"profile peak must be a finite rate >= 0, got {profile.peak!r}")
        if phase is not None:
            started = self._thread is not None
            self._stats.new_phase(phase, time.monotonic() - self._t0 if started else 0.0,
                                  profile.peak)
        self._profile, self._profile_lab0 = profile, self.clock.now()
        self._profile_version += 1
        self._wake.set()

    def stop(self, timeout: float | None = None) -> Snapshot:
        """Stop scheduling, give in-flight requests ``drain`` seconds, abort the rest."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.drain + 2.0)
        return self.snapshot()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends by itself (or ``timeout``); True if it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TrafficGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- statistics ------------------------------------------------------------------------

    def _profile_time(self) -> float:
        return self.clock.now() - self._profile_lab0

    def snapshot(self) -> Snapshot:
        """Totals, latency percentiles and the last ``window_seconds`` one-second windows."""
        now = time.monotonic()
        started = self._thread is not None
        elapsed = ((self._t_end or now) - self._t0) if started else 0.0
        st = self._stats
        with st.lock:
            last = max(int(elapsed), max(st.windows, default=0)) if started else -1
            first = max(0, last - st.window_seconds + 1)
            windows = [(st.windows.get(s) or Window(s)).as_dict() for s in range(first, last + 1)]
            snap = Snapshot(
                running=self.running, stop_reason=self.stop_reason, url=self.url,
                profile=_describe(self._profile), elapsed_s=elapsed,
                profile_time_s=self._profile_time() if started else 0.0,
                target_rate=self._profile.rate(self._profile_time()) if started else 0.0,
                scheduled=st.scheduled, sent=st.sent, dropped=st.dropped,
                in_flight=st.in_flight, completed=st.completed, ok=st.ok,
                errors=dict(st.errors), latency=st.latency.summary(),
                send_lag=st.lag.summary(), tasks=dict(st.tasks),
                decisions=dict(st.decisions),
                frauds={"sent": st.frauds["sent"], "flagged": st.frauds["flagged"],
                        "false_alarms": st.frauds["false_alarms"]},
                windows=windows, phases=[ph.as_dict(elapsed) for ph in st.phases])
        return snap

    # -- scheduler -------------------------------------------------------------------------

    def _wall_profile(self) -> tuple[RateProfile, int]:
        """The current profile on the wall-clock axis (rate at a wall instant ``w``)."""
        profile, lab0, clock = self._profile, self._profile_lab0, self.clock
        scale = float(getattr(clock, "time_scale", 1.0))

        class _Wall:
            peak = profile.peak

            @staticmethod
            def rate(w: float) -> float:
                return profile.rate(clock.now() - lab0 + (w - time.monotonic()) * scale)

        return _Wall(), self._profile_version

    def _schedule(self) -> None:
        deadline = self._t0 + self.max_duration
        cursor, nxt = self._t0, None
        wall, version = self._wall_profile()
        try:
            while True:
                now = time.monotonic()
                if self._stopping.is_set():
                    self.stop_reason = "stopped"
                    break
                if now >= deadline:
                    self.stop_reason = "max_duration"
                    break
                if version != self._profile_version:
                    wall, version = self._wall_profile()
                    cursor, nxt = max(now, cursor), None
                if nxt is None:
                    nxt = next_arrival(cursor, wall, self._rng, horizon=cursor + LOOKAHEAD)
                    if nxt is None:
                        cursor += LOOKAHEAD
                        if cursor > now:
                            self._sleep(min(cursor, deadline) - now)
                        continue
                if nxt <= now:
                    self._fire(nxt, wall)
                    cursor, nxt = nxt, None
                    if self._stats.scheduled >= self.max_requests:
                        self.stop_reason = "max_requests"
                        break
                    continue
                self._sleep(min(nxt, deadline) - now)
        finally:
            self._finish()

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._wake.wait(seconds):
            self._wake.clear()

    def _fire(self, at: float, wall: RateProfile) -> None:
        second = int(at - self._t0)
        target = wall.rate(at)
        if not self._slots.acquire(blocking=False):
            self._stats.scheduled_one(second, False, target)
            return
        index = self._stats.scheduled % len(self._bodies)
        phase = self._stats.scheduled_one(second, True, target)
        self._jobs.put((at, index, phase))

    def _finish(self) -> None:
        """Wait ``drain`` seconds for in-flight requests, then abort them and end the workers."""
        self._t_end = time.monotonic()
        with self._stats.lock:
            self._stats.phases[-1].ended_s = self._t_end - self._t0
        until = self._t_end + self.drain
        while self._stats.in_flight > 0 and time.monotonic() < until:
            time.sleep(0.005)
        self._aborting = True
        for conn in list(self._conns):
            sock = conn.sock if conn is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for _ in self._workers:
            self._jobs.put(None)
        for w in self._workers:
            w.join(1.0)

    # -- workers ---------------------------------------------------------------------------

    def _work(self, slot: int) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            at, index, phase = job
            body, label = self._bodies[index]
            started = time.monotonic()
            status, error, answer = self._send(slot, body)
            end = time.monotonic()
            self._stats.done(int(end - self._t0), int((end - at) * 1e6),
                             int((started - at) * 1e6), status, error, answer, label, phase)
            self._slots.release()

    def _send(self, slot: int, body: bytes) -> tuple[int | None, str | None, dict | None]:
        """One exchange on this worker's keep-alive connection; retried once if it was stale."""
        for attempt in (0, 1):
            conn = self._conns[slot]
            reused = conn is not None and conn.sock is not None
            if conn is None:
                conn = self._conns[slot] = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout)
            try:
                conn.request("POST", self._path, body, _HEADERS)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
            except TimeoutError:
                self._drop_conn(slot)
                return None, "timeout", None
            except (OSError, http.client.HTTPException) as exc:
                self._drop_conn(slot)
                if self._aborting:
                    return None, "cancelled", None
                stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                         BrokenPipeError))
                if reused and stale and attempt == 0:
                    continue
                return None, "connection", None
            try:
                answer = json.loads(data) if data else None
            except ValueError:
                answer = None
            return status, _error_kind(status), answer if isinstance(answer, dict) else None
        return None, "connection", None  # pragma: no cover - the loop always returns

    def _drop_conn(self, slot: int) -> None:
        conn, self._conns[slot] = self._conns[slot], None
        if conn is not None:
            conn.close()


def _describe(profile: RateProfile) -> dict:
    describe = getattr(profile, "describe", None)
    return describe() if callable(describe) else {"name": type(profile).__name__,
                                                  "peak": profile.peak}
