"""The load balancer itself: a real HTTP/1.1 reverse proxy on 127.0.0.1 (ecs-facts.md §6).

Edge of the pure decisions in :mod:`cloud.lb.routing` (which target) and :mod:`cloud.lb.health`
(which targets are healthy). One asyncio loop in its own thread runs an aiohttp server (no
access log, keep-alive to clients) and one aiohttp client session with a pooled keep-alive
connection set per target, capped per target. ALB's answers when it cannot serve (§6):

- **503** — the target group has no registered targets;
- **502** — the target refused or reset/closed the connection, answered something that is not
  HTTP, or was still handling the request when its deregistration delay elapsed;
- **504** — no connection within the connect timeout (10 s) or no answer within the idle
  timeout (60 s).

ALB does not retry a request on another target; ``retry_on_connect_error`` is a kit-only knob
(off by default) that re-sends a request to another target when its connection failed before
any byte of an answer came back (refused, reset, closed — a crashed task), never on a timeout.
Health-check intervals and the deregistration delay are lab seconds of the injected clock;
connect and idle timeouts are wall seconds (they measure real network waits).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from cloud.clock import Clock, LabClock
from cloud.lb import health as hc
from cloud.lb.routing import (
    DRAINING,
    REGISTERED,
    ROUND_ROBIN,
    UNUSED,
    Target,
    check_algorithm,
    pick_target,
)

RETRY_LABEL = "kit-only: ALB does not retry"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
                        "proxy-connection"})
BUFFER_LIMIT = 1 << 20  # answers up to 1 MiB with a Content-Length are relayed in one write
MESSAGES = {
    502: "502 Bad Gateway: {why}",
    503: "503 Service Temporarily Unavailable: the target group has no registered targets",
    504: "504 Gateway Time-out: {why}",
}


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


class _Failure(Exception):
    """The target could not give an answer: ``status`` is ALB's (502/504)."""

    def __init__(self, status: int, why: str, no_answer: bool = False,
                 response: web.StreamResponse | None = None) -> None:
        super().__init__(why)
        # no_answer: refused, reset or closed before any byte of an answer — what the
        # kit-only retry knob re-sends (a timeout is not: the target may still be working).
        self.status, self.why, self.no_answer = status, why, no_answer
        self.response = response  # set when the answer's headers were already sent


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _error_response(status: int, why: str = "") -> web.Response:
    return web.Response(status=status, text=MESSAGES[status].format(why=why) + "\n",
                        content_type="text/plain")


def _forward_headers(request: web.BaseRequest) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
            headers.add(name, value)
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = peer[0] if peer else "127.0.0.1"
    previous = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
    headers["X-Forwarded-Proto"] = "http"
    if request.host and ":" in request.host:
        headers["X-Forwarded-Port"] = request.host.rsplit(":", 1)[1]
    return headers


