"""Prometheus metrics of one app, on its own registry (several apps can share a process).

``Telemetry.init_app`` wraps the app's WSGI callable (the cheapest place to hook every
request): count by route, method and status, latency by route, requests in flight, and
errors by route and kind (a view marks an error with ``mark_error``). ``render`` gives the
text format served at ``GET /metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from flask import Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0)
DECISIONS = ("APPROVED", "REVIEW", "DECLINED")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of paths that match no route (keeps the label set bounded)."""
ERROR_KIND = "fraudlab.error_kind"
"""The WSGI environ key where ``mark_error`` leaves the kind of an error response."""

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def mark_error(kind: str) -> None:
    """Count the current request's response in the errors metric under ``kind``."""
    request.environ[ERROR_KIND] = kind


class Telemetry:
    """The service's metrics and the WSGI middleware that feeds them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "fraudlab_requests", "HTTP requests handled.", ["route", "method", "status"],
            registry=self.registry)
        self.duration = Histogram(
            "fraudlab_request_duration_seconds", "Time to handle a request, in seconds.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge(
            "fraudlab_requests_in_flight", "Requests being handled now.",
            registry=self.registry)
        self.errors = Counter(
            "fraudlab_request_errors", "Error responses, by kind.", ["route", "kind"],
            registry=self.registry)
        self.predictions = Counter(
            "fraudlab_predictions", "Transactions scored, by decision.", ["decision"],
            registry=self.registry)
        self._decisions = {d: self.predictions.labels(d) for d in DECISIONS}
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._routes: frozenset[str] = frozenset()

    def init_app(self, app: Flask) -> None:
        """Measure every request of ``app``; call it after the routes are registered.

        The route label is the request path when it is one of the app's fixed routes.
        """
        self._routes = frozenset(r.rule for r in app.url_map.iter_rules() if not r.arguments)
        app.extensions["fraudlab.telemetry"] = self
        app.wsgi_app = self.wrap(app.wsgi_app)  # type: ignore[method-assign]

    def wrap(self, wsgi_app: WSGIApp) -> WSGIApp:
        def measured(environ: dict[str, Any], start_response: Callable[..., Any]):
            start = perf_counter()
            self.in_flight.inc()
            status = "500"

            def capture(line: str, headers: list, exc_info: Any = None) -> Any:
                nonlocal status
                status = line[:3]
                return start_response(line, headers, exc_info)

            try:  # Flask's responses here are built in full: the time ends at the return
                return wsgi_app(environ, capture)
            finally:
                self.in_flight.dec()
                self._observe(environ, status, perf_counter() - start)

        return measured

    def predicted(self, decisions: Iterable[str]) -> None:
        """Count scored transactions by decision."""
        for decision in decisions:
            self._decisions[decision].inc()

    def render(self) -> Response:
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)

    def _observe(self, environ: dict[str, Any], status: str, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        route = path if path in self._routes else UNMATCHED
        method = environ.get("REQUEST_METHOD", "")
        key = (route, method if method in METHODS else "other", status)
        children = self._children.get(key)
        if children is None:  # labels() locks and validates: keep the children
            children = (self.requests.labels(*key), self.duration.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        kind = environ.get(ERROR_KIND)
        if kind:
            self.errors.labels(route, kind).inc()
