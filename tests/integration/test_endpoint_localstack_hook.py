"""localstack/ready.d/10-fraudlab.sh, run for real: against moto it creates the ECR repository
once and changes nothing the second time; against a LocalStack that refuses ECS ("not included
in your current license plan") it says so in one line and exits 0.

``awslocal`` is a small stand-in on PATH (the LocalStack image has the real one): it turns
``awslocal SERVICE OPERATION --param value …`` into the boto3 call through botocore's service
model, against ``$AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cloud.aws.endpoint import open_endpoint

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "localstack" / "ready.d" / "10-fraudlab.sh"

AWSLOCAL = '''
import os, sys
import boto3
from botocore.config import Config

service, operation, args = sys.argv[1], sys.argv[2], sys.argv[3:]
client = boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
names = {client.meta.method_to_api_mapping[m]: m for m in client.meta.method_to_api_mapping}
op = next(api for api in names if names[api] == operation.replace("-", "_"))
shape = client.meta.service_model.operation_model(op).input_shape
members = {k.lower(): (k, v) for k, v in (shape.members.items() if shape else [])}
params, i = {}, 0
while i < len(args):
    key, kind = members[args[i][2:].replace("-", "")]
    value = args[i + 1]
    if kind.type_name == "list":
        params[key] = [value]
    elif kind.type_name == "structure":
        k, _, v = value.partition("=")
        params[key] = {k: v == "true"}
    else:
        params[key] = value
    i += 2
try:
    getattr(client, names[op])(**params)
except Exception as exc:
    print(exc, file=sys.stderr)
    sys.exit(254)
'''


@pytest.fixture
def awslocal_path(tmp_path: Path) -> str:
    shim = tmp_path / "bin" / "awslocal"
    shim.parent.mkdir()
    shim.write_text(f"#!{sys.executable}\n{AWSLOCAL}")
    shim.chmod(0o755)
    return f"{shim.parent}{os.pathsep}{os.environ['PATH']}"


def _run_hook(path: str, url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": path, "AWS_ENDPOINT_URL": url}
    return subprocess.run(["bash", str(HOOK)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_hook_creates_the_repository_once(awslocal_path, free_port) -> None:
    ep = open_endpoint({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port}"})
    try:
        ecr = ep.client("ecr")
        if any(r["repositoryName"] == "fraud-detection"
               for r in ecr.describe_repositories()["repositories"]):
            ecr.delete_repository(repositoryName="fraud-detection", force=True)
        first = _run_hook(awslocal_path, ep.url)
        assert first.returncode == 0, first.stderr
        assert "created ECR repository fraud-detection" in first.stdout
        assert "the kit can use it" in first.stdout
        second = _run_hook(awslocal_path, ep.url)
        assert second.returncode == 0, second.stderr
        assert "ECR repository fraud-detection already exists" in second.stdout
        repos = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
        assert repos.count("fraud-detection") == 1
    finally:
        ep.stop()


def test_the_hook_names_what_the_plan_lacks(awslocal_path) -> None:
    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"__type": "InternalFailure", "message": (
                "The API for service 'ecs' is either not included in your current license "
                "plan or has not yet been emulated by LocalStack.")}).encode()
            self.send_response(501)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        done = _run_hook(awslocal_path, f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("fraudlab:")]
    assert len(lines) == 1
    assert lines[0].startswith("fraudlab: LocalStack lacks ecs (not in the license plan), ecr "
                               "(not in the license plan), elbv2 (not in the license plan), "
                               "application-autoscaling (not in the license plan): ")
    assert "Base plan" in lines[0] and "create" not in done.stdout
