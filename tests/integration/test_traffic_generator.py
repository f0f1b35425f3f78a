"""The open-loop generator against a real replica and tiny misbehaving servers (127.0.0.1)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cloud.core.clock import ManualClock
from cloud.runtime.replica import Replica, start_replica
from cloud.traffic.generator import TrafficGenerator
from cloud.traffic.profiles import spike, steady
from service.examples import sample_requests

SLOW = 0.3


@pytest.fixture(scope="module")
def bodies() -> list[tuple[dict, int]]:
    return sample_requests(300, seed=3, fraud_share=0.3)


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    r = start_replica("task-traffic-1")
    try:
        r.wait_ready()
        yield r
    finally:
        r.stop()


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(SLOW)
        body = json.dumps({"decision": "APPROVED", "score": 0.1, "task_id": "slow"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    """Answers every request after 300 ms, many at once (a thread per connection)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stalled_server() -> Iterator[str]:
    """Listens (the kernel completes connections) but never reads or answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(256)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def _run(gen: TrafficGenerator, limit: float = 15.0) -> float:
    t = time.monotonic()
    gen.start()
    assert gen.wait(limit), "the generator did not stop by itself"
    return time.monotonic() - t


def test_steady_rate_against_a_replica(replica: Replica, bodies) -> None:
    gen = TrafficGenerator(replica.url, steady(50), requests=bodies, seed=1, max_duration=3.0)
    _run(gen)
    s = gen.snapshot()
    assert s.stop_reason == "max_duration" and not s.running
    assert 110 <= s.sent <= 190  # 150 expected; Poisson sd ~12
    assert s.dropped == 0 and s.error_count == 0
    assert s.completed == s.ok == s.sent and s.in_flight == 0
    lat = s.latency
    assert lat["count"] == s.sent
    assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert s.tasks == {"task-traffic-1": s.sent}
    assert s.frauds["sent"] > 10 and 0 < s.frauds["flagged"] <= s.frauds["sent"]
    assert sum(s.decisions.values()) == s.sent
    assert [w["second"] for w in s.windows] == [0, 1, 2, 3][:len(s.windows)]
    assert sum(w["sent"] for w in s.windows) == s.sent
    assert all(w["target_rate"] == 50 for w in s.windows if w["sent"])
    json.dumps(s.as_dict())  # JSON-ready for the control API


def test_no_coordinated_omission(slow_server: str, bodies) -> None:
    gen = TrafficGenerator(slow_server, steady(50), requests=bodies, seed=2,
                           max_duration=2.0, max_in_flight=64)
    _run(gen)
    s = gen.snapshot()
    # A closed loop on one connection would manage ~7 requests; the schedule is not slowed.
    assert 65 <= s.sent <= 135 and s.dropped == 0
    assert s.ok == s.sent and s.tasks == {"slow": s.sent}
    assert s.latency["p50_ms"] >= SLOW * 1000
    assert s.latency["p50_ms"] <= s.latency["p99_ms"] <= s.latency["max_ms"]
    assert s.send_lag["p50_ms"] < 50  # sent on time, not after the previous answer


def test_stalled_server_fills_the_cap_and_drops(stalled_server: str, bodies) -> None:
    gen = TrafficGenerator(stalled_server, steady(50), requests=bodies, seed=3,
                           max_duration=1.5, max_in_flight=8, timeout=30.0, drain=0.3)
    elapsed = _run(gen)
    s = gen.snapshot()
    assert elapsed < 1.5 + 0.3 + 1.0  # on time despite 8 requests stuck for 30 s
    assert s.sent == 8 and s.dropped >= 30  # ~75 scheduled
    assert s.scheduled == s.sent + s.dropped
    assert s.errors == {"cancelled": 8} and s.in_flight == 0 and s.completed == 0


def test_timeouts_are_counted(stalled_server: str, bodies) -> None:
    gen = TrafficGenerator(stalled_server, steady(20), requests=bodies, seed=4,
                           max_duration=1.2, max_in_flight=16, timeout=0.3, drain=0.5)
    _run(gen)
    s = gen.snapshot()
    assert s.errors.get("timeout", 0) >= 5
    assert s.ok == 0


def test_connection_errors_are_counted(free_port: int, bodies) -> None:
    gen = TrafficGenerator(f"http://127.0.0.1:{free_port}", steady(50), requests=bodies,
                           max_duration=1.0)
    _run(gen)
    s = gen.snapshot()
    assert s.errors.get("connection", 0) == s.sent > 20


def test_stop_is_prompt(replica: Replica, bodies) -> None:
    gen = TrafficGenerator(replica.url, steady(50), requests=bodies, max_duration=60.0)
    gen.start()
    time.sleep(1.0)
    assert gen.running and gen.snapshot().running
    t = time.monotonic()
    s = gen.stop()
    assert time.monotonic() - t < 1.0
    assert not s.running and s.stop_reason == "stopped" and s.in_flight == 0
    assert 20 <= s.sent <= 90


def test_hard_caps_hold(replica: Replica, bodies) -> None:
    by_count = TrafficGenerator(replica.url, steady(500), requests=bodies, max_requests=25,
                                max_duration=30.0)
    assert _run(by_count) < 3.0
    assert by_count.snapshot().stop_reason == "max_requests"
    assert by_count.snapshot().scheduled == 25
    by_time = TrafficGenerator(replica.url, steady(20), requests=bodies, max_duration=1.0)
    elapsed = _run(by_time)
    assert by_time.snapshot().stop_reason == "max_duration"
    assert 1.0 <= elapsed < 2.5


def test_profile_follows_the_lab_clock(replica: Replica, bodies) -> None:
    """Black Friday ×10 starts when lab time reaches it; set_profile restarts profile time."""
    clock = ManualClock()
    gen = TrafficGenerator(replica.url, spike(20, factor=10, start=10, duration=100, ramp=0),
                           clock=clock, requests=bodies, max_duration=10.0)
    with gen:
        time.sleep(1.0)
        before = gen.snapshot().sent
        clock.advance(10)
        time.sleep(1.0)
        during = gen.snapshot().sent - before
        assert gen.snapshot().target_rate == 200
        gen.set_profile(steady(0))
        time.sleep(0.3)
        quiet = gen.snapshot().sent
        time.sleep(0.5)
        assert gen.snapshot().sent == quiet
    assert 5 <= before <= 40
    assert 130 <= during <= 270


def test_phases_count_their_own_requests_and_failures(replica: Replica, free_port: int,
                                                      bodies) -> None:
    """A phase change mid-run: each phase has its own counts; a dead target's failures land in
    the phase that sent them, and the totals are the phases' sums."""
    gen = TrafficGenerator(replica.url, steady(40), requests=bodies, max_duration=10.0,
                           phase="steady")
    with gen:
        time.sleep(1.0)
        gen.set_profile(steady(120), phase="spike")
        time.sleep(1.0)
    phases = gen.snapshot().phases
    assert [p["name"] for p in phases] == ["steady", "spike"]
    steady_, spike_ = phases
    assert steady_["target_rate"] == 40 and spike_["target_rate"] == 120
    assert 20 <= steady_["sent"] <= 70 and 70 <= spike_["sent"] <= 180
    assert steady_["failed"] == spike_["failed"] == 0
    assert steady_["ended_s"] == pytest.approx(spike_["started_s"])
    assert 0 < steady_["latency"]["p99_ms"] < 1000
    s = gen.snapshot()
    assert steady_["scheduled"] + spike_["scheduled"] == s.scheduled
    assert steady_["ok"] + spike_["ok"] == s.ok

    dead = TrafficGenerator(f"http://127.0.0.1:{free_port}", steady(30), requests=bodies,
                            max_duration=1.5, phase="up")
    dead.start()
    time.sleep(0.5)
    dead.set_profile(steady(30), phase="down")
    assert dead.wait(10)
    up, down = dead.snapshot().phases
    assert up["failed"] == up["errors"]["connection"] == up["sent"] > 5
    assert down["failed"] == down["sent"] > 10 and down["ok"] == 0
