"""LocalStack without ECS/ECR/ELBv2/Application Auto Scaling: one clear line, then moto.

The decision (``localstack_verdict``) is pure; the rest talks to a real HTTP server on
127.0.0.1 that answers like LocalStack (health, info and — for the license case — the
``InternalFailure … not included in your current license plan`` refusal on every API call).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cloud.aws.endpoint import (
    REQUIRED_SERVICES,
    EndpointError,
    fallback_url,
    localstack_verdict,
    open_endpoint,
)

ALL = {s: "available" for s in REQUIRED_SERVICES} | {"s3": "running", "ec2": "available"}
LICENSE_REFUSAL = ("The API for service '{}' is either not included in your current license "
                   "plan or has not yet been emulated by LocalStack.")


# ---- the pure decision ---------------------------------------------------------------------

def test_every_required_service_available_or_running_is_usable() -> None:
    verdict = localstack_verdict(ALL | {"ecs": "running"}, "pro", token_set=True)
    assert verdict.usable and verdict.missing == () and verdict.reason == ""


@pytest.mark.parametrize("drop", REQUIRED_SERVICES)
def test_any_one_required_service_missing_is_named(drop: str) -> None:
    services = {k: v for k, v in ALL.items() if k != drop}
    verdict = localstack_verdict(services, "pro", token_set=True, url="http://127.0.0.1:4566")
    assert not verdict.usable and verdict.missing == (drop,)
    assert f"{drop} (missing)" in verdict.reason
    assert "http://127.0.0.1:4566" in verdict.reason


@pytest.mark.parametrize("state", ["disabled", "error", "stopped", "initialized"])
def test_a_service_that_is_not_available_or_running_counts_as_missing(state: str) -> None:
    verdict = localstack_verdict(ALL | {"elbv2": state}, "pro", token_set=True)
    assert verdict.missing == ("elbv2",) and f"elbv2 ({state})" in verdict.reason


def test_community_edition_blames_the_missing_token_in_one_line() -> None:
    verdict = localstack_verdict({"s3": "available", "ec2": "available"}, "community")
    assert verdict.missing == REQUIRED_SERVICES
    assert "\n" not in verdict.reason
    assert "without LOCALSTACK_AUTH_TOKEN" in verdict.reason
    assert "Base plan" in verdict.reason and "embedded emulator" in verdict.reason
    for service in REQUIRED_SERVICES:
        assert service in verdict.reason


def test_a_license_refusal_on_a_call_overrides_a_healthy_health_page() -> None:
    failures = {"ecs": "ClientError: An error occurred (InternalFailure) when calling the "
                       "ListClusters operation: " + LICENSE_REFUSAL.format("ecs")}
    verdict = localstack_verdict(ALL, "pro", failures, token_set=True)
    assert verdict.missing == ("ecs",)
    assert "ecs (not in the license plan)" in verdict.reason
    assert "Hobby" in verdict.reason and "Base plan" in verdict.reason


def test_an_unrelated_probe_error_does_not_condemn_localstack() -> None:
    verdict = localstack_verdict(ALL, "pro", {"ecr": "EndpointConnectionError: timeout"},
                                 token_set=True)
    assert verdict.usable


def test_no_token_in_the_environment_is_named_as_a_cause() -> None:
    verdict = localstack_verdict({"ecr": "available"}, "", token_set=False)
    assert "no LOCALSTACK_AUTH_TOKEN" in verdict.reason
    assert verdict.missing == ("ecs", "elbv2", "application-autoscaling")


def test_fallback_port_comes_from_the_environment_and_is_checked() -> None:
    assert fallback_url({}, "http://127.0.0.1:4566") == "http://127.0.0.1:4567"
    assert fallback_url({"FRAUDLAB_FALLBACK_PORT": "4999"}, "http://localhost:4566") == \
        "http://127.0.0.1:4999"
    with pytest.raises(EndpointError, match="must be a port number"):
        fallback_url({"FRAUDLAB_FALLBACK_PORT": "http://x"}, "http://127.0.0.1:4566")
    with pytest.raises(EndpointError, match="LocalStack's own port"):
        fallback_url({"FRAUDLAB_FALLBACK_PORT": "4566"}, "http://127.0.0.1:4566")


# ---- a real HTTP server that answers like LocalStack ---------------------------------------

class FakeLocalStack:
    """Health/info pages from ``services``/``edition``; API calls (POST) answer the license
    refusal when ``refuse`` is set, else 200 ``{}``. Counts the API calls it gets."""

    def __init__(self, services: dict[str, str], edition: str = "pro",
                 refuse: bool = False) -> None:
        self.calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/_localstack/health":
                    self._send(200, {"services": services, "edition": edition,
                                     "version": "2026.3.0"})
                elif self.path == "/_localstack/info":
                    self._send(200, {"edition": edition, "version": "2026.3.0"})
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.calls += 1
                if refuse:
                    self._send(501, {"__type": "InternalFailure",
                                     "message": LICENSE_REFUSAL.format("ecs")})
                else:
                    self._send(200, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_localstack() -> Iterator[type[FakeLocalStack]]:
    started: list[FakeLocalStack] = []

    def start(*args: object, **kwargs: object) -> FakeLocalStack:
        fake = FakeLocalStack(*args, **kwargs)  # type: ignore[arg-type]
        started.append(fake)
        return fake

    yield start  # type: ignore[misc]
    for fake in started:
        fake.close()


def test_localstack_without_ecs_falls_back_to_moto_on_the_other_port(fake_localstack,
                                                                     free_port) -> None:
    fake = fake_localstack({"s3": "available", "ec2": "available", "ecr": "available"},
                           edition="community")
    ep = open_endpoint({"AWS_ENDPOINT_URL": fake.url, "FRAUDLAB_FALLBACK_PORT": str(free_port)})
    try:
        assert ep.kind == "moto" and ep.url == f"http://127.0.0.1:{free_port}"
        assert ep._server is not None
        assert ep.note.startswith(f"LocalStack at {fake.url} lacks ecs (missing), elbv2 "
                                  "(missing), application-autoscaling (missing)")
        assert ep.note.endswith(f"using the embedded emulator at {ep.url}")
        assert ep.note in ep.describe()
        ecs = ep.client("ecs")
        ecs.create_cluster(clusterName="fallback")
        # (moto's backends are per process: other tests' clusters may be there too)
        assert any(a.endswith("cluster/fallback") for a in ecs.list_clusters()["clusterArns"])
        assert fake.calls == 0  # health already said no: LocalStack got no API call
        # A second process (fraudlab deploy) finds the same moto there without starting one.
        again = open_endpoint({"AWS_ENDPOINT_URL": fake.url,
                               "FRAUDLAB_FALLBACK_PORT": str(free_port)}, start=False)
        assert (again.kind, again.url, again._server) == ("moto", ep.url, None)
        assert again.note == ep.note
    finally:
        ep.stop()
    with pytest.raises(EndpointError, match="no AWS endpoint answers"):
        open_endpoint({"AWS_ENDPOINT_URL": fake.url, "FRAUDLAB_FALLBACK_PORT": str(free_port)},
                      start=False)


def test_a_license_refusal_on_calls_falls_back_without_retrying(fake_localstack,
                                                               free_port) -> None:
    fake = fake_localstack(dict(ALL), edition="pro", refuse=True)
    ep = open_endpoint({"AWS_ENDPOINT_URL": fake.url, "FRAUDLAB_FALLBACK_PORT": str(free_port),
                        "LOCALSTACK_AUTH_TOKEN": "ls-test"})
    try:
        assert ep.kind == "moto" and ep.url.endswith(f":{free_port}")
        assert fake.calls == len(REQUIRED_SERVICES)  # one probe each, no retries
        for service in REQUIRED_SERVICES:
            assert f"{service} (not in the license plan)" in ep.note
        assert "(pro) does not include them" in ep.note
    finally:
        ep.stop()


def test_a_complete_localstack_is_used_after_one_probe_per_service(fake_localstack) -> None:
    fake = fake_localstack(dict(ALL), edition="pro")
    ep = open_endpoint({"AWS_ENDPOINT_URL": fake.url})
    assert (ep.kind, ep.url, ep.note) == ("localstack", fake.url, "")
    assert fake.calls == len(REQUIRED_SERVICES)


def test_attaching_to_a_chosen_localstack_makes_no_probe_calls(fake_localstack) -> None:
    fake = fake_localstack(dict(ALL), edition="pro", refuse=True)
    ep = open_endpoint({"AWS_ENDPOINT_URL": fake.url}, start=False)
    assert (ep.kind, fake.calls) == ("localstack", 0)


def test_up_prints_the_runtime_reason_and_the_endpoint_note(monkeypatch, capsys) -> None:
    import cloud.server.launcher
    from cli.main import main

    info = {"pid": 1, "runtime": "process", "aws_endpoint": "http://127.0.0.1:4567",
            "runtime_why": "process runtime: no Docker engine answered at "
                           "unix:///var/run/docker.sock (FileNotFoundError)",
            "endpoint_kind": "moto", "time_scale": 12.0,
            "endpoint_note": localstack_verdict({}, "community").reason + " at x"}
    monkeypatch.setattr(cloud.server.launcher, "up", lambda runtime, scale: (info, 1.0, False))
    assert main(["up"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "no Docker engine answered at unix:///var/run/docker.sock" in out[0]
    assert out[1] == info["endpoint_note"]


def test_a_busy_fallback_port_is_a_clear_error(fake_localstack) -> None:
    fake = fake_localstack({"s3": "available"}, edition="community")
    other = fake_localstack({}, edition="community")  # not moto, on the fallback port
    port = other.url.rsplit(":", 1)[1]
    with pytest.raises(EndpointError, match="point FRAUDLAB_FALLBACK_PORT at a free port"):
        open_endpoint({"AWS_ENDPOINT_URL": fake.url, "FRAUDLAB_FALLBACK_PORT": port})
