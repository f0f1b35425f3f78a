"""The load balancer itself: a real HTTP/1.1 reverse proxy on 127.0.0.1 (ecs-facts.md §6).

Edge of the pure decisions in :mod:`cloud.lb.routing` (which target) and :mod:`cloud.lb.health`
(which targets are healthy). One asyncio loop (uvloop when installed) in its own thread runs
the listener (:mod:`cloud.lb.listener`: keep-alive to clients, strict parsing, no access log)
and, per target, a capped pool of keep-alive connections (:mod:`cloud.lb.upstream`). A request
whose target has an idle pooled connection is relayed from callbacks (:meth:`_fast`), others
by a task (:meth:`_handle`). ALB's answers when it
cannot serve (§6):

- **503** — the target group has no registered targets;
- **502** — the target refused or reset/closed the connection, answered something that is not
  HTTP, or was still handling the request when its deregistration delay elapsed;
- **504** — no connection within the connect timeout (10 s) or no answer within the idle
  timeout (60 s).

ALB does not retry a request on another target; ``retry_on_connect_error`` is a kit-only knob
(off by default) that re-sends a request to another target when its connection failed before
any byte of an answer came back (refused, reset, closed — a crashed task), never on a timeout.
Health-check intervals and the deregistration delay are lab seconds of the injected clock;
connect and idle timeouts are wall seconds (they measure real network waits). The health
checker sleeps until its next timer (a check due, a deregistration delay ending, the sweep of
idle connections each second), woken when a target is registered or deregistered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloud.core.clock import Clock, LabClock
from cloud.lb import health as hc
from cloud.lb import upstream as up
from cloud.lb.listener import ClientConnection, ClientGone, Listener, Request
from cloud.lb.outbox import Outbox
from cloud.lb.routing import (
    DRAINING,
    REGISTERED,
    ROUND_ROBIN,
    UNUSED,
    Target,
    check_algorithm,
    choose,
    eligible,
    explain,
    pick_target,
)

RETRY_LABEL = "kit-only: ALB does not retry"
BUFFER_LIMIT = up.BUFFER_LIMIT  # answers up to 1 MiB with a Content-Length: one write
MESSAGES = {
    502: "502 Bad Gateway: {why}",
    503: "503 Service Temporarily Unavailable: the target group has no registered targets",
    504: "504 Gateway Time-out: {why}",
}
HEALTH_CHECK = (b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: ELB-HealthChecker/2.0\r\n"
                b"Connection: close\r\n\r\n")
SWEEP_PERIOD = 1.0  # wall seconds between closing idle client and pooled connections
log = logging.getLogger(__name__)


@dataclass
class TargetStats:
    """Per-target counters (RequestCountPerTarget, HTTPCode_Target_*_Count, ELB 502/504)."""

    requests: int = 0
    code_2xx: int = 0
    code_3xx: int = 0
    code_4xx: int = 0
    code_5xx: int = 0
    bytes: int = 0
    elb_502: int = 0
    elb_504: int = 0
    retried_away: int = 0

    def count(self, status: int, nbytes: int) -> None:
        self.requests += 1
        self.bytes += nbytes
        if status < 300:
            self.code_2xx += 1
        elif status < 400:
            self.code_3xx += 1
        elif status < 500:
            self.code_4xx += 1
        else:
            self.code_5xx += 1


@dataclass
class _Entry:
    target: Target
    health: hc.TargetHealth
    stats: TargetStats = field(default_factory=TargetStats)
    in_flight: set[asyncio.Task[Any]] = field(default_factory=set)
    probing: bool = False
    pool: up.Pool | None = None  # made on the first request, closed once unused


class _Failure(Exception):
    """The target could not give an answer: ``status`` is ALB's (502/504)."""

    def __init__(self, status: int, why: str, no_answer: bool = False,
                 sent: bool = False) -> None:
        super().__init__(why)
        # no_answer: refused, reset or closed before any byte of an answer — what the
        # kit-only retry knob re-sends (a timeout is not: the target may still be working).
        self.status, self.why, self.no_answer = status, why, no_answer
        self.sent = sent  # the answer's head already went to the client: cut, not answered


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def probe_timeout(timeout: float, interval: float, to_wall: Callable[[float], float]) -> float:
    """Wall seconds a health check waits: the lab timeout compressed like the interval, but
    never below what the real wait would be within one (compressed) interval.

    A timeout is a real wait for a real answer: compressed 30× a 5 s timeout would be 167 ms,
    and a busy laptop's replica would flap unhealthy. So the check waits up to the timeout in
    wall seconds, capped by the interval's wall length so that checks never overlap.
    """
    return max(to_wall(timeout), min(timeout, to_wall(interval)))


