"""`fraudlab report`: runs recorded from snapshots (kept up to a limit) and their HTML report,
parsed back: plotly inline, the series, the events on the time axis, the summary table."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cloud.export.run_report import render
from cloud.export.runs import KEPT, RunRecorder, find_run, prune


def snapshot(lab: float, total: int, running: int, desired: int, events: list[dict]) -> dict:
    return {"lab_time": lab, "time_scale": 12.0,
            "load_balancer": {"totals": {"requests": total},
                              "targets": [{"id": "a" * 32, "state": "healthy",
                                           "requests": total}]},
            "traffic": {"running": True, "target_rate": 20.0,
                        "windows": [{"p50_ms": 3.0, "p99_ms": 40.0}]},
            "services": [{"running": running, "desired": desired}], "timeline": events}


def recorded(tmp_path: Path, name: str) -> Path:
    crash = {"lab": 120.0, "kind": "chaos", "text": "crash: SIGKILL to task abc"}
    spike = {"lab": 240.0, "kind": "traffic", "text": "traffic: now spike:10 at 20 tx/s"}
    rec = RunRecorder(name, meta={"time_scale": 12.0})
    for i in range(40):  # one snapshot per wall second (12 lab seconds)
        lab = i * 12.0
        rec.add(snapshot(lab, 20 * i, 4 if i < 25 else 6, 4 if i < 22 else 6,
                         [crash] if lab >= 120 else [] + ([spike] if lab >= 240 else [])))
    summary = {"phases": [{"name": "steady", "target_rate": 20, "ok": 200, "seconds": 10.0,
                           "sent": 200, "errors": {}, "dropped": 0, "p50_ms": 3.0,
                           "p99_ms": 40.0}]}
    return rec.save(summary, tmp_path)


def plotly_data(page: str) -> list[dict]:
    """The traces handed to Plotly.newPlot for the report's div."""
    call = page.rfind('Plotly.newPlot(')
    assert call >= 0, "no plot in the page"
    start = page.index("[", page.index('"fraudlab-run-plots"', call))
    return json.JSONDecoder().raw_decode(page, start)[0]


def layout(page: str) -> dict:
    call = page.rfind('Plotly.newPlot(')
    data_start = page.index("[", page.index('"fraudlab-run-plots"', call))
    _, end = json.JSONDecoder().raw_decode(page, data_start)
    return json.JSONDecoder().raw_decode(page, page.index("{", end))[0]


def test_a_recorded_run_becomes_one_self_contained_report(tmp_path) -> None:
    run = json.loads(recorded(tmp_path, "one").read_text())
    assert 35 <= len(run["samples"]) <= 40
    assert abs(run["samples"][-1]["served"] - 20.0) < 0.01  # 20 requests per wall second
    page = render([run])
    assert "<script" in page and "plotly.js" in page  # plotly.js inline: opens offline
    assert not re.search(r"<script[^>]+src=", page)
    names = {t.get("name") for t in plotly_data(page)}
    assert {"offered", "served", "p50", "p99", "running", "desired"} <= names
    assert page.count("crash: SIGKILL") == 1  # the events table
    assert ">steady<" in page  # the summary table


def test_two_runs_side_by_side_share_their_axes(tmp_path) -> None:
    runs = [json.loads(recorded(tmp_path, n).read_text()) for n in ("rr", "lor")]
    page = render(runs)
    data = plotly_data(page)
    assert {t["xaxis"] for t in data if t["name"] == "served"} == {"x", "x2"}
    shapes = layout(page)["shapes"]
    assert len(shapes) >= 2 * 4  # each run's crash marked on every row
    assert layout(page)["yaxis2"].get("matches") == "y"  # one scale for both runs' rates


def test_runs_are_kept_up_to_a_limit_and_found_by_name(tmp_path) -> None:
    for i in range(KEPT + 3):
        path = tmp_path / f"run{i:02d}.json"
        path.write_text("{}")
        os.utime(path, (1000 + i, 1000 + i))
    prune(tmp_path)
    left = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(left) == KEPT and left[0] == "run03.json"
    assert find_run(None, tmp_path).name == f"run{KEPT + 2:02d}.json"
    assert find_run("run05", tmp_path).name == "run05.json"
