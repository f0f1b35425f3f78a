"""An interleaved A/B of the kit proxy's variants beside HAProxy, in front of the same replicas.

    PYTHONPATH=$PWD .venv/bin/python bench/bench_lb_ab.py --variant same --runs 3
    PYTHONPATH=$PWD .venv/bin/python bench/bench_lb_ab.py --variant same --nbthread 1

Two kit proxies in this process (A: as shipped; B: with ``--variant`` applied), both with
``--algorithm``, and HAProxy with the same (``balance leastconn`` or ``roundrobin``) in front
of the same four replicas; their c=16
turns are interleaved as in ``bench/bench_lb.py`` (its :func:`interleaved`), so the machine's
other load weighs on the three alike. Prints, per run, each path's req/s and CPU µs/request
(balancer, replicas) and A's and B's ratios to HAProxy. Variants are private knobs of
:class:`cloud.lb.proxy.LoadBalancer`, set after it started; ``--nbthread`` sets HAProxy's
threads (by default it runs one per core, 2 here; the kit proxy's loop is one thread). Both
kit proxies' health checks count in ``lb`` (one process): A/H and B/H CPU ratios are a little
high. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import types
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_lb  # noqa: E402
from bench_lb import HAPROXIES, Way, find_haproxy, haproxy, interleaved, own_cpu, process_cpu  # noqa: E402

from cloud.core.clock import LabClock  # noqa: E402
from cloud.lb import upstream as up  # noqa: E402
from cloud.lb.health import HealthSettings  # noqa: E402
from cloud.lb.proxy import LoadBalancer  # noqa: E402
from cloud.lb.routing import Target  # noqa: E402
from cloud.runtime.replica import start_replica  # noqa: E402
from service.contract import example_transaction  # noqa: E402


def _same(lb: LoadBalancer) -> None:
    """B as shipped too: an A/A run, the noise floor of the comparison."""


def _lru_take(pool: up.Pool) -> up.Connection | None:
    idle = pool._idle
    while idle:
        conn = idle.pop(0)
        if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
            return conn
    return None


def _lru(lb: LoadBalancer) -> None:
    """B's pools hand out their least recently used idle connection (all stay warm)."""
    for entry in lb._entries.values():
        if entry.pool is not None and "take_idle" not in vars(entry.pool):
            entry.pool.take_idle = types.MethodType(_lru_take, entry.pool)


# A variant is set on B in the loop's thread before each of its turns (the affinity of a
# client connection to its upstream connections, HAProxy's pattern, was tried this way on
# 2026-12-06: no difference beyond noise, so that knob was removed).
VARIANTS: dict[str, Callable[[LoadBalancer], None]] = {"same": _same, "lru": _lru}


def kit(stack: contextlib.ExitStack, replicas: list, name: str,
        variant: Callable[[LoadBalancer], None] | None, algorithm: str) -> Way:
    """A kit proxy (least outstanding, health-checked as in bench_lb) in front of replicas."""
    fast = HealthSettings(path="/health", interval=5, timeout=4)
    lb = stack.enter_context(LoadBalancer(clock=LabClock(60), health=fast,
                                          algorithm=algorithm))
    for r in replicas:
        lb.register(Target(r.task_id, "127.0.0.1", r.port))
    for r in replicas:
        lb.wait_for_state(r.task_id, "healthy", 10)
    lb.set_health_settings(HealthSettings(path="/health", interval=30, timeout=5))
    if variant is None:
        return Way(name, lb.port, own_cpu)
    return Way(name, lb.port, own_cpu, lambda: lb._call(variant, lb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="same")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--algorithm", default="least_outstanding_requests",
                        choices=("least_outstanding_requests", "round_robin"))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--nbthread", type=int, default=0,
                        help="HAProxy's threads (0: its default, one per core)")
    args = parser.parse_args(argv)
    if args.nbthread:
        bench_lb.HAPROXY_CFG = bench_lb.HAPROXY_CFG.replace(
            "global\n", f"global\n    nbthread {args.nbthread}\n", 1)
    binary, _ = find_haproxy(install=True)
    if binary is None:
        raise SystemExit("bench_lb_ab: needs haproxy")
    body = json.dumps(example_transaction()).encode()
    balance = "leastconn" if args.algorithm.startswith("least") else "roundrobin"
    replicas = [start_replica(f"ab-{i}") for i in range(4)]
    pids = [r.process.pid for r in replicas]
    ratios: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    try:
        for r in replicas:
            r.wait_ready()
        for n in range(args.runs):
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            with contextlib.ExitStack() as stack:
                paths = [kit(stack, replicas, "A", None, args.algorithm),
                         kit(stack, replicas, "B", VARIANTS[args.variant], args.algorithm)]
                port = stack.enter_context(haproxy(binary, replicas, balance))
                process = HAPROXIES[port]
                paths.append(Way("H", port, lambda h=process: process_cpu([h.pid])))
                got = interleaved(paths, body, args.seconds, pids, args.slices)
            print(f"run {n + 1} (load before {load}):")
            for name, x in got.items():
                print(f"  {name} {x.rps:7,.0f} req/s  lb {x.cpu['lb']:5.0f}  replicas "
                      f"{x.cpu['replicas']:5.0f}  wrk {x.cpu['wrk']:3.0f}  other "
                      f"{x.cpu['other']:.2f}  p99 {x.p99_ms:.0f} ms")
            h = got["H"]
            for name in ("A", "B"):
                ratios[name].append((got[name].rps / h.rps, got[name].cpu["lb"] / h.cpu["lb"]))
            print("  " + "  ".join(f"{k}/H {v[-1][0]:.0%} {v[-1][1]:.2f}x"
                                   for k, v in ratios.items()), flush=True)
    finally:
        for r in replicas:
            r.stop()
    for name, pairs in ratios.items():
        print(f"{name} ({'as shipped' if name == 'A' else args.variant}) vs HAProxy {balance} "
              f"(nbthread {args.nbthread or 'default'}): "
              f"median {statistics.median(a for a, _ in pairs):.0%} req/s, "
              f"{statistics.median(b for _, b in pairs):.2f}x CPU/req "
              f"[{' '.join(f'{a:.0%}' for a, _ in pairs)}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
