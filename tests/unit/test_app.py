"""The Flask app through its test client, scored by the real model."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import datetime

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.contract import FIELDS, example_transaction, to_model_row
from service.model import FraudModel, load_model
from service.responses import MAX_ERRORS

IDENTITY = {"TASK_ID": "task-7", "HOST_ID": "host-b"}


@pytest.fixture(scope="module")
def model() -> FraudModel:
    return load_model()


@pytest.fixture
def app(model: FraudModel) -> Flask:
    return create_app({"MODEL": model, **IDENTITY})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def row_of(body: dict) -> list[float]:
    """The model row of a request body, built without the service's validation."""
    return to_model_row({**body, "tx_datetime": datetime.fromisoformat(body["tx_datetime"])})


def metric(client: FlaskClient, name: str, **labels: str) -> float:
    """The value of one sample of ``GET /metrics`` (0 when absent)."""
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def assert_json_error(response, status: int, code: str, field: str | None) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["field"] == field
    assert body["error"]["message"]
    assert body["errors"][0] == {"field": field, "message": body["error"]["message"]}
    return body


# --- predictions ---------------------------------------------------------------------------


def test_one_transaction_is_scored_by_the_model(client: FlaskClient, model: FraudModel) -> None:
    body = example_transaction()
    response = client.post("/predict", json=body)
    assert response.status_code == 200
    out = response.get_json()
    [expected] = model.scores([row_of(body)])
    assert out["score"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert out["decision"] == model.decision(out["score"])
    assert out["transaction_id"] == body["transaction_id"]
    assert out["model_version"] == model.version
    assert (out["task_id"], out["host_id"]) == ("task-7", "host-b")


def test_simulated_transactions_one_by_one(client: FlaskClient, model: FraudModel,
                                          simulated_requests: list[tuple[dict, int]]) -> None:
    bodies = [body for body, _ in simulated_requests[:: len(simulated_requests) // 40]]
    expected = model.scores([row_of(b) for b in bodies])
    for body, score in zip(bodies, expected, strict=True):
        out = client.post("/predict", json=body).get_json()
        assert out["transaction_id"] == body["transaction_id"]
        assert out["score"] == pytest.approx(score, rel=1e-6, abs=1e-9)
        assert out["decision"] == model.decision(out["score"])


def test_without_transaction_id_none_is_echoed(client: FlaskClient) -> None:
    body = example_transaction()
    del body["transaction_id"]
    out = client.post("/predict", json=body).get_json()
    assert "transaction_id" not in out
    assert out["decision"] in {"APPROVED", "REVIEW", "DECLINED"}


def test_a_batch_is_scored_in_order(client: FlaskClient, model: FraudModel,
                                    simulated_requests: list[tuple[dict, int]]) -> None:
    frauds = [b for b, label in simulated_requests if label][:100]
    genuine = [b for b, label in simulated_requests if not label][:200]
    bodies = [b for pair in zip(genuine[::2], genuine[1::2], frauds, strict=True) for b in pair]
    response = client.post("/predict", json={"instances": bodies})
    assert response.status_code == 200
    out = response.get_json()
    assert (out["model_version"], out["task_id"], out["host_id"]) == (
        model.version, "task-7", "host-b")
    predictions = out["predictions"]
    assert [p["transaction_id"] for p in predictions] == [b["transaction_id"] for b in bodies]
    expected = model.scores([row_of(b) for b in bodies])
    assert [p["score"] for p in predictions] == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert [p["decision"] for p in predictions] == [model.decision(s) for s in expected]
    # The model separates the simulated frauds: all three decisions occur.
    assert set(p["decision"] for p in predictions) == {"APPROVED", "REVIEW", "DECLINED"}
    is_fraud = np.array([b in frauds for b in bodies])
    scores = np.array([p["score"] for p in predictions])
    assert scores[is_fraud].mean() > scores[~is_fraud].mean()


def test_a_batch_scores_as_the_single_requests_do(client: FlaskClient) -> None:
    bodies = [example_transaction(), {**example_transaction(), "tx_amount": 950.0,
                                      "transaction_id": 2}]
    batch = client.post("/predict", json={"instances": bodies}).get_json()["predictions"]
    singles = [client.post("/predict", json=b).get_json() for b in bodies]
    for one, many in zip(singles, batch, strict=True):
        assert many["score"] == pytest.approx(one["score"], rel=1e-5, abs=1e-7)
        assert many["transaction_id"] == one["transaction_id"]


def test_a_batch_is_one_model_call(model: FraudModel) -> None:
    calls: list[int] = []

    def counting(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        return model._scorer(rows)

    counted = FraudModel(model.card, counting, model.runtime)
    client = create_app({"MODEL": counted}).test_client()
    calls.clear()
    response = client.post("/predict", json={"instances": [example_transaction()] * 25})
    assert response.status_code == 200
    assert calls == [25]


def test_a_batch_without_ids_has_predictions_without_ids(client: FlaskClient) -> None:
    body = example_transaction()
    del body["transaction_id"]
    out = client.post("/predict", json={"instances": [body]}).get_json()
    assert list(out["predictions"][0]) == ["decision", "score"]


def test_charset_and_json_suffix_media_types_are_json(client: FlaskClient) -> None:
    data = json.dumps(example_transaction())
    for content_type in ("application/json; charset=utf-8", "application/vnd.fraudlab+json"):
        assert client.post("/predict", data=data, content_type=content_type).status_code == 200


# --- health, readiness, metrics, OpenAPI -----------------------------------------------------


def test_health_is_alive(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive", "task_id": "task-7", "host_id": "host-b"}


def test_ready_names_the_model(client: FlaskClient, model: FraudModel) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    out = response.get_json()
    assert out["status"] == "ready"
    assert (out["model_version"], out["runtime"]) == (model.version, "litert")


def test_without_a_model_not_ready_and_predict_is_503(app: Flask, client: FlaskClient) -> None:
    app.extensions["fraudlab"].model = None
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "not_ready"
    assert_json_error(client.post("/predict", json=example_transaction()), 503,
                      "model_not_ready", None)


def test_identity_defaults_to_the_environment(model: FraudModel,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASK_ID", "env-task")
    monkeypatch.setenv("HOST_ID", "env-host")
    out = create_app({"MODEL": model}).test_client().get("/health").get_json()
    assert (out["task_id"], out["host_id"]) == ("env-task", "env-host")


def test_metrics_count_requests_predictions_and_errors(client: FlaskClient) -> None:
    bodies = [example_transaction(), {**example_transaction(), "tx_amount": 5000.0,
                                      "terminal_risk_7day": 0.9, "terminal_risk_30day": 0.9}]
    decisions = [client.post("/predict", json=b).get_json()["decision"] for b in bodies]
    batch = client.post("/predict", json={"instances": bodies}).get_json()["predictions"]
    decisions += [p["decision"] for p in batch]
    client.post("/predict", json={"tx_amount": -1})
    client.post("/predict", data="{", content_type="application/json")
    client.get("/nowhere")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    name = "fraudlab_requests_total"
    assert metric(client, name, route="/predict", method="POST", status="200") == 3
    assert metric(client, name, route="/predict", method="POST", status="400") == 2
    assert metric(client, name, route="unmatched", method="GET", status="404") == 1
    for decision, n in Counter(decisions).items():
        assert metric(client, "fraudlab_predictions_total", decision=decision) == n
    errors = "fraudlab_request_errors_total"
    assert metric(client, errors, route="/predict", kind="validation") == 1
    assert metric(client, errors, route="/predict", kind="malformed_json") == 1
    assert metric(client, errors, route="unmatched", kind="not_found") == 1
    assert metric(client, "fraudlab_request_duration_seconds_count", route="/predict") == 5
    assert metric(client, "fraudlab_request_duration_seconds_bucket", route="/predict",
                  le="1.0") == 5
    assert metric(client, "fraudlab_requests_in_flight") == 1  # the scrape itself


def test_each_app_has_its_own_metrics(model: FraudModel) -> None:
    first, second = (create_app({"MODEL": model}).test_client() for _ in range(2))
    first.post("/predict", json=example_transaction())
    labels = {"route": "/predict", "method": "POST", "status": "200"}
    assert metric(first, "fraudlab_requests_total", **labels) == 1
    assert metric(second, "fraudlab_requests_total", **labels) == 0


def test_openapi_describes_the_contract(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/predict", "/health", "/ready", "/metrics"} <= set(spec["paths"])
    schema = spec["components"]["schemas"]["Transaction"]
    assert list(schema["properties"]) == [f.name for f in FIELDS]
    assert schema["required"] == [f.name for f in FIELDS if f.required]
    assert schema["properties"]["tx_amount"]["minimum"] == 0
    responses = spec["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415"} <= set(responses)
    for status in ("400", "413", "415"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"


def test_the_openapi_examples_validate_and_score(client: FlaskClient, model: FraudModel) -> None:
    spec = client.get("/openapi.json").get_json()
    examples = spec["paths"]["/predict"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    single = examples["single"]["value"]
    assert single == example_transaction()
    out = client.post("/predict", json=single).get_json()
    assert out["score"] == pytest.approx(model.scores([row_of(single)])[0], rel=1e-6, abs=1e-9)
    batch = client.post("/predict", json=examples["batch"]["value"])
    assert batch.status_code == 200
    assert len(batch.get_json()["predictions"]) == len(examples["batch"]["value"]["instances"])


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["{", "", "[1,]", "{'tx_amount': 1}", "\udcff", "[" * 50_000])
def test_malformed_json_is_400(client: FlaskClient, data: str) -> None:
    response = client.post("/predict", data=data.encode("utf-8", "surrogateescape"),
                           content_type="application/json")
    body = assert_json_error(response, 400, "invalid_request", "body")
    assert body["error"]["message"].startswith("malformed JSON")


def test_validation_problems_are_400_naming_each_field(client: FlaskClient) -> None:
    body = {**example_transaction(), "tx_amount": -5.0, "customer_nb_tx_7day": 2.5, "foo": 1}
    response = client.post("/predict", json=body)
    out = assert_json_error(response, 400, "invalid_request", "tx_amount")
    assert out["error"]["message"] == "must be >= 0, got -5.0"
    assert out["errors"] == [
        {"field": "tx_amount", "message": "must be >= 0, got -5.0"},
        {"field": "customer_nb_tx_7day", "message": "must be an integer, got 2.5"},
        {"field": "foo", "message": "unknown field"},
    ]


def test_nan_in_the_body_is_400_naming_the_field(client: FlaskClient) -> None:
    data = json.dumps(example_transaction()).replace("57.16", "NaN")
    response = client.post("/predict", data=data, content_type="application/json")
    out = assert_json_error(response, 400, "invalid_request", "tx_amount")
    assert "finite" in out["error"]["message"]


def test_a_bad_instance_is_named_by_index(client: FlaskClient) -> None:
    instances = [example_transaction() for _ in range(5)]
    del instances[3]["customer_nb_tx_7day"]
    response = client.post("/predict", json={"instances": instances})
    assert_json_error(response, 400, "invalid_request", "instances[3].customer_nb_tx_7day")


@pytest.mark.parametrize(("body", "message"), [
    ({"instances": []}, "must not be empty"),
    ({"instances": [example_transaction()] * 1001}, "at most 1000 instances, got 1001"),
    ({"instances": "all"}, "must be an array, got string"),
])
def test_bad_batches_are_400_on_instances(client: FlaskClient, body: dict, message: str) -> None:
    out = assert_json_error(client.post("/predict", json=body), 400, "invalid_request",
                            "instances")
    assert out["error"]["message"] == message


def test_max_batch_is_configurable(model: FraudModel) -> None:
    client = create_app({"MODEL": model, "MAX_BATCH": 2}).test_client()
    body = {"instances": [example_transaction()] * 3}
    out = assert_json_error(client.post("/predict", json=body), 400, "invalid_request",
                            "instances")
    assert out["error"]["message"] == "at most 2 instances, got 3"


def test_the_error_list_is_capped(client: FlaskClient) -> None:
    response = client.post("/predict", json={"instances": [{}] * 1000})
    out = assert_json_error(response, 400, "invalid_request", "instances[0].customer_id")
    assert len(out["errors"]) == MAX_ERRORS


def test_a_body_over_the_limit_is_413(client: FlaskClient) -> None:
    data = json.dumps({"instances": [example_transaction()] * 3000})
    assert len(data) > 1 << 20
    response = client.post("/predict", data=data, content_type="application/json")
    assert_json_error(response, 413, "payload_too_large", "body")


def test_a_streamed_body_without_length_is_limited_too(client: FlaskClient) -> None:
    small = json.dumps(example_transaction()).encode()
    big = json.dumps({"instances": [example_transaction()] * 3000}).encode()
    ok = client.post("/predict", input_stream=io.BytesIO(small), content_type="application/json")
    assert ok.status_code == 200
    response = client.post("/predict", input_stream=io.BytesIO(big),
                           content_type="application/json")
    assert_json_error(response, 413, "payload_too_large", "body")


def test_the_body_limit_is_configurable(model: FraudModel) -> None:
    client = create_app({"MODEL": model, "MAX_CONTENT_LENGTH": 1000}).test_client()
    assert client.post("/predict", json=example_transaction()).status_code == 200
    response = client.post("/predict", json={"instances": [example_transaction()] * 3})
    assert_json_error(response, 413, "payload_too_large", "body")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_json_is_415(client: FlaskClient, content_type: str | None) -> None:
    data = json.dumps(example_transaction())
    response = client.post("/predict", data=data, content_type=content_type)
    assert_json_error(response, 415, "unsupported_media_type", "Content-Type")


def test_an_unknown_route_is_a_json_404(client: FlaskClient) -> None:
    assert_json_error(client.get("/predictions"), 404, "not_found", "path")
    assert_json_error(client.post("/predict/", json={}), 404, "not_found", "path")


@pytest.mark.parametrize(("method", "path"), [("GET", "/predict"), ("PUT", "/predict"),
                                              ("POST", "/health"), ("DELETE", "/metrics")])
def test_a_wrong_method_is_a_json_405(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    assert_json_error(response, 405, "method_not_allowed", "method")
    assert response.headers["Allow"]


def test_an_unexpected_failure_is_a_counted_json_500(model: FraudModel) -> None:
    broken = {"on": False}

    def scorer(rows: np.ndarray) -> np.ndarray:
        if broken["on"]:
            raise RuntimeError("interpreter crashed")
        return model._scorer(rows)

    client = create_app({"MODEL": FraudModel(model.card, scorer, "litert")}).test_client()
    broken["on"] = True
    out = assert_json_error(client.post("/predict", json=example_transaction()), 500,
                            "internal_error", None)
    assert "crashed" not in json.dumps(out)
    assert metric(client, "fraudlab_request_errors_total", route="/predict",
                  kind="internal") == 1
    assert metric(client, "fraudlab_requests_total", route="/predict", method="POST",
                  status="500") == 1
    broken["on"] = False
    assert client.post("/predict", json=example_transaction()).status_code == 200
