"""The TUI at 80×24 against a real local cloud (process runtime), read as a learner reads it:
the whole screen as text (the compositor's lines, footer and notice line included).

Live runs differ in task ids and timings, so these tests assert what must be on screen rather
than compare pictures: the keys p, ? and q in every footer, a crashed task in its host box, the
walkthrough's Result after a run, the help screen's last key, and — one test per practice
drill — its fault on the dashboard every time. Each test writes its screens to
``tmp_path/screens.txt`` (look at them: ``pytest --basetemp=/tmp/x`` keeps them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloud.server.control import ControlError

SIZE = (80, 24)
DEPLOY = ("image", "ecr", "taskdef", "cluster", "service")


def screen_text(app: Any) -> str:
    """The screen as a learner sees it: one line of text per terminal row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def deployed(start_local_cloud, wait_for) -> Any:
    """A local cloud with the walkthrough's deployment (4 tasks, auto scaling 4–8)."""
    from cloud.server.launcher import connect
    from tui.backend import Backend
    from tui.walkthrough.steps import STEPS

    start_local_cloud(time_scale=12.0)
    backend = Backend(start=False)
    backend.connect()
    by_id = {s.id: s for s in STEPS}
    for step_id in DEPLOY:
        by_id[step_id].run(backend, 10.0)
    client = connect()

    def running() -> int:
        try:
            return sum(t["last_status"] == "RUNNING" for t in client.get("/v1/snapshot")["tasks"])
        except ControlError:  # a loaded machine: one slow answer is not a failure
            return 0

    wait_for(lambda: running() == 4, 90, "4 RUNNING tasks")
    return backend


def run_app(backend: Any, tmp_path: Path,
            body: Callable[[Any, Any, Callable[..., Any]], Any]) -> None:
    from tui.app import FraudLabApp

    async def main() -> None:
        app = FraudLabApp(backend, progress_path=tmp_path / "progress.json")
        async with app.run_test(size=SIZE) as pilot:
            async def until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    value = predicate()
                    if value:
                        return value
                    await pilot.pause(0.1)
                raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n"
                                     f"{screen_text(app)}")

            await until(lambda: app.snapshot and app.snapshot.get("tasks"), 15,
                        "the first snapshot")
            await body(app, pilot, until)

    asyncio.run(main())


def keep(tmp_path: Path, name: str, text: str) -> None:
    with (tmp_path / "screens.txt").open("a") as f:
        f.write(f"--- {name} ---\n{text}\n")


def footer_keys_shown(text: str) -> bool:
    last = text.splitlines()[-1]
    return all(k in last for k in ("p Practice", "? Help", "q Quit"))


def test_every_screen_works_at_80x24(deployed, tmp_path) -> None:
    async def body(app: Any, pilot: Any, until: Callable[..., Any]) -> None:
        snap = app.snapshot
        hosts = [h["instance_id"] for h in snap["hosts"]]
        # Textual fills the footer from the bindings after the first refresh: wait for both.
        await until(lambda: all(h in screen_text(app) for h in hosts)
                    and footer_keys_shown(screen_text(app)), 10, "both host boxes and the footer")
        await pilot.press("c")
        crashed = await until(lambda: next((t["task_id"] for t in app.snapshot["tasks"]
                                            if t["last_status"] == "STOPPED"), None),
                              30, "a STOPPED task")
        text = await until(lambda: f"✕ {crashed[:8]} STOPPED" in screen_text(app) and
                           screen_text(app), 10, "the crashed task in its host box")
        assert "crash: SIGKILL sent" in text  # the notice line, not a toast over the log
        keep(tmp_path, "dashboard after a crash", text)

        await pilot.press("w")
        await until(lambda: "Result" in screen_text(app) or "more: PgDn" in screen_text(app),
                    10, "the walkthrough")
        text = screen_text(app)
        assert all(k in text.splitlines()[-1] for k in ("x Run", "PgDn", "? Help", "q Quit"))
        await pilot.press("x")  # the Image step: the result is scrolled into view
        text = await until(lambda: "a cold host downloads" in screen_text(app) or
                           ("no built image" in screen_text(app) and screen_text(app)),
                           60, "the step's result on screen")
        keep(tmp_path, "walkthrough after running the image step", screen_text(app))

        await pilot.press("question_mark")
        text = await until(lambda: "esc" in screen_text(app) and screen_text(app), 10, "help")
        await pilot.press("end")
        text = await until(lambda: "fraudlab down" in screen_text(app) and screen_text(app),
                           10, "help's last key (q) in view")
        keep(tmp_path, "help, scrolled to its end", text)
        await pilot.press("escape", "p")
        text = await until(lambda: "Question 1" in screen_text(app) and screen_text(app),
                           10, "practice")
        assert footer_keys_shown(text), text
        keep(tmp_path, "practice", text)

    run_app(deployed, tmp_path, body)


DRILL_FAULTS = {
    "capacity": ("not placed", 60),
    "bad-deploy": ("exit 3", 120),  # MODEL_RUNTIME=tflite: the container exits 3 at boot
    "host": ("(gone)", 60),
}


@pytest.mark.parametrize("drill_id", list(DRILL_FAULTS))
def test_each_drill_shows_its_fault_on_the_dashboard(deployed, tmp_path, drill_id) -> None:
    from tui.practice.content import DRILLS

    index = 2 + [d.id for d in DRILLS].index(drill_id)
    marker, seconds = DRILL_FAULTS[drill_id]

    async def body(app: Any, pilot: Any, until: Callable[..., Any]) -> None:
        await pilot.press("p", *["down"] * index, "f")
        await until(lambda: app.get_screen("practice").drills.get(drill_id), 60,
                    "the drill planted")
        assert app.get_screen("practice").drills[drill_id] == "planted"
        await pilot.press("d")
        text = await until(lambda: marker in screen_text(app) and screen_text(app),
                           seconds, f"{marker!r} on the dashboard")
        keep(tmp_path, f"drill {drill_id}", text)
        if drill_id == "capacity":  # auto scaling holds 16; it does not pull it back to 8
            start = app.snapshot["lab_time"]
            await until(lambda: app.snapshot["lab_time"] > start + 120, 60,
                        "two lab minutes of scaling passes")
            assert [(t["MinCapacity"], t["MaxCapacity"])
                    for t in app.snapshot["scaling"]["targets"]] == [(16, 16)]
            assert app.snapshot["services"][0]["desired"] == 16
            assert "not placed" in screen_text(app)

    run_app(deployed, tmp_path, body)
