"""What the TUI and the demo say, as plain functions: honest bars and rates, short commands and
reasons, the quiz's verdict, the spike line, what `q` leaves behind."""

from __future__ import annotations

from rich.text import Text

from cli.demo_summary import spike_line
from tui.__main__ import goodbye
from tui.practice.content import QUIZ
from tui.screens.practice import question_text
from tui.screens.walkthrough import command_heading
from tui.view import Rates, bars, human_event, recent_stopped, short_reason, traffic_summary
from tui.walkthrough.steps import _kubernetes, short_cli
from tui.widgets.hosts import host_lines


def test_zero_is_blank_and_a_shared_scale_keeps_8_and_7_close() -> None:
    assert bars([0, 0, 0], 0, 10) == "   "  # an all-zero series is not full bars
    assert bars([8, 7], 8, 10) == "█▇"  # 8 → 7 running is a small step, not a drop to 0
    assert bars([0.01], 100, 5) == "▁"  # above zero shows as at least the lowest bar
    assert bars(list(range(20)), 19, 4) == bars([16, 17, 18, 19], 19, 4)  # the latest fit


def snap(wall: float, counts: dict[str, int]) -> dict:
    targets = [{"id": k, "requests": v} for k, v in counts.items()]
    return {"time_scale": 12.0, "lab_time": wall * 12.0,
            "load_balancer": {"targets": targets, "totals": {"requests": sum(counts.values())}}}


def test_rates_average_over_the_window_so_a_steady_20_reads_20() -> None:
    rates = Rates()
    counts = {"a": 0, "b": 0, "c": 0, "d": 0}
    seen = []
    for step in range(1, 41):  # 20 tx/s in 0.5 s snapshots: each half second only two of the
        for k in ("a", "b") if step % 2 else ("c", "d"):  # four targets get requests
            counts[k] += 5
        rates.update(snap(step * 0.5, dict(counts)))
        if step * 0.5 > rates.window:
            seen.append(rates.total)
            assert all(v > 0 for v in rates.per_target.values())  # healthy ≠ 0.0 r/s
    assert all(abs(v - 20) < 3 for v in seen), seen
    assert all(abs(v - 5) < 1.5 for v in rates.per_target.values()), rates.per_target


def test_stopped_tasks_stay_a_while_then_go() -> None:
    assert recent_stopped({"old": 0.0, "new": 50.0}, now=60.0) == {"new"}


def test_short_texts() -> None:
    reason = ("service fraud-svc was unable to place a task because no container instance met "
              "all of its requirements. The closest matching container-instance abc has "
              "insufficient memory available.")
    assert short_reason(reason) == ("ECS: unable to place a task … insufficient memory "
                                    "available")
    manifest = '{"schemaVersion": 2, "layers": [' + ", ".join(['{"size": 1}'] * 3) + "]}"
    cli = f"aws ecr put-image --repository-name r --image-manifest '{manifest}'"
    assert short_cli(cli) == ("aws ecr put-image --repository-name r --image-manifest "
                              "file://manifest.json (3 layers)")
    assert "topologySpreadConstraints, (anti-)affinity" in _kubernetes(None, 1.0).text
    assert command_heading("aws ecs create-cluster") == "The AWS equivalent"
    assert command_heading("kubectl create deployment") == "The command (kubectl)"
    assert "195.838" not in traffic_summary({"traffic": {"target_rate": 195.838,
                                                         "profile": {"name": "spike"}}})


def test_the_spike_log_line_reads_as_words() -> None:
    assert human_event("traffic: now spike:10:0:36000 at 20 tx/s (phase spike)") == (
        "traffic: now a ×10 spike, 200 tx/s (20 tx/s × 10) (phase spike)")
    assert human_event("traffic: steady at 20 tx/s to http://x") == (
        "traffic: steady at 20 tx/s to http://x")


def test_not_quite_names_the_right_option() -> None:
    q = QUIZ[0]
    wrong = (q.answer + 1) % len(q.options)
    text = question_text(q, wrong).plain
    assert f"not quite: the answer is {q.answer + 1}. {q.options[q.answer]}" in text


def test_the_spike_line_counts_each_lost_request_once() -> None:
    line = spike_line({"ok": 9450, "seconds": 10.0, "dropped": 439, "failed": 439,
                       "errors": {}}, 1000)
    assert "served 945 of the 1000 tx/s" in line
    assert "439 requests not sent" in line and "0 answered with an error" in line
    assert "439 failed" not in line


def test_q_says_the_cloud_keeps_running() -> None:
    assert "`fraudlab down` stops it" in goodbye({"runtime": "process", "lb_url": "u"})


def test_a_full_host_box_packs_its_tasks_and_keeps_the_crash_in_view() -> None:
    host = {"registered_cpu": 2048, "remaining_cpu": 256, "registered_memory": 3891,
            "remaining_memory": 307, "image_cache": ["x/fraud:svc"]}
    tasks = [{"task_id": f"t{i:07d}", "last_status": "RUNNING"} for i in range(7)]
    tasks.append({"task_id": "dead0000", "last_status": "STOPPED", "exit_code": 137})
    full = host_lines(host, tasks, Rates())
    assert len(full) == 2 + 8
    packed = host_lines(host, tasks, Rates(), budget=4, width=36)
    assert len(packed) <= 4
    assert "✕ dead exit 137" in Text("\n").join(packed).plain
