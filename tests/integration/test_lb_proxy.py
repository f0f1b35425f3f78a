"""The kit's load balancer in front of real gunicorn replicas, over real HTTP on 127.0.0.1.

ALB's behaviour as ecs-facts.md §6 states it: round_robin by default, least_outstanding_requests
opt-in, 502/503/504, no retries (the kit-only knob aside), draining, health checks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cloud.core.clock import LabClock
from cloud.core.ports import free_port
from cloud.lb.health import HealthSettings
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import Target
from cloud.runtime.replica import Replica, start_replica
from service.contract import example_transaction

# Fast lab time: a 10-lab-second health-check interval lasts 1/6 s of wall time.
FAST = HealthSettings(path="/health", interval=10, timeout=9, healthy_threshold=2,
                      unhealthy_threshold=2, deregistration_delay=300)


class SlowServer:
    """A tiny HTTP/1.1 server standing in for a slow target: /predict answers after ``delay``."""

    def __init__(self, name: str, delay: float) -> None:
        outer = self
        self.name, self.delay, self.hits = name, delay, 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if self.path.startswith("/predict"):
                    outer.hits += 1
                    time.sleep(outer.delay)
                body = json.dumps({"task_id": outer.name}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the proxy gave up on us (504 / 502 tests)
                    self.close_connection = True

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def target(self) -> Target:
        return Target(self.name, "127.0.0.1", self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def target_of(replica: Replica) -> Target:
    return Target(replica.task_id, "127.0.0.1", replica.port)


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[Replica]]:
    started = [start_replica(f"lb-{i}") for i in range(3)]
    try:
        for r in started:
            r.wait_ready()
        yield started
    finally:
        for r in started:
            r.stop()


@pytest.fixture
def make_lb() -> Iterator:
    made: list[LoadBalancer] = []

    def make(**kwargs) -> LoadBalancer:
        kwargs.setdefault("clock", LabClock(60))
        kwargs.setdefault("health", FAST)
        lb = LoadBalancer(**kwargs).start()
        made.append(lb)
        return lb

    yield make
    for lb in made:
        lb.stop()


@pytest.fixture
def slow_servers() -> Iterator:
    made: list[SlowServer] = []

    def make(name: str, delay: float) -> SlowServer:
        made.append(SlowServer(name, delay))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def register_healthy(lb: LoadBalancer, *targets: Target) -> None:
    for t in targets:
        lb.register(t)
    for t in targets:
        assert lb.wait_for_state(t.id, "healthy", 10), lb.snapshot()["events"]


def stats(lb: LoadBalancer) -> dict[str, dict]:
    return {t["id"]: t for t in lb.snapshot(trace_limit=0)["targets"]}


def post(session: requests.Session, url: str, body: dict | None = None) -> requests.Response:
    return session.post(f"{url}/predict", json=body or example_transaction(), timeout=10)


def test_round_robin_reaches_every_target_in_turn(make_lb, replicas) -> None:
    lb = make_lb()
    assert lb.algorithm == "round_robin"  # ALB's default
    register_healthy(lb, *map(target_of, replicas))
    with requests.Session() as http:
        seen = [http.get(f"{lb.url}/ready", timeout=5).json()["task_id"] for _ in range(9)]
    assert seen == ["lb-0", "lb-1", "lb-2"] * 3
    trace = lb.snapshot()["trace"]
    assert [row["target"] for row in trace] == seen
    assert trace[0]["outstanding"] == {"lb-0": 0, "lb-1": 0, "lb-2": 0}
    assert trace[0]["method"] == "GET" and trace[0]["path"] == "/ready"
    assert all(row["status"] == 200 and row["latency_ms"] > 0 for row in trace)
    assert {t["requests"] for t in stats(lb).values()} == {3}


def test_predict_bodies_and_answers_pass_through_intact(make_lb, replicas) -> None:
    lb = make_lb()
    register_healthy(lb, target_of(replicas[0]))
    tx = example_transaction()
    with requests.Session() as http:
        direct = post(http, replicas[0].url, tx)
        proxied = post(http, lb.url, tx)
        batch = http.post(f"{lb.url}/predict", json={"instances": [tx, tx]}, timeout=10)
        bad = http.post(f"{lb.url}/predict", data=b"{not json",
                        headers={"Content-Type": "application/json"}, timeout=10)
    assert proxied.status_code == 200
    assert proxied.json() == direct.json()
    assert proxied.headers["Content-Type"] == direct.headers["Content-Type"]
    assert len(batch.json()["predictions"]) == 2
    assert bad.status_code == 400 and bad.json() == http_json_error(replicas[0])
    counters = stats(lb)["lb-0"]
    assert (counters["code_2xx"], counters["code_4xx"]) == (2, 1)
    assert counters["bytes"] == len(proxied.content) + len(batch.content) + len(bad.content)


def http_json_error(replica: Replica) -> dict:
    return requests.post(f"{replica.url}/predict", data=b"{not json",
                         headers={"Content-Type": "application/json"}, timeout=10).json()


def share_of_slow(lb: LoadBalancer, clients: int = 6, each: int = 20) -> float:
    before = stats(lb)

    def client(_: int) -> None:
        with requests.Session() as http:
            for _ in range(each):
                assert post(http, lb.url).status_code == 200

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    after = stats(lb)
    got = {k: after[k]["requests"] - before[k]["requests"] for k in after}
    assert sum(got.values()) == clients * each
    return got["slow"] / (clients * each)


def test_least_outstanding_sends_fewer_requests_to_a_slow_target(make_lb, replicas,
                                                                  slow_servers) -> None:
    slow = slow_servers("slow", 0.2)
    lb = make_lb()
    register_healthy(lb, target_of(replicas[0]), target_of(replicas[1]), slow.target())
    rr_share = share_of_slow(lb)
    lb.set_algorithm("least_outstanding_requests")
    lor_share = share_of_slow(lb)
    assert rr_share == pytest.approx(1 / 3, abs=0.05)  # round robin ignores how busy it is
    assert lor_share < rr_share / 2, (rr_share, lor_share)
    reasons = [row["reason"] for row in lb.snapshot(trace_limit=50)["trace"]]
    assert all(r.startswith("least outstanding: ") for r in reasons)


def test_503_when_no_target_is_registered(make_lb, replicas) -> None:
    lb = make_lb()
    answer = requests.get(f"{lb.url}/predict", timeout=5)
    assert answer.status_code == 503
    assert "the target group has no registered targets" in answer.text
    lb.register(target_of(replicas[0]))
    lb.deregister("lb-0")
    assert requests.get(f"{lb.url}/ready", timeout=5).status_code == 503
    snap = lb.snapshot()
    assert snap["totals"]["elb_503"] == 2 and snap["trace"][-1]["target"] is None


def test_502_when_the_port_refuses_or_the_answer_is_not_http(make_lb) -> None:
    lb = make_lb(health_checks=False)
    lb.register(Target("dead", "127.0.0.1", free_port()))
    answer = requests.get(f"{lb.url}/ready", timeout=5)
    assert answer.status_code == 502 and "dead refused the connection" in answer.text
    lb.deregister("dead")

    garbage = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            conn, _ = garbage.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"THIS IS NOT HTTP\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        lb.register(Target("garbage", "127.0.0.1", garbage.getsockname()[1]))
        answer = requests.get(f"{lb.url}/ready", timeout=5)
        assert answer.status_code == 502 and "malformed" in answer.text
    finally:
        stop.set()
        garbage.close()
    assert lb.snapshot()["totals"]["elb_502"] == 2


def post_then_kill(lb: LoadBalancer, replica: Replica) -> requests.Response:
    """POST through ``lb`` while ``replica`` is frozen, SIGKILL it mid-request, and return
    the answer the client got."""
    os.killpg(replica.process.pid, signal.SIGSTOP)  # the request hangs in the replica
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, requests.Session(), lb.url)
        deadline = time.monotonic() + 5
        while (stats(lb)[replica.task_id]["outstanding"] == 0
               and time.monotonic() < deadline):
            time.sleep(0.01)
        os.killpg(replica.process.pid, signal.SIGKILL)
        return pending.result(10)


def test_502_when_the_target_is_killed_mid_flight(make_lb) -> None:
    replica = start_replica("doomed")
    try:
        replica.wait_ready()
        lb = make_lb(health_checks=False)
        lb.register(target_of(replica))
        answer = post_then_kill(lb, replica)
        assert answer.status_code == 502
        assert "doomed" in answer.text
        assert stats(lb)["doomed"]["elb_502"] == 1
    finally:
        with_kill = replica.process.poll() is None
        if with_kill:
            os.killpg(replica.process.pid, signal.SIGKILL)
        replica.process.wait(10)


def test_504_when_the_target_is_slower_than_the_idle_timeout(make_lb, slow_servers) -> None:
    slow = slow_servers("sleepy", 1.0)
    lb = make_lb(idle_timeout=0.3, health_checks=False)
    lb.register(slow.target())
    started = time.monotonic()
    answer = post(requests.Session(), lb.url)
    assert answer.status_code == 504 and "idle timeout" in answer.text
    assert time.monotonic() - started < 0.9
    assert lb.snapshot()["totals"]["elb_504"] == 1


@pytest.mark.parametrize("retry", [False, True])
def test_no_retry_by_default_and_the_kit_only_knob(make_lb, replicas, retry) -> None:
    lb = make_lb(health_checks=False, retry_on_connect_error=retry)
    lb.register(target_of(replicas[0]))
    lb.register(Target("dead", "127.0.0.1", free_port()))
    with requests.Session() as http:
        codes = Counter(post(http, lb.url).status_code for _ in range(10))
    snap = lb.snapshot()
    if retry:
        assert codes == {200: 10}
        assert snap["totals"]["retries"] == 5
        assert all("kit-only: ALB does not retry" in row["note"]
                   for row in snap["trace"] if row["note"])
    else:
        assert codes == {200: 5, 502: 5}
        failed = [row for row in snap["trace"] if row["status"] == 502]
        assert len(failed) == 5 and {row["target"] for row in failed} == {"dead"}
        assert snap["totals"]["elb_502"] == 5 and snap["totals"]["retries"] == 0


def test_deregister_drains_in_flight_requests_then_unused(make_lb, replicas,
                                                          slow_servers) -> None:
    slow = slow_servers("leaving", 0.6)
    lb = make_lb(health_checks=False)
    lb.register(slow.target())
    lb.register(target_of(replicas[0]))
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(post, requests.Session(), lb.url)  # round robin: "leaving"
        deadline = time.monotonic() + 5
        while stats(lb)["leaving"]["outstanding"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        lb.deregister("leaving")
        assert stats(lb)["leaving"]["state"] == "draining"
        with requests.Session() as http:
            assert {post(http, lb.url).json()["task_id"] for _ in range(6)} == {"lb-0"}
        answer = in_flight.result(5)
    assert answer.status_code == 200 and answer.json()["task_id"] == "leaving"
    assert lb.wait_for_state("leaving", "unused", 2)
    assert slow.hits == 1
    states = [(e["target"], e["state"]) for e in lb.snapshot()["events"]]
    assert states[-2:] == [("leaving", "draining"), ("leaving", "unused")]


def test_deregistration_delay_elapsing_cuts_in_flight_requests_with_502(make_lb,
                                                                        slow_servers) -> None:
    slow = slow_servers("stuck", 3.0)
    settings = HealthSettings(path="/health", interval=10, timeout=9, deregistration_delay=6)
    lb = make_lb(health_checks=False, health=settings)  # 6 lab s = 0.1 s wall
    lb.register(slow.target())
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(post, requests.Session(), lb.url)
        deadline = time.monotonic() + 5
        while stats(lb)["stuck"]["outstanding"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        lb.deregister("stuck")
        answer = in_flight.result(5)
    assert answer.status_code == 502 and "deregistration delay" in answer.text
    assert stats(lb)["stuck"]["state"] == "unused"


def test_health_checks_take_a_stopped_replica_out_of_rotation(make_lb, replicas) -> None:
    doomed = start_replica("stopped")
    try:
        doomed.wait_ready()
        lb = make_lb()
        register_healthy(lb, target_of(replicas[0]), target_of(doomed))
        doomed.stop()
        assert lb.wait_for_state("stopped", "unhealthy", 5)
        target = stats(lb)["stopped"]
        assert target["reason"] == "Target.FailedHealthChecks"
        before = target["requests"]
        with requests.Session() as http:
            assert {post(http, lb.url).json()["task_id"] for _ in range(6)} == {"lb-0"}
        assert stats(lb)["stopped"]["requests"] == before
        reasons = [e["reason"] for e in lb.snapshot()["events"] if e["target"] == "stopped"]
        assert "unhealthy after 2 consecutive failures" in reasons[-1]
    finally:
        doomed.stop()


def test_fail_open_when_every_target_is_unhealthy(make_lb, replicas) -> None:
    settings = HealthSettings(path="/no-such-path", interval=10, timeout=9)
    lb = make_lb(health=settings)
    lb.register(target_of(replicas[0]))
    assert lb.wait_for_state("lb-0", "unhealthy", 5)
    assert stats(lb)["lb-0"]["reason"] == "Target.ResponseCodeMismatch"
    answer = requests.get(f"{lb.url}/ready", timeout=5)
    assert answer.status_code == 200  # ALB routes to all targets when none is healthy
    assert "fail-open" in lb.snapshot()["trace"][-1]["reason"]


@pytest.mark.parametrize("retry", [False, True])
def test_request_in_flight_on_a_killed_target_with_the_retry_knob(make_lb, replicas,
                                                                   retry) -> None:
    """SIGKILL mid-request: a 502 without the knob; with it, re-sent to a live target (200)."""
    doomed = start_replica("doomed-retry")
    try:
        doomed.wait_ready()
        lb = make_lb(health_checks=False, retry_on_connect_error=retry)
        lb.set_algorithm("least_outstanding_requests")
        lb.register(target_of(doomed))
        lb.register(target_of(replicas[0]))
        answer = post_then_kill(lb, doomed)
        if retry:
            assert answer.status_code == 200
            assert answer.json()["task_id"] == replicas[0].task_id
            assert lb.snapshot()["totals"]["retries"] == 1
        else:
            assert answer.status_code == 502 and "doomed-retry" in answer.text
    finally:
        if doomed.process.poll() is None:
            os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait(10)
