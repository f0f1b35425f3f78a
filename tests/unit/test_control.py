"""The control API: a real HTTP server on 127.0.0.1, a token file readable only by its user."""

from __future__ import annotations

import stat
import threading

import pytest
import requests

from cloud.core import state_dir as state
from cloud.server.control import ControlClient, ControlError, ControlServer
from cloud.server.stream import SnapshotFeed


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    token = state.new_token()
    calls = []

    def crash(body):
        calls.append(body)
        if body.get("task") == "nope":
            raise ValueError("no RUNNING task matches 'nope'")
        return {"crashed": body.get("task") or "first"}

    srv = ControlServer(token, {("GET", "/v1/snapshot"): lambda _: {"tasks": []},
                                ("POST", "/v1/crash"): crash})
    srv.start()
    yield srv, token, calls
    srv.stop()


def test_token_file_is_private(server, tmp_path) -> None:
    _, token, _ = server
    path = tmp_path / state.TOKEN_FILE
    assert path.read_text() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert state.read_token() == token


def test_listens_on_loopback_only(server) -> None:
    srv, _, _ = server
    assert srv.url.startswith("http://127.0.0.1:")


def test_answers_with_the_token(server) -> None:
    srv, token, calls = server
    client = ControlClient(srv.url, token)
    assert client.get("/v1/snapshot") == {"tasks": []}
    assert client.post("/v1/crash", {"task": "abc"}) == {"crashed": "abc"}
    assert calls == [{"task": "abc"}]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "wrong"])
def test_refuses_without_the_right_token(server, header) -> None:
    srv, _, calls = server
    headers = {"Authorization": header} if header else {}
    reply = requests.post(f"{srv.url}/v1/crash", json={}, headers=headers, timeout=5)
    assert reply.status_code == 401
    assert "token" in reply.json()["error"]
    assert calls == []


def test_errors_are_json_and_clear(server) -> None:
    srv, token, _ = server
    client = ControlClient(srv.url, token)
    with pytest.raises(ControlError, match="no RUNNING task matches 'nope'"):
        client.post("/v1/crash", {"task": "nope"})
    with pytest.raises(ControlError, match="no route GET /v1/nothing"):
        client.get("/v1/nothing")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bad = requests.post(f"{srv.url}/v1/crash", data=b"{not json", headers=auth, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "body is not valid JSON"
    listed = requests.post(f"{srv.url}/v1/crash", data=b"[1]", headers=auth, timeout=5)
    assert listed.status_code == 400 and "JSON object" in listed.json()["error"]


def test_a_stopped_cloud_is_a_clear_error() -> None:
    client = ControlClient("http://127.0.0.1:9", "t", timeout=1)
    with pytest.raises(ControlError, match="does not answer"):
        client.get("/v1/snapshot")


def test_stream_sends_the_snapshot_then_only_changes(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    token = state.new_token()
    feed = SnapshotFeed()
    feed.publish({"tick": 0, "fixed": "same"})
    srv = ControlServer(token, {}, streams={"/v1/stream": feed})
    srv.start()
    stop = threading.Event()

    def publisher() -> None:  # a new version every 0.03 s, each published twice
        for tick in range(1, 1000):
            for _ in range(2):
                if stop.wait(0.03):
                    return
                feed.publish({"tick": tick, "fixed": "same"})

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    try:
        events = list(ControlClient(srv.url, token).stream(interval=0.05, seconds=0.6))
    finally:
        stop.set()
        srv.stop()
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "end"
    assert events[0][1] == {"tick": 0, "fixed": "same"}
    updates = [data for kind, data in events if kind == "changes"]
    assert updates, events
    assert all(set(u) == {"tick"} for u in updates)  # the unchanged key is never re-sent
    assert [u["tick"] for u in updates] == sorted({u["tick"] for u in updates})


def test_stream_refuses_bad_parameters_and_no_token(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    token = state.new_token()
    srv = ControlServer(token, {}, streams={"/v1/stream": SnapshotFeed()})
    srv.start()
    try:
        with pytest.raises(ControlError, match="interval must be between"):
            list(ControlClient(srv.url, token).stream(interval=0))
        reply = requests.get(f"{srv.url}/v1/stream", timeout=5)
        assert reply.status_code == 401
    finally:
        srv.stop()
