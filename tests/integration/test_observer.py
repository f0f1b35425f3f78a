"""Observer mode against the emulator alone: the snapshot reads back what the harness made as
ECS would, stop-task and traffic need a confirmation, traffic is bounded and goes to loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ecs_agent_harness import (
    CLUSTER,
    SERVICE,
    Cluster,
    build_cluster,
    loopback_only,
)

from cloud.aws.endpoint import Endpoint
from cloud.aws.observer import SLOW_POLL_SECONDS
from cloud.aws.observer_client import MAX_RATE, ObserverClient, ObserverError
from cloud.aws.real.access import TEST_ENDPOINT_ENV


@pytest.fixture(autouse=True)
def no_packet_off_loopback(monkeypatch) -> None:
    loopback_only(monkeypatch)


@pytest.fixture(autouse=True)
def test_endpoint(monkeypatch, emulator: Endpoint) -> None:
    """The kit's one endpoint override for real-AWS code (cloud.aws.real.access), as the
    deploy tests use it: the observer's default clients go to the loopback emulator."""
    monkeypatch.setenv(TEST_ENDPOINT_ENV, emulator.url)


@pytest.fixture(scope="module")
def cluster(emulator: Endpoint) -> Cluster:
    return build_cluster(emulator)


@pytest.fixture
def client(emulator: Endpoint, cluster: Cluster) -> Iterator[ObserverClient]:
    observer = ObserverClient(CLUSTER, SERVICE, poll_seconds=0.1)
    yield observer
    observer.close()


def test_the_snapshot_reads_back_hosts_tasks_targets_metrics_and_events(
        client: ObserverClient, cluster: Cluster) -> None:
    snap = client.get("/v1/snapshot")
    # CloudWatch is read on the first poll, then every SLOW_POLL_SECONDS: the first read must
    # find the minute the harness put a moment ago (its window ends at the next whole minute).
    deadline = time.monotonic() + SLOW_POLL_SECONDS / 2
    while snap["alb_metrics"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        snap = client.get("/v1/snapshot")
    assert "RequestCount" in (snap["alb_metrics"] or {}), snap["tick_errors"]
    hosts = {h["instance_id"]: h for h in snap["hosts"]}
    assert set(hosts) == set(cluster.instances)
    for host in hosts.values():
        assert host["type"] == "t3.medium" and host["az"].startswith("us-east-1")
        assert host["status"] == "ACTIVE" and host["registered_cpu"] > 0
        assert host["image_cache"] is None  # the agent does not report it: absent, not "empty"
        assert host["tasks"] == {SERVICE: 1}
    tasks = {t["task_id"]: t for t in snap["tasks"]}
    assert set(tasks) == set(cluster.tasks)
    for task_id, instance in cluster.tasks.items():
        assert tasks[task_id]["host"] == instance
        assert tasks[task_id]["last_status"] == "RUNNING"
        assert tasks[task_id]["service"] == SERVICE
        assert tasks[task_id]["task_definition"] == "obs:1"
        assert tasks[task_id]["pull_cached"] is None
    [service] = snap["services"]
    assert (service["name"], service["desired"], service["running"]) == (SERVICE, 2, 2)
    lb = snap["load_balancer"]
    assert lb["algorithm"] == "round_robin"
    assert lb["api"]["dns_name"] == cluster.dns_name
    assert {t["id"] for t in lb["targets"]} == set(cluster.tasks)  # targets named by task
    assert all("requests" not in t and "outstanding" not in t for t in lb["targets"])
    assert "trace" not in lb and "totals" not in lb
    metrics = snap["alb_metrics"]
    assert metrics["RequestCount"] == 1200.0
    assert metrics["HTTPCode_Target_5XX_Count"] == 3.0
    assert metrics["TargetResponseTime"] == pytest.approx(
        (0.012 * 900 + 0.020 * 290 + 0.250 * 10) / 1200)
    texts = [e["text"] for e in snap["timeline"]]
    assert any("has reached a steady state" in t for t in texts)
    assert {e["badge"] for e in snap["timeline"]} == {"real"}
    assert snap["source"]["kind"] == "aws" and snap["source"]["region"] == "us-east-1"
    scaling = snap["scaling"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in scaling["targets"]] == [(1, 4)]
    assert [(p["name"], p["target_value"]) for p in scaling["policies"]] == [("cpu60", 60.0)]
    alarms = {a["AlarmName"]: a for a in scaling["alarms"]}  # describe-alarms, read back
    assert list(alarms) == cluster.alarms
    high, low = (alarms[name] for name in cluster.alarms)
    assert (high["kind"], high["state"], high["threshold"], high["datapoints"]) == (
        "AlarmHigh", "ALARM", 60.0, 3)
    assert (low["kind"], low["state"], low["threshold"], low["datapoints"]) == (
        "AlarmLow", "OK", 54.0, 15)
    assert high["policy"] == "cpu60" and high["breaching"] is None  # CloudWatch does not say


def test_stop_task_needs_a_confirmation_then_stops_the_task(
        client: ObserverClient, cluster: Cluster, emulator: Endpoint) -> None:
    with pytest.raises(ObserverError, match="confirm"):
        client.post("/v1/crash", {})
    text, body = client.confirmation("/v1/crash", {})
    task = body["task"]
    assert task in cluster.tasks and task in text and "REAL AWS" in text
    assert client.post("/v1/crash", body)["crashed"] == task
    [described] = emulator.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[task])["tasks"]
    assert described["desiredStatus"] == "STOPPED"
    snap = client.get("/v1/snapshot")
    assert any(f"stop-task {task} sent" in e["text"] for e in snap["timeline"])


