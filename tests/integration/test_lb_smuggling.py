"""Request smuggling through the real proxy: raw bytes on a socket, a real recording target.

Each malformed or ambiguous request (CL.TE, TE.CL, repeated Content-Length, obs-fold, bare LF,
NUL, bad names, VT/FF padding, invalid chunk sizes, two Host headers, ALB's limits) gets ALB's
answer (``Server: awselb/2.0``), ``Connection: close`` and a closed connection, and not one
byte of it reaches the target, which records every byte it receives. What does reach a target
parses strictly and is framed by Content-Length only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from cloud.core.clock import LabClock
from cloud.lb.http1 import MAX_HEAD, MAX_HEADER, MAX_REQUEST_LINE, RequestReader
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import Target


class RecordingTarget:
    """A target that records every raw byte it receives and answers each request (framed by
    Content-Length, as the proxy sends them) with 200 and its request line."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.connections = 0
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def target(self) -> Target:
        return Target("recorder", "127.0.0.1", self.port)

    def received(self) -> bytes:
        with self._lock:
            return bytes(self.raw)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.raw += data
                buf += data
                while (end := buf.find(b"\r\n\r\n")) >= 0:
                    head = buf[:end]
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.lower() == b"content-length":
                            length = int(value)
                    if len(buf) < end + 4 + length:
                        break
                    buf = buf[end + 4 + length:]
                    line = head.split(b"\r\n", 1)[0]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(line), line))

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def recorder() -> Iterator[RecordingTarget]:
    target = RecordingTarget()
    yield target
    target.close()


@pytest.fixture
def make_lb(recorder: RecordingTarget) -> Iterator[Callable[..., LoadBalancer]]:
    made: list[LoadBalancer] = []

    def make(**kwargs: object) -> LoadBalancer:
        lb = LoadBalancer(clock=LabClock(60), health_checks=False, **kwargs).start()
        lb.register(recorder.target())
        made.append(lb)
        return lb

    yield make
    for lb in made:
        lb.stop()


