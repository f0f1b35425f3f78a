"""The OpenAPI 3.1 document of the service, built from the feature contract."""

from __future__ import annotations

from typing import Any

from service.contract import FIELDS, Field, example_transaction
from service.validation import DEFAULT_MAX_BATCH, INT64_MAX

DECISIONS = ["APPROVED", "REVIEW", "DECLINED"]


def field_schema(spec: Field) -> dict[str, Any]:
    """The JSON Schema of one request field."""
    schema: dict[str, Any] = {"description": spec.description}
    if spec.kind == "datetime":
        schema.update(type="string", examples=[spec.example])
        return schema
    schema["type"] = spec.kind
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    elif spec.kind == "integer":
        schema["maximum"] = INT64_MAX
    schema["examples"] = [spec.example]
    return schema


def transaction_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One transaction with its customer and terminal aggregates.",
        "properties": {f.name: field_schema(f) for f in FIELDS},
        "required": [f.name for f in FIELDS if f.required],
        "additionalProperties": False,
    }


def _components(max_batch: int) -> dict[str, Any]:
    ref = "#/components/schemas/"
    meta = {
        "model_version": {"type": "string"},
        "task_id": {"type": "string", "description": "The task (container) that answered."},
        "host_id": {"type": "string", "description": "The host the task runs on."},
    }
    scored = {
        "transaction_id": {"type": "integer", "description": "Echoed when given."},
        "decision": {"type": "string", "enum": DECISIONS},
        "score": {"type": "number", "minimum": 0, "maximum": 1,
                  "description": "Fraud probability."},
    }
    problem = {
        "type": "object",
        "properties": {"field": {"type": ["string", "null"]}, "message": {"type": "string"}},
        "required": ["field", "message"],
    }
    return {"schemas": {
        "Transaction": transaction_schema(),
        "Batch": {
            "type": "object",
            "description": "Several transactions, scored together (TensorFlow Serving shape).",
            "properties": {"instances": {"type": "array", "items": {"$ref": ref + "Transaction"},
                                         "minItems": 1, "maxItems": max_batch}},
            "required": ["instances"],
            "additionalProperties": False,
        },
        "Prediction": {"type": "object", "properties": {**scored, **meta},
                       "required": ["decision", "score", *meta]},
        "BatchPrediction": {
            "type": "object",
            "properties": {
                "predictions": {"type": "array", "items": {
                    "type": "object", "properties": scored, "required": ["decision", "score"]}},
                **meta,
            },
            "required": ["predictions", *meta],
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "object", "properties": {
                    "status": {"type": "integer"}, "code": {"type": "string"},
                    "field": {"type": ["string", "null"],
                              "description": "Path of the first problem, e.g. "
                                             "instances[3].tx_amount."},
                    "message": {"type": "string"},
                }, "required": ["status", "code", "field", "message"]},
                "errors": {"type": "array", "items": problem},
            },
            "required": ["error", "errors"],
        },
    }}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _predict(max_batch: int) -> dict[str, Any]:
    example = example_transaction()
    return {"post": {
        "summary": "Score one transaction or a batch.",
        "operationId": "predict",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"oneOf": [{"$ref": "#/components/schemas/Transaction"},
                                 {"$ref": "#/components/schemas/Batch"}]},
            "examples": {
                "single": {"summary": "One transaction", "value": example},
                "batch": {"summary": "A batch", "value": {"instances": [example]}},
            },
        }}},
        "responses": {
            "200": {"description": "Decisions and scores.", "content": {"application/json": {
                "schema": {"oneOf": [{"$ref": "#/components/schemas/Prediction"},
                                     {"$ref": "#/components/schemas/BatchPrediction"}]}}}},
            "400": _json("Error", "Malformed JSON or a request that breaks the contract."),
            "413": _json("Error", "The body is larger than the service accepts."),
            "415": _json("Error", "Content-Type is not application/json."),
            "503": _json("Error", "The model is not loaded."),
        },
    }}


def _get(summary: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": response}}


def build_spec(model_version: str = "", max_batch: int = DEFAULT_MAX_BATCH) -> dict[str, Any]:
    """The OpenAPI document; ``max_batch`` bounds the batch size as the app does."""
    status = {"description": "Status.", "content": {"application/json": {
        "schema": {"type": "object", "properties": {"status": {"type": "string"}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FraudLab fraud model",
            "version": model_version or "unknown",
            "description": "Scores card transactions for fraud: APPROVED, REVIEW or DECLINED.",
        },
        "paths": {
            "/predict": _predict(max_batch),
            "/health": _get("Liveness: the process answers.", {"200": status}),
            "/ready": _get("Readiness: the model is loaded.", {
                "200": status, "503": {**status, "description": "The model is not loaded."}}),
            "/metrics": _get("Prometheus metrics.", {"200": {
                "description": "Prometheus text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}),
            "/openapi.json": _get("This document.", {"200": {
                "description": "OpenAPI 3.1.", "content": {"application/json": {}}}}),
        },
        "components": _components(max_batch),
    }