def test_other_actions_are_refused_with_what_to_do_instead(client: ObserverClient) -> None:
    for path, hint in (("/v1/kill-host", "terminate-instances"), ("/v1/scale", "update-service"),
                       ("/v1/slow", "runtime"), ("/v1/lb", "modify-target-group")):
        with pytest.raises(ObserverError, match=hint):
            client.post(path, {"confirm": True})


class _Predict(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Predict.lock:
            _Predict.hits += 1
        body = b'{"decision": "APPROVED"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_traffic_is_bounded_confirmed_and_sent(emulator: Endpoint, cluster: Cluster,
                                               free_port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", free_port), _Predict)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ObserverClient(CLUSTER, SERVICE, poll_seconds=0.1,
                            traffic_url=f"http://127.0.0.1:{free_port}")
    try:
        with pytest.raises(ObserverError, match=f"at most {MAX_RATE:g} tx/s"):
            client.confirmation("/v1/traffic", {"rate": MAX_RATE * 2})
        with pytest.raises(ObserverError, match="at most"):  # a ×10 spike goes over the cap
            client.confirmation("/v1/traffic", {"rate": 5, "profile": "spike:10:0:36000"})
        text, body = client.confirmation("/v1/traffic", {"rate": 10, "duration": 3600})
        assert "at most 120 s" in text and f"127.0.0.1:{free_port}" in text
        with pytest.raises(ObserverError, match="confirm"):
            client.post("/v1/traffic", {"rate": 10})
        reply = client.post("/v1/traffic", body)
        assert reply["seconds"] == 120.0
        deadline = time.monotonic() + 30
        while _Predict.hits < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _Predict.hits >= 3
        stopped = client.post("/v1/traffic/stop", {})
        assert stopped["completed"] >= 3 and not stopped["running"]
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_the_default_traffic_target_is_the_albs_dns_name(client: ObserverClient,
                                                         cluster: Cluster) -> None:
    assert client.target_url() == f"http://{cluster.dns_name}"  # read, never sent to here


def test_a_missing_service_is_said_and_the_rest_still_shown(emulator: Endpoint,
                                                            cluster: Cluster) -> None:
    client = ObserverClient(CLUSTER, "no-such-svc", poll_seconds=0.1)
    snap = client.get("/v1/snapshot")
    assert snap["services"] == [] and len(snap["hosts"]) == len(cluster.instances)
    assert any("no service 'no-such-svc'" in e for e in snap["tick_errors"])


def test_the_labs_live_view_renders_the_observed_cluster_and_asks_first(
        emulator: Endpoint, cluster: Cluster) -> None:
    pytest.importorskip("ipywidgets")
    from labs.kit.observe import observe

    view = observe(CLUSTER, SERVICE, 60, poll_seconds=0.2,
                   traffic_url="http://127.0.0.1:9")  # never the ALB's DNS name in tests
    try:
        deadline = time.monotonic() + 30
        while view.updates < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert view.updates >= 2 and view.error is None
        for instance in cluster.instances:
            assert instance in view.hosts.value
        assert "image cache" not in view.hosts.value and "placement" not in view.hosts.value
        assert "CloudWatch, last minute: 1200 requests · target 5xx 3" in view.routing.value
        assert "REAL" in view.charts.value and "SIMULATED" not in view.charts.value
        assert "UTC" in view.events.value and "steady state" in view.events.value
        view.crash_button.click()
        assert view.confirm_box.layout.display == "flex" and "REAL AWS" in view.action.value
        view.no_button.click()
        assert "nothing was sent" in view.action.value
        view.spike_button.click()  # 2 tx/s × 10 = the cap: asked, not refused
        assert "Send up to 20 tx/s" in view.action.value
        view.no_button.click()
        assert view.session.client.traffic is None  # no: nothing was sent
    finally:
        view.session.close()
    assert not view.running


def test_offline_in_a_loopback_only_namespace() -> None:
    """The harness and a full observer cycle (bench/bench_observer.py) in a network namespace
    with nothing but ``lo``: a packet to any other address would fail (ENETUNREACH)."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "-rn", "true"], capture_output=True) \
        if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("unshare -rn (a user + network namespace) is not available here")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(root)
    run = subprocess.run(
        [unshare, "-rn", "sh", "-c", "ip link set lo up 2>/dev/null; ip -o link | wc -l; "
                                     f"exec {sys.executable} bench/bench_observer.py"],
        capture_output=True, text=True, env=env, cwd=root, timeout=600)
    assert run.stdout.splitlines()[0].strip() == "1", run.stdout  # only lo
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    assert "API calls per 5 s poll (ECS, ELBv2): 7" in run.stdout


def test_the_default_clients_are_the_aws_commands_ones(monkeypatch, cluster: Cluster) -> None:
    """No factory given: the TUI's backend reads through cloud.aws.real.access (here the
    emulator FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS names), which refuses a non-loopback URL."""
    from cloud.aws.real.plan import RealAwsRefused
    from tui.backend import ObserverBackend

    backend = ObserverBackend(CLUSTER, SERVICE)
    info, started, _ = backend.connect()
    try:
        assert info["observer"] and info["region"] == "us-east-1" and not started
        assert backend.client.observer.aws("ecs").meta.endpoint_url.startswith("http://127.")
    finally:
        backend.close()
    monkeypatch.setenv(TEST_ENDPOINT_ENV, "http://10.0.0.1:4566")
    with pytest.raises(RealAwsRefused, match="not on the loopback"):
        ObserverClient(CLUSTER, SERVICE)
