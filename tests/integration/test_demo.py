"""``fraudlab demo``: a real replica process, real HTTP, the real model's decisions."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from service.contract import to_model_row
from service.examples import sample_requests
from service.model import load_model

ROOT = Path(__file__).resolve().parents[2]


def _fraudlab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cloud.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_json_reports_real_decisions() -> None:
    run = _fraudlab("demo", "--json", "--count", "8", "--seed", "3")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    summary, decisions = result["summary"], result["decisions"]
    assert summary["transactions"] == len(decisions) == 8
    assert summary["replica_exit_code"] == 0  # stopped gracefully by SIGTERM
    assert summary["frauds"] == 2  # a quarter of 8

    model = load_model("litert")
    assert summary["model_version"] == model.version
    sent = {body["transaction_id"]: body for body, _ in sample_requests(8, seed=3,
                                                                         fraud_share=0.25)}
    for d in decisions:
        body = {**sent[d["transaction_id"]]}
        body["tx_datetime"] = datetime.fromisoformat(body["tx_datetime"])
        expected = model.scores([to_model_row(body)])[0]
        assert d["score"] == pytest.approx(expected, abs=1e-6)
        assert d["decision"] == model.decision(d["score"])
        assert d["task_id"] == "task-demo-1"


def test_demo_narration_shows_badges_and_the_lesson() -> None:
    run = _fraudlab("demo", "--count", "4")
    assert run.returncode == 0, run.stderr
    assert "[REAL]" in run.stdout
    assert "GET /ready → 200" in run.stdout
    assert "accurate and catch none" in run.stdout


def test_demo_rejects_a_bad_count_clearly() -> None:
    run = _fraudlab("demo", "--count", "0")
    assert run.returncode == 2
    assert "--count must be between 1 and 10000, got 0" in run.stderr
    assert "Traceback" not in run.stderr
