"""A real replica: gunicorn with ``service.gunicorn_conf`` serving ``service.wsgi:app``."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service.contract import example_transaction, to_model_row
from service.model import FraudModel, load_model

if TYPE_CHECKING:  # the fixtures' type, from this directory's conftest
    from conftest import GunicornReplica

TIMEOUT = 10


@pytest.fixture(scope="module")
def model() -> FraudModel:
    return load_model()


@pytest.fixture(scope="module")
def bodies(simulated_requests: list[tuple[dict, int]]) -> list[dict]:
    """120 simulated transactions, a third of them frauds."""
    frauds = [b for b, label in simulated_requests if label][:40]
    genuine = [b for b, label in simulated_requests if not label][:80]
    return frauds + genuine


def row_of(body: dict) -> list[float]:
    return to_model_row({**body, "tx_datetime": datetime.fromisoformat(body["tx_datetime"])})


def requests_total(url: str, status: str, route: str = "/predict") -> float:
    text = requests.get(f"{url}/metrics", timeout=TIMEOUT).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (sample.name == "fraudlab_requests_total" and sample.labels["route"] == route
                    and sample.labels["status"] == status):
                return sample.value
    return 0.0


def test_ready_and_health_name_the_task(replica: GunicornReplica, model: FraudModel) -> None:
    ready = requests.get(f"{replica.url}/ready", timeout=TIMEOUT)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "runtime": "litert",
                            "model_version": model.version, "task_id": "task-test",
                            "host_id": "host-test"}
    health = requests.get(f"{replica.url}/health", timeout=TIMEOUT).json()
    assert (health["status"], health["task_id"], health["host_id"]) == (
        "alive", "task-test", "host-test")


def test_simulated_transactions_are_scored_over_http(replica: GunicornReplica,
                                                     model: FraudModel,
                                                     bodies: list[dict]) -> None:
    expected = model.scores([row_of(b) for b in bodies])
    before = requests_total(replica.url, "200")
    with requests.Session() as http:  # keep-alive, as a load balancer would
        for body, score in zip(bodies, expected, strict=True):
            response = http.post(f"{replica.url}/predict", json=body, timeout=TIMEOUT)
            assert response.status_code == 200
            out = response.json()
            assert out["transaction_id"] == body["transaction_id"]
            assert out["score"] == pytest.approx(score, rel=1e-5, abs=1e-7)
            assert out["decision"] == model.decision(out["score"])
            assert (out["task_id"], out["host_id"]) == ("task-test", "host-test")
    assert requests_total(replica.url, "200") - before == len(bodies)


def test_a_batch_over_http(replica: GunicornReplica, model: FraudModel,
                           bodies: list[dict]) -> None:
    response = requests.post(f"{replica.url}/predict", json={"instances": bodies},
                             timeout=TIMEOUT)
    assert response.status_code == 200
    out = response.json()
    assert out["task_id"] == "task-test"
    expected = model.scores([row_of(b) for b in bodies])
    assert [p["score"] for p in out["predictions"]] == pytest.approx(expected, rel=1e-5,
                                                                     abs=1e-7)
    assert {p["decision"] for p in out["predictions"]} == {model.decision(s) for s in expected}


def test_concurrent_clients_all_get_their_answers(replica: GunicornReplica,
                                                  bodies: list[dict]) -> None:
    def score(body: dict) -> int | None:
        response = requests.post(f"{replica.url}/predict", json=body, timeout=TIMEOUT)
        assert response.status_code == 200
        return response.json().get("transaction_id")

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(score, bodies * 2))
    assert ids == [b["transaction_id"] for b in bodies * 2]


def test_an_oversized_body_is_a_json_413(replica: GunicornReplica) -> None:
    data = json.dumps({"instances": [example_transaction()] * 3000})
    assert len(data) > 1 << 20
    before = requests_total(replica.url, "413")
    response = requests.post(f"{replica.url}/predict", data=data, timeout=TIMEOUT,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert requests_total(replica.url, "413") - before == 1
    # The replica is still serving.
    assert requests.post(f"{replica.url}/predict", json=example_transaction(),
                         timeout=TIMEOUT).status_code == 200


def test_an_oversized_chunked_body_is_a_json_413(replica: GunicornReplica) -> None:
    def chunks(data: bytes):
        for start in range(0, len(data), 1 << 16):
            yield data[start:start + (1 << 16)]

    headers = {"Content-Type": "application/json"}
    small = json.dumps(example_transaction()).encode()
    big = json.dumps({"instances": [example_transaction()] * 3000}).encode()
    with requests.Session() as http:
        ok = http.post(f"{replica.url}/predict", data=chunks(small), headers=headers,
                       timeout=TIMEOUT)
        assert ok.status_code == 200
        response = http.post(f"{replica.url}/predict", data=chunks(big), headers=headers,
                             timeout=TIMEOUT)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        again = http.post(f"{replica.url}/predict", data=small, headers=headers,
                          timeout=TIMEOUT)
        assert again.status_code == 200


@pytest.mark.parametrize(("data", "content_type", "status", "field"), [
    ("{", "application/json", 400, "body"),
    (json.dumps({**example_transaction(), "tx_amount": -1}), "application/json", 400,
     "tx_amount"),
    (json.dumps(example_transaction()), "text/plain", 415, "Content-Type"),
])
def test_bad_requests_are_json_errors(replica: GunicornReplica, data: str, content_type: str,
                                      status: int, field: str) -> None:
    response = requests.post(f"{replica.url}/predict", data=data, timeout=TIMEOUT,
                             headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["field"] == field


def test_sigterm_stops_the_workers_cleanly(
        start_replica: Callable[..., GunicornReplica]) -> None:
    replica = start_replica(task_id="task-term", WEB_CONCURRENCY="2", THREADS="2")
    out = requests.post(f"{replica.url}/predict", json=example_transaction(),
                        timeout=TIMEOUT).json()
    assert out["task_id"] == "task-term"
    assert replica.stop() == 0
    logs = replica.logs()
    assert logs.count("Booting worker") == 2
    assert "Traceback" not in logs
    assert "Shutting down" in logs
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", replica.port))
