"""Keep-alive HTTP/1.1 connections to one target, pooled and capped: the proxy's upstream side.

A :class:`Pool` per target hands out a :class:`Connection`: an idle one (the most recently
used first), else a new one while under the cap, else the caller waits for one to come back.
:meth:`Connection.exchange` writes a whole request in one write and returns the
:class:`Answer`: buffered when it has a Content-Length up to ``BUFFER_LIMIT`` (the service
always sends one), else streaming (chunked, larger, or delimited by the close), read piece by
piece with :meth:`Connection.read`. Failures are :class:`UpstreamError`, whose ``kind`` the
proxy maps to ALB's 502 or 504. One asyncio loop only; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from cloud.lb.http1 import MAX_HEAD, ChunkedDecoder, response_head
from cloud.lb.outbox import Outbox

BUFFER_LIMIT = 1 << 20  # answers up to 1 MiB with a Content-Length are relayed in one write
HIGH_WATER, LOW_WATER = 256 * 1024, 64 * 1024  # streamed bytes queued: pause / resume reading

REFUSED = "refused"  # no connection: refused, unreachable (no answer: retryable)
CONNECT_TIMEOUT = "connect timeout"
IDLE_TIMEOUT = "idle timeout"
CLOSED = "closed"  # the target closed the connection
RESET = "reset"
MALFORMED = "malformed"  # not HTTP, or broken framing
BROKEN = "broken"  # a streamed answer stopped before its end

_IDLE, _HEAD, _BODY, _STREAM = range(4)


class UpstreamError(Exception):
    """The target gave no (whole) answer. ``no_answer``: not one byte of an answer came."""

    def __init__(self, kind: str, detail: str = "", no_answer: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail, self.no_answer = kind, detail, no_answer


@dataclass(slots=True)
class Answer:
    """A target's answer: ``body`` is None while it streams (read it from ``connection``)."""

    status: int
    reason: bytes
    headers: bytes  # end-to-end header lines, each ending with CRLF
    body: bytes | None
    length: int | None  # the Content-Length the target sent (HEAD answers, streams)
    connection: Connection | None = None


OnAnswer = Callable[["Answer | None", "UpstreamError | None"], None]


