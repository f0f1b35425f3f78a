"""The HTTP service: ``create_app`` builds the Flask app around one loaded fraud model.

Routes: ``POST /predict`` (one transaction or ``{"instances": [...]}``), ``GET /health``,
``GET /ready``, ``GET /metrics`` and ``GET /openapi.json``. Every error is JSON.
With ``FRAUDLAB_CHAOS=1`` (set by the kit's runtimes only) the kit's chaos routes are added:
see ``service.chaos``; they are not part of the service's contract.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from service.chaos import bp as chaos_bp
from service.chaos import enabled as chaos_enabled
from service.contract import example_transaction, to_model_row
from service.model import FraudModel, load_model
from service.openapi import build_spec
from service.responses import dumps, error_response, json_response
from service.telemetry import Telemetry
from service.validation import (
    BODY,
    DEFAULT_MAX_BATCH,
    MalformedJSON,
    parse_json,
    validate_body,
)

"""At most this many problems are listed in an error response."""

bp = Blueprint("service", __name__)


@dataclass
class Service:
    """What the routes need: the model (None when not loaded), metadata, limits, metrics."""

    model: FraudModel | None
    meta: dict[str, str]
    max_batch: int
    telemetry: Telemetry
    openapi: bytes


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; the model is ``config["MODEL"]`` or loaded here, once."""
    app = Flask(__name__)
    app.config.from_mapping(
        MODEL=None,
        MODEL_RUNTIME=os.environ.get("MODEL_RUNTIME"),
        TASK_ID=os.environ.get("TASK_ID") or "local",
        HOST_ID=os.environ.get("HOST_ID") or socket.gethostname(),
        MAX_CONTENT_LENGTH=1 << 20,
        MAX_BATCH=DEFAULT_MAX_BATCH,
        CHAOS=chaos_enabled(),
    )
    app.config.update(config or {})
    model: FraudModel = app.config["MODEL"]
    if model is None:
        model = load_model(app.config["MODEL_RUNTIME"])
    warm_up(model)
    telemetry = Telemetry()
    max_batch = int(app.config["MAX_BATCH"])
    app.extensions["fraudlab"] = Service(
        model=model,
        meta={"model_version": model.version, "task_id": str(app.config["TASK_ID"]),
              "host_id": str(app.config["HOST_ID"])},
        max_batch=max_batch,
        telemetry=telemetry,
        openapi=dumps(build_spec(model.version, max_batch)),
    )
    app.register_blueprint(bp)
    if app.config["CHAOS"]:
        app.register_blueprint(chaos_bp)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, internal_error)
    telemetry.init_app(app)
    return app


def warm_up(model: FraudModel) -> None:
    """Score the contract's example once, so a broken model fails at start, not later."""
    model.scores([to_model_row(validate_body(example_transaction()).transactions[0])])


def _service() -> Service:
    return current_app.extensions["fraudlab"]


@bp.post("/predict")
def predict() -> Response:
    if not request.is_json:
        return error_response(415, "unsupported_media_type", "Content-Type",
                              f"must be application/json, got {request.mimetype or 'none'}")
    svc = _service()
    if svc.model is None:
        return error_response(503, "model_not_ready", None, "the model is not loaded")
    try:
        body = parse_json(read_body())
    except MalformedJSON as exc:
        return error_response(400, "invalid_request", BODY, str(exc), kind="malformed_json")
    result = validate_body(body, svc.max_batch)
    if not result.ok:
        first = result.problems[0]
        return error_response(400, "invalid_request", first.field, first.message,
                              result.problems, kind="validation")
    txs = result.transactions
    scores = svc.model.scores([to_model_row(tx) for tx in txs])
    predictions = [_prediction(svc.model, tx, float(s)) for tx, s in zip(txs, scores, strict=True)]
    svc.telemetry.predicted([p["decision"] for p in predictions])
    if result.batch:
        return json_response({"predictions": predictions, **svc.meta})
    return json_response({**predictions[0], **svc.meta})


def read_body() -> bytes:
    """The request body, 413 past ``MAX_CONTENT_LENGTH``.

    Werkzeug checks a declared Content-Length, but cuts a chunked body at the limit without
    an error: a chunked body that fills the limit is taken as too large.
    """
    data = request.get_data(cache=False)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(data) >= limit:
        _drain(request.environ.get("wsgi.input"))
        raise RequestEntityTooLarge()
    return data


DRAIN_LIMIT = 16 << 20
"""At most this much of a refused chunked body is read and thrown away before the 413."""


def _drain(stream: Any) -> None:
    """Read the rest of a refused body, so the client can finish sending and read the 413
    instead of seeing its connection reset mid-upload (bounded by ``DRAIN_LIMIT``)."""
    if stream is None:
        return
    left = DRAIN_LIMIT
    while left > 0:
        chunk = stream.read(min(left, 1 << 16))
        if not chunk:
            return
        left -= len(chunk)


def _prediction(model: FraudModel, tx: dict[str, Any], score: float) -> dict[str, Any]:
    out: dict[str, Any] = {"decision": model.decision(score), "score": score}
    if "transaction_id" in tx:
        out = {"transaction_id": tx["transaction_id"], **out}
    return out


@bp.get("/health")
def health() -> Response:
    svc = _service()
    return json_response({"status": "alive", "task_id": svc.meta["task_id"],
                          "host_id": svc.meta["host_id"]})


@bp.get("/ready")
def ready() -> Response:
    svc = _service()
    if svc.model is None:
        return json_response({"status": "not_ready", "task_id": svc.meta["task_id"],
                              "host_id": svc.meta["host_id"]}, 503)
    return json_response({"status": "ready", "runtime": svc.model.runtime, **svc.meta})


@bp.get("/metrics")
def metrics() -> Response:
    return _service().telemetry.render()


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(_service().openapi, mimetype="application/json")


_HTTP_ERRORS = {
    400: ("invalid_request", BODY),
    404: ("not_found", "path"),
    405: ("method_not_allowed", "method"),
    413: ("payload_too_large", BODY),
    415: ("unsupported_media_type", "Content-Type"),
}


def http_error(exc: HTTPException) -> Response:
    """Werkzeug's HTTP errors (404, 405, 413, ...) as JSON instead of HTML."""
    status = exc.code or 500
    code, field = _HTTP_ERRORS.get(
        status, ((exc.name or "error").lower().replace(" ", "_"), None))
    if status == 404:
        message = f"no route for {request.path}"
    elif status == 413:
        message = f"body larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    elif isinstance(exc, MethodNotAllowed):
        message = f"{request.method} not allowed, use {', '.join(exc.valid_methods or [])}"
    else:
        message = exc.description or exc.name
    response = error_response(status, code, field, message)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def internal_error(exc: Exception) -> Response:
    """An unexpected exception: logged with its traceback, answered as a JSON 500."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", None, "internal server error",
                          kind="internal")
