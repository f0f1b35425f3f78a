"""The load balancer's Python side of one request, without sockets: CPU µs per request.

    .venv/bin/python bench/bench_lb_python.py                 # least outstanding, 50,000 requests
    .venv/bin/python bench/bench_lb_python.py --algorithm round_robin --profile

The real classes (``ClientConnection``, ``RequestReader``, ``LoadBalancer._fast``, the
upstream ``Connection`` and ``Pool``, ``_Exchange``) with stand-in transports that keep what
is written: a client's POST /predict is fed to the client connection, the answer a gunicorn
replica would send is fed to the upstream connection the proxy wrote to, and the answer to
the client is checked. The figure is this thread's CPU time per request (``time.thread_time``,
so other load on the machine hardly moves it); the kernel's side of the four socket calls a
real request costs (two reads, two writes on loopback) is not in it. ``--profile`` prints
cProfile's top functions. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.core.clock import LabClock
from cloud.lb import proxy as lbproxy
from cloud.lb import upstream as up
from cloud.lb.listener import ClientConnection, Listener
from cloud.lb.routing import Target

BODY = (b'{"transaction_id": "t-1", "amount": 12.5, "merchant": "m", "features": ['
        + b"0.1, " * 19 + b"0.1]}")
REQUEST = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
ANSWER = (b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Sun, 06 Dec 2026 04:00:00 GMT\r\n"
          b"Connection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 120\r\n"
          b"\r\n" + b"x" * 120)


class Kept:
    """A transport that keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, data: list[bytes]) -> None:
        self.written.extend(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closing = True


def _with_outbox(cls: type, outbox: Any, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)``, sharing ``outbox`` when ``cls`` takes one."""
    if outbox is not None and "outbox" in inspect.signature(cls).parameters:
        kwargs["outbox"] = outbox
    return cls(*args, **kwargs)


async def per_request(n: int, algorithm: str) -> float:
    """CPU µs per request over ``n`` requests (after 1,000 to warm up)."""
    lb = lbproxy.LoadBalancer(clock=LabClock(60), health_checks=False, algorithm=algorithm)
    loop = asyncio.get_running_loop()
    lb._loop = loop
    outbox = None
    if hasattr(lbproxy, "Outbox"):
        outbox = lb._outbox = lbproxy.Outbox(loop)
    lb._listener = Listener(lb._handle, fast=lb._fast)
    lb._listener.outbox = outbox
    lb._forwarded = b"X-Forwarded-Proto: http\r\nX-Forwarded-Port: 8080\r\n"
    upstream: list[up.Connection] = []
    for i in range(4):
        lb._register(Target(f"t{i}", "127.0.0.1", 9000 + i))
        entry = lb._entries[f"t{i}"]
        entry.pool = _with_outbox(up.Pool, outbox, "127.0.0.1", 9000 + i)
        for _ in range(2):
            connection = up.Connection(entry.pool)
            connection.connection_made(Kept())  # type: ignore[arg-type]
            entry.pool._open += 1
            entry.pool.release(connection)
            upstream.append(connection)
    client = ClientConnection(lb._listener)
    kept = Kept()
    client.connection_made(kept)  # type: ignore[arg-type]

    def one() -> None:
        client.data_received(REQUEST)
        if outbox is not None:
            outbox.flush()
        busy = next(c for c in upstream if c._state == up._HEAD)
        busy.data_received(ANSWER)
        if outbox is not None:
            outbox.flush()

    for _ in range(1000):
        one()
    kept.written.clear()
    started = time.thread_time()
    for _ in range(n):
        one()
    took = time.thread_time() - started
    assert len(kept.written) == n and kept.written[-1].startswith(b"HTTP/1.1 200 OK\r\n")
    return took / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--algorithm", default="least_outstanding_requests")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    figures = [asyncio.run(per_request(args.requests, args.algorithm)) for _ in range(args.runs)]
    print(f"{args.algorithm}: {min(figures):.1f} µs/request of CPU (best of {args.runs}; "
          f"each: {', '.join(f'{f:.1f}' for f in figures)})")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, per_request(args.requests // 2, args.algorithm))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
