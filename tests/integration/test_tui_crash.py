"""The TUI against a real local cloud (process runtime): the walkthrough's deploy steps, then
a crash from the keyboard — the dashboard shows the stopped task and its replacement."""

from __future__ import annotations

import asyncio
import time

from cloud.server.launcher import connect


def test_tui_walkthrough_deploys_and_shows_a_crash_and_its_replacement(
        start_local_cloud, wait_for, tmp_path) -> None:
    from textual.widgets import Static

    from tui.app import FraudLabApp
    from tui.backend import Backend
    from tui.walkthrough.steps import STEPS

    start_local_cloud(time_scale=12.0)
    backend = Backend(start=False)
    backend.connect()
    by_id = {s.id: s for s in STEPS}
    for step_id in ("image", "ecr", "taskdef", "cluster", "service"):
        outcome = by_id[step_id].run(backend, 10.0)
        assert outcome.text
    client = connect()

    def running() -> list[dict]:
        return [t for t in client.get("/v1/snapshot")["tasks"] if t["last_status"] == "RUNNING"]

    wait_for(lambda: len(running()) == 4, 90, "4 RUNNING tasks")

    async def body() -> None:
        app = FraudLabApp(backend, progress_path=tmp_path / "progress.json")
        async with app.run_test(size=(120, 40)) as pilot:
            async def until(predicate, timeout: float, what: str):
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    value = predicate()
                    if value:
                        return value
                    await pilot.pause(0.1)
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")

            def tasks() -> list[dict]:
                return (app.snapshot or {}).get("tasks") or []

            await until(lambda: sum(t["last_status"] == "RUNNING" for t in tasks()) == 4, 10,
                        "the dashboard's first snapshot")
            before = {t["task_id"] for t in tasks()}
            await pilot.press("c")
            crashed = await until(lambda: next((t for t in tasks()
                                                if t["last_status"] == "STOPPED"), None),
                                  30, "the crashed task STOPPED")
            assert crashed["exit_code"] == 137
            replacement = await until(lambda: next(
                (t for t in tasks() if t["task_id"] not in before
                 and t["last_status"] == "RUNNING"), None), 60, "its replacement RUNNING")
            await pilot.pause(0.3)
            hosts = "\n".join(str(w.render()) for w in app.screen.query(".host").results(Static))
            assert f"{crashed['task_id'][:8]} STOPPED" in hosts
            assert f"{replacement['task_id'][:8]} RUNNING" in hosts
            log = "\n".join(line.text for line in app.screen.query_one("#events").lines)
            assert f"crash: SIGKILL to task {crashed['task_id'][:8]}" in log
            assert "has started 1 tasks" in log

    asyncio.run(body())
