"""The control API: the local cloud's own HTTP API on 127.0.0.1, guarded by a token.

What AWS has no API for — the live snapshot, chaos, the kit's own actions — goes through
here; everything a learner could do with ``aws``/boto3 goes through the AWS API instead.
Every request carries ``Authorization: Bearer <token>`` (the token file is 0600 in the
state directory). Answers are JSON; errors are JSON with a message.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

Handler = Callable[[dict[str, Any]], Any]
MAX_BODY = 64 * 1024


class ControlError(RuntimeError):
    """The control API answered with an error (its message is for the user)."""


class ControlServer:
    """Routes ``(method, path)`` to handlers; runs in a daemon thread."""

    def __init__(self, token: str, routes: dict[tuple[str, str], Handler],
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.routes = routes
        self.httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name="control-api")

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # no access log
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(given.encode(), server.token.encode()):
                    self._reply(401, {"error": "missing or wrong token (see the token file "
                                               "in the FraudLab state directory)"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413, {"error": f"body over {MAX_BODY} bytes"})
                    return
                try:
                    body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                except ValueError:
                    self._reply(400, {"error": "body is not valid JSON"})
                    return
                if not isinstance(body, dict):
                    self._reply(400, {"error": "body must be a JSON object"})
                    return
                path = self.path.split("?", 1)[0]
                route = server.routes.get((method, path))
                if route is None:
                    self._reply(404, {"error": f"no route {method} {path}"})
                    return
                try:
                    self._reply(200, route(body))
                except (ValueError, LookupError) as exc:
                    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                    self._reply(400, {"error": str(message)})
                except Exception as exc:
                    self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        return Handler


class ControlClient:
    """Talks to a running local cloud's control API."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            reply = self.session.request(method, f"{self.url}{path}", json=body,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise ControlError(f"the local cloud does not answer at {self.url} ({exc})") from exc
        data = reply.json() if reply.content else {}
        if reply.status_code != 200:
            raise ControlError(data.get("error") or f"HTTP {reply.status_code}")
        return data

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, body or {})
