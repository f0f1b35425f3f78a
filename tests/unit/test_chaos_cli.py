"""``fraudlab oom`` / ``fraudlab bad-deploy`` and the controller's pure chaos helpers."""

from __future__ import annotations

import pytest

from cli import main as cli
from cloud.ecs.controller import (
    BAD_ENVIRONMENT,
    deployment_config,
    deployment_configuration,
    registration,
)
from cloud.ecs.scheduler import DeploymentConfig


class FakeControl:
    def __init__(self, answers: dict[str, dict]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict]] = []

    def post(self, path: str, body: dict | None = None) -> dict:
        self.calls.append((path, body or {}))
        return self.answers[path]


@pytest.fixture
def control(monkeypatch) -> FakeControl:
    fake = FakeControl({
        "/v1/oom": {"oom": "a" * 32},
        "/v1/bad-deployment": {
            "task_definition": "arn:aws:ecs:us-east-1:123456789012:task-definition/fd:2",
            "previous_task_definition": "arn:aws:ecs:us-east-1:123456789012:"
                                        "task-definition/fd:1",
            "why": "MODEL_RUNTIME=tflite: …", "cli": "aws ecs update-service …",
            "circuit_breaker_threshold": 3}})
    monkeypatch.setattr("cloud.server.launcher.connect", lambda: fake)
    return fake


def test_oom_takes_an_optional_task(control, capsys) -> None:
    assert cli.main(["oom"]) == 0
    assert cli.main(["oom", "abc1"]) == 0
    assert control.calls == [("/v1/oom", {"task": None}), ("/v1/oom", {"task": "abc1"})]
    out = capsys.readouterr().out
    assert "OutOfMemoryError: Container killed due to memory usage" in out and "137" in out


def test_bad_deploy_posts_and_explains(control, capsys) -> None:
    assert cli.main(["bad-deploy"]) == 0
    assert control.calls == [("/v1/bad-deployment", {})]
    out = capsys.readouterr().out
    assert "fd:2" in out and "rolls back to fd:1" in out and "3 failed tasks" in out


def test_deployment_configuration_round_trip_and_ecs_defaults() -> None:
    assert deployment_config({}) == DeploymentConfig(100, 200, False, False)
    config = DeploymentConfig(50, 150, True, True)
    assert deployment_config({"deploymentConfiguration": deployment_configuration(config)}) \
        == config


def test_registration_changes_only_the_environment() -> None:
    described = {
        "taskDefinitionArn": "arn:…:task-definition/fd:1", "revision": 1, "status": "ACTIVE",
        "family": "fd", "networkMode": "host", "cpu": "256", "memory": "512",
        "requiresCompatibilities": ["EC2"], "compatibilities": ["EC2"], "volumes": [],
        "containerDefinitions": [{"name": "fd", "image": "img", "memory": 512,
                                  "environment": [{"name": "MODEL_RUNTIME", "value": "litert"},
                                                  {"name": "X", "value": "1"}]}]}
    args = registration(described, BAD_ENVIRONMENT)
    assert set(args) == {"family", "networkMode", "cpu", "memory", "requiresCompatibilities",
                         "containerDefinitions"}
    assert args["containerDefinitions"][0]["environment"] == [
        {"name": "MODEL_RUNTIME", "value": "tflite"}, {"name": "X", "value": "1"}]
    assert described["containerDefinitions"][0]["environment"][0]["value"] == "litert"
