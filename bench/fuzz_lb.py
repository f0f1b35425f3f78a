"""Fuzz the fraud service through the kit's load balancer, from its own ``/openapi.json``.

    .venv/bin/python bench/fuzz_lb.py                   # 10,000 cases (a few minutes)
    .venv/bin/python bench/fuzz_lb.py --cases 500 --replicas 1

Real replicas (``cloud.runtime.replica.start_replica``: gunicorn, LiteRT) behind
``cloud.lb.proxy.LoadBalancer`` on 127.0.0.1; schemathesis generates the cases from the
document the service serves (valid and invalid bodies, headers, query strings: positive and
negative modes) and each is sent through the load balancer. Prints the count per status and
per operation. Passes (exit 0) when no answer is a 5xx other than ALB's own 502/503/504
(``Server: awselb/2.0``: a target fault, which a healthy replica should not cause either:
they are counted), every replica is still alive and ``/health`` answers 200 through the
balancer afterwards. Not collected by pytest (the test suite runs a small sample:
tests/integration/test_lb_fuzz.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import schemathesis  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from cloud.core.clock import LabClock  # noqa: E402
from cloud.lb.proxy import LoadBalancer  # noqa: E402
from cloud.lb.routing import Target  # noqa: E402
from cloud.runtime.replica import start_replica  # noqa: E402

ALB_ERRORS = (502, 503, 504)  # ALB's own answers to target faults (Troubleshooting)


@dataclass
class Tally:
    """What came back: counts per status and per operation, and the 5xx seen."""

    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    not_sent: int = 0  # cases the HTTP client itself refuses to send (e.g. a header with CR)
    alb_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # any other 5xx: a failure

    @property
    def cases(self) -> int:
        return sum(self.statuses.values()) + self.not_sent


def send(case: schemathesis.Case, base_url: str, session: requests.Session,
         tally: Tally) -> None:
    """One case through the load balancer, counted."""
    try:
        response = case.call(base_url=base_url, session=session, timeout=30)
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL,
            UnicodeEncodeError, ValueError):
        tally.not_sent += 1
        return
    status = response.status_code
    tally.statuses[status] += 1
    tally.operations[case.operation.label] += 1
    if status >= 500:
        line = (f"{status} {case.method} {case.formatted_path} "
                f"server={response.headers.get('Server')!r}: {response.text[:120]!r}")
        if status in ALB_ERRORS and response.headers.get("Server") == "awselb/2.0":
            tally.alb_errors.append(line)
        else:
            tally.server_errors.append(line)


def fuzz(base_url: str, cases: int) -> Tally:
    """Up to ``cases`` schemathesis cases (positive and negative) sent to ``base_url``."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    strategy = st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                         schema.as_strategy(GenerationMode.NEGATIVE))
    tally = Tally()
    session = requests.Session()

    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        send(case, base_url, session, tally)

    run()
    session.close()
    return tally


def alive(base_url: str) -> bool:
    """``/health`` answers 200 through the load balancer."""
    try:
        return requests.get(f"{base_url}/health", timeout=10).status_code == 200
    except requests.RequestException:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args(argv)
    replicas = [start_replica(f"fuzz-{i}") for i in range(args.replicas)]
    try:
        for r in replicas:
            r.wait_ready()
        with LoadBalancer(clock=LabClock(60), health_checks=False) as lb:
            for r in replicas:
                lb.register(Target(r.task_id, "127.0.0.1", r.port))
            started = time.monotonic()
            tally = fuzz(lb.url, args.cases)
            took = time.monotonic() - started
            healthy = alive(lb.url)
            totals = lb.snapshot(trace_limit=0)["totals"]
        running = [r.process.poll() is None for r in replicas]
    finally:
        for r in replicas:
            r.stop()
    print(f"fuzz_lb: {tally.cases:,} cases in {took:.0f} s through the load balancer to "
          f"{args.replicas} replicas ({tally.not_sent} not sendable by the client)")
    print("status counts: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(tally.statuses.items())))
    print("per operation: " + ", ".join(f"{o}: {n:,}" for o, n in tally.operations.items()))
    print(f"load balancer totals: {totals}")
    print(f"ALB 502/503/504: {len(tally.alb_errors)}; other 5xx: {len(tally.server_errors)}")
    for line in (tally.server_errors + tally.alb_errors)[:20]:
        print("  " + line)
    ok = not tally.server_errors and healthy and all(running)
    print(f"replicas alive: {all(running)}; /health through the balancer: "
          f"{'200' if healthy else 'FAILED'} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
