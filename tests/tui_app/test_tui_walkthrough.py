"""Pilot tests: the walkthrough's steps, their run actions, and the progress file."""

from __future__ import annotations

import asyncio
import json

from tui_fake import settle, shows

from tui.walkthrough.steps import STEPS

SIZE = (80, 24)
IDS = [s.id for s in STEPS]


def detail(app) -> str:
    return str(app.screen.query_one("#detail").render())


def test_every_case_study_part_is_a_step_with_its_lesson() -> None:
    assert IDS == ["image", "ecr", "taskdef", "cluster", "service", "network", "lb", "traffic",
                   "crash", "spike", "scale-in", "k8s"]
    for step in STEPS:
        assert step.what and step.cli and step.myth and step.fact
        assert step.badge in ("real", "emulated", "simulated")
        assert "ecs-facts.md §11" in step.fact


def test_walkthrough_shows_the_step_and_runs_the_crash(make_app, fake, tmp_path) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("w")
            await settle(pilot, shows(lambda: detail(app), "What you'll do"))
            assert app.screen.id == "walkthrough" or "Image" in detail(app)
            text = detail(app)
            assert "What you'll do" in text and "$ docker build" in text
            # no Docker engine needed: the kit hashes files, so step 1 is not badged REAL
            assert "[SIMULATED]" in text and "Myth" in text and "§11c" in text
            for _ in range(IDS.index("crash")):
                await pilot.press("n")
            await settle(pilot, shows(lambda: detail(app), "SIGKILL one task"))
            assert "SIGKILL one task" in detail(app)
            await pilot.press("x")
            await settle(pilot, lambda: "crash" in app.screen.progress.done)
            assert fake.posts == [("/v1/crash", {})]
            await settle(pilot, shows(lambda: detail(app), "SIGKILL to task 88ae467b"))
            assert "SIGKILL to task 88ae467b" in detail(app)
            saved = json.loads((tmp_path / "progress.json").read_text())
            assert saved["done"] == ["crash"] and saved["current"] == "crash"
    asyncio.run(body())


def test_a_failing_step_is_shown_not_raised(make_app, fake) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("w")
            await pilot.press("n")  # ECR: needs the AWS endpoint, which the fake cloud has not
            await pilot.press("x")
            await settle(pilot, lambda: app._notifications)
            note = list(app._notifications)[-1]
            assert note.severity == "error" and "AWS endpoint is unknown" in note.message
            assert "failed: RuntimeError" in detail(app)
            assert "ecr" not in app.screen.progress.done
            assert app.is_running
    asyncio.run(body())


def test_progress_is_remembered_between_runs(make_app, fake, tmp_path) -> None:
    (tmp_path / "progress.json").write_text(json.dumps({
        "done": ["image", "ecr"], "results": {"ecr": "• Create repository fraud-detection"},
        "current": "ecr"}))

    async def body() -> None:
        app = make_app(walkthrough=True)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: "Create repository fraud-detection" in detail(app)
                         and app.screen.query_one("#steps").border_subtitle == "2/12 done")
            assert "Create repository fraud-detection" in detail(app)
            labels = [str(w.render()) for w in app.screen.query(".step-label")]
            assert labels[0].startswith("✓") and labels[1].startswith("✓")
            assert not labels[2].startswith("✓")
            assert app.screen.query_one("#steps").border_subtitle == "2/12 done"
            await pilot.press("R")  # reset
            await settle(pilot, lambda: json.loads(
                (tmp_path / "progress.json").read_text())["done"] == [])
            assert json.loads((tmp_path / "progress.json").read_text())["done"] == []
    asyncio.run(body())


def test_reading_step_and_navigation_back_to_the_dashboard(make_app, fake) -> None:
    async def body() -> None:
        from tui.screens.dashboard import DashboardScreen

        app = make_app(walkthrough=True)
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(len(STEPS) - 1):
                await pilot.press("n")
            await pilot.press("x")  # AWS vs Kubernetes
            await settle(pilot, lambda: "k8s" in app.screen.progress.done)
            assert "target tracking ↔ HorizontalPodAutoscaler" in detail(app)
            assert fake.posts == []
            await pilot.press("d")
            await settle(pilot, lambda: isinstance(app.screen, DashboardScreen))
            assert isinstance(app.screen, DashboardScreen)
            await pilot.press("w")
            await settle(pilot, lambda: not isinstance(app.screen, DashboardScreen))
            assert not isinstance(app.screen, DashboardScreen)
    asyncio.run(body())


def test_spike_and_scale_in_change_traffic_and_leave_the_count_to_auto_scaling(fake) -> None:
    from tui.backend import Backend

    backend = Backend(fake, info={"time_scale": 12.0})
    by_id = {s.id: s for s in STEPS}
    spike = by_id["spike"].run(backend, 20.0)
    assert fake.posts == [("/v1/traffic/profile", {"rate": 20.0, "profile": "spike:10:0:36000",
                                                   "phase": "spike"})]
    assert "AlarmHigh needs 3" in spike.text and spike.badge == "simulated"
    by_id["scale-in"].run(backend, 20.0)
    assert fake.posts[-1] == ("/v1/traffic/profile", {"rate": 20.0, "profile": "steady",
                                                      "phase": "normal"})
    assert not [p for p, _ in fake.posts if p == "/v1/scale"]  # the decision is AAS's


def test_autoscale_target_is_twice_the_normal_load_per_target() -> None:
    from tui.walkthrough.steps import autoscale_target

    assert autoscale_target(20.0, 12.0) == 50.0  # 20 tx/s × 5 s per lab minute / 4 × 2
    assert autoscale_target(0.01, 60.0) == 1.0
