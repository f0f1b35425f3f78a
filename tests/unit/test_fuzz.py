"""Fuzzing ``POST /predict``: whatever arrives, never a 5xx, and every 4xx is a JSON error
that names a field."""

from __future__ import annotations

import json
import math

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.contract import FIELDS, example_transaction
from service.model import FraudModel, load_model
from service.validation import field_path

FUZZ = settings(max_examples=200, deadline=None)
NAMES = [f.name for f in FIELDS]

scalars = (st.none() | st.booleans() | st.integers() | st.integers(-(10**30), 10**30)
           | st.floats() | st.text(max_size=20)
           | st.sampled_from(["2018-08-08T10:21:54", "2018-08-08", "NaN", "", "1e400"]))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=10) | st.sampled_from([*NAMES, "instances"]), inner,
                      max_size=5),
    max_leaves=20,
)
bad_numbers = st.sampled_from([math.nan, math.inf, -math.inf, -5.0, -1, 1e300, 10**20,
                               2**63, 2.5, 0.5, True, False, None, "12", [], {}])


@pytest.fixture(scope="module")
def model() -> FraudModel:
    return load_model()


@pytest.fixture(scope="module")
def client(model: FraudModel) -> FlaskClient:
    return create_app({"MODEL": model, "MAX_BATCH": 50}).test_client()


def post(client: FlaskClient, data: bytes | str, content_type: str | None = "application/json"):
    return client.post("/predict", data=data, content_type=content_type)


def check(response, model: FraudModel) -> dict:
    """The invariants of every answer: no 5xx, JSON always, a named field on each 4xx."""
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = json.loads(response.get_data())
    if response.status_code == 200:
        predictions = body.get("predictions", [body])
        for p in predictions:
            assert 0.0 <= p["score"] <= 1.0
            assert p["decision"] == model.decision(p["score"])
        return body
    error = body["error"]
    assert error["status"] == response.status_code
    assert isinstance(error["field"], str) and error["field"], error
    assert isinstance(error["message"], str) and error["message"]
    assert body["errors"] and all(isinstance(e["field"], str) and e["message"]
                                  for e in body["errors"])
    return body


@FUZZ
@given(value=json_values)
def test_any_json_value(client: FlaskClient, model: FraudModel, value: object) -> None:
    response = post(client, json.dumps(value))
    body = check(response, model)
    assert response.status_code in (200, 400)
    if isinstance(value, dict) and "instances" in value and response.status_code == 200:
        assert len(body["predictions"]) == len(value["instances"])


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes(client: FlaskClient, model: FraudModel, data: bytes) -> None:
    assert check(post(client, data), model) is not None


@FUZZ
@given(content_type=st.none() | st.text(max_size=40)
       | st.sampled_from(["text/json", "application/jsonp", "application/x-json",
                          "application/json; charset=latin-1", "application/problem+json"]))
def test_any_content_type(client: FlaskClient, model: FraudModel,
                          content_type: str | None) -> None:
    if content_type is not None and any(c in content_type for c in "\r\n\x00"):
        content_type = content_type.replace("\r", "").replace("\n", "").replace("\x00", "")
    response = post(client, json.dumps(example_transaction()), content_type)
    check(response, model)
    assert response.status_code in (200, 415)


@st.composite
def mutated_transactions(draw: st.DrawFn) -> tuple[dict, set[str]]:
    """The contract example with a few fields replaced, removed or added; the names touched."""
    tx = example_transaction()
    touched: set[str] = set()
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(NAMES))
        action = draw(st.sampled_from(["replace", "bad", "delete", "extra"]))
        if action == "replace":
            tx[name] = draw(json_values)
        elif action == "bad":
            tx[name] = draw(bad_numbers)
        elif action == "delete":
            tx.pop(name, None)
        else:
            name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in NAMES))
            tx[name] = draw(scalars)
        touched.add(name)
    return tx, touched


@FUZZ
@given(mutated=mutated_transactions())
def test_mutated_transaction(client: FlaskClient, model: FraudModel,
                             mutated: tuple[dict, set[str]]) -> None:
    tx, touched = mutated
    response = post(client, json.dumps(tx))
    body = check(response, model)
    if response.status_code == 400:
        assert {e["field"] for e in body["errors"]} <= {field_path("", n) for n in touched}
    else:
        assert response.status_code == 200


@FUZZ
@given(instances=st.lists(mutated_transactions() | st.just((example_transaction(), set())),
                          max_size=60),
       extra=st.dictionaries(st.sampled_from(["signature_name", "inputs", "tx_amount"]),
                             scalars, max_size=1))
def test_mutated_batch(client: FlaskClient, model: FraudModel,
                       instances: list[tuple[dict, set[str]]], extra: dict) -> None:
    body = {"instances": [tx for tx, _ in instances], **extra}
    response = post(client, json.dumps(body))
    out = check(response, model)
    if response.status_code == 200:
        assert len(out["predictions"]) == len(instances)
        return
    assert response.status_code == 400
    if extra or not instances or len(instances) > 50:
        assert out["error"]["field"] in {"instances", *extra}
        return
    allowed = {field_path(f"instances[{i}].", name)
               for i, (_, touched) in enumerate(instances) for name in touched}
    assert {e["field"] for e in out["errors"]} <= allowed
