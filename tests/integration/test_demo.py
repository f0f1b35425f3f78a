"""``fraudlab demo``: local cloud up, deploy, real transactions through the load balancer, a
crash and its recovery, the AWS API's truth, down — as one command, on the process runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from cloud.replica import free_port
from service.contract import to_model_row
from service.examples import sample_requests
from service.model import load_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "FRAUDLAB_STATE_DIR": str(tmp_path),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}


def _fraudlab(env, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloud.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_json_reports_real_decisions_and_the_recovery(env) -> None:
    run = _fraudlab(env, "demo", "--json", "--runtime", "process", "--count", "8",
                    "--seed", "3")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    summary, decisions = result["summary"], result["decisions"]
    assert summary["runtime"] == "process"
    assert summary["transactions"] == len(decisions) == 8
    assert summary["tasks_that_answered"] == 4
    assert summary["frauds"] == 2  # a quarter of 8
    assert summary["describe_services"] == {"desiredCount": 4, "runningCount": 4,
                                            "pendingCount": 0}
    assert summary["stopped_reason"] == "Essential container in task exited"
    assert summary["exit_code"] == 137
    assert summary["replacement_task"] not in (summary["crashed_task"], "")

    model = load_model("litert")
    sent = {b["transaction_id"]: b for b, _ in sample_requests(8, seed=3, fraud_share=0.25)}
    for d in decisions:
        body = {**sent[d["transaction_id"]]}
        body["tx_datetime"] = datetime.fromisoformat(body["tx_datetime"])
        assert d["score"] == pytest.approx(model.scores([to_model_row(body)])[0], abs=1e-6)
        assert d["decision"] == model.decision(d["score"])
    # Nothing is left running: the state directory says no cloud, and down agrees.
    assert not (Path(env["FRAUDLAB_STATE_DIR"]) / "cloud.json").exists()
    assert "no local cloud was running" in _fraudlab(env, "down").stdout


def test_demo_narration_shows_badges_commands_and_lessons(env) -> None:
    run = _fraudlab(env, "demo", "--runtime", "process", "--count", "4", "--desired", "2")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for text in ("[REAL]", "[EMULATED]", "[SIMULATED]", "$ aws ecr create-repository",
                 "$ aws ecs create-service", "has reached a steady state",
                 "Myth check:", "passed their health check", "to the load balancer",
                 "it does not look for the least busy", "ECS replaced it", "exitCode 137",
                 "accurate and catch none"):
        assert text in out, text


def test_demo_rejects_bad_input_clearly(env) -> None:
    run = _fraudlab(env, "demo", "--count", "0")
    assert run.returncode == 2
    assert "--count must be between 1 and 10000, got 0" in run.stderr
    assert "Traceback" not in run.stderr
