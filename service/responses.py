"""JSON answers shared by the service's routes: the body encoder and the error shape."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from service.telemetry import mark_error
from service.validation import Problem

MAX_ERRORS = 100  # problems listed in one error answer


def dumps(payload: Any) -> bytes:
    """Compact JSON; NaN/Infinity refused (they are not JSON)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status=status, mimetype="application/json")


def error_response(status: int, code: str, field: str | None, message: str,
                   problems: list[Problem] | None = None, kind: str | None = None) -> Response:
    """The JSON error body; ``kind`` (default ``code``) labels the errors metric."""
    mark_error(kind or code)
    errors = ([p.as_dict() for p in problems[:MAX_ERRORS]] if problems
              else [{"field": field, "message": message}])
    return json_response({"error": {"status": status, "code": code, "field": field,
                                    "message": message}, "errors": errors}, status)