def _failure(target_id: str, error: up.UpstreamError, connect_timeout: float,
             idle_timeout: float) -> _Failure:
    """ALB's answer to what went wrong with the target."""
    kind = error.kind
    if kind == up.REFUSED:
        return _Failure(502, f"{target_id} refused the connection", True)
    if kind == up.CONNECT_TIMEOUT:
        return _Failure(504, f"could not connect to {target_id} within {connect_timeout:g} s")
    if kind == up.IDLE_TIMEOUT:
        return _Failure(504, f"{target_id} did not answer within the idle timeout "
                             f"({idle_timeout:g} s)")
    if kind == up.RESET:
        return _Failure(502, f"{target_id} reset the connection", error.no_answer)
    if kind == up.CLOSED:
        what = "closed the connection" if error.no_answer else "closed the connection mid-answer"
        return _Failure(502, f"{target_id} {what}", error.no_answer)
    return _Failure(502, f"{target_id} sent a malformed answer ({error.detail})")


Reason = str | tuple[str, tuple[tuple[str, int], ...], int, bool]


def _reason(reason: Reason) -> str:
    """A trace row's reason: written already, or what :func:`routing.explain` needs to write
    it (the request path leaves the writing to whoever reads the trace)."""
    return reason if isinstance(reason, str) else explain(*reason)


class _Exchange:
    """One request served without a task (:meth:`LoadBalancer._fast`): the upstream
    connection calls :meth:`answered`; the deregistration delay calls :meth:`cancel` (as it
    cancels a task), which closes the connection: the client gets ALB's 502."""

    __slots__ = ("client", "connection", "counts", "entry", "expired", "lb", "reason",
                 "request", "started")

    def __init__(self, lb: LoadBalancer, request: Request, client: ClientConnection,
                 entry: _Entry, connection: up.Connection, counts: tuple[tuple[str, int], ...],
                 started: float, reason: Reason) -> None:
        self.lb, self.request, self.client, self.entry = lb, request, client, entry
        self.connection, self.counts, self.started, self.reason = (connection, counts,
                                                                   started, reason)
        self.expired = False

    def cancel(self, msg: object = None) -> bool:
        self.expired = True
        self.connection.close()  # -> answered(None, error)
        return True

    def answered(self, answer: up.Answer | None, error: up.UpstreamError | None) -> None:
        lb, entry, client, request = self.lb, self.entry, self.client, self.request
        target = entry.target
        entry.in_flight.discard(self)  # type: ignore[arg-type]
        if answer is not None and answer.body is None:  # it streams: a task relays the rest
            task = lb._loop.create_task(lb._stream(self, answer))  # type: ignore[union-attr]
            client.task = task
            entry.in_flight.add(task)  # still outstanding: _stream ends it
            return
        target.outstanding -= 1
        try:
            if answer is None:
                assert error is not None
                failure = (_Failure(502, "the deregistration delay elapsed while the target "
                                         "was handling the request") if self.expired
                           else _failure(target.id, error, lb.connect_timeout,
                                         lb.idle_timeout))
                lb._failed(request, client, entry, failure, self.counts, self.started,
                           f"{target.id}: {failure.why}", self.reason)
            else:
                entry.stats.count(answer.status, len(answer.body))
                lb._record(request, target.id, self.counts, answer.status, self.started, "",
                           self.reason)
                lb._send(request, client, answer)
        except Exception:
            log.exception("load balancer: %s %s failed", request.method, request.path)
            client.send_error(500, "500 Internal Server Error: the load balancer failed")
            client.abort()
        finally:
            if target.state == DRAINING:
                lb._settle(entry, lb.clock.now())
        client.finish()


