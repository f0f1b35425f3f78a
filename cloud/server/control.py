"""The control API: the local cloud's own HTTP API on 127.0.0.1, guarded by a token.

What AWS has no API for — the live snapshot, chaos, the kit's own actions — goes through
here; everything a learner could do with ``aws``/boto3 goes through the AWS API instead.
Every request carries ``Authorization: Bearer <token>`` (the token file is 0600 in the
state directory). Answers are JSON; errors are JSON with a message.

Streams (``GET /v1/stream``) are Server-Sent Events: the whole snapshot first, then only what
changed (``cloud.server.stream``), at most every ``interval`` seconds (query string, default
0.5), for at most ``seconds`` (default one hour). A stream follows a
:class:`~cloud.server.stream.SnapshotFeed`: it sleeps until a new version is published and
sends that version's change, computed once for every client. When nothing changed for
``interval``, it sends the feed's stamp alone (the lab time) as a change, or a
``: keep-alive`` comment when the feed stamps nothing.
"""

from __future__ import annotations

import hmac
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from cloud.server.stream import SnapshotFeed, parse_sse, sse_event

Handler = Callable[[dict[str, Any]], Any]


class RawJSON(bytes):
    """A reply body already serialised as JSON (a route returns it to skip json.dumps)."""
MAX_BODY = 64 * 1024
STREAM_INTERVAL = 0.5  # seconds between two looks at the state
STREAM_LIMIT = 3600.0  # seconds a stream lasts at most (a client reconnects)


def stream_params(query: str) -> tuple[float, float]:
    """``interval`` and ``seconds`` of a stream request, validated (ValueError says which)."""
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    try:
        interval = float(params.get("interval", STREAM_INTERVAL))
        seconds = float(params.get("seconds", STREAM_LIMIT))
    except ValueError as exc:
        raise ValueError("interval and seconds must be numbers of seconds") from exc
    if not 0.05 <= interval <= 60:
        raise ValueError(f"interval must be between 0.05 and 60 seconds, got {interval:g}")
    if not 0 < seconds <= STREAM_LIMIT:
        raise ValueError(f"seconds must be in (0, {STREAM_LIMIT:g}], got {seconds:g}")
    return interval, seconds


class ControlError(RuntimeError):
    """The control API answered with an error (its message is for the user)."""


class ControlServer:
    """Routes ``(method, path)`` to handlers; runs in a daemon thread."""

    def __init__(self, token: str, routes: dict[tuple[str, str], Handler],
                 host: str = "127.0.0.1", port: int = 0,
                 streams: dict[str, SnapshotFeed] | None = None) -> None:
        self.token = token
        self.routes = routes
        self.streams = streams or {}  # GET path → the state a stream follows
        self.closing = threading.Event()
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
        self.closing.set()  # open streams end at their next look
        for feed in self.streams.values():
            feed.close()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # no access log
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = (bytes(payload) if isinstance(payload, RawJSON)
                        else json.dumps(payload, default=str).encode())
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
                path, _, query = self.path.partition("?")
                if method == "GET" and path in server.streams:
                    try:
                        interval, seconds = stream_params(query)
                    except ValueError as exc:
                        self._reply(400, {"error": str(exc)})
                        return
                    self._stream(server.streams[path], interval, seconds)
                    return
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

            def _stream(self, feed: SnapshotFeed, interval: float, seconds: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                deadline = time.monotonic() + seconds
                sent, held = feed.read()
                seq = 1
                try:
                    self.wfile.write(sse_event("snapshot", {**feed.stamp(), **held}, seq))
                    self.wfile.flush()
                    while not server.closing.is_set() and time.monotonic() < deadline:
                        server.closing.wait(interval)  # at most one event per interval
                        version = feed.wait(sent, min(interval, deadline - time.monotonic()))
                        if server.closing.is_set():
                            break
                        if version > sent:
                            sent, change, held = feed.change_since(sent, held)
                            change = {**change, **feed.stamp()}
                        else:
                            change = feed.stamp()
                        if change:
                            seq += 1
                            self.wfile.write(sse_event("changes", change, seq))
                        else:
                            self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                    self.wfile.write(sse_event("end", {"reason": "closing" if
                                                       server.closing.is_set() else "time"}))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away

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

    def stream(self, path: str = "/v1/stream", interval: float = STREAM_INTERVAL,
               seconds: float = STREAM_LIMIT) -> Iterator[tuple[str, Any]]:
        """(event, data) pairs: ``("snapshot", {...})`` then ``("changes", {...})`` …

        Read with http.client line by line (requests/urllib3 would buffer the stream).
        """
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80,
                                          timeout=max(self.timeout, interval * 4))
        query = urlencode({"interval": interval, "seconds": seconds})
        try:
            conn.request("GET", f"{path}?{query}", headers={
                "Authorization": str(self.session.headers["Authorization"])})
            reply = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise ControlError(f"the local cloud does not answer at {self.url} ({exc})") from exc
        try:
            if reply.status != 200:
                body = reply.read()
                error = json.loads(body).get("error") if body else None
                raise ControlError(error or f"HTTP {reply.status}")
            yield from parse_sse(line.decode() for line in reply)
        finally:
            conn.close()
