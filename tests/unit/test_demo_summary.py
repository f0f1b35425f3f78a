"""The demo's summary: rows per phase, tasks per host, and when the lessons count as shown."""

from __future__ import annotations

import io

from cli.demo_summary import DemoSummary, Milestone, phase_rows, render, tasks_per_host


def _phase(name: str, sent: int, failed: int, p99: float) -> dict:
    return {"name": name, "seconds": 10.0, "target_rate": 100.0, "sent": sent,
            "ok": sent - failed, "failed": failed, "errors": {"http_5xx": failed} if failed
            else {}, "dropped": 0, "latency": {"p50_ms": 3.04, "p99_ms": p99}}


def _summary(scale_in_failed: int = 0, scaled_out: bool = True) -> DemoSummary:
    s = DemoSummary(phases=phase_rows([_phase("steady", 1000, 0, 12.34),
                                       _phase("crash", 500, 3, 40.0),
                                       _phase("scale-in", 800, scale_in_failed, 9.0)]))
    s.crash = Milestone(True, 1.5, {"stopped_reason": "Essential container in task exited",
                                    "exit_code": 137})
    s.scale_out = Milestone(scaled_out, 20.0 if scaled_out else None, {"from": 4, "to": 8})
    s.scale_in = Milestone(True, 45.0, {"from": 8, "to": 4})
    return s


def test_phase_rows_keep_failures_and_round_latency() -> None:
    rows = _summary().phases
    assert [r["name"] for r in rows] == ["steady", "crash", "scale-in"]
    assert rows[1]["failed"] == 3 and rows[1]["errors"] == {"http_5xx": 3}
    assert rows[0]["p99_ms"] == 12.3 and rows[0]["p50_ms"] == 3.0


def test_lessons_need_recovery_scale_out_and_a_clean_scale_in() -> None:
    assert _summary().lessons_shown
    assert not _summary(scale_in_failed=1).lessons_shown  # crash failures are allowed, not these
    assert not _summary(scaled_out=False).lessons_shown
    assert _summary().as_dict()["lessons_shown"] is True


def test_tasks_per_host_counts_running_tasks_only() -> None:
    snap = {"hosts": [{"instance_id": "i-1"}, {"instance_id": "i-2"}],
            "tasks": [{"host": "i-1", "last_status": "RUNNING"},
                      {"host": "i-1", "last_status": "STOPPED"},
                      {"host": "i-2", "last_status": "RUNNING"},
                      {"host": "i-2", "last_status": "RUNNING"}]}
    assert tasks_per_host(snap) == {"i-1": 1, "i-2": 2}


def test_render_names_every_phase_and_milestone() -> None:
    out = io.StringIO()
    summary = _summary(scaled_out=False)
    summary.tasks_per_host = {"peak": {"i-1": 4, "i-2": 4}}
    render(summary, out)
    text = out.getvalue()
    for piece in ("steady", "crash", "scale-in", "crash → replacement serving: 1.5 s",
                  "scaled out 4 → 8 tasks: did NOT happen", "scaled in 8 → 4 tasks: 45.0 s",
                  "tasks per host (peak): i-1: 4, i-2: 4", "lessons shown: NO"):
        assert piece in text, piece
