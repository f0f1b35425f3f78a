"""The local cloud next to a LocalStack without ECS: it says why in one line, runs moto on
the other port, and the deploy works there end to end (process runtime, real replicas).

The "LocalStack" is a real HTTP server on 127.0.0.1 answering ``/_localstack/health`` the way
a token-less or free-plan LocalStack does (no ecs, elbv2 or application-autoscaling).
"""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cloud.core import state_dir as state
from cloud.server.localcloud import LocalCloud
from service.contract import example_transaction

HEALTH = {"services": {"s3": "available", "ec2": "available", "ecr": "available",
                       "cloudwatch": "available"}, "edition": "community"}


@pytest.fixture
def fake_localstack():
    class Health(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps(HEALTH).encode()
            self.send_response(200 if self.path.startswith("/_localstack/") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_kit_falls_back_to_moto_on_the_other_port_and_deploys_there(
        tmp_path, monkeypatch, free_port_factory, wait_for, fake_localstack) -> None:
    from cli.main import main
    from cloud.aws.steps.plan import deploy_all

    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    port = free_port_factory()
    lc = LocalCloud("process", time_scale=12.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": fake_localstack,
                         "FRAUDLAB_FALLBACK_PORT": str(port)})
    try:
        lc.start()
        assert (lc.endpoint.kind, lc.endpoint.url) == ("moto", f"http://127.0.0.1:{port}")
        note = lc.endpoint.note
        assert note.startswith(f"LocalStack at {fake_localstack} lacks ecs (missing), elbv2 "
                               "(missing), application-autoscaling (missing): LocalStack runs "
                               "without LOCALSTACK_AUTH_TOKEN")
        assert "\n" not in note
        # The line reaches everyone who reports the endpoint: cloud.json (`fraudlab up`),
        # the snapshot (`fraudlab status`, the TUI).
        assert state.read_cloud()["endpoint_note"] == note
        assert state.read_cloud()["aws_endpoint"] == lc.endpoint.url
        assert lc.snapshot()["endpoint_note"] == note

        steps = deploy_all(lc.endpoint.client, desired=2, placement="spread", hosts=1)
        assert steps[-1].result["serviceName"] == "fraud-svc"

        def running():
            tasks = [t for t in lc.snapshot()["tasks"] if t["last_status"] == "RUNNING"]
            return tasks if len(tasks) == 2 else None

        tasks = wait_for(running, 60, "2 RUNNING tasks on the fallback emulator")
        for task in tasks:
            reply = requests.post(f"{task['url']}/predict", json=example_transaction(),
                                  timeout=5)
            assert reply.status_code == 200 and reply.json()["task_id"] == task["task_id"]
        ecs = lc.endpoint.client("ecs")
        svc = ecs.describe_services(cluster="fraud-cluster", services=["fraud-svc"])
        assert svc["services"][0]["runningCount"] == 2

        out = io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        assert main(["status"]) == 0
        assert note in out.getvalue()
    finally:
        lc.stop()
