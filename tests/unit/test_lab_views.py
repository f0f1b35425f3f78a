"""The labs' pure pieces: HTML views of a snapshot, badges, pull time, ROI, the lab command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from labs.kit import views
from labs.kit.checks import CheckResult, results_html
from labs.kit.template import badge_html
from labs.lessons import lab01_image, lab08_aws_vs_kubernetes
from labs.server import lab_command

ROOT = Path(__file__).resolve().parents[2]


def _snap(requests: tuple[int, int] = (30, 10)) -> dict:
    tasks = [{"task_id": f"task{i}aaaaaaaa", "host": f"i-{i % 2}", "last_status": status,
              "stopped_reason": "Essential container in task exited" if status == "STOPPED"
              else None, "pull_seconds": 2.0, "pull_cached": i > 1}
             for i, status in enumerate(["RUNNING", "RUNNING", "PENDING", "STOPPED"])]
    return {
        "hosts": [{"instance_id": f"i-{h}", "az": "us-east-1a", "type": "t3.medium",
                   "status": "ACTIVE", "registered_cpu": 2048, "remaining_cpu": 1536,
                   "registered_memory": 3891, "remaining_memory": 2867,
                   "image_cache": ["repo/fraud-detection:svc-abc"]} for h in (0, 1)],
        "tasks": tasks,
        "service_metrics": {"tasks": [{"task_id": "task0aaaaaaaa", "cpu_percent": 42.0,
                                       "memory_percent": 9.0}],
                            "services": {"fraud-svc": {"CPUUtilization": 33.0}}},
        "load_balancer": {"algorithm": "round_robin", "retry_label": "kit-only",
                          "targets": [{"id": "task0aaaaaaaa", "state": "healthy",
                                       "requests": requests[0], "outstanding": 3},
                                      {"id": "task1aaaaaaaa", "state": "draining",
                                       "requests": requests[1], "outstanding": 0,
                                       "elb_502": 2}],
                          "totals": {"elb_502": 2}, "trace": [
                              {"reason": "round robin: task0 (turn 1 of 2)", "status": 200,
                               "latency_ms": 3.2}]},
        "services": [{"name": "fraud-svc", "running": 2, "desired": 4}],
        "alb_metrics": {"RequestCount": 120.0},
        "traffic": {"latency": {"p99_ms": 40.0}},
        "timeline": [{"lab": 5, "badge": "simulated", "text": "unable to place a task"}],
    }


def test_hosts_view_puts_each_task_in_its_host() -> None:
    out = views.hosts_html(_snap())
    assert out.count("t3.medium") == 2
    assert "RUNNING</b> task0aaa" in out and "cpu 42%" in out
    assert "PENDING" in out and "cached" in out and "pulled 2s" in out
    assert "Essential container in task exited" in out  # the stopped task, with its reason
    assert "unable to place a task" in out


def test_routing_bars_scale_with_requests() -> None:
    out = views.routing_html(_snap((30, 10)), width=300)
    assert "width:300px" in out and "width:100px" in out
    assert "3 outstanding" in out and "draining" in out and "502: 2" in out
    assert "round robin: task0" in out


def test_metric_point_and_charts() -> None:
    point = views.metric_point(_snap())
    assert point == {"throughput": 120.0, "p99_ms": 40.0, "running": 2.0, "desired": 4.0,
                     "cpu": 33.0}
    html = views.charts_html([point, {**point, "running": 4.0}])
    assert "running tasks: <b>4</b>" in html and html.count("<svg") == 5


def test_sparkline_scales_to_its_max() -> None:
    svg = views.sparkline_svg([0, 5, 10], width=100, height=40)
    assert "0.0,38.0" in svg and "100.0,2.0" in svg
    assert "polyline" not in views.sparkline_svg([])


def test_badges_and_bad_badge() -> None:
    assert "REAL" in badge_html("real") and "EMULATED" in badge_html("emulated")
    with pytest.raises(ValueError, match="badge must be one of"):
        badge_html("fake")


def test_check_results_show_hints_only_when_failed() -> None:
    out = results_html([CheckResult("a", True, "ok", "never shown"),
                        CheckResult("b", False, "0 tasks", "deploy first")])
    assert "never shown" not in out and "deploy first" in out and "1 of 2 passed" in out


def test_pull_time() -> None:
    assert lab01_image.pull_seconds(125_000_000, 1000) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        lab01_image.pull_seconds(1, 0)


def test_roi_follows_the_measured_model() -> None:
    model = json.loads((ROOT / "service" / "artifacts" / "report.json").read_text())
    two = lab08_aws_vs_kubernetes.roi({"crash": {"recovery_seconds": 3.5}}, model, hosts=2)
    four = lab08_aws_vs_kubernetes.roi({}, model, hosts=4)
    decline = model["at_thresholds"]["decline"]
    assert two["recall"] == round(decline["recall"], 3)
    assert two["caught_per_day"] == round(1_000_000 * model["fraud_rate"] * decline["recall"])
    assert four["cost_usd_per_day"] > two["cost_usd_per_day"]
    assert two["measured_recovery_s"] == 3.5 and four["measured_recovery_s"] is None


def test_lab_command_is_loopback_with_a_token() -> None:
    argv = lab_command(8888, "x" * 24)
    assert "--ServerApp.ip=127.0.0.1" in argv and "--no-browser" in argv
    assert f"--IdentityProvider.token={'x' * 24}" in argv
    assert "--no-browser" not in lab_command(8888, "x" * 24, browser=True)
    with pytest.raises(ValueError, match="token"):
        lab_command(8888, "short")
    with pytest.raises(ValueError, match="port"):
        lab_command(0, "x" * 24)


def test_lab08_renders_the_shared_mapping() -> None:
    from cloud.export.mapping import ROWS

    table = lab08_aws_vs_kubernetes.mapping_widget().value
    assert all(r.concept.split("&")[0].strip()[:20] in table for r in ROWS)
    assert len(lab08_aws_vs_kubernetes.mapping_table()) == len(ROWS)


def test_image_layers_fall_back_to_the_service_files() -> None:
    from cloud.aws.steps.ecr import service_layers

    info = lab01_image.image_layers("fraudlab/no-such-image:never")
    assert info["source"].startswith("the service's files")
    assert [r["layer"] for r in info["layers"]] == [name for name, _, _ in service_layers()]
    assert info["total"] == sum(size for _, _, size in service_layers()) > 0
