"""`fraudlab tui` and `python -m tui`: arguments, the backend's start/attach, view arithmetic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tui_fake import canned_snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_fraudlab_tui_parses_its_options() -> None:
    from cli.main import build_parser

    args = build_parser().parse_args(["tui", "--attach", "--runtime", "process",
                                      "--time-scale", "30", "--rate", "50", "--walkthrough"])
    assert (args.attach, args.runtime, args.time_scale, args.rate, args.walkthrough) == (
        True, "process", 30.0, 50.0, True)
    assert args.handler == "tui.__main__:run"


def test_the_cli_does_not_import_textual_until_tui_runs() -> None:
    code = ("import sys, cli.main; cli.main.build_parser(); "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "False"


def test_attach_only_without_a_cloud_says_how_to_start_one(tmp_path, monkeypatch) -> None:
    from tui.backend import Backend

    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="fraudlab up"):
        Backend(start=False).connect()


def test_python_m_tui_help() -> None:
    out = subprocess.run([sys.executable, "-m", "tui", "--help"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "--attach" in out and "--walkthrough" in out


def test_rates_come_from_the_load_balancer_counters() -> None:
    from tui.view import History

    first = canned_snapshot()
    second = canned_snapshot()
    second["lab_time"] = first["lab_time"] + 24.0  # 2 wall seconds at time scale 12
    for t in second["load_balancer"]["targets"]:
        t["requests"] += 10
    second["load_balancer"]["totals"]["requests"] += 40
    history = History()
    history.update(first)
    history.update(second)
    assert history.rates.per_target["88ae467b2f3169f021ca31969e3de7bb"] == pytest.approx(5.0)
    assert history.rates.total == pytest.approx(20.0)
    assert list(history.throughput) == [0.0, 20.0]
    assert list(history.running)[-1] == 4.0 and list(history.desired)[-1] == 4.0


def test_unplaced_reads_ecs_event_and_counts() -> None:
    from tui.view import unplaced

    snap = canned_snapshot()
    assert unplaced(snap) == []
    snap["services"][0]["desired"] = 5
    assert unplaced(snap) == [("fraud-svc", 1, "waiting for the scheduler's next pass")]
