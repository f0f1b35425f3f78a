"""The kit-only chaos route: present only with FRAUDLAB_CHAOS=1, and it really holds memory."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from flask import Flask

from service import chaos
from service.app import create_app
from service.model import FraudModel, load_model


@pytest.fixture(scope="module")
def model() -> FraudModel:
    return load_model()


def app_with(model: FraudModel, monkeypatch: pytest.MonkeyPatch, flag: str | None) -> Flask:
    if flag is None:
        monkeypatch.delenv(chaos.CHAOS_ENV, raising=False)
    else:
        monkeypatch.setenv(chaos.CHAOS_ENV, flag)
    return create_app({"MODEL": model})


@pytest.mark.parametrize("flag", [None, "0", "true", ""])
def test_without_the_flag_the_route_does_not_exist(model, monkeypatch, flag) -> None:
    app = app_with(model, monkeypatch, flag)
    assert not any(r.rule.startswith("/chaos") for r in app.url_map.iter_rules())
    reply = app.test_client().post("/chaos/allocate", json={"mib": 1})
    assert reply.status_code == 404
    assert reply.get_json()["error"]["code"] == "not_found"


def test_with_the_flag_memory_is_allocated_and_held(model, monkeypatch) -> None:
    client = app_with(model, monkeypatch, "1").test_client()
    before = chaos.held_mib()
    reply = client.post("/chaos/allocate", json={"mib": 20})
    assert reply.status_code == 202
    body = reply.get_json()
    assert body["allocating_mib"] == 20 and body["pid"] == os.getpid()
    assert body["master_first_for_oom_killer"] is False  # pytest's parent is no gunicorn
    deadline = time.monotonic() + 5
    while chaos.held_mib() < before + 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert chaos.held_mib() == before + 20  # held, not freed after the answer
    spec = client.get("/openapi.json").get_json()
    assert not any(path.startswith("/chaos") for path in spec["paths"])  # not the contract


@pytest.mark.parametrize("body", [{}, {"mib": 0}, {"mib": "512"}, {"mib": True},
                                  {"mib": 1.5}, {"mib": chaos.MAX_MIB + 1}, [512]])
def test_bad_sizes_are_refused(model, monkeypatch, body) -> None:
    reply = app_with(model, monkeypatch, "1").test_client().post("/chaos/allocate", json=body)
    assert reply.status_code == 400
    assert reply.get_json()["error"]["field"] == "mib"


def test_the_master_is_made_the_oom_killers_first_choice_only_under_gunicorn(
        tmp_path: Path) -> None:
    parent = tmp_path / str(os.getppid())
    parent.mkdir()
    (parent / "cmdline").write_bytes(b"python\0-m\0pytest\0")
    (parent / "oom_score_adj").write_text("0")
    assert chaos.prefer_master_for_oom(tmp_path) is False
    assert (parent / "oom_score_adj").read_text() == "0"
    (parent / "cmdline").write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/gunicorn\0-c\0")
    assert chaos.prefer_master_for_oom(tmp_path) is True
    assert (parent / "oom_score_adj").read_text() == "1000"
    assert chaos.prefer_master_for_oom(tmp_path / "missing") is False


def test_added_latency_slows_predict_only_and_is_undone(model, monkeypatch) -> None:
    from service.examples import sample_requests

    client = app_with(model, monkeypatch, "1").test_client()
    [(tx, _)] = sample_requests(1, seed=5)
    waits: list[float] = []  # this thread's sleeps (time is one module for every thread)
    sleep, me = time.sleep, threading.get_ident()

    def recorded(seconds: float) -> None:
        if threading.get_ident() == me:
            waits.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(chaos.time, "sleep", recorded)
    try:
        reply = client.post("/chaos/latency", json={"ms": 250})
        assert reply.status_code == 200 and reply.get_json()["latency_ms"] == 250
        started = time.perf_counter()
        assert client.post("/predict", json=tx).status_code == 200
        assert time.perf_counter() - started >= 0.25 and waits == [0.25]
        assert client.get("/health").status_code == 200
        assert waits == [0.25]  # only /predict waits
    finally:
        assert client.post("/chaos/latency", json={"ms": 0}).get_json()["was_ms"] == 250
    assert client.post("/predict", json=tx).status_code == 200
    assert waits == [0.25]
    assert chaos.latency_ms() == 0


@pytest.mark.parametrize("body", [{}, {"ms": -1}, {"ms": "300"}, {"ms": False}, {"ms": 2.5},
                                  {"ms": chaos.MAX_LATENCY_MS + 1}, [300]])
def test_bad_latencies_are_refused(model, monkeypatch, body) -> None:
    reply = app_with(model, monkeypatch, "1").test_client().post("/chaos/latency", json=body)
    assert reply.status_code == 400
    assert reply.get_json()["error"]["field"] == "ms"
    assert chaos.latency_ms() == 0


def test_without_the_flag_there_is_no_latency_route(model, monkeypatch) -> None:
    reply = app_with(model, monkeypatch, None).test_client().post("/chaos/latency",
                                                                  json={"ms": 100})
    assert reply.status_code == 404
