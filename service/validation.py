"""Request validation against ``service.contract.FIELDS``: pure functions, no Flask.

A body is one transaction object or ``{"instances": [...]}`` (TensorFlow Serving's shape).
``validate_body`` returns the validated transactions (``tx_datetime`` as a ``datetime``,
integers as ``int``, numbers as ``float``) or the problems found, each with a field path such
as ``tx_amount``, ``instances[3].customer_nb_tx_7day`` or ``instances``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.contract import FIELDS, Field

DEFAULT_MAX_BATCH = 1000
INT64_MAX = 2**63 - 1
"""Upper bound of integer fields for which the contract gives none (ids)."""

BODY = "body"
"""The field path of the request body as a whole."""


@dataclass(frozen=True)
class Problem:
    """One reason a request is invalid: where (a field path) and what."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Validated:
    """The outcome of ``validate_body``: transactions, or problems when any were found."""

    transactions: list[dict[str, Any]] = field(default_factory=list)
    batch: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class MalformedJSON(ValueError):
    """The body is not JSON at all."""


def parse_json(data: bytes | str) -> Any:
    """Parse a request body; NaN and Infinity parse and are rejected by validation."""
    try:
        return json.loads(data)
    except RecursionError:
        raise MalformedJSON("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise MalformedJSON(f"malformed JSON: {exc}") from None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def field_path(prefix: str, name: str) -> str:
    """``prefix`` + ``name``; a key that is not a plain name is quoted: ``instances[0]["a b"]``."""
    if _IDENTIFIER.fullmatch(name):
        return prefix + name
    return f"{prefix.removesuffix('.')}[{json.dumps(name)}]"


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: int | float) -> str:
    """A number for a message (``-5.0``); very long integers shortened."""
    try:
        text = repr(value)
    except ValueError:  # an integer beyond Python's str conversion limit
        return "a huge integer"
    return text if len(text) <= 32 else f"{text[:29]}..."


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _limits(spec: Field) -> tuple[float | None, float | None]:
    maximum = spec.maximum
    if maximum is None and spec.kind == "integer":
        maximum = INT64_MAX
    return spec.minimum, maximum


_LIMITS = {f.name: _limits(f) for f in FIELDS}
_INF = (math.inf, -math.inf)


def _check_bounds(spec: Field, value: int | float) -> str | None:
    low, high = _LIMITS.get(spec.name) or _limits(spec)
    if low is not None and value < low:
        return f"must be >= {_bound(low)}, got {_show(value)}"
    if high is not None and value > high:
        return f"must be <= {_bound(high)}, got {_show(value)}"
    return None


def check_integer(spec: Field, value: Any) -> tuple[int | None, str | None]:
    """An integer field: ints, or floats without a fractional part; never booleans."""
    kind = type(value)  # exact types, as json.loads makes them: bool is not int here
    if kind is float:
        if value != value or value in _INF:
            return None, "must be finite (NaN and Infinity are not numbers)"
        if not value.is_integer():
            return None, f"must be an integer, got {_show(value)}"
    elif kind is not int:
        return None, f"must be an integer, got {json_type(value)}"
    problem = _check_bounds(spec, value)
    return (None, problem) if problem else (int(value), None)


def check_number(spec: Field, value: Any) -> tuple[float | None, str | None]:
    """A number field: ints or finite floats; never booleans or strings."""
    kind = type(value)
    if kind is float:
        if value != value or value in _INF:
            return None, "must be finite (NaN and Infinity are not numbers)"
    elif kind is not int:
        return None, f"must be a number, got {json_type(value)}"
    problem = _check_bounds(spec, value)  # before float(): a huge int would overflow
    return (None, problem) if problem else (float(value), None)


def check_datetime(spec: Field, value: Any) -> tuple[datetime | None, str | None]:
    """An ISO 8601 date and time, e.g. ``2018-08-08T10:21:54`` (an offset is allowed)."""
    if not isinstance(value, str):
        return None, f"must be an ISO 8601 date-time string, got {json_type(value)}"
    has_time = "T" in value or "t" in value or " " in value.strip()
    try:
        parsed = datetime.fromisoformat(value) if value.isascii() and has_time else None
    except ValueError:
        parsed = None
    if parsed is None:
        return None, "must be an ISO 8601 date-time, e.g. 2018-08-08T10:21:54"
    return parsed, None


_NAMES = frozenset(f.name for f in FIELDS)
_CHECKS = {"integer": check_integer, "number": check_number, "datetime": check_datetime}


def validate_transaction(value: Any, path: str = "") -> tuple[dict[str, Any], list[Problem]]:
    """One transaction object: its validated fields and the problems found (contract order).

    ``path`` prefixes field paths (``instances[3].``). An optional field that is absent or
    null is left out of the result.
    """
    where = path.rstrip(".") or BODY
    if not isinstance(value, dict):
        return {}, [Problem(where, f"must be a JSON object, got {json_type(value)}")]
    tx: dict[str, Any] = {}
    problems: list[Problem] = []
    for spec in FIELDS:
        raw = value.get(spec.name)
        if raw is None and not spec.required:
            continue
        if spec.name not in value:
            problems.append(Problem(path + spec.name, "is required"))
            continue
        checked, problem = _CHECKS[spec.kind](spec, raw)
        if problem:
            problems.append(Problem(path + spec.name, problem))
        else:
            tx[spec.name] = checked
    problems.extend(Problem(field_path(path, name), "unknown field")
                    for name in value if name not in _NAMES)
    return tx, problems



def validate_body(body: Any, max_batch: int = DEFAULT_MAX_BATCH) -> Validated:
    """A parsed request body: one transaction, or a non-empty batch of at most ``max_batch``."""
    if isinstance(body, dict) and "instances" in body:
        return _validate_batch(body, max_batch)
    tx, problems = validate_transaction(body)
    return Validated([tx] if not problems else [], batch=False, problems=problems)


def _validate_batch(body: dict, max_batch: int) -> Validated:
    problems = [Problem(field_path("", name), "unknown field")
                for name in body if name != "instances"]
    instances = body["instances"]
    if not isinstance(instances, list):
        problems.insert(0, Problem("instances", f"must be an array, got {json_type(instances)}"))
    elif not instances:
        problems.insert(0, Problem("instances", "must not be empty"))
    elif len(instances) > max_batch:
        problems.insert(0, Problem(
            "instances", f"at most {max_batch} instances, got {len(instances)}"))
    if problems:
        return Validated(batch=True, problems=problems)
    transactions: list[dict[str, Any]] = []
    for i, item in enumerate(instances):
        tx, found = validate_transaction(item, f"instances[{i}].")
        transactions.append(tx)
        problems.extend(found)
    if problems:
        return Validated(batch=True, problems=problems)
    return Validated(transactions, batch=True)