def _answer_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.headers.items():
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
            headers.add(name, value)
    return headers


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
                 use_uvloop: bool = True) -> None:
        self.host, self.port = host, port
        self.algorithm = check_algorithm(algorithm)
        self.clock: Clock = clock or LabClock()
        self.health_settings = health or hc.HealthSettings()
        self.health_checks = health_checks
        self.idle_timeout, self.connect_timeout = idle_timeout, connect_timeout
        self.max_connections_per_target = max_connections_per_target
        self.retry_on_connect_error = retry_on_connect_error  # kit-only: ALB does not retry
        self.check_period = check_period
        self.use_uvloop = use_uvloop  # libuv's loop when installed: about half the CPU/request
        self.trace: deque[tuple[Any, ...]] = deque(maxlen=trace_size)
        self.events: deque[dict[str, Any]] = deque(maxlen=1_000)
        self.totals = {"requests": 0, "elb_502": 0, "elb_503": 0, "elb_504": 0, "retries": 0,
                       "target_responses": 0, "target_time_ms": 0.0}
        self._entries: dict[str, _Entry] = {}
        self._targets: list[Target] = []  # registration order, without unused targets
        self._rr = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._probe_session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None
        self._checker: asyncio.Task[None] | None = None
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
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.max_connections_per_target,
                                         keepalive_timeout=3.0,  # < gunicorn's 5 s keep-alive
                                         ttl_dns_cache=None, use_dns_cache=False)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout,
                                        sock_read=self.idle_timeout)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar())
        self._probe_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            cookie_jar=aiohttp.DummyCookieJar())
        server = web.Server(self._handle, access_log=None, keepalive_timeout=self.idle_timeout)
        self._runner = web.ServerRunner(server, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024,
                           reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._checker = asyncio.create_task(self._check_loop())
        started.set_result(None)
        try:
            await self._stopping.wait()
        finally:
            for task in (self._checker, *self._probes):
                task.cancel()
            await asyncio.gather(self._checker, *self._probes, return_exceptions=True)
            await self._runner.cleanup()
            await self._session.close()
            await self._probe_session.close()

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
        self._call(setattr, self, "health_settings", settings)

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

    def _state_of(self, target_id: str) -> str | None:
        entry = self._entries.get(target_id)
        return entry.target.state if entry else None

    def _event(self, target_id: str, state: str, reason: str) -> None:
        self.events.append({"time": time.time(), "lab": self.clock.now(), "target": target_id,
                            "state": state, "reason": reason})

    def _set_health(self, entry: _Entry, new: hc.TargetHealth, reason: str | None) -> None:
        changed = new.state != entry.health.state
        entry.health = new
        entry.target.state = new.state
        if new.state == UNUSED and entry.target in self._targets:
            self._targets = [t for t in self._targets if t is not entry.target]
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
            if old.target in self._targets:
                self._targets = [t for t in self._targets if t is not old.target]
        self._entries[target.id] = entry
        self._targets = [*self._targets, fresh]
        self._event(target.id, health.state, reason)
        self._prune()

    def _prune(self, keep_unused: int = 64) -> None:
        unused = [k for k, e in self._entries.items() if e.target.state == UNUSED]
        for key in unused[:max(0, len(unused) - keep_unused)]:
            del self._entries[key]

    def _deregister(self, target_id: str) -> None:
        entry = self._entries.get(target_id)
        if entry is None:
            return
        now = self.clock.now()
        new, reason = hc.deregister(entry.health, now)
        self._set_health(entry, new, reason)
        self._targets = [t for t in self._targets if t is not entry.target]
        self._settle(entry, now)

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
            await asyncio.sleep(self.check_period)

    async def _probe(self, entry: _Entry) -> None:
        settings = self.health_settings
        to_wall = getattr(self.clock, "to_wall", lambda s: s)
        url = f"http://{entry.target.host}:{entry.target.port}{settings.path}"
        try:
            assert self._probe_session is not None
            timeout = aiohttp.ClientTimeout(total=to_wall(settings.timeout))
            async with self._probe_session.get(url, timeout=timeout,
                                               allow_redirects=False) as answer:
                await answer.read()
                result = hc.ProbeResult(status=answer.status)
        except TimeoutError:
            result = hc.ProbeResult(timed_out=True)
        except (aiohttp.ClientError, OSError) as exc:
            result = hc.ProbeResult(error=type(exc).__name__)
        finally:
            entry.probing = False
        if self._entries.get(entry.target.id) is entry:
            new, reason = hc.observe(entry.health, result, self.clock.now(), settings)
            self._set_health(entry, new, reason)

    # ---- the request path ------------------------------------------------------------------

    def _record(self, request: web.BaseRequest, target_id: str | None,
                counts: tuple[tuple[str, int], ...], status: int, started: float,
                note: str = "", reason: str = "") -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        self.trace.append((time.time(), self.clock.now(), request.method, request.path_qs,
                           target_id, counts, status, latency_ms, reason, note))
        if target_id is not None and status not in (502, 503, 504):  # a target answered
            self.totals["target_responses"] += 1
            self.totals["target_time_ms"] += latency_ms

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        self.totals["requests"] += 1
        body = await request.read()
        headers = _forward_headers(request)
        tried: list[str] = []
        notes: list[str] = []
        while True:
            targets = [t for t in self._targets if t.id not in tried] if tried else self._targets
            target, reason, rr = pick_target(targets, self.algorithm, self._rr)
            counts = tuple((t.id, t.outstanding) for t in self._targets)
            if target is None:
                if tried:  # only reachable with the retry knob: every target refused
                    return self._fail(request, tried[-1], counts, started, notes)
                self.totals["elb_503"] += 1
                self._record(request, None, counts, 503, started, reason=reason)
                return _error_response(503)
            if not tried:  # a kit-only re-send does not move the round-robin cursor
                self._rr = rr
            entry = self._entries[target.id]
            try:
                response, nbytes = await self._forward(request, entry, body, headers)
            except _Failure as failure:
                notes.append(f"{target.id}: {failure.why}")
                if (failure.no_answer and self.retry_on_connect_error
                        and len(tried) + 1 < len(self._targets)):
                    tried.append(target.id)
                    entry.stats.retried_away += 1
                    self.totals["retries"] += 1
                    notes.append(f"re-sent to another target ({RETRY_LABEL})")
                    continue
                entry.stats.count(failure.status, 0)
                if failure.status == 504:
                    entry.stats.elb_504 += 1
                    self.totals["elb_504"] += 1
                else:
                    entry.stats.elb_502 += 1
                    self.totals["elb_502"] += 1
                self._record(request, target.id, counts, failure.status, started,
                             "; ".join(notes), reason)
                return failure.response or _error_response(failure.status, failure.why)
            entry.stats.count(response.status, nbytes)
            self._record(request, target.id, counts, response.status, started,
                         "; ".join(notes), reason)
            return response

    def _fail(self, request: web.BaseRequest, target_id: str,
              counts: tuple[tuple[str, int], ...], started: float,
              notes: list[str]) -> web.Response:
        self.totals["elb_502"] += 1
        self._record(request, target_id, counts, 502, started, "; ".join(notes))
        return _error_response(502, "every target refused the connection")

    async def _forward(self, request: web.BaseRequest, entry: _Entry, body: bytes,
                       headers: CIMultiDict[str]) -> tuple[web.StreamResponse, int]:
        target = entry.target
        task = asyncio.current_task()
        assert self._session is not None and task is not None
        target.outstanding += 1
        entry.in_flight.add(task)
        url = f"http://{target.host}:{target.port}{request.raw_path}"
        try:
            async with self._session.request(request.method, url, headers=headers,
                                             data=body or None, allow_redirects=False,
                                             compress=None) as upstream:
                out_headers = _answer_headers(upstream)
                length = upstream.content_length
                if length is not None and length <= BUFFER_LIMIT:
                    data = await upstream.read()
                    return web.Response(status=upstream.status, reason=upstream.reason,
                                        body=data, headers=out_headers), len(data)
                return await self._stream(request, upstream, out_headers)
        except _Failure:
            raise
        except asyncio.CancelledError:
            if entry.target.state == UNUSED and task.cancelling():
                task.uncancel()
                raise _Failure(502, "the deregistration delay elapsed while the target "
                                    "was handling the request") from None
            raise
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TimeoutError):
                raise _Failure(504, f"could not connect to {target.id} within "
                                    f"{self.connect_timeout:g} s") from None
            raise _Failure(502, f"{target.id} refused the connection", True) from None
        except aiohttp.ConnectionTimeoutError:
            raise _Failure(504, f"could not connect to {target.id} within "
                                f"{self.connect_timeout:g} s") from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise _Failure(504, f"{target.id} did not answer within the idle timeout "
                                f"({self.idle_timeout:g} s)") from None
        except aiohttp.ServerDisconnectedError:
            raise _Failure(502, f"{target.id} closed the connection", True) from None
        except aiohttp.ClientResponseError as exc:
            raise _Failure(502, f"{target.id} sent a malformed answer ({exc.message})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _Failure(502, f"{target.id} reset the connection "
                                f"({type(exc).__name__})", True) from None
        finally:
            target.outstanding -= 1
            entry.in_flight.discard(task)
            if target.state == DRAINING:
                self._settle(entry, self.clock.now())

    async def _stream(self, request: web.BaseRequest, upstream: aiohttp.ClientResponse,
                      headers: CIMultiDict[str]) -> tuple[web.StreamResponse, int]:
        """Relay a large or chunked answer as it arrives."""
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                      headers=headers)
        await response.prepare(request)
        nbytes = 0
        try:
            async for chunk in upstream.content.iter_chunked(65_536):
                nbytes += len(chunk)
                await response.write(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Headers are gone already: all a proxy can do is cut the client's connection.
            if request.transport is not None:
                request.transport.close()
            raise _Failure(502, f"the answer broke off after {nbytes} bytes "
                                f"({type(exc).__name__})", response=response) from None
        await response.write_eof()
        return response, nbytes
