"""The request validation rules of ``service.validation``, one by one."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from service.contract import FIELDS, FIELDS_BY_NAME, example_transaction, to_model_row
from service.validation import (
    INT64_MAX,
    MalformedJSON,
    Problem,
    parse_json,
    validate_body,
    validate_transaction,
)

INTEGER_FIELDS = [f.name for f in FIELDS if f.kind == "integer"]
NUMBER_FIELDS = [f.name for f in FIELDS if f.kind == "number"]
REQUIRED_FIELDS = [f.name for f in FIELDS if f.required]
BOUNDED_BELOW = [f.name for f in FIELDS if f.minimum is not None]
BOUNDED_ABOVE = [f.name for f in FIELDS if f.maximum is not None]


def with_(**changes: object) -> dict:
    return {**example_transaction(), **changes}


def problems_of(body: object, **kwargs: int) -> list[Problem]:
    result = validate_body(body, **kwargs)
    assert not result.ok
    assert result.transactions == []
    return result.problems


def only_problem(body: object, **kwargs: int) -> Problem:
    problems = problems_of(body, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_contract_example_is_valid_and_typed() -> None:
    result = validate_body(example_transaction())
    assert result.ok and not result.batch
    [tx] = result.transactions
    assert set(tx) == {f.name for f in FIELDS}
    assert tx["tx_datetime"] == datetime(2018, 8, 8, 10, 21, 54)
    for name in INTEGER_FIELDS:
        assert type(tx[name]) is int
    for name in NUMBER_FIELDS:
        assert type(tx[name]) is float
    assert to_model_row(tx)[0] == pytest.approx(57.16)


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_a_missing_required_field_is_named(name: str) -> None:
    body = example_transaction()
    del body[name]
    assert only_problem(body) == Problem(name, "is required")


@pytest.mark.parametrize("name", REQUIRED_FIELDS)
def test_null_is_not_a_value_for_a_required_field(name: str) -> None:
    problem = only_problem(with_(**{name: None}))
    assert problem.field == name
    assert "got null" in problem.message


@pytest.mark.parametrize("value", ["absent", None])
def test_transaction_id_is_optional(value: object) -> None:
    body = example_transaction()
    if value == "absent":
        del body["transaction_id"]
    else:
        body["transaction_id"] = value
    [tx] = validate_body(body).transactions
    assert "transaction_id" not in tx


def test_unknown_fields_are_rejected_each_by_name() -> None:
    problems = problems_of(with_(merchant="ACME", Tx_Amount=3))
    assert problems == [Problem("merchant", "unknown field"),
                        Problem("Tx_Amount", "unknown field")]


@pytest.mark.parametrize("name", INTEGER_FIELDS)
def test_integer_fields_reject_a_fractional_part(name: str) -> None:
    assert only_problem(with_(**{name: 2.5})) == Problem(name, "must be an integer, got 2.5")


@pytest.mark.parametrize("name", INTEGER_FIELDS)
def test_integer_fields_accept_a_whole_float_as_int(name: str) -> None:
    [tx] = validate_body(with_(**{name: 3.0})).transactions
    assert tx[name] == 3 and type(tx[name]) is int


@pytest.mark.parametrize("name", INTEGER_FIELDS)
@pytest.mark.parametrize(("value", "kind"), [(True, "boolean"), (False, "boolean"),
                                             ("3", "string"), ([3], "array"),
                                             ({"v": 3}, "object")])
def test_integer_fields_reject_other_types(name: str, value: object, kind: str) -> None:
    assert only_problem(with_(**{name: value})) == Problem(
        name, f"must be an integer, got {kind}")


@pytest.mark.parametrize("name", NUMBER_FIELDS)
@pytest.mark.parametrize(("value", "kind"), [(True, "boolean"), ("57.16", "string"),
                                             (None, "null"), ([1.0], "array")])
def test_number_fields_reject_other_types(name: str, value: object, kind: str) -> None:
    assert only_problem(with_(**{name: value})) == Problem(
        name, f"must be a number, got {kind}")


@pytest.mark.parametrize("name", NUMBER_FIELDS)
def test_number_fields_accept_ints_as_floats(name: str) -> None:
    [tx] = validate_body(with_(**{name: 0})).transactions
    assert tx[name] == 0.0 and type(tx[name]) is float


@pytest.mark.parametrize("name", INTEGER_FIELDS + NUMBER_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected(name: str, value: float) -> None:
    assert only_problem(with_(**{name: value})) == Problem(
        name, "must be finite (NaN and Infinity are not numbers)")


def test_nan_literals_parse_and_are_rejected_with_the_field() -> None:
    body = parse_json(b'{"tx_amount": NaN, "terminal_risk_1day": -Infinity}')
    assert math.isnan(body["tx_amount"])
    problems = problems_of({**example_transaction(), **body})
    assert [p.field for p in problems] == ["tx_amount", "terminal_risk_1day"]
    assert all("must be finite" in p.message for p in problems)


def test_an_overflowing_number_literal_is_infinite_and_rejected() -> None:
    body = {**example_transaction(), **parse_json(b'{"tx_amount": 1e400}')}
    assert only_problem(body) == Problem(
        "tx_amount", "must be finite (NaN and Infinity are not numbers)")


def test_a_negative_amount_names_the_bound() -> None:
    assert only_problem(with_(tx_amount=-5.0)) == Problem("tx_amount", "must be >= 0, got -5.0")


@pytest.mark.parametrize("name", BOUNDED_BELOW)
def test_lower_bounds_are_inclusive(name: str) -> None:
    spec = FIELDS_BY_NAME[name]
    assert validate_body(with_(**{name: spec.minimum})).ok
    below = spec.minimum - (1 if spec.kind == "integer" else 0.5)
    problem = only_problem(with_(**{name: below}))
    assert problem.field == name
    assert problem.message.startswith(f"must be >= {spec.minimum:g}, got ")


@pytest.mark.parametrize("name", BOUNDED_ABOVE)
def test_upper_bounds_are_inclusive(name: str) -> None:
    spec = FIELDS_BY_NAME[name]
    assert validate_body(with_(**{name: spec.maximum})).ok
    above = spec.maximum + (1 if spec.kind == "integer" else 0.5)
    problem = only_problem(with_(**{name: above}))
    assert problem.field == name
    assert problem.message.startswith(f"must be <= {int(spec.maximum)}, got ")


def test_ids_without_a_contract_maximum_must_fit_in_64_bits() -> None:
    assert validate_body(with_(customer_id=INT64_MAX)).ok
    problem = only_problem(with_(customer_id=INT64_MAX + 1))
    assert problem == Problem("customer_id", f"must be <= {INT64_MAX}, got {INT64_MAX + 1}")


def test_huge_integers_in_number_fields_are_out_of_bounds_not_an_overflow() -> None:
    problem = only_problem(with_(tx_amount=10**400))
    assert problem.field == "tx_amount"
    assert problem.message.startswith("must be <= 1000000, got 1000")
    assert len(problem.message) < 80


@pytest.mark.parametrize("text", ["2018-08-08T10:21:54", "2018-08-08 10:21:54",
                                  "2018-08-08T10:21:54.123456", "2018-08-08T10:21",
                                  "2018-08-08T10:21:54+02:00", "2018-08-08T10:21:54Z"])
def test_iso_8601_date_times_are_parsed(text: str) -> None:
    [tx] = validate_body(with_(tx_datetime=text)).transactions
    when = tx["tx_datetime"]
    assert (when.year, when.month, when.day, when.hour, when.minute) == (2018, 8, 8, 10, 21)


def test_an_offset_is_kept_and_the_wall_clock_gives_the_flags() -> None:
    [tx] = validate_body(with_(tx_datetime="2018-08-11T03:00:00+05:00")).transactions
    assert tx["tx_datetime"].utcoffset() == timedelta(hours=5)
    assert tx["tx_datetime"].tzinfo == timezone(timedelta(hours=5))
    row = to_model_row(tx)
    assert row[1:3] == [1.0, 1.0]  # Saturday, 3 a.m.


@pytest.mark.parametrize("text", ["", "yesterday", "2018-08-08", "2018-13-01T00:00:00",
                                  "2018-08-08T25:00:00", "08/08/2018 10:21",
                                  "２０１８-08-08T10:21:54"])
def test_invalid_date_times_are_rejected(text: str) -> None:
    problem = only_problem(with_(tx_datetime=text))
    assert problem.field == "tx_datetime"
    assert problem.message.startswith("must be an ISO 8601 date-time")


@pytest.mark.parametrize(("value", "kind"), [(1533723714, "number"), (None, "null"),
                                             (True, "boolean")])
def test_a_date_time_must_be_a_string(value: object, kind: str) -> None:
    assert only_problem(with_(tx_datetime=value)) == Problem(
        "tx_datetime", f"must be an ISO 8601 date-time string, got {kind}")


@pytest.mark.parametrize(("body", "kind"), [([], "array"), ("tx", "string"), (None, "null"),
                                            (3, "number"), (True, "boolean")])
def test_the_body_must_be_an_object(body: object, kind: str) -> None:
    assert only_problem(body) == Problem("body", f"must be a JSON object, got {kind}")


def test_every_problem_is_reported_in_contract_order() -> None:
    problems = problems_of(with_(tx_amount=-1, customer_id="x", terminal_risk_30day=2, extra=1))
    assert [p.field for p in problems] == ["customer_id", "tx_amount", "terminal_risk_30day",
                                           "extra"]


def test_an_empty_object_lists_every_required_field() -> None:
    assert problems_of({}) == [Problem(name, "is required") for name in REQUIRED_FIELDS]


def test_a_batch_validates_every_instance_in_order() -> None:
    first, second = example_transaction(), with_(transaction_id=7, tx_amount=12)
    result = validate_body({"instances": [first, second]})
    assert result.ok and result.batch
    assert [tx["transaction_id"] for tx in result.transactions] == [1_236_829, 7]
    assert result.transactions[1]["tx_amount"] == 12.0


def test_a_batch_names_the_instance_and_the_field() -> None:
    missing = example_transaction()
    del missing["customer_nb_tx_7day"]
    body = {"instances": [example_transaction(), with_(tx_amount="12"), "tx", missing]}
    assert problems_of(body) == [
        Problem("instances[1].tx_amount", "must be a number, got string"),
        Problem("instances[2]", "must be a JSON object, got string"),
        Problem("instances[3].customer_nb_tx_7day", "is required"),
    ]


def test_a_batch_must_not_be_empty() -> None:
    assert only_problem({"instances": []}) == Problem("instances", "must not be empty")


@pytest.mark.parametrize(("value", "kind"), [({}, "object"), (None, "null"), ("[]", "string")])
def test_instances_must_be_an_array(value: object, kind: str) -> None:
    assert only_problem({"instances": value}) == Problem(
        "instances", f"must be an array, got {kind}")


def test_the_batch_size_is_bounded() -> None:
    body = {"instances": [example_transaction()] * 1200}
    assert only_problem(body) == Problem("instances", "at most 1000 instances, got 1200")
    assert validate_body({"instances": [example_transaction()] * 1000}).ok


def test_the_batch_limit_is_configurable() -> None:
    body = {"instances": [example_transaction()] * 3}
    assert only_problem(body, max_batch=2) == Problem("instances", "at most 2 instances, got 3")
    assert validate_body(body, max_batch=3).ok


def test_a_batch_has_no_other_keys() -> None:
    body = {"instances": [example_transaction()], "signature_name": "serving_default"}
    assert only_problem(body) == Problem("signature_name", "unknown field")


@pytest.mark.parametrize(("name", "path"), [("", '[""]'), ("a b", '["a b"]'),
                                            ("x.y", '["x.y"]'), ("n[0]", '["n[0]"]')])
def test_odd_unknown_keys_are_quoted_in_paths(name: str, path: str) -> None:
    assert only_problem(with_(**{name: 1})) == Problem(path, "unknown field")
    batch = {"instances": [example_transaction(), with_(**{name: 1})]}
    assert only_problem(batch) == Problem(f"instances[1]{path}", "unknown field")


def test_validate_transaction_prefixes_paths() -> None:
    tx, problems = validate_transaction(with_(tx_amount=-1), "instances[4].")
    assert "tx_amount" not in tx
    assert problems == [Problem("instances[4].tx_amount", "must be >= 0, got -1")]


def test_parse_json_accepts_bytes_and_text() -> None:
    assert parse_json(b'{"a": [1, 2.5]}') == parse_json('{"a": [1, 2.5]}') == {"a": [1, 2.5]}


@pytest.mark.parametrize("data", [b"", b"{", b"{'a': 1}", b"[1, 2,]", b"\xff\xfe\xfa",
                                  b"[" * 100_000, b"1" * 5000, b'{"a": 1} trailing'])
def test_parse_json_reports_malformed_bodies(data: bytes) -> None:
    with pytest.raises(MalformedJSON, match=r"^malformed JSON: "):
        parse_json(data)


def test_problems_serialise_to_field_and_message() -> None:
    assert Problem("instances", "must not be empty").as_dict() == {
        "field": "instances", "message": "must not be empty"}
