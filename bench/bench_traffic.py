"""The highest rate the open-loop traffic generator sustains here, and its CPU cost.

    .venv/bin/python bench/bench_traffic.py                  # ~1.5 minutes on 2 cores
    .venv/bin/python bench/bench_traffic.py --seconds 2 --rates 500,1000,2000

Steps the rate up against (a) one real replica (gunicorn, ``cloud.runtime.replica.start_replica``)
and (b) a trivial local server (raw asyncio, a fixed answer: so the generator's own limit shows),
each server in its own process. A step is *sustained* when nearly every scheduled request was
sent (dropped <= 1 %), none failed, and the send lag p99 (scheduled -> picked up by a worker)
stays under 20 ms; the table marks the highest sustained step. CPU is the generator process's
user + system time per completed request (the servers run in other processes). Both sides
share the machine's cores, as they do in the lab.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.core.ports import free_port  # noqa: E402
from cloud.runtime.replica import start_replica  # noqa: E402
from cloud.traffic.generator import TrafficGenerator  # noqa: E402
from cloud.traffic.profiles import steady  # noqa: E402

DEFAULT_RATES = (250, 500, 1000, 1500, 2000, 2500, 3000, 4000)
MAX_LAG_P99_MS = 20.0
MAX_DROPPED = 0.01


def serve_trivial(port: int) -> None:
    """A minimal keep-alive HTTP/1.1 server answering every request with the same JSON."""
    body = b'{"decision":"APPROVED","score":0.01,"task_id":"trivial"}'
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
              % len(body)) + body

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buf = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                head = self.buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length:]
                self.transport.write(answer)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", port,
                                                                backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


def step(url: str, rate: float, seconds: float, bodies: list) -> dict:
    gen = TrafficGenerator(url, steady(rate), requests=bodies, max_duration=seconds,
                           timeout=5.0, drain=2.0)
    t0 = os.times()
    gen.start()
    gen.wait(seconds + 10)
    t1 = os.times()
    s = gen.snapshot()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    dropped = s.dropped / max(1, s.scheduled)
    ok = (dropped <= MAX_DROPPED and s.error_count == 0
          and s.send_lag["p99_ms"] < MAX_LAG_P99_MS)
    return {"rate": rate, "achieved": s.sent / seconds, "completed": s.completed / seconds,
            "dropped": dropped, "errors": s.error_count, "lag_p99": s.send_lag["p99_ms"],
            "p50": s.latency["p50_ms"], "p99": s.latency["p99_ms"],
            "cpu_us": cpu / max(1, s.completed) * 1e6, "cpu_share": cpu / seconds,
            "sustained": ok}


def sweep(name: str, url: str, rates: list[float], seconds: float, bodies: list) -> list[dict]:
    rows, failures = [], 0
    for rate in rates:
        print(f"  {name}: {rate:g} req/s ...", file=sys.stderr, flush=True)
        row = step(url, rate, seconds, bodies)
        rows.append({"target": name, **row})
        failures += not row["sustained"]
        if failures >= 2:  # one more step past the first failure shows the collapse
            break
        time.sleep(0.5)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="wall seconds per step")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_trivial(args.serve)
        return 0
    from service.examples import sample_requests

    rates = [float(r) for r in args.rates.split(",")]
    bodies = sample_requests(2000, seed=0, fraud_share=0.05)
    rows: list[dict] = []
    port = free_port()
    trivial = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    replica = start_replica("task-bench-traffic")
    try:
        replica.wait_ready()
        time.sleep(0.5)
        rows += sweep("replica", replica.url, rates, args.seconds, bodies)
        rows += sweep("trivial", f"http://127.0.0.1:{port}", rates, args.seconds, bodies)
    finally:
        replica.stop()
        trivial.terminate()
        trivial.wait(5)
    print(f"\nOpen-loop generator, {os.cpu_count()} CPUs, {args.seconds:g} s per step "
          f"(sustained: dropped <= {MAX_DROPPED:.0%}, no errors, lag p99 < "
          f"{MAX_LAG_P99_MS:g} ms)\n")
    head = (f"{'target':8} {'rate':>6} {'sent/s':>7} {'done/s':>7} {'drop':>6} {'err':>5} "
            f"{'lag p99':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>10} {'CPU':>5}  ok")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['target']:8} {r['rate']:6.0f} {r['achieved']:7.0f} {r['completed']:7.0f} "
              f"{r['dropped']:6.1%} {r['errors']:5d} {r['lag_p99']:8.1f} {r['p50']:8.2f} "
              f"{r['p99']:8.1f} {r['cpu_us']:10.0f} {r['cpu_share']:5.0%}  "
              f"{'yes' if r['sustained'] else 'NO'}")
    print()
    for name in ("replica", "trivial"):
        best = max((r["rate"] for r in rows if r["target"] == name and r["sustained"]),
                   default=0)
        print(f"highest sustained rate vs {name}: {best:.0f} req/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
