"""Where AWS API calls go: the environment's rules, loopback only, LocalStack detection."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cloud.aws.endpoint import EndpointError, endpoint_url, open_endpoint, require_loopback


@pytest.mark.parametrize(("env", "url"), [
    ({}, "http://127.0.0.1:4566"),
    ({"LOCALSTACK_HOST": "localhost:4567"}, "http://localhost:4567"),
    ({"LOCALSTACK_HOST": "127.0.0.1"}, "http://127.0.0.1:4566"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000/", "LOCALSTACK_HOST": "x:1"},
     "http://127.0.0.1:5000"),
])
def test_endpoint_url_follows_localstack_clients_rules(env, url) -> None:
    assert endpoint_url(env) == url


@pytest.mark.parametrize("url", ["http://10.0.0.1:4566", "http://192.168.1.5:4566",
                                 "http://172.17.0.1:4566", "https://ecs.amazonaws.com"])
def test_off_loopback_endpoints_are_refused(url) -> None:
    with pytest.raises(EndpointError, match=r"only talks to 127\.0\.0\.1"):
        require_loopback(url)
    with pytest.raises(EndpointError):
        open_endpoint({"AWS_ENDPOINT_URL": url})


def test_loopback_is_accepted() -> None:
    for url in ("http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566"):
        require_loopback(url)


def _fake_localstack(services: dict[str, str]) -> ThreadingHTTPServer:
    class Health(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"services": services, "edition": "pro"}).encode()
            self.send_response(200 if self.path == "/_localstack/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_localstack_is_used_when_it_answers() -> None:
    httpd = _fake_localstack({"ecs": "available", "ecr": "running", "s3": "available",
                             "elbv2": "available", "application-autoscaling": "running"})
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        ep = open_endpoint({"AWS_ENDPOINT_URL": url})
        assert ep.kind == "localstack" and ep.badge == "emulated"
        assert ep.services["ecs"] == "available"
        assert "ecs (available)" in ep.describe() and "cloudwatch (missing)" in ep.describe()
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_something_else_on_the_port_is_a_clear_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(EndpointError, match="not LocalStack already listens"):
            open_endpoint({"AWS_ENDPOINT_URL": url})
        httpd.shutdown()


def test_moto_starts_answers_with_dummy_credentials_and_stops(monkeypatch) -> None:
    from cloud.core.ports import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    url = f"http://127.0.0.1:{free_port()}"
    ep = open_endpoint({"AWS_ENDPOINT_URL": url})
    try:
        assert ep.kind == "moto"
        ecs = ep.client("ecs")
        assert ecs.meta.endpoint_url == url
        assert ecs._request_signer._credentials.access_key == "test"
        ecs.create_cluster(clusterName="probe")
        assert any(a.endswith("cluster/probe") for a in ecs.list_clusters()["clusterArns"])
        attached = open_endpoint({"AWS_ENDPOINT_URL": url}, start=False)
        assert attached.kind == "moto" and attached._server is None
    finally:
        ep.stop()
    with pytest.raises(EndpointError, match="no AWS endpoint answers"):
        open_endpoint({"AWS_ENDPOINT_URL": url}, start=False)


def test_isolate_aws_environment_keeps_only_the_endpoint() -> None:
    from cloud.aws.endpoint import LOCAL_AWS_ENVIRONMENT, isolate_aws_environment

    environ = {"AWS_PROFILE": "work", "AWS_DEFAULT_PROFILE": "", "AWS_SESSION_TOKEN": "x",
               "AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_DEFAULT_REGION": "eu-west-3",
               "HOME": "/root"}
    changed = isolate_aws_environment(environ)
    assert environ == {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "HOME": "/root",
                       **LOCAL_AWS_ENVIRONMENT}
    assert {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"} <= set(changed)
    assert isolate_aws_environment(environ) == []  # idempotent