def exchange(lb: LoadBalancer, raw: bytes, timeout: float = 10) -> tuple[bytes, bool]:
    """Send ``raw``; everything the proxy answers until it closes (or ``timeout``), and whether
    it closed."""
    with socket.create_connection(("127.0.0.1", lb.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the proxy may answer and close before the end
            sock.sendall(raw)
        got = b""
        try:
            while data := sock.recv(65536):
                got += data
        except ConnectionResetError:  # closed with unread bytes: the answer came first
            return got, True
        except TimeoutError:
            return got, False
        return got, True


def answers(raw: bytes) -> list[tuple[int, bytes, bytes]]:
    """(status, head, body) of each answer in ``raw`` (framed by Content-Length)."""
    out = []
    while raw:
        head, _, raw = raw.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        out.append((int(head.split(b" ")[1]), head, raw[:length]))
        raw = raw[length:]
    return out


H = b"Host: lb.example\r\n"
CHUNKED = b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
SMUGGLED = b"GET /admin HTTP/1.1\r\n" + H + b"\r\n"

CASES: dict[str, tuple[bytes, int]] = {
    # request smuggling shapes: ambiguous framing
    "CL.TE": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400),
    "TE.CL": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
              b"Content-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n", 400),
    "duplicate Content-Length": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n"
                                 b"Content-Length: 3\r\n\r\nabc", 400),
    "differing Content-Length": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n"
                                 b"Content-Length: 40\r\n\r\nabc", 400),
    "Content-Length list": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: 3, 3\r\n\r\nabc",
                            400),
    "Content-Length sign": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\nabc", 400),
    "TE twice": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "TE unknown coding": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n"
                          + SMUGGLED, 501),
    "TE identity": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\n\r\n"
                    + SMUGGLED, 501),
    "TE gzip, chunked": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n"
                         b"\r\n0\r\n\r\n", 501),
    "TE in HTTP/1.0": (b"POST /x HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
                       b"0\r\n\r\n", 400),
    "TE padded with VT": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding:\x0bchunked\r\n\r\n"
                          b"0\r\n\r\n", 400),
    "TE padded with FF": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\x0c\r\n\r\n"
                          b"0\r\n\r\n", 400),
    "CL padded with VT": (b"POST /x HTTP/1.1\r\n" + H + b"Content-Length:\x0b3\r\n\r\nabc", 400),
    "TE name with a space before the colon": (b"POST /x HTTP/1.1\r\n" + H
                                              + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                                              400),
    "obs-fold": (b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n folded\r\n\r\n", 400),
    "obs-fold hiding TE": (b"POST /x HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n"
                           b"0\r\n\r\n", 400),
    "bare LF hiding TE": (b"POST /x HTTP/1.1\r\n" + H + b"X-A: 1\nTransfer-Encoding: chunked\r\n"
                          b"Content-Length: 3\r\n\r\nabc", 400),
    "bare LF line ends": (b"GET / HTTP/1.1\nHost: lb.example\n\n", 400),
    "bare CR": (b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\rX-B: 2\r\n\r\n", 400),
    "NUL in a value": (b"GET / HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    "NUL in a name": (b"GET / HTTP/1.1\r\n" + H + b"X-\x00A: 1\r\n\r\n", 400),
    "NUL in the target": (b"GET /a\x00b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "invalid header name": (b"GET / HTTP/1.1\r\n" + H + b"X@Y: 1\r\n\r\n", 400),
    "space in a header name": (b"GET / HTTP/1.1\r\n" + H + b"X Y: 1\r\n\r\n", 400),
    "empty header name": (b"GET / HTTP/1.1\r\n" + H + b": 1\r\n\r\n", 400),
    "two Host headers": (b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400),
    "no Host in HTTP/1.1": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "invalid Host": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "chunk size not hex": (CHUNKED + b"zz\r\nabc\r\n0\r\n\r\n", 400),
    "chunk size negative": (CHUNKED + b"-3\r\nabc\r\n0\r\n\r\n", 400),
    "chunk size 0x": (CHUNKED + b"0x3\r\nabc\r\n0\r\n\r\n", 400),
    "chunk size with a space": (CHUNKED + b"3 \r\nabc\r\n0\r\n\r\n", 400),
    "chunk size overflow": (CHUNKED + b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n", 400),
    "chunk extension with bare LF": (CHUNKED + b"3;a\nb\r\nabc\r\n0\r\n\r\n", 400),
    "chunk without CRLF after its data": (CHUNKED + b"3\r\nabcX\r\n0\r\n\r\n", 400),
    "chunk lines ending in bare LF": (CHUNKED + b"3\nabc\n0\n\n", 400),
    "HTTP/2.0 request line": (b"GET / HTTP/2.0\r\n\r\n", 505),
    "HTTP/1.2 request line": (b"GET / HTTP/1.2\r\n" + H + b"\r\n", 400),
    "no HTTP version": (b"GET /\r\n\r\n", 400),
    "space in the target": (b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    "unknown method": (b"G@T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    "TRACE (ALB: 405)": (b"TRACE / HTTP/1.1\r\n" + H + b"\r\n", 405),
    "X-Forwarded-For of 31 addresses (ALB: 463)": (
        b"GET / HTTP/1.1\r\n" + H + b"X-Forwarded-For: " + b",".join([b"10.0.0.1"] * 31)
        + b"\r\n\r\n", 463),
    "request line over 16K (ALB: 400)": (b"GET /" + b"a" * MAX_REQUEST_LINE + b" HTTP/1.1\r\n"
                                         + H + b"\r\n", 400),
    "one header over 16K (ALB: 400)": (b"GET / HTTP/1.1\r\n" + H + b"X-A: "
                                       + b"a" * MAX_HEADER + b"\r\n\r\n", 400),
    "whole header over 64K (ALB: 400)": (
        b"GET / HTTP/1.1\r\n" + H
        + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 8_000) for i in range(MAX_HEAD // 8_000 + 1))
        + b"\r\n", 400),
    "a head that never ends (ALB: 400)": (b"GET / HTTP/1.1\r\n" + H
                                          + b"X-A: " + b"a" * (MAX_HEAD + 10), 400),
}


@pytest.mark.parametrize(("raw", "status"), CASES.values(), ids=list(CASES))
def test_refused_requests_get_albs_answer_and_a_close_and_never_reach_the_target(
        make_lb, recorder, raw: bytes, status: int) -> None:
    lb = make_lb()
    got, closed = exchange(lb, raw)
    [(answered, head, body)] = answers(got)
    assert answered == status, (got[:200], raw[:120])
    assert b"\r\nConnection: close" in head and b"\r\nServer: awselb/2.0" in head
    assert str(status).encode() in body
    assert closed
    assert recorder.received() == b"" and recorder.connections == 0


@pytest.mark.parametrize("smuggle", [
    CASES["CL.TE"][0], CASES["TE.CL"][0], CASES["bare LF hiding TE"][0],
    CASES["obs-fold hiding TE"][0], CASES["chunk size not hex"][0], CASES["two Host headers"][0],
], ids=["CL.TE", "TE.CL", "bare LF", "obs-fold", "chunk size", "two Host"])
def test_after_a_good_request_the_smuggled_one_is_refused_and_only_the_good_one_is_relayed(
        make_lb, recorder, smuggle: bytes) -> None:
    lb = make_lb()
    good = b"POST /good HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\nok"
    got, closed = exchange(lb, good + smuggle + SMUGGLED)
    statuses = [status for status, _, _ in answers(got)]
    assert statuses[0] == 200 and statuses[1] in (400, 501) and len(statuses) == 2
    assert closed
    relayed = recorder.received()
    assert relayed.startswith(b"POST /good HTTP/1.1\r\n") and relayed.endswith(b"\r\n\r\nok")
    assert relayed.count(b" HTTP/1.1\r\n") == 1 and b"/admin" not in relayed


def strictly_parsed(raw: bytes) -> list[tuple[bytes, bytes, list[bytes]]]:
    """What a target got, parsed with the proxy's own strict reader: (target, body, lines)."""
    reader = RequestReader(max_body=1 << 30)
    reader.feed(raw)
    assert not reader.started  # nothing left over: whole requests only
    return [(head.target, body, head.lines) for head, body in reader.ready]


def test_what_reaches_the_target_is_canonical(make_lb, recorder) -> None:
    lb = make_lb()
    sent = (CHUNKED.replace(b"/x", b"/chunked") + b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n"
            b"X-Trailer: t\r\n\r\n"
            + b"GET http://lb.example/abs?q=1 HTTP/1.1\r\n" + H + b"X-Tab: a\tb \r\n"
            b"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n"
            + b"GET /last HTTP/1.0\r\n\r\n")
    got, closed = exchange(lb, sent)
    assert [a[2] for a in answers(got)] == [b"POST /chunked HTTP/1.1", b"GET /abs?q=1 HTTP/1.1",
                                            b"GET /last HTTP/1.1"]
    assert closed  # HTTP/1.0 without keep-alive: closed after the last answer
    relayed = recorder.received()
    assert b"Transfer-Encoding" not in relayed and b"X-Trailer" not in relayed
    assert b"X-Hop" not in relayed and b"\n" not in relayed.replace(b"\r\n", b"")
    (t1, b1, _), (t2, b2, _), (t3, b3, l3) = strictly_parsed(relayed)
    assert (t1, b1, t2, b2, t3, b3) == (b"/chunked", b"abcde", b"/abs?q=1", b"", b"/last", b"")
    assert b"Content-Length: 5" in relayed
    assert any(x.startswith(b"Host: 127.0.0.1:") for x in l3)  # HTTP/1.0: the target's address


def test_a_head_sent_slowly_gets_408_within_the_header_timeout(make_lb, recorder) -> None:
    lb = make_lb(header_timeout=0.5)
    with socket.create_connection(("127.0.0.1", lb.port), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: lb.exa")
        got = b""
        while data := sock.recv(65536):
            got += data
    [(status, head, _)] = answers(got)
    assert status == 408 and b"Connection: close" in head
    assert recorder.received() == b""


def test_a_body_that_stops_coming_gets_408_after_the_idle_timeout(make_lb, recorder) -> None:
    lb = make_lb(idle_timeout=0.5)
    with socket.create_connection(("127.0.0.1", lb.port), timeout=15) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nabc")
        got = b""
        while data := sock.recv(65536):
            got += data
    [(status, _, _)] = answers(got)
    assert status == 408 and recorder.received() == b""


def test_an_idle_keep_alive_connection_closes_quietly(make_lb, recorder) -> None:
    lb = make_lb(idle_timeout=0.5)
    with socket.create_connection(("127.0.0.1", lb.port), timeout=15) as sock:
        sock.sendall(b"GET /one HTTP/1.1\r\n" + H + b"\r\n")
        got = b""
        while data := sock.recv(65536):
            got += data
    assert [a[0] for a in answers(got)] == [200]  # and no 408 after it