class LoadBalancer:
    """An ALB listener + one target group, on ``host:port`` (0 = a free port).

    Thread-safe public API: :meth:`register`, :meth:`deregister`, :meth:`set_algorithm`,
    :meth:`set_health_settings`, :meth:`snapshot`; call :meth:`start` first and :meth:`stop`
    at the end.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *,
                 algorithm: str = ROUND_ROBIN, clock: Clock | None = None,
                 health: hc.HealthSettings | None = None, health_checks: bool = True,
                 idle_timeout: float = 60.0, connect_timeout: float = 10.0,
                 max_connections_per_target: int = 32, trace_size: int = 10_000,
                 retry_on_connect_error: bool = False, check_period: float = 0.05,
                 use_uvloop: bool = True, header_timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.algorithm = check_algorithm(algorithm)
        self.clock: Clock = clock or LabClock()
        self.health_settings = health or hc.HealthSettings()
        self.health_checks = health_checks
        self.idle_timeout, self.connect_timeout = idle_timeout, connect_timeout
        # a request head must come whole within this (None: the idle timeout); kit-only
        self.header_timeout = header_timeout
        self.max_connections_per_target = max_connections_per_target
        self.retry_on_connect_error = retry_on_connect_error  # kit-only: ALB does not retry
        self.check_period = check_period
        self.use_uvloop = use_uvloop  # libuv's loop when installed: about half the CPU/request
        self.trace: deque[tuple[Any, ...]] = deque(maxlen=trace_size)
        self.events: deque[dict[str, Any]] = deque(maxlen=1_000)
        # called (in the loop's thread) after each target event: a registration or a state
        # change; the local cloud wakes its control loop with it
        self.on_event: Callable[[], None] | None = None
        self.totals = {"requests": 0, "elb_502": 0, "elb_503": 0, "elb_504": 0, "retries": 0,
                       "target_responses": 0, "target_time_ms": 0.0}
        self._entries: dict[str, _Entry] = {}
        self._targets: list[Target] = []  # registration order, without unused targets
        self._rr = 0
        self._outbox: Outbox | None = None  # made with the loop (see _run)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None
        self._forwarded = b""  # X-Forwarded-Proto/-Port lines, once the port is known
        self._checker: asyncio.Task[None] | None = None
        self._recheck: asyncio.Event | None = None  # wakes the checker: its timers changed
        self._stopping: asyncio.Event | None = None
        self._probes: set[asyncio.Task[None]] = set()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LoadBalancer:
        """Start the loop thread and listen; returns once the port accepts connections."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True,
                                        name=f"lb:{self.port or 'free'}")
        self._thread.start()
        started.result(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, close every connection, end the thread."""
        if self._loop is None or self._stopping is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> LoadBalancer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = _new_loop(self.use_uvloop)
        asyncio.set_event_loop(loop)
        self._loop = loop
        # one outbox for the listener and every pool: the pass's writes go out together
        self._outbox = Outbox(loop)
        try:
            loop.run_until_complete(self._serve(started))
        except BaseException as exc:  # start failures go to start()
            if not started.done():
                started.set_exception(exc)
        finally:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        self._stopping = asyncio.Event()
        self._recheck = asyncio.Event()
        self._listener = Listener(self._handle, idle_timeout=self.idle_timeout,
                                  header_timeout=self.header_timeout, fast=self._fast)
        self.port = await self._listener.start(self.host, self.port, outbox=self._outbox)
        self._forwarded = b"X-Forwarded-Proto: http\r\nX-Forwarded-Port: %d\r\n" % self.port
        self._checker = asyncio.create_task(self._check_loop())
        started.set_result(None)
        try:
            await self._stopping.wait()
        finally:
            for task in (self._checker, *self._probes):
                task.cancel()
            await asyncio.gather(self._checker, *self._probes, return_exceptions=True)
            await self._listener.close()
            for entry in self._entries.values():
                self._close_pool(entry)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` in the loop thread (or here before start / inside the loop)."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.current_thread() is self._thread:
            return fn(*args)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(10.0)

    # ---- public API ------------------------------------------------------------------------

    def register(self, target: Target) -> None:
        """Register a target: ``initial`` until it passes one health check (§6)."""
        self._call(self._register, target)

    def deregister(self, target_id: str) -> None:
        """Deregister: ``draining`` (no new requests, in-flight ones finish) → ``unused``."""
        self._call(self._deregister, target_id)

    def set_algorithm(self, name: str) -> None:
        """``round_robin`` (ALB's default) or ``least_outstanding_requests``."""
        self._call(setattr, self, "algorithm", check_algorithm(name))

    def set_health_settings(self, settings: hc.HealthSettings) -> None:
        """The target group's health-check settings and deregistration delay, from now on."""
        if not isinstance(settings, hc.HealthSettings):
            raise TypeError("settings must be a cloud.lb.health.HealthSettings")
        self._call(self._set_health_settings, settings)

    def snapshot(self, trace_limit: int | None = 200) -> dict[str, Any]:
        """Targets (state, reason, outstanding, counters), totals, recent trace and events."""
        return self._call(self._snapshot, trace_limit)

    def state_of(self, target_id: str) -> str | None:
        """The target's state now (None when it was never registered or is pruned)."""
        return self._call(self._state_of, target_id)

    def wait_for_state(self, target_id: str, state: str, timeout: float = 10.0) -> bool:
        """Poll until ``target_id`` is in ``state`` (for tests and the demo); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._call(self._state_of, target_id) == state:
                return True
            time.sleep(0.02)
        return False

    # ---- state (loop thread only) ----------------------------------------------------------

    def _set_health_settings(self, settings: hc.HealthSettings) -> None:
        self.health_settings = settings
        self._poke()

    def _poke(self) -> None:
        """Wake the health-check loop now: a target's timers changed (loop thread)."""
        if self._recheck is not None:
            self._recheck.set()

    def _state_of(self, target_id: str) -> str | None:
        entry = self._entries.get(target_id)
        return entry.target.state if entry else None

    def _event(self, target_id: str, state: str, reason: str) -> None:
        self.events.append({"time": time.time(), "lab": self.clock.now(), "target": target_id,
                            "state": state, "reason": reason})
        if self.on_event is not None:
            self.on_event()

    def _set_health(self, entry: _Entry, new: hc.TargetHealth, reason: str | None) -> None:
        changed = new.state != entry.health.state
        entry.health = new
        entry.target.state = new.state
        if new.state == UNUSED:
            if entry.target in self._targets:
                self._targets = [t for t in self._targets if t is not entry.target]
            self._close_pool(entry)
        if reason and changed:
            self._event(entry.target.id, new.state, reason)

    def _register(self, target: Target) -> None:
        old = self._entries.get(target.id)
        if old is not None and old.target.state in REGISTERED:
            return  # ALB: registering a registered target again changes nothing
        now = self.clock.now()
        health = hc.register(now)
        reason = f"{hc.REGISTRATION_IN_PROGRESS}: Target registration is in progress"
        if not self.health_checks:
            health = hc.TargetHealth(state="healthy", reason_code=None, description=None,
                                     since=now)
            reason = "healthy: health checks off (kit-only)"
        fresh = Target(target.id, target.host, target.port, health.state, 0, target.weight)
        entry = _Entry(fresh, health)
        if old is not None:
            entry.stats = old.stats
            self._close_pool(old)
            if old.target in self._targets:
                self._targets = [t for t in self._targets if t is not old.target]
        self._entries[target.id] = entry
        self._targets = [*self._targets, fresh]
        self._event(target.id, health.state, reason)
        self._prune()
        self._poke()  # its first health check is due at once

    def _prune(self, keep_unused: int = 64) -> None:
        unused = [k for k, e in self._entries.items() if e.target.state == UNUSED]
        for key in unused[:max(0, len(unused) - keep_unused)]:
            self._close_pool(self._entries.pop(key))

    @staticmethod
    def _close_pool(entry: _Entry) -> None:
        """No new connections to this target; busy ones close when their exchange ends."""
        if entry.pool is not None:
            entry.pool.close()
            entry.pool = None

    def _deregister(self, target_id: str) -> None:
        entry = self._entries.get(target_id)
        if entry is None:
            return
        now = self.clock.now()
        new, reason = hc.deregister(entry.health, now)
        self._set_health(entry, new, reason)
        self._targets = [t for t in self._targets if t is not entry.target]
        self._settle(entry, now)
        self._poke()  # its deregistration delay runs

    def _settle(self, entry: _Entry, now: float) -> None:
        new, reason = hc.settle(entry.health, now, entry.target.outstanding,
                                self.health_settings)
        if new is not entry.health:
            self._set_health(entry, new, reason)
            for task in list(entry.in_flight):  # delay elapsed: those requests get 502
                task.cancel("deregistration delay elapsed")

    def _snapshot(self, trace_limit: int | None) -> dict[str, Any]:
        trace = list(self.trace)
        if trace_limit is not None:
            trace = trace[-trace_limit:] if trace_limit > 0 else []
        keys = ("time", "lab", "method", "path", "target", "outstanding", "status",
                "latency_ms", "reason", "note")
        trace = [(*row[:8], _reason(row[8]), row[9]) for row in trace]
        return {
            "url": self.url,
            "algorithm": self.algorithm,
            "retry_on_connect_error": self.retry_on_connect_error,
            "retry_label": RETRY_LABEL,
            "health": vars(self.health_settings).copy(),
            "lab_time": self.clock.now(),
            "targets": [
                {"id": e.target.id, "host": e.target.host, "port": e.target.port,
                 "state": e.target.state, "reason": e.health.reason_code,
                 "description": e.health.description,
                 "outstanding": e.target.outstanding, **vars(e.stats)}
                for e in self._entries.values()],
            "totals": dict(self.totals),
            "trace": [dict(zip(keys, (*row[:5], dict(row[5]), *row[6:]), strict=True))
                      for row in trace],
            "events": list(self.events),
        }

    # ---- health checks ---------------------------------------------------------------------

    async def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        swept = loop.time()
        while True:
            now = self.clock.now()
            for entry in list(self._entries.values()):
                if entry.target.state == DRAINING:
                    self._settle(entry, now)
                elif (self.health_checks and not entry.probing
                      and hc.due(entry.health, now, self.health_settings)):
                    entry.probing = True
                    probe = asyncio.create_task(self._probe(entry))
                    self._probes.add(probe)
                    probe.add_done_callback(self._probes.discard)
            if loop.time() - swept >= SWEEP_PERIOD:  # idle keep-alive connections
                swept = loop.time()
                if self._listener is not None:
                    self._listener.sweep(swept)
                for entry in self._entries.values():
                    if entry.pool is not None:
                        entry.pool.sweep(swept)
            await self._check_pause(self._check_wait(now, swept + SWEEP_PERIOD - loop.time()))

    def _check_wait(self, now: float, until_sweep: float) -> float:
        """Wall seconds until the checker's earliest timer (a health check due, a
        deregistration delay ending, the sweep), at least ``check_period``."""
        to_wall = getattr(self.clock, "to_wall", None)
        if to_wall is None:
            return self.check_period
        settings = self.health_settings
        # a target being probed is next checked an interval after the probe ends, at the earliest
        timers = [now + settings.interval if e.probing and e.target.state != DRAINING
                  else hc.next_timer(e.health, settings, checks=self.health_checks)
                  for e in self._entries.values()]
        first = min((t for t in timers if t is not None), default=None)
        wait = until_sweep if first is None else min(until_sweep, to_wall(first - now))
        return max(self.check_period, wait)

    async def _check_pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when :meth:`_poke` wakes the checker."""
        assert self._recheck is not None
        self._recheck.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._recheck.wait()

    async def _probe(self, entry: _Entry) -> None:
        """One health check: GET the path on a new connection, as ALB's health checker."""
        settings = self.health_settings
        timeout = probe_timeout(settings.timeout, settings.interval,
                                getattr(self.clock, "to_wall", lambda s: s))
        target = entry.target
        pool = up.Pool(target.host, target.port, limit=1, connect_timeout=timeout,
                       idle_timeout=timeout, keepalive=0.0)
        try:
            async with asyncio.timeout(timeout):
                connection = await pool.acquire()
                answer = await connection.exchange(
                    HEALTH_CHECK % (settings.path.encode(), target.host.encode(), target.port))
            if answer.connection is not None:  # a streamed answer: the status is enough
                answer.connection.close()
            result = hc.ProbeResult(status=answer.status)
        except TimeoutError:
            result = hc.ProbeResult(timed_out=True)
        except up.UpstreamError as exc:
            if exc.kind in (up.CONNECT_TIMEOUT, up.IDLE_TIMEOUT):
                result = hc.ProbeResult(timed_out=True)
            else:
                result = hc.ProbeResult(error=f"{exc.kind}: {exc.detail}" if exc.detail
                                        else exc.kind)
        finally:
            pool.close()
            entry.probing = False
        if self._entries.get(entry.target.id) is entry:
            new, reason = hc.observe(entry.health, result, self.clock.now(), settings)
            self._set_health(entry, new, reason)

    # ---- the request path ------------------------------------------------------------------

    def _record(self, request: Request, target_id: str | None,
                counts: tuple[tuple[str, int], ...], status: int, started: float,
                note: str = "", reason: Reason = "") -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        self.trace.append((time.time(), self.clock.now(), request.method, request.path,
                           target_id, counts, status, latency_ms, reason, note))
        if target_id is not None and status not in (502, 503, 504):  # a target answered
            self.totals["target_responses"] += 1
            self.totals["target_time_ms"] += latency_ms

    def _upstream_request(self, request: Request, host: bytes = b"") -> bytes:
        """The request as the target gets it: hop-by-hop headers dropped, X-Forwarded-*
        added, the body de-chunked with its Content-Length; ``host``: a Host line to add."""
        head = request.head
        peer = request.peer.encode()
        forwarded_for = head.forwarded_for + b", " + peer if head.forwarded_for else peer
        lines = b"\r\n".join(head.lines) + b"\r\n" if head.lines else b""
        body = request.body
        length = (b"Content-Length: %d\r\n" % len(body)
                  if body or head.length is not None or head.chunked else b"")
        return b"%s %s HTTP/1.1\r\n%s%sX-Forwarded-For: %s\r\n%s%s\r\n%s" % (
            head.method, head.target, host, lines, forwarded_for, self._forwarded, length, body)

    async def _handle(self, request: Request, client: ClientConnection) -> None:
        started = time.perf_counter()
        self.totals["requests"] += 1
        data = self._upstream_request(request) if request.head.host else b""
        tried: list[str] = []
        notes: list[str] = []
        while True:
            targets = [t for t in self._targets if t.id not in tried] if tried else self._targets
            target, reason, rr = pick_target(targets, self.algorithm, self._rr)
            counts = tuple([(t.id, t.outstanding) for t in self._targets])
            if target is None:
                if tried:  # only reachable with the retry knob: every target refused
                    self.totals["elb_502"] += 1
                    self._record(request, tried[-1], counts, 502, started, "; ".join(notes))
                    client.send_error(502, MESSAGES[502].format(
                        why="every target refused the connection"))
                    return
                self.totals["elb_503"] += 1
                self._record(request, None, counts, 503, started, reason=reason)
                client.send_error(503, MESSAGES[503])
                return
            if not tried:  # a kit-only re-send does not move the round-robin cursor
                self._rr = rr
            entry = self._entries[target.id]
            try:
                answer, nbytes = await self._forward(request, client, entry, data)
            except _Failure as failure:
                notes.append(f"{target.id}: {failure.why}")
                if (failure.no_answer and self.retry_on_connect_error
                        and len(tried) + 1 < len(self._targets)):
                    tried.append(target.id)
                    entry.stats.retried_away += 1
                    self.totals["retries"] += 1
                    notes.append(f"re-sent to another target ({RETRY_LABEL})")
                    continue
                self._failed(request, client, entry, failure, counts, started,
                             "; ".join(notes), reason)
                return
            entry.stats.count(answer.status, nbytes)
            self._record(request, target.id, counts, answer.status, started,
                         "; ".join(notes), reason)
            if answer.body is not None:  # else it streamed already
                self._send(request, client, answer)
            return

    def _failed(self, request: Request, client: ClientConnection, entry: _Entry,
                failure: _Failure, counts: tuple[tuple[str, int], ...], started: float,
                note: str, reason: Reason) -> None:
        """ALB's 502/504 for a target that gave no (whole) answer: counted, traced, sent."""
        entry.stats.count(failure.status, 0)
        if failure.status == 504:
            entry.stats.elb_504 += 1
            self.totals["elb_504"] += 1
        else:
            entry.stats.elb_502 += 1
            self.totals["elb_502"] += 1
        self._record(request, entry.target.id, counts, failure.status, started, note, reason)
        if not failure.sent:
            client.send_error(failure.status, MESSAGES[failure.status].format(why=failure.why))

    # ---- the request path without a task ---------------------------------------------------

    def _fast(self, request: Request, client: ClientConnection) -> bool:
        """Serve ``request`` without a task when a target was picked and its pool has an idle
        connection (the usual case under load): the answer is relayed from the upstream
        connection's callback (:class:`_Exchange`). False: :meth:`_handle` (a task) serves it
        (no target, no idle connection, the kit-only retry knob on)."""
        if self.retry_on_connect_error:
            return False
        targets = self._targets
        pool, fail_open = eligible(targets)
        if not pool:
            return False
        index = choose(pool, self.algorithm, self._rr)
        target = pool[index]
        entry = self._entries[target.id]
        if entry.pool is None:
            return False
        connection = entry.pool.take_idle()
        if connection is None:
            return False
        self._rr = index + 1
        started = time.perf_counter()
        self.totals["requests"] += 1
        counts = tuple([(t.id, t.outstanding) for t in targets])
        # the reason is written when the trace is read (see _reason)
        reason = (self.algorithm, counts if len(pool) == len(targets)
                  else tuple([(t.id, t.outstanding) for t in pool]), index, fail_open)
        host = (b"" if request.head.host
                else b"Host: %s:%d\r\n" % (target.host.encode(), target.port))
        exchange = _Exchange(self, request, client, entry, connection, counts, started, reason)
        target.outstanding += 1
        entry.in_flight.add(exchange)  # type: ignore[arg-type]
        connection.start(self._upstream_request(request, host), request.head.method == b"HEAD",
                         exchange.answered)
        return True

    async def _relay(self, client: ClientConnection, answer: up.Answer) -> int:
        """Stream an answer without a Content-Length (or a large one) to the client."""
        connection = answer.connection
        assert connection is not None
        try:
            return await client.send_stream(answer.status, answer.reason, answer.headers,
                                            answer.length, connection.read)
        except up.UpstreamError as exc:
            # Headers are gone already: all a proxy can do is cut the client's connection.
            client.abort()
            raise _Failure(502, f"the answer broke off after {client.streamed} bytes "
                                f"({exc.detail or exc.kind})", sent=True) from None
        except ClientGone:
            connection.close()
            return client.streamed

    async def _stream(self, exchange: _Exchange, answer: up.Answer) -> None:
        """The rest of :meth:`_fast` when the answer streams: a task after all."""
        request, client, entry = exchange.request, exchange.client, exchange.entry
        target = entry.target
        task = asyncio.current_task()  # counted outstanding and in flight by _Exchange
        assert task is not None
        try:
            try:
                nbytes = await self._relay(client, answer)
            except asyncio.CancelledError:
                if target.state == UNUSED and task.cancelling():
                    task.uncancel()
                    client.abort()
                    raise _Failure(502, "the deregistration delay elapsed while the target "
                                        "was handling the request", sent=True) from None
                raise
        except _Failure as failure:
            self._failed(request, client, entry, failure, exchange.counts, exchange.started,
                         f"{target.id}: {failure.why}", exchange.reason)
        else:
            entry.stats.count(answer.status, nbytes)
            self._record(request, target.id, exchange.counts, answer.status, exchange.started,
                         "", exchange.reason)
        finally:
            target.outstanding -= 1
            entry.in_flight.discard(task)
            if target.state == DRAINING:
                self._settle(entry, self.clock.now())
            client.finish()

    @staticmethod
    def _send(request: Request, client: ClientConnection, answer: up.Answer) -> None:
        status = answer.status
        if request.head.method == b"HEAD" or status in (204, 304):
            # no body: the Content-Length (if any) is the one the target sent
            headers = answer.headers
            if answer.length is not None and status != 204:
                headers += b"Content-Length: %d\r\n" % answer.length
            client.send(status, answer.reason, headers, b"", content_length=False)
        else:
            client.send(status, answer.reason, answer.headers, answer.body or b"")

    async def _forward(self, request: Request, client: ClientConnection, entry: _Entry,
                       data: bytes) -> tuple[up.Answer, int]:
        target = entry.target
        task = client.task or asyncio.current_task()  # (current_task costs a getpid())
        assert task is not None
        target.outstanding += 1
        entry.in_flight.add(task)
        streaming = False
        try:
            pool = entry.pool
            if pool is None:
                pool = entry.pool = up.Pool(
                    target.host, target.port, limit=self.max_connections_per_target,
                    connect_timeout=self.connect_timeout, idle_timeout=self.idle_timeout,
                    outbox=self._outbox)
            connection = await pool.acquire()
            if not data:  # the client sent no Host: the target's address is the host
                data = self._upstream_request(
                    request, b"Host: %s:%d\r\n" % (target.host.encode(), target.port))
            answer = await connection.exchange(data, request.head.method == b"HEAD")
            if answer.body is not None:
                return answer, len(answer.body)
            streaming = True
            return answer, await self._relay(client, answer)
        except asyncio.CancelledError:
            if target.state == UNUSED and task.cancelling():
                task.uncancel()
                if streaming:
                    client.abort()
                raise _Failure(502, "the deregistration delay elapsed while the target "
                                    "was handling the request", sent=streaming) from None
            raise
        except up.UpstreamError as exc:
            raise _failure(target.id, exc, self.connect_timeout, self.idle_timeout) from None
        finally:
            target.outstanding -= 1
            entry.in_flight.discard(task)
            if target.state == DRAINING:
                self._settle(entry, self.clock.now())
