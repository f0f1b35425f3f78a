"""Observer mode in the terminal app: the dashboard renders a cluster read from the emulator
alone (filled by the ECS-agent harness); stop-task waits for a yes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ecs_agent_harness import (
    CLUSTER,
    SERVICE,
    Cluster,
    build_cluster,
    loopback_only,
)
from test_tui_dashboard import rendered_text, screen_text
from tui_fake import settle, shows

from cloud.aws.endpoint import Endpoint
from cloud.aws.real.access import TEST_ENDPOINT_ENV

SIZE = (80, 24)
FIRST_PAINT = 60.0  # s: the first poll makes the boto3 clients (slow on a loaded machine)


@pytest.fixture(autouse=True)
def no_packet_off_loopback(monkeypatch) -> None:
    loopback_only(monkeypatch)


@pytest.fixture(scope="module")
def cluster(emulator: Endpoint) -> Cluster:
    return build_cluster(emulator)


@pytest.fixture(autouse=True)
def test_endpoint(monkeypatch, emulator: Endpoint) -> None:
    """The kit's one endpoint override for real-AWS code (cloud.aws.real.access)."""
    monkeypatch.setenv(TEST_ENDPOINT_ENV, emulator.url)


def make_app(emulator: Endpoint, tmp_path) -> Any:
    from cloud.aws.observer_client import ObserverClient
    from tui.app import FraudLabApp
    from tui.backend import ObserverBackend

    client = ObserverClient(CLUSTER, SERVICE, poll_seconds=0.2,
                            traffic_url="http://127.0.0.1:9")  # never the ALB in tests
    backend = ObserverBackend(CLUSTER, SERVICE, client=client)
    return FraudLabApp(backend, rate=5.0, progress_path=tmp_path / "progress.json")


def test_the_dashboard_renders_the_observed_cluster(emulator: Endpoint, cluster: Cluster,
                                                    tmp_path) -> None:
    async def body() -> None:
        app = make_app(emulator, tmp_path)
        try:
            async with app.run_test(size=SIZE) as pilot:
                task = sorted(cluster.tasks)[0]
                await settle(pilot, shows(lambda: screen_text(app), *cluster.instances,
                                          f"{task[:8]} RUNNING", "has reached a steady state",
                                          "1200 req 5xx 3 avg", "desired 2 running 2"),
                             timeout=FIRST_PAINT)
                text = screen_text(app)
                assert "[REAL]" in text and "[SIMULATED]" not in text
                assert "cache" not in text  # the agent does not report image caches
                assert "r/s" not in text.split("target")[0]  # no per-task request rates
                assert "not reported by AWS" in text
                assert "auto scaling 1–4 AlarmHigh ALARM >60×3 AlarmLow OK <54×15" in text
                assert f"observing {CLUSTER}/{SERVICE}" in app.sub_title
                # the terminal's picture follows the widgets at the next repaint
                await settle(pilot, shows(lambda: rendered_text(app), f"{task[:8]} RUNNING",
                                          "AWS us-east-1"))
                await pilot.press("question_mark")
                await settle(pilot, shows(lambda: rendered_text(app), "ecs stop-task, after",
                                          "stops its traffic"))
        finally:
            app.backend.close()
    asyncio.run(body())


def test_stop_task_asks_first_and_no_sends_nothing(emulator: Endpoint, cluster: Cluster,
                                                   tmp_path) -> None:
    from tui.screens.confirm import ConfirmScreen

    ecs = emulator.client("ecs")

    def desired(task: str) -> str:
        return ecs.describe_tasks(cluster=CLUSTER, tasks=[task])["tasks"][0]["desiredStatus"]

    async def body() -> None:
        app = make_app(emulator, tmp_path)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot, shows(lambda: screen_text(app), "desired 2 running"),
                             timeout=FIRST_PAINT)
                await pilot.press("c")
                await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                question = app.screen.question
                task = next(t for t in cluster.tasks if t in question)
                assert "REAL AWS" in question and "aws ecs stop-task" in question
                await pilot.press("n")
                await settle(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
                assert desired(task) == "RUNNING"
                await pilot.press("c")
                await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("y")
                await settle(pilot, lambda: desired(task) == "STOPPED")
                await settle(pilot, shows(lambda: screen_text(app), f"stop-task {task}"))
        finally:
            app.backend.close()
    asyncio.run(body())


def test_the_footer_shows_only_the_keys_that_act_on_aws(emulator: Endpoint, cluster: Cluster,
                                                        tmp_path) -> None:
    """At 80×24 the footer lists c, t, s, ?, q; k, +/-, a, r, l, w, p are left out (Textual's
    check_action) and pressing them does nothing; the help says which aws command does it."""
    async def body() -> None:
        app = make_app(emulator, tmp_path)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot, shows(lambda: screen_text(app), "desired 2 running 2"),
                             timeout=FIRST_PAINT)
                await settle(pilot, shows(lambda: rendered_text(app), "AlarmLow OK <54×15"))
                rows = rendered_text(app).rstrip().splitlines()
                assert "AlarmHigh ALARM >60×3" in rows[1] + rows[2]  # the status line wraps
                footer = rows[-1]
                for shown in ("Crash", "Traffic", "Spike", "Help", "Quit"):
                    assert shown in footer, footer
                for hidden in ("Kill", "Scale", "Walk", "Practice"):
                    assert hidden not in footer, footer
                notified = len(app._notifications)
                for key in ("k", "plus", "minus", "a", "r", "l", "w", "p"):
                    await pilot.press(key)
                await pilot.pause()
                # w and p did not leave the dashboard
                assert app.screen is app.get_screen("dashboard")
                assert len(app._notifications) == notified  # nothing refused: nothing ran
                await pilot.press("question_mark")
                await settle(pilot, shows(lambda: rendered_text(app), "aws ec2 terminate-inst",
                                          "update-service --desired-count",
                                          "modify-target-group-attributes"))
                help_screen = rendered_text(app)
                assert "✗ not in observer mode" in help_screen
        finally:
            app.backend.close()
    asyncio.run(body())
