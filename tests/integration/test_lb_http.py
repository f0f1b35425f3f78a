"""The proxy's HTTP/1.1 on the wire, client side and target side, with raw sockets on 127.0.0.1.

Keep-alive, ``Connection: close``, HTTP/1.0, chunked request bodies, ``Expect: 100-continue``,
pipelining, what it refuses; on the target side: the pool (reuse, cap), X-Forwarded-*,
hop-by-hop headers, malformed answers (502), streamed answers (chunked, large, cut).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from cloud.core.clock import LabClock
from cloud.lb import upstream as up
from cloud.lb.health import HealthSettings
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import Target

Answer = Callable[[bytes, bytes], bytes | None]  # (request head, body) -> raw answer bytes


class Close(bytes):
    """An answer after which the target closes the connection."""


def ok(body: bytes = b'{"ok":true}', *extra: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nServer: raw\r\nContent-Type: application/json\r\n"
            + b"".join(e + b"\r\n" for e in extra)
            + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


class RawUpstream:
    """A target that reads Content-Length requests and writes whatever ``answer`` returns
    (None: close without answering; a :class:`Close`: write it, then close); records
    requests, connections and the most requests it had at once."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.closed_connections = 0
        self.active = self.most_active = 0
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def target(self, name: str = "raw") -> Target:
        return Target(name, "127.0.0.1", self.port)

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
        try:
            self._exchanges(conn)
        finally:
            with self._lock:
                self.closed_connections += 1

    def _exchanges(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                body, buf = buf[:length], buf[length:]
                with self._lock:
                    self.requests.append((head, body))
                    self.active += 1
                    self.most_active = max(self.most_active, self.active)
                try:
                    answer = self.answer(head, body)
                    if answer is None:
                        return
                    conn.sendall(answer)
                    if isinstance(answer, Close):
                        return
                except OSError:
                    return
                finally:
                    with self._lock:
                        self.active -= 1

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def make_lb() -> Iterator[Callable[..., LoadBalancer]]:
    made: list[LoadBalancer] = []

    def make(*targets: Target, **kwargs: object) -> LoadBalancer:
        kwargs.setdefault("clock", LabClock(60))
        kwargs.setdefault("health_checks", False)
        lb = LoadBalancer(**kwargs).start()  # type: ignore[arg-type]
        for t in targets:
            lb.register(t)
        made.append(lb)
        return lb

    yield make
    for lb in made:
        lb.stop()


@pytest.fixture
def upstream() -> Iterator[Callable[[Answer], RawUpstream]]:
    made: list[RawUpstream] = []

    def make(answer: Answer) -> RawUpstream:
        made.append(RawUpstream(answer))
        return made[-1]

    yield make
    for u in made:
        u.close()


def connect(lb: LoadBalancer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", lb.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reader:
    """Reads answers off a client socket: (status, headers (lowercase names), body)."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def answer(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        status_line = self.file.readline()
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only:
            return int(status_line.split()[1]), headers, b""
        if "content-length" in headers:
            body = self.file.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while (size := int(self.file.readline().split(b";")[0], 16)) > 0:
                body += self.file.read(size)
                assert self.file.read(2) == b"\r\n"
            assert self.file.readline() == b"\r\n"
        else:
            body = self.file.read()  # delimited by the close
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        return self.file.read(1) == b""


def request(method: str = "GET", path: str = "/", *headers: str, body: bytes = b"",
            version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: lb.example", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_across_many_requests_on_one_connection(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok(head.split(b" ")[1]))
    lb = make_lb(target.target())
    with connect(lb) as sock:
        reader = Reader(sock)
        for i in range(300):
            sock.sendall(request("POST", f"/n{i}", body=b'{"i": %d}' % i))
            status, headers, body = reader.answer()
            assert (status, body) == (200, f"/n{i}".encode())
            assert "connection" not in headers  # HTTP/1.1: keep-alive is the default
    assert target.connections == 1  # one pooled keep-alive connection served them all
    assert [b for _, b in target.requests[:2]] == [b'{"i": 0}', b'{"i": 1}']
    snap = lb.snapshot(trace_limit=0)
    assert snap["totals"]["requests"] == 300 and snap["targets"][0]["code_2xx"] == 300


def test_connection_close_and_http10_are_honoured(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok())
    lb = make_lb(target.target())
    with connect(lb) as sock:
        sock.sendall(request("GET", "/", "Connection: close"))
        reader = Reader(sock)
        status, headers, _ = reader.answer()
        assert status == 200 and headers["connection"] == "close" and reader.closed()
    with connect(lb) as sock:
        sock.sendall(request("GET", "/", version="1.0"))
        reader = Reader(sock)
        status, headers, _ = reader.answer()
        assert status == 200 and headers["connection"] == "close" and reader.closed()
    with connect(lb) as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(request("GET", "/", "Connection: keep-alive", version="1.0"))
            status, headers, _ = reader.answer()
            assert status == 200 and headers["connection"] == "keep-alive"
    for head, _ in target.requests:  # hop-by-hop: never relayed to the target
        assert b"\r\nconnection:" not in head.lower()


def test_a_chunked_request_body_reaches_the_target_with_its_length(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok(body))
    lb = make_lb(target.target())
    pieces = [b"POST /predict HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n",
              b"5\r\nhello\r\n", b"6;ext=1\r\n world\r\n", b"0\r\nX-Trailer: t\r\n\r\n"]
    with connect(lb) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.02)
        status, _, body = Reader(sock).answer()
    assert (status, body) == (200, b"hello world")
    head, received = target.requests[0]
    assert received == b"hello world" and b"Content-Length: 11" in head
    assert b"transfer-encoding" not in head.lower() and b"x-trailer" not in head.lower()


def test_expect_100_continue_and_pipelined_requests(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok(head.split(b" ")[1] + body))
    lb = make_lb(target.target())
    with connect(lb) as sock:
        reader = Reader(sock)
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: lb\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 4\r\n\r\n")
        assert reader.file.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert reader.file.readline() == b"\r\n"
        sock.sendall(b"body")
        assert reader.answer()[2] == b"/ebody"
        sock.sendall(request("GET", "/a") + request("POST", "/b", body=b"x")
                     + request("GET", "/c"))  # pipelined: answered in order
        assert [reader.answer()[2] for _ in range(3)] == [b"/a", b"/bx", b"/c"]
    assert b"expect" not in target.requests[0][0].lower()


@pytest.mark.parametrize(("raw", "status"), [
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000, 400),  # ALB: 400 over its header limits
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
])
def test_what_the_listener_refuses_gets_an_answer_and_a_close(make_lb, upstream, raw,
                                                               status) -> None:
    target = upstream(lambda head, body: ok())
    lb = make_lb(target.target())
    with connect(lb) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        got, headers, body = reader.answer()
        assert got == status and headers["connection"] == "close"
        assert headers["server"] == "awselb/2.0" and str(status) in body.decode()
        assert reader.closed()
    assert target.requests == []


def test_forwarded_and_hop_by_hop_headers(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok(b"{}", b"Keep-Alive: timeout=5",
                                            b"Connection: keep-alive", b"X-Task-Id: t-1"))
    lb = make_lb(target.target())
    with connect(lb) as sock:
        sock.sendall(request("GET", "/p?q=1", "X-Forwarded-For: 203.0.113.7",
                             "Keep-Alive: timeout=9", "TE: trailers", "Upgrade: h2c",
                             "Proxy-Authorization: x", "Connection: Upgrade, X-Hop",
                             "X-Hop: 1", "Accept: */*"))
        status, headers, _ = Reader(sock).answer()
    assert status == 200 and headers["x-task-id"] == "t-1" and "keep-alive" not in headers
    head = target.requests[0][0].decode()
    assert head.startswith("GET /p?q=1 HTTP/1.1\r\n")
    lines = dict(x.split(": ", 1) for x in head.split("\r\n")[1:])
    assert lines["Host"] == "lb.example" and lines["Accept"] == "*/*"
    assert lines["X-Forwarded-For"] == "203.0.113.7, 127.0.0.1"
    assert lines["X-Forwarded-Proto"] == "http"
    assert lines["X-Forwarded-Port"] == str(lb.port)
    for hop in ("Keep-Alive", "TE", "Upgrade", "Proxy-Authorization", "Connection", "X-Hop"):
        assert hop not in lines
    with connect(lb) as sock:  # no Host from the client: the target's address is the host
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert Reader(sock).answer()[0] == 200
    assert f"Host: 127.0.0.1:{target.port}\r\n".encode() in target.requests[1][0]


@pytest.mark.parametrize(("answer", "why"), [
    (b"HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n", "malformed"),
    (b"HTTP/1.1 20 OK\r\n\r\n", "malformed"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n", "malformed"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "malformed"),  # not HTTP: noticed before any CRLFCRLF
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", "mid-answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", "mid-answer"),
])
def test_malformed_or_cut_answers_get_502_and_are_not_retried(make_lb, upstream, answer,
                                                               why) -> None:
    bad = upstream(lambda head, body: Close(answer))
    good = upstream(lambda head, body: ok())
    lb = make_lb(bad.target("bad"), good.target("good"), retry_on_connect_error=True)
    with connect(lb) as sock:  # round robin: the first request goes to "bad"
        sock.sendall(request())
        status, _, body = Reader(sock).answer()
    assert status == 502 and why in body.decode() and "bad" in body.decode()
    snap = lb.snapshot()
    assert snap["totals"]["retries"] == 0  # an answer had begun: not the knob's case
    assert snap["trace"][-1]["target"] == "bad" and snap["totals"]["elb_502"] == 1


def test_streamed_answers_chunked_large_head_and_204(make_lb, upstream) -> None:
    big = bytes(range(256)) * 12_288  # 3 MiB: over the 1 MiB buffer, relayed as it comes
    chunks = [b"first ", b"second ", b"third"]

    def answer(head: bytes, body: bytes) -> bytes:
        path = head.split(b" ")[1]
        if path == b"/chunked":
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")
        if path == b"/big":
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
        if path == b"/empty":
            return b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"
        return ok(b"0123456789")

    target = upstream(answer)
    lb = make_lb(target.target())
    with connect(lb) as sock:
        reader = Reader(sock)
        sock.sendall(request("GET", "/chunked"))
        status, headers, body = reader.answer()
        assert headers["transfer-encoding"] == "chunked" and body == b"first second third"
        sock.sendall(request("GET", "/big"))
        status, headers, body = reader.answer()
        assert int(headers["content-length"]) == len(big) and body == big
        sock.sendall(request("HEAD", "/head"))
        status, headers, body = reader.answer(head_only=True)
        assert status == 200 and headers["content-length"] == "10"
        sock.sendall(request("GET", "/empty"))
        status, headers, body = reader.answer(head_only=True)
        assert status == 204 and "content-length" not in headers and headers["x-a"] == "1"
        sock.sendall(request("GET", "/after"))  # the connection is still in step
        assert reader.answer()[2] == b"0123456789"
    with connect(lb) as sock:  # HTTP/1.0 cannot take chunks: delimited by the close
        sock.sendall(request("GET", "/chunked", version="1.0"))
        status, headers, body = Reader(sock).answer()
        assert "transfer-encoding" not in headers and body == b"first second third"
    stats = lb.snapshot(trace_limit=0)["targets"][0]
    assert stats["code_2xx"] == 6 and stats["bytes"] >= len(big)


def test_an_answer_that_breaks_off_while_streaming_cuts_the_client(make_lb, upstream) -> None:
    target = upstream(lambda head, body: Close(
        b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n" + b"x" * 1_500_000))
    lb = make_lb(target.target())
    with connect(lb) as sock:
        sock.sendall(request("GET", "/cut"))
        reader = Reader(sock)
        status, headers, _ = reader.answer(head_only=True)
        assert status == 200 and headers["content-length"] == "3000000"
        assert len(reader.file.read()) < 3_000_000  # then the connection closes
    row = lb.snapshot()["trace"][-1]
    assert row["status"] == 502 and "broke off" in row["note"]
    assert lb.snapshot()["totals"]["elb_502"] == 1


def test_the_pool_caps_connections_per_target_and_reuses_them(make_lb, upstream) -> None:
    def slow(head: bytes, body: bytes) -> bytes:
        time.sleep(0.15)
        return ok()

    target = upstream(slow)
    lb = make_lb(target.target(), max_connections_per_target=2)

    def client(_: int) -> list[int]:
        with connect(lb) as sock:
            reader = Reader(sock)
            codes = []
            for _ in range(2):
                sock.sendall(request())
                codes.append(reader.answer()[0])
            return codes

    with ThreadPoolExecutor(6) as pool:
        codes = [c for got in pool.map(client, range(6)) for c in got]
    assert codes == [200] * 12
    assert target.most_active <= 2 and target.connections == 2


def test_idle_connections_close_on_both_sides(make_lb, upstream) -> None:
    target = upstream(lambda head, body: ok())
    lb = make_lb(target.target(), idle_timeout=0.3)
    with connect(lb) as sock:
        sock.sendall(request())
        reader = Reader(sock)
        assert reader.answer()[0] == 200
        sock.settimeout(5)
        started = time.monotonic()
        assert reader.closed()  # the client connection was idle past the idle timeout
        assert time.monotonic() - started < 3

    async def pooled() -> tuple[bool, bool]:
        pool = up.Pool("127.0.0.1", target.port, limit=4, keepalive=1.0)
        conn = await pool.acquire()
        answer = await conn.exchange(request())
        assert answer.status == 200 and pool.size == (1, 1)
        again = await pool.acquire()
        pool.release(again)
        pool.sweep(asyncio.get_running_loop().time() + 2)
        await asyncio.sleep(0.05)
        return again is conn, conn.closed and pool.size == (0, 0)

    reused, swept = asyncio.run(pooled())
    assert reused and swept


def test_a_connection_idle_past_the_keepalive_is_never_reused(upstream) -> None:
    """A stalled loop may skip the sweeps: the pool still never sends a request on a
    connection idle longer than its keep-alive (the target may be closing it: a 502)."""
    target = upstream(lambda head, body: ok())

    async def pooled() -> tuple[bool, bool, int]:
        pool = up.Pool("127.0.0.1", target.port, limit=4, keepalive=3.0)
        conn = await pool.acquire()
        assert (await conn.exchange(request())).status == 200
        pool.release(conn)
        conn.idle_since -= 3.5  # idle past the keep-alive, and no sweep ran
        fresh = await pool.acquire()
        status = (await fresh.exchange(request())).status
        await asyncio.sleep(0.05)
        return fresh is not conn, conn.closed, status

    new_connection, old_closed, status = asyncio.run(pooled())
    assert new_connection and old_closed and status == 200
    assert target.connections == 2


def test_health_checks_are_new_connections_closed_after_the_answer(make_lb, upstream) -> None:
    target = upstream(lambda head, body: (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                          b"\r\n2\r\nok\r\n0\r\n\r\n"))
    settings = HealthSettings(path="/health?deep=1", interval=10, timeout=9)
    lb = make_lb(target.target(), health_checks=True, health=settings)
    assert lb.wait_for_state("raw", "healthy", 5)
    head = target.requests[0][0]
    assert head.startswith(b"GET /health?deep=1 HTTP/1.1\r\n")
    assert b"User-Agent: ELB-HealthChecker/2.0" in head
    assert f"Host: 127.0.0.1:{target.port}".encode() in head
    deadline = time.monotonic() + 5
    while target.closed_connections < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert target.closed_connections >= 1  # streamed answer or not, the probe's connection


def test_failures_on_a_reused_pooled_connection_get_albs_answers(make_lb, upstream) -> None:
    """Requests on a pooled keep-alive connection (served without a task): 504 on the idle
    timeout, 502 on an answer cut short, streamed answers, and the next request still 200."""
    def answer(head: bytes, body: bytes) -> bytes | None:
        path = head.split(b" ")[1]
        if path == b"/slow":
            time.sleep(1.0)
        if path == b"/cut":
            return Close(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        if path == b"/stream":
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return ok(path)

    target = upstream(answer)
    lb = make_lb(target.target(), idle_timeout=0.5)
    with connect(lb) as sock:
        reader = Reader(sock)
        got = []
        for path in ("/a", "/b", "/slow", "/c", "/d", "/cut", "/e", "/f", "/stream", "/g"):
            sock.sendall(request("GET", path))
            status, _, body = reader.answer()
            got.append((status, body if status == 200 else b""))
    assert got == [(200, b"/a"), (200, b"/b"), (504, b""), (200, b"/c"), (200, b"/d"),
                   (502, b""), (200, b"/e"), (200, b"/f"), (200, b"hello world"), (200, b"/g")]
    totals = lb.snapshot()["totals"]
    assert (totals["elb_504"], totals["elb_502"], totals["requests"]) == (1, 1, 10)
    assert lb.snapshot()["targets"][0]["outstanding"] == 0


def test_deregistration_delay_cuts_a_request_on_a_pooled_connection(make_lb, upstream) -> None:
    def answer(head: bytes, body: bytes) -> bytes:
        if head.split(b" ")[1] == b"/stuck":
            time.sleep(3.0)
        return ok()

    target = upstream(answer)
    settings = HealthSettings(path="/health", interval=10, timeout=9, deregistration_delay=6)
    lb = make_lb(target.target(), health=settings)  # 6 lab s = 0.1 s wall
    with connect(lb) as sock:
        reader = Reader(sock)
        sock.sendall(request("GET", "/warm"))
        assert reader.answer()[0] == 200  # the pool now has an idle connection
        sock.sendall(request("GET", "/stuck"))
        deadline = time.monotonic() + 5
        while lb.snapshot()["targets"][0]["outstanding"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        lb.deregister("raw")
        status, _, body = reader.answer()
    assert status == 502 and b"deregistration delay" in body
    assert lb.wait_for_state("raw", "unused", 5)
