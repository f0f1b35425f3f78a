"""Pilot tests: the dashboard renders the snapshot, every key sends its action."""

from __future__ import annotations

import asyncio

import pytest
from tui_fake import canned_snapshot, settle, shows

SIZE = (80, 24)


def run(coro_factory) -> None:
    asyncio.run(coro_factory())


def screen_text(app) -> str:
    """Everything the widgets show, as plain text (Statics, labels, the log)."""
    from textual.widgets import RichLog, Static

    parts = [str(w.render()) for w in app.screen.query(Static)]
    parts += [line.text for log in app.screen.query(RichLog) for line in log.lines]
    parts += [str(w.border_title or "") for w in app.screen.query("*")]
    return "\n".join(parts)


def rendered_text(app) -> str:
    """The screen as the terminal shows it, as plain text."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system="truecolor", legacy_windows=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True))
    return console.export_text(styles=False)


def test_dashboard_shows_hosts_tasks_lb_and_events(make_app) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, shows(lambda: screen_text(app), "i-32d9c6ae3c6610e0a",
                                      "88ae467b RUNNING", "→ 684890a8 200", "has reached a "
                                      "steady state", "desired 4 running 4"))
            text = screen_text(app)
            for host in ("i-2c2938bfacc9ba898", "i-32d9c6ae3c6610e0a"):
                assert host in text
            assert "88ae467b RUNNING" in text
            assert "99b9798b STOPPED" in text and "exit 137" in text
            assert "cache fraud-detection:svc-33a97dfadc9a" in text
            assert "round_robin" in text and "kit-only: ALB does not retry" in text
            assert "→ 684890a8 200" in text  # the routing feed
            assert "[SIMULATED] (service fraud-svc) has reached a steady state." in text
            assert "desired 4 running 4" in text
            assert app.first_paint is not None  # measured by bench/bench_tui.py, not here
    run(body)


def test_pending_and_unplaced_tasks_show_their_reason(make_app, fake) -> None:
    snap = canned_snapshot()
    service = snap["services"][0]
    service["desired"] = 6
    service["events"].insert(0, {"lab": 440.0, "message": (
        "service fraud-svc was unable to place a task because no container instance met all "
        "of its requirements. The closest matching container-instance i-2c2938bfacc9ba898 "
        "has insufficient memory available.")})
    fake.snapshot = snap

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, shows(lambda: screen_text(app), "not placed",
                                      "insufficient memory available"))
            text = screen_text(app)
            assert "2 task(s) of fraud-svc not placed" in text
            assert "insufficient memory available" in text
    run(body)


def test_stream_changes_update_the_dashboard(make_app, fake) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            services = canned_snapshot()["services"]
            services[0]["desired"] = 5
            fake.changes.append({"services": services, "lab_time": 450.0, "timeline+": [
                {"lab": 449.0, "wall": 38.0, "kind": "event", "badge": "simulated",
                 "text": "(service fraud-svc) has started 1 tasks: (task abc)."}]})
            await settle(pilot, shows(lambda: screen_text(app), "desired 5 running 4",
                                      "has started 1 tasks: (task abc)."))
            text = screen_text(app)
            assert "desired 5 running 4" in text
            assert "has started 1 tasks: (task abc)." in text
    run(body)


@pytest.mark.parametrize(("key", "path", "body"), [
    ("c", "/v1/crash", {}),
    ("k", "/v1/kill-host", {}),
    ("t", "/v1/traffic/stop", {}),  # the canned traffic is running
    ("s", "/v1/traffic/profile", {"rate": 20.0, "profile": "spike:10:0:36000",
                                  "phase": "spike"}),
    ("plus", "/v1/scale", {"desired": 5, "service": "fraud-svc"}),
    ("minus", "/v1/scale", {"desired": 3, "service": "fraud-svc"}),
    ("a", "/v1/lb", {"algorithm": "least_outstanding_requests"}),
    ("r", "/v1/lb", {"retry": True}),
    ("l", "/v1/slow", {"ms": 300}),
])
def test_each_key_posts_its_action(make_app, fake, key, path, body) -> None:
    async def run_key() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press(key)
            await settle(pilot, lambda: fake.posts)
            assert fake.posts == [(path, body)]
            await settle(pilot, lambda: app._notifications)
    run(run_key)


def test_traffic_and_spike_start_when_nothing_runs(make_app, fake) -> None:
    fake.snapshot["traffic"] = {}

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press("t")
            await pilot.press("s")
            await settle(pilot, lambda: len(fake.posts) == 2)
            assert sorted(p for p, _ in fake.posts) == ["/v1/traffic", "/v1/traffic"]
            profiles = sorted(b["profile"] for _, b in fake.posts)
            assert profiles == ["spike:10:0:36000", "steady"]
    run(body)


def test_spike_key_ends_a_running_spike(make_app, fake) -> None:
    fake.snapshot["traffic"]["profile"] = {"name": "spike", "base": 20.0, "factor": 10.0}

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press("s")
            await settle(pilot, lambda: fake.posts)
            assert fake.posts == [("/v1/traffic/profile",
                                   {"rate": 20.0, "profile": "steady", "phase": "normal"})]
    run(body)


def test_slow_key_slows_a_task_then_undoes_it(make_app, fake) -> None:
    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press("l")
            await settle(pilot, lambda: app.slowed_task)
            await pilot.press("l")
            await settle(pilot, lambda: len(fake.posts) == 2)
            task = fake.replies["/v1/slow"]["slow"]
            assert fake.posts == [("/v1/slow", {"ms": 300}),
                                  ("/v1/slow", {"task": task, "ms": 0})]
            assert app.slowed_task is None
    run(body)


def test_api_errors_become_notifications_not_crashes(make_app, fake) -> None:
    fake.failures["/v1/crash"] = "no running task to crash"

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press("c")
            await settle(pilot, lambda: app._notifications)
            note = list(app._notifications)[-1]
            assert note.severity == "error"
            assert "no running task to crash" in note.message
            assert app.is_running
    run(body)


def test_scale_without_a_service_is_a_notification(make_app, fake) -> None:
    fake.snapshot["services"] = []

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app.snapshot is not None)
            await pilot.press("plus")
            await settle(pilot, lambda: app._notifications)
            assert "no service is deployed yet" in list(app._notifications)[-1].message
            assert fake.posts == []
    run(body)


def test_unreachable_cloud_is_reported(tmp_path) -> None:
    from tui.app import FraudLabApp
    from tui.backend import Backend

    class Failing(Backend):
        def connect(self):
            raise RuntimeError("no local cloud is running: start it with `fraudlab up`")

    async def body() -> None:
        app = FraudLabApp(Failing(), progress_path=tmp_path / "p.json")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, lambda: app._notifications)
            assert "no local cloud is running" in list(app._notifications)[-1].message
            await pilot.press("c")  # not connected: a notification, no crash
            await settle(pilot, lambda: "not connected" in list(app._notifications)[-1].message)
            assert "not connected" in list(app._notifications)[-1].message
    run(body)


def test_help_screen_lists_every_key(make_app) -> None:
    async def body() -> None:
        from tui.screens.help import HelpScreen

        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            await settle(pilot, lambda: isinstance(app.screen, HelpScreen)
                         and "kit-only" in rendered_text(app))
            assert isinstance(app.screen, HelpScreen)
            text = rendered_text(app)
            for words in ("crash a task", "kill a host", "spike on/off", "scale out / in",
                          "switch algorithm", "toggle retry knob", "kit-only"):
                assert words in text
            app.screen.query_one("#help").scroll_end(animate=False)
            await settle(pilot, shows(lambda: rendered_text(app), "slow a task"))
            assert "slow a task" in rendered_text(app)  # further down the scrolled list
            await pilot.press("escape")
            await settle(pilot, lambda: not isinstance(app.screen, HelpScreen))
            assert not isinstance(app.screen, HelpScreen)
    run(body)


def test_status_line_shows_auto_scaling_alarms() -> None:
    from tui.screens.dashboard import status_line

    snap = canned_snapshot()
    snap["scaling"] = {"targets": [{"MinCapacity": 4, "MaxCapacity": 8}], "alarms": [
        {"kind": "high", "state": "ALARM", "breaching": 3, "datapoints": 3},
        {"kind": "low", "state": "OK", "breaching": 0, "datapoints": 15}]}
    text = status_line(snap).plain
    assert "auto scaling 4–8 high ALARM 3/3 low OK 0/15" in text


def test_messages_left_in_the_queue_when_the_app_closes_are_ignored(make_app) -> None:
    """Textual uninstalls every screen when the app closes, while the stream worker's last
    snapshots (or a lost stream) can still be queued: they are dropped, not a KeyError."""
    from tui.messages import CloudUnreachable, SnapshotReceived, StreamLost

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, shows(lambda: screen_text(app), "desired 4 running 4"))
        assert not app.is_screen_installed("dashboard")  # closed: the screens are gone
        app.on_snapshot_received(SnapshotReceived(canned_snapshot()))
        app.on_stream_lost(StreamLost("closed"))
        app.on_cloud_unreachable(CloudUnreachable("closed"))
    run(body)


def test_a_snapshot_arriving_while_the_screens_are_taken_down_is_ignored(make_app) -> None:
    """Closing, Textual removes each screen's widgets before it uninstalls the screen; a
    snapshot handled in between found the dashboard without its widgets (NoMatches '#status',
    seen under load in the crash drill test)."""
    from tui.messages import SnapshotReceived

    async def body() -> None:
        app = make_app()
        close_all = app._close_all

        async def widgets_gone_then_a_snapshot() -> None:
            await app.get_screen("dashboard").remove_children()
            app.on_snapshot_received(SnapshotReceived(canned_snapshot()))
            await close_all()

        app._close_all = widgets_gone_then_a_snapshot
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, shows(lambda: screen_text(app), "desired 4 running 4"))
        assert not app.is_screen_installed("dashboard")
    run(body)
