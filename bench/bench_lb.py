"""The load balancer's cost: throughput and latency through it vs straight to one replica.

    .venv/bin/python bench/bench_lb.py                  # ~1 minute on 2 cores
    .venv/bin/python bench/bench_lb.py --seconds 5 --no-haproxy

Four real replicas (``cloud.replica.start_replica``, gunicorn gthread 1×4, LiteRT) on
127.0.0.1; the kit's proxy (``cloud.lb.proxy.LoadBalancer``) in this process; ``wrk`` (closed
loop, keep-alive, one thread, POST /predict with the example transaction) as the client; and,
when ``haproxy`` is installed (or installable with ``apt-get install -y haproxy`` as root),
HAProxy with ``balance leastconn`` in front of the same replicas in the same run.

The kit proxy runs on uvloop when it is installed (else asyncio).
Rows: c=1 p50 (the latency a request pays for the hop; target: added p50 <= 1 ms) and c=16
throughput with p50/p99 (target: >= 1,000 transactions/s at p99 <= 20 ms with 4 replicas),
and the proxy's CPU per request. wrk is closed loop, so p99 under saturation is understated
(perf-notes.md). Exit 0 when every target is met. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.clock import LabClock  # noqa: E402
from cloud.lb.health import HealthSettings  # noqa: E402
from cloud.lb.proxy import LoadBalancer  # noqa: E402
from cloud.lb.routing import Target  # noqa: E402
from cloud.replica import Replica, free_port, start_replica  # noqa: E402
from service.contract import example_transaction  # noqa: E402

TARGET_ADDED_P50_MS = 1.0
TARGET_RPS = 1000.0
TARGET_P99_MS = 20.0

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50),
    latency:percentile(99)))
end
"""

HAPROXY_CFG = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance leastconn
{servers}
"""


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_us: float | None = None  # proxy CPU per request (kit proxy only)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk(port: int, body: bytes, concurrency: int, seconds: float) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % json.dumps(body.decode()))
    try:
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "5s",
               "-s", f.name, f"http://127.0.0.1:{port}/predict"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    requests, duration_us, errors, p50, p99 = (int(v) for v in line.split()[1:])
    return Load(requests, duration_us / 1e6, errors, p50 / 1000, p99 / 1000)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def find_haproxy(install: bool) -> tuple[str | None, str]:
    found = shutil.which("haproxy")
    if found:
        return found, "installed"
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], env=env,
                              capture_output=True, timeout=300, check=False)
        if done.returncode == 0 and shutil.which("haproxy"):
            return shutil.which("haproxy"), "installed now with apt-get install -y haproxy"
    return None, "not installed (apt-get install -y haproxy needs root)"


def start_haproxy(binary: str, replicas: list[Replica]) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    servers = "\n".join(f"    server {r.task_id} 127.0.0.1:{r.port} maxconn 32"
                        for r in replicas)
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg:
        cfg.write(HAPROXY_CFG.format(port=port, servers=servers))
    process = subprocess.Popen([binary, "-db", "-f", cfg.name], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    return process, port, cfg.name


def wait_port(port: int, timeout: float = 10.0) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def measure(port: int, body: bytes, seconds: float, cpu: bool = False) -> tuple[Load, Load]:
    wrk(port, body, 16, 1.0)  # warm-up: connections, pools
    c1 = wrk(port, body, 1, seconds)
    before = own_cpu()
    c16 = wrk(port, body, 16, seconds)
    if cpu and c16.requests:
        c16.cpu_us = (own_cpu() - before) / c16.requests * 1e6
    return c1, c16


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per wrk run")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--no-haproxy", action="store_true")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench_lb: needs wrk (apt-get install -y wrk)")
    body = json.dumps(example_transaction()).encode()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())  # other work on the machine skews it
    replicas = [start_replica(f"bench-{i}") for i in range(args.replicas)]
    haproxy: subprocess.Popen | None = None
    cfg = ""
    rows: list[tuple[str, Load, Load]] = []
    how = "skipped (--no-haproxy)"
    try:
        for r in replicas:
            r.wait_ready()
        print("bench_lb: straight to one replica", file=sys.stderr, flush=True)
        rows.append(("straight to one replica", *measure(replicas[0].port, body, args.seconds)))
        settings = HealthSettings(path="/health", interval=5, timeout=4)
        with LoadBalancer(clock=LabClock(60), health=settings) as lb:
            for r in replicas:
                lb.register(Target(r.task_id, "127.0.0.1", r.port))
            for r in replicas:
                lb.wait_for_state(r.task_id, "healthy", 10)
            for algorithm in ("round_robin", "least_outstanding_requests"):
                lb.set_algorithm(algorithm)
                print(f"bench_lb: kit proxy, {algorithm}", file=sys.stderr, flush=True)
                rows.append((f"kit proxy, {algorithm}",
                             *measure(lb.port, body, args.seconds, cpu=True)))
        binary = None
        if not args.no_haproxy:
            binary, how = find_haproxy(install=True)
        if binary:
            haproxy, port, cfg = start_haproxy(binary, replicas)
            wait_port(port)
            print("bench_lb: HAProxy leastconn", file=sys.stderr, flush=True)
            rows.append(("HAProxy 'balance leastconn'", *measure(port, body, args.seconds)))
    finally:
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait(10)
            os.unlink(cfg)
        for r in replicas:
            r.stop()
    direct_p50 = rows[0][1].p50_ms
    ok = True
    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    print(f"\n{len(replicas)} replicas (gunicorn gthread 1x4), client: wrk -t1 "
          f"(closed loop, keep-alive), {args.seconds:g} s per run, {os.cpu_count()} cores, "
          f"kit proxy: aiohttp on {loop}; HAProxy: {how}; load average before: {load}\n")
    print(f"{'path':38} {'c=1 p50':>9} {'added':>7} {'c=16 req/s':>11} {'p50':>7} "
          f"{'p99':>7} {'errors':>6} {'LB CPU/req':>10}")
    for name, c1, c16 in rows:
        added = c1.p50_ms - direct_p50
        cpu = f"{c16.cpu_us:.0f} µs" if c16.cpu_us is not None else ""
        print(f"{name:38} {c1.p50_ms:7.2f}ms {added:+6.2f} {c16.rps:11,.0f} "
              f"{c16.p50_ms:5.2f}ms {c16.p99_ms:5.2f}ms {c16.errors + c1.errors:6} {cpu:>10}")
        if name.startswith("kit proxy"):
            met = (added <= TARGET_ADDED_P50_MS and c16.rps >= TARGET_RPS
                   and c16.p99_ms <= TARGET_P99_MS and c16.errors + c1.errors == 0)
            ok = ok and met
    print(f"\ntargets (kit proxy): added p50 <= {TARGET_ADDED_P50_MS:g} ms; "
          f">= {TARGET_RPS:,.0f} req/s at p99 <= {TARGET_P99_MS:g} ms; no errors -> "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
