"""The client side of the proxy: an HTTP/1.1 server as an asyncio Protocol (an ALB listener).

Keep-alive (HTTP/1.1 by default, HTTP/1.0 with ``Connection: keep-alive``), ``Connection:
close`` honoured, bodies framed by Content-Length or the chunked coding (de-chunked before they
are forwarded), ``Expect: 100-continue`` answered, pipelined requests served one after the
other. Requests are parsed by :class:`cloud.lb.http1.RequestReader` (llhttp, strict). What it
refuses gets an answer and a closed connection, as ALB's do: 400 (malformed, ambiguous framing,
over ALB's header limits), 405 (TRACE), 413 (body over ``MAX_BODY``, kit-only), 463, 501 (a
transfer coding other than chunked), 505 (not HTTP/1.x); 408 to a request still incomplete
when the connection has been idle for the idle timeout (ALB's documented 408: "the client did
not send data before the idle timeout period expired") or whose head has not come whole within
``header_timeout`` (kit-only: a head trickled a byte at a time). Each request goes to the
listener's ``fast`` hook first (served without a task when it can), else a task runs the
handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cloud.lb.http1 import (
    REASONS,
    HttpError,
    RequestHead,
    RequestReader,
    chunk,
    date_line,
)
from cloud.lb.outbox import Outbox

MAX_BODY = 10 << 20  # request bodies over 10 MiB get 413
SERVER = b"Server: awselb/2.0\r\n"  # what ALB's own answers say
log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    """One client request, its body read whole."""

    head: RequestHead
    body: bytes
    peer: str  # the client's address
    method: str
    path: str

    @property
    def keep_alive(self) -> bool:
        return self.head.keep_alive


class ClientGone(Exception):
    """The client closed its connection while an answer was streaming to it."""


Handler = Callable[[Request, "ClientConnection"], Awaitable[None]]
Fast = Callable[[Request, "ClientConnection"], bool]


class ClientConnection(asyncio.Protocol):
    """One client connection: parses requests, runs the handler, writes answers."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.outbox = listener.outbox  # small answers are written at the end of the pass
        self.transport: asyncio.Transport | None = None
        self.peer = "127.0.0.1"
        self.last_active = self.loop.time()
        self.head_since = 0.0  # loop time the head in progress began (0: none)
        self.busy = False  # a request is being handled
        self.closed = False
        self.streamed = 0  # body bytes of the answer streaming now
        self.task: asyncio.Task[None] | None = None  # the one handling the request in hand
        self.reader = RequestReader(MAX_BODY)
        self._refused: HttpError | None = None  # answered once the requests before it are
        self._eof = False  # the client half-closed: answer what came, then close
        self._keep_alive = True
        self._minor = 1
        self._read_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None

    # ---- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
        self.listener.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.connections.discard(self)
        self._wake_writer()

    def data_received(self, data: bytes) -> None:
        self.last_active = now = self.loop.time()
        if self._refused is not None:
            return  # nothing after a refused request is read
        reader = self.reader
        try:
            reader.feed(data)
        except HttpError as exc:
            self._refused = exc
            self._pause_reading()
        if reader.started and not self.head_since and reader.in_head:
            self.head_since = now
        elif self.head_since and not reader.in_head:
            self.head_since = 0.0
        if not self.busy:
            self._next()
        elif reader.ready:  # pipelined: read no more until the answers catch up
            self._pause_reading()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self.busy or self.reader.ready:
            if not self.reader.ready:
                self._keep_alive = False
            return True  # keep the transport open to answer
        return None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # ---- answers (called by the handler) ---------------------------------------------------

    def send(self, status: int, reason: bytes, headers: bytes, body: bytes,
             content_length: bool = True) -> None:
        """A whole answer. ``headers``: end-to-end lines (CRLF-ended); Content-Length (unless
        ``content_length`` is false: a HEAD answer brings its own) and Connection are added."""
        if self.closed or self.transport is None:
            return
        length = b"Content-Length: %d\r\n" % len(body) if content_length else b""
        head = b"HTTP/1.1 %d %s\r\n%s%s%s\r\n" % (status, reason, headers, length,
                                                   self._connection_line())
        if len(body) < 65_536:
            self.outbox.write(self.transport, head + body)
        else:
            self._flush()
            self.transport.writelines((head, body))

    def send_error(self, status: int, text: str) -> None:
        """One of the proxy's own answers (text/plain), as ALB's say ``Server: awselb/2.0``."""
        body = text.encode() + b"\n"
        headers = (SERVER + date_line()
                   + b"Content-Type: text/plain; charset=utf-8\r\n")
        self.send(status, REASONS.get(status, b"Error"), headers, body)

    async def send_stream(self, status: int, reason: bytes, headers: bytes,
                          length: int | None, read: Callable[[], Awaitable[bytes]]) -> int:
        """An answer relayed as it arrives (``read()`` gives pieces, b"" at the end): with its
        Content-Length, else chunked to HTTP/1.1 clients, else delimited by the close."""
        if self.closed or self.transport is None:
            raise ClientGone()
        chunked = length is None and self._minor == 1
        if length is not None:
            framing = b"Content-Length: %d\r\n" % length
        elif chunked:
            framing = b"Transfer-Encoding: chunked\r\n"
        else:
            framing, self._keep_alive = b"", False
        self._flush()
        self.transport.write(b"HTTP/1.1 %d %s\r\n%s%s%s\r\n" % (
            status, reason, headers, framing, self._connection_line()))
        self.streamed = 0
        while True:
            piece = await read()
            if not piece:
                break
            if self.closed:
                raise ClientGone()
            self.streamed += len(piece)
            self.transport.write(chunk(piece) if chunked else piece)
            if self._write_paused:
                await self._drain()
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")
        return self.streamed

    def time_out(self, why: str) -> None:
        """ALB's 408 to a request that stopped coming, then the close."""
        if self._refused is None:
            self._refused = HttpError(408, why)
            self._pause_reading()
            self._next()

    def abort(self) -> None:
        """Close after what was written (an answer broke off: the client sees it cut)."""
        self._keep_alive = False
        if self.transport is not None:
            self._flush()
            self.transport.close()

    # ---- internals -------------------------------------------------------------------------

    def _flush(self) -> None:
        """Make the queued writes before writing or closing directly (they stay in order)."""
        if self.outbox.pending:
            self.outbox.flush()

    def _connection_line(self) -> bytes:
        if not self._keep_alive:
            return b"Connection: close\r\n"
        return b"" if self._minor else b"Connection: keep-alive\r\n"

    async def _drain(self) -> None:
        while self._write_paused and not self.closed:
            self._drained = self.loop.create_future()
            await self._drained

    def _wake_writer(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def _next(self) -> None:
        """Hand the next whole request to the handler; else answer a refusal; else send the
        ``100 Continue`` the request in progress waits for."""
        if self.busy or self.closed:
            return
        reader = self.reader
        if reader.ready:
            head, body = reader.ready.popleft()
            last = self._eof and not reader.ready
            self._keep_alive = head.keep_alive and not last
            self._minor = head.minor
            self.busy = True
            request = Request(head, body, self.peer, head.method.decode("latin-1"),
                              head.target.decode("latin-1"))
            fast = self.listener.fast
            if fast is None or not fast(request, self):  # served without a task, or:
                self.task = self.loop.create_task(self._run(request))
        elif self._refused is not None:
            self._refuse(self._refused)
        elif reader.continue_wanted and self.transport is not None:
            reader.continue_wanted = False
            self._flush()
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _run(self, request: Request) -> None:
        try:
            await self.listener.handler(request, self)
        except Exception:
            log.exception("load balancer: %s %s failed", request.method, request.path)
            self.send_error(500, "500 Internal Server Error: the load balancer failed")
            self._keep_alive = False
        finally:
            self.finish()

    def finish(self) -> None:
        """The request in hand is answered: close, or read and serve the next one."""
        self.busy = False
        self.task = None
        self.last_active = self.loop.time()
        if not self._keep_alive:
            self.abort()
        else:
            if (self._read_paused and self._refused is None and not self.reader.ready
                    and self.transport is not None):
                self._read_paused = False
                self.transport.resume_reading()
            self._next()

    def _refuse(self, error: HttpError) -> None:
        self._keep_alive = False
        self._minor = 1
        self.send_error(error.status, f"{error.status} {REASONS[error.status].decode()}: "
                                      f"{error.why}")
        self.abort()


class Listener:
    """Accepts client connections on ``host:port`` and runs ``handler`` per request."""

    def __init__(self, handler: Handler, idle_timeout: float = 60.0,
                 header_timeout: float | None = None, fast: Fast | None = None) -> None:
        self.handler = handler
        self.outbox: Outbox | None = None  # small answers go out at the end of the pass
        # tried first: serves a request without a task (then calls finish()), or says False
        self.fast = fast
        self.idle_timeout = idle_timeout  # idle client connections close after this
        # a head must come whole within this (kit-only; ALB bounds only each idle gap)
        self.header_timeout = idle_timeout if header_timeout is None else header_timeout
        self.connections: set[ClientConnection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int, backlog: int = 1024,
                    outbox: Outbox | None = None) -> int:
        """Listen; returns the port (a free one when ``port`` is 0). ``outbox``: shared with
        the upstream side (one of its own if None)."""
        loop = asyncio.get_running_loop()
        self.outbox = outbox or Outbox(loop)
        self._server = await loop.create_server(lambda: ClientConnection(self), host, port,
                                                backlog=backlog, reuse_address=True)
        return self._server.sockets[0].getsockname()[1]

    def sweep(self, now: float) -> None:
        """Close client connections idle for longer than the idle timeout (loop time): with
        a 408 when a request had begun (ALB's), quietly when none had; 408 too to a head not
        whole within the header timeout."""
        for conn in list(self.connections):
            if conn.busy or conn.closed:
                continue
            if conn.head_since and now - conn.head_since > self.header_timeout:
                conn.time_out(f"the request header did not come whole within "
                              f"{self.header_timeout:g} s")
            elif now - conn.last_active > self.idle_timeout:
                if conn.reader.started:
                    conn.time_out(f"no data for the idle timeout ({self.idle_timeout:g} s)")
                else:
                    conn.abort()

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