class Connection(asyncio.Protocol):
    """One keep-alive connection to a target; one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        if pool.outbox is None:
            pool.outbox = Outbox(self.loop)
        self._outbox = pool.outbox  # requests are written at the end of the loop's pass
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._state = _IDLE
        self._generation = 0  # one per exchange: a late cancellation must not close a reuse
        self._waiter: asyncio.Future[Answer] | None = None
        self._callback: OnAnswer | None = None  # instead of the waiter: see start()
        self._buf = b""
        self._received = 0  # bytes of the current answer
        self._no_body = False
        self._keep = True
        self._head: tuple[int, bytes, bytes, int] = (0, b"", b"", 0)
        self._parts: list[bytes] = []
        self._have = self._need = 0
        self._last = 0.0  # loop time of the last byte (idle timeout)
        self._timer: asyncio.TimerHandle | None = None
        self._decoder: ChunkedDecoder | None = None
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._more: asyncio.Future[None] | None = None
        self._eof = False
        self._error: UpstreamError | None = None
        self._paused = False

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._lost(self)
        if self._timer is not None and self._state == _IDLE:
            self._timer.cancel()
            self._timer = None
        if self._state == _STREAM and self._decoder is None and self._need < 0:
            self._end_stream()  # delimited by the close: that was the end
        elif self._state != _IDLE:
            if self._state == _STREAM:
                why = UpstreamError(BROKEN, "the connection closed mid-answer")
            elif self._received:
                why = UpstreamError(CLOSED, "closed the connection mid-answer")
            elif isinstance(exc, ConnectionResetError):
                why = UpstreamError(RESET, "reset the connection", no_answer=True)
            else:
                why = UpstreamError(CLOSED, "closed the connection", no_answer=True)
            self._fail(why)

    def data_received(self, data: bytes) -> None:
        self._last = self.loop.time()
        state = self._state
        if state == _BODY:
            self._received += len(data)
            self._parts.append(data)
            self._have += len(data)
            if self._have >= self._need:
                self._finish_body()
        elif state == _HEAD:
            self._received += len(data)
            self._on_head(self._buf + data if self._buf else data)
        elif state == _STREAM:
            self._feed_stream(data)
        else:  # bytes nobody asked for: this connection cannot be trusted any more
            self.close()

    def pause_writing(self) -> None:  # a request larger than the socket buffer: fine
        pass

    def resume_writing(self) -> None:
        pass

    # ---- the exchange ----------------------------------------------------------------------

    async def exchange(self, request: bytes, no_body: bool = False) -> Answer:
        """Send ``request`` (head and body) and wait for the answer's head (and short body).

        ``no_body``: the answer has none whatever its headers say (a HEAD request).
        """
        if self.closed or self.transport is None or self.transport.is_closing():
            raise UpstreamError(CLOSED, "closed the connection", no_answer=True)
        self._generation += 1
        generation = self._generation
        waiter = self._waiter = self.loop.create_future()
        self._send(request, no_body)
        try:
            return await waiter
        except asyncio.CancelledError:
            if self._generation == generation and self._state != _IDLE:
                self.close()  # cut in the middle of an answer: unusable
            raise

    def start(self, request: bytes, no_body: bool, on_answer: OnAnswer) -> None:
        """:meth:`exchange` without a task: ``on_answer(answer, None)`` or ``(None, error)``
        is called from the loop when the answer's head (and short body) has come, after the
        connection went back to its pool. The caller checked the connection is open."""
        self._generation += 1
        self._callback = on_answer
        self._send(request, no_body)

    def _send(self, request: bytes, no_body: bool) -> None:
        self._state, self._no_body, self._keep = _HEAD, no_body, True
        self._received = 0
        self._buf = b""
        self._last = self.loop.time()
        if self._timer is None:  # one timer per connection, re-armed lazily (see _on_idle)
            self._timer = self.loop.call_later(self.pool.idle_timeout, self._on_idle)
        self._outbox.write(self.transport, request)  # type: ignore[arg-type]

    async def read(self) -> bytes:
        """The next piece of a streamed answer; b"" at its end (the connection then goes
        back to its pool)."""
        try:
            while not self._chunks:
                if self._error is not None:
                    raise self._error
                if self._eof:
                    self._state = _IDLE
                    self._release()
                    return b""
                self._more = self.loop.create_future()
                await self._more
        except asyncio.CancelledError:
            self.close()
            raise
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._queued = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        """Close the connection (the pool frees its slot when the close is done)."""
        self._keep = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        if self._state != _IDLE:
            self._fail(UpstreamError(CLOSED, "closed by the proxy"))

    # ---- internals -------------------------------------------------------------------------

    def _on_head(self, buf: bytes) -> None:
        while True:
            if buf[:5] != b"HTTP/"[:len(buf[:5])]:
                self._fail(UpstreamError(MALFORMED, f"not HTTP: {buf[:40]!r}"))
                return
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._fail(UpstreamError(MALFORMED, "headers longer than 64 KiB"))
                else:
                    self._buf = buf
                return
            try:
                status, reason, headers, length, chunked, keep = response_head(buf[:end])
            except ValueError as exc:
                self._fail(UpstreamError(MALFORMED, str(exc)))
                return
            buf = buf[end + 4:]
            if status >= 200:
                break
            if status == 101:
                self._fail(UpstreamError(MALFORMED, "101 Switching Protocols is not relayed"))
                return
            # 1xx interim answers (100 Continue, 103 Early Hints): wait for the final one
        self._buf = b""
        self._keep = keep
        if self._no_body or status in (204, 304):
            if buf:
                self._keep = False
            self._done(Answer(status, reason, headers, b"", length))
        elif length is not None and length <= BUFFER_LIMIT:
            if len(buf) >= length:
                if len(buf) > length:
                    self._keep, buf = False, buf[:length]
                self._done(Answer(status, reason, headers, buf, length))
            else:
                self._state = _BODY
                self._head = (status, reason, headers, length)
                self._parts, self._have, self._need = [buf], len(buf), length
        else:
            self._state = _STREAM
            self._chunks.clear()
            self._queued, self._eof, self._error = 0, False, None
            self._decoder = ChunkedDecoder() if chunked else None
            self._need = -1 if length is None else length
            if length is None and not chunked:
                self._keep = False  # delimited by the close
            waiter, self._waiter = self._waiter, None
            answer = Answer(status, reason, headers, None, length, self)
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)
            callback, self._callback = self._callback, None
            if callback is not None:
                callback(answer, None)
            if buf:
                self._feed_stream(buf)
            elif self._need == 0:
                self._end_stream()

    def _finish_body(self) -> None:
        status, reason, headers, length = self._head
        body = b"".join(self._parts)
        self._parts = []
        if len(body) > length:
            self._keep, body = False, body[:length]
        self._done(Answer(status, reason, headers, body, length))

    def _done(self, answer: Answer) -> None:
        self._state = _IDLE  # the idle timer stays armed: it lapses or serves the next exchange
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)
        self._release()
        callback, self._callback = self._callback, None
        if callback is not None:
            callback(answer, None)

    def _release(self) -> None:
        if self._keep and not self.closed:
            self.pool.release(self)
        else:
            self.close()

    def _fail(self, error: UpstreamError) -> None:
        self._state = _IDLE
        self._keep = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self._decoder is not None or self._need >= 0 or not self._eof:
            self._error = self._error or error
        self._wake()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        callback, self._callback = self._callback, None
        if callback is not None:
            callback(None, error)

    def _on_idle(self) -> None:
        self._timer = None
        if self._state == _IDLE:
            return
        left = self._last + self.pool.idle_timeout - self.loop.time()
        if left > 0 or self._paused:  # data came meanwhile, or we stopped reading ourselves
            self._timer = self.loop.call_later(max(left, 0.05), self._on_idle)
            return
        self._fail(UpstreamError(IDLE_TIMEOUT, f"no answer within the idle timeout "
                                               f"({self.pool.idle_timeout:g} s)"))

    def _feed_stream(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                pieces = self._decoder.feed(data)
            except ValueError as exc:
                self._fail(UpstreamError(BROKEN, f"malformed chunked coding ({exc})"))
                return
            for piece in pieces:
                self._push(piece)
            if self._decoder.done:
                if self._decoder.tail:
                    self._keep = False
                self._end_stream()
        elif self._need >= 0:  # Content-Length
            if len(data) > self._need:
                self._keep, data = False, data[:self._need]
            self._need -= len(data)
            self._push(data)
            if not self._need:
                self._end_stream()
        else:
            self._push(data)

    def _push(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._queued += len(data)
        if self._queued > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def _end_stream(self) -> None:
        self._eof = True
        self._decoder = None
        self._need = -1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake()

    def _wake(self) -> None:
        more, self._more = self._more, None
        if more is not None and not more.done():
            more.set_result(None)


class Pool:
    """Keep-alive connections to one target, at most ``limit`` open (0: no cap)."""

    def __init__(self, host: str, port: int, *, limit: int = 32, connect_timeout: float = 10.0,
                 idle_timeout: float = 60.0, keepalive: float = 3.0,
                 outbox: Outbox | None = None) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.outbox = outbox  # shared with the proxy's listener (one made if None)
        self.connect_timeout, self.idle_timeout = connect_timeout, idle_timeout
        self.keepalive = keepalive  # idle connections close after this (< gunicorn's 5 s)
        self.closed = False
        self._idle: list[Connection] = []  # the oldest first
        self._open = 0  # connections open or being opened
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()

    def take_idle(self) -> Connection | None:
        """An idle open connection (the most recently used), or None."""
        conn = self._reusable()
        while conn is not None and (conn.transport is None or conn.transport.is_closing()):
            conn = self._reusable()
        return conn

    def _reusable(self) -> Connection | None:
        """The most recently used idle connection still within ``keepalive`` (the older
        ones close: after a stalled loop skipped sweeps, the target may be closing them —
        a request sent on one would get ALB's 502), or None."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if conn.loop.time() - conn.idle_since > self.keepalive:
                for stale in (*idle, conn):
                    stale.close()
                idle.clear()
            elif not conn.closed:
                return conn
        return None

    async def acquire(self) -> Connection:
        """A connection for one exchange: reused, new, or the next one given back."""
        conn = self._reusable()
        if conn is not None:
            return conn
        if self.closed:
            raise UpstreamError(CLOSED, "the target is no longer registered", no_answer=True)
        if self.limit and self._open >= self.limit:
            waiter: asyncio.Future[Connection | None] = (
                asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
            try:
                given = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._give_back(waiter.result())
                raise
            if given is not None:
                return given
            # None: a slot was handed over (still counted in _open): open a connection in it
        else:
            self._open += 1
        try:
            loop = asyncio.get_running_loop()
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Connection(self), self.host, self.port),
                self.connect_timeout)
        except TimeoutError:
            self._free_slot()
            raise UpstreamError(CONNECT_TIMEOUT, f"no connection within "
                                                 f"{self.connect_timeout:g} s") from None
        except OSError as exc:
            self._free_slot()
            why = os.strerror(exc.errno) if exc.errno else type(exc).__name__
            raise UpstreamError(REFUSED, why, no_answer=True) from None
        except BaseException:
            self._free_slot()
            raise
        return conn  # type: ignore[return-value]

    def release(self, conn: Connection) -> None:
        """A connection whose exchange ended well: to the next waiter, or idle."""
        if self.closed or conn.closed:
            conn.close()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = conn.loop.time()
        self._idle.append(conn)

    def sweep(self, now: float) -> None:
        """Close the connections idle for longer than ``keepalive`` (``now``: loop time)."""
        idle = self._idle
        while idle and now - idle[0].idle_since > self.keepalive:
            idle.pop(0).close()

    def close(self) -> None:
        """No new connections; idle ones close now, busy ones when their exchange ends."""
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamError(CLOSED, "the target is no longer "
                                                            "registered", no_answer=True))

    @property
    def size(self) -> tuple[int, int]:
        """(open connections, idle ones)."""
        return self._open, len(self._idle)

    def _give_back(self, given: Connection | None) -> None:
        if given is None:
            self._free_slot()
        else:
            self.release(given)

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to it
                return
        self._open = max(0, self._open - 1)

    def _lost(self, conn: Connection) -> None:
        if conn in self._idle:
            self._idle.remove(conn)
        self._free_slot()
