"""Action results show on the notice line above the footer, on their own row: no toast
covers the text they report, and the footer (p, ? and q) stays in view. Pilot disables
Textual's toasts unless told (``notifications=True``): with them off, a toast over the event
log went unseen here while a real terminal showed it."""

from __future__ import annotations

import asyncio
import time


def screen_rows(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def test_a_failed_action_is_said_above_the_footer_not_over_the_screen(make_app, fake) -> None:
    fake.failures["/v1/crash"] = "no running task to crash"

    async def body() -> None:
        app = make_app()
        async with app.run_test(size=(80, 24), notifications=True) as pilot:  # as a terminal
            deadline = time.monotonic() + 15
            while app.snapshot is None and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.press("c")
            while (not any("no running task" in r for r in screen_rows(app))
                   and time.monotonic() < deadline):
                await pilot.pause(0.05)
            while not app.screen.query("Toast") and time.monotonic() < deadline:
                await pilot.pause(0.05)  # Textual mounts its toast a moment later
            assert app.screen.query("Toast"), "the notification is still Textual's"
            await pilot.pause(0.2)
            rows = screen_rows(app)
            assert "crash failed: no running task to crash" in rows[-2]
            assert all(k in rows[-1] for k in ("p Practice", "? Help", "q Quit"))
            assert sum("no running task" in r for r in rows) == 1  # no toast besides it
            assert any("events" in r for r in rows)  # the log it reports on stays in view
    asyncio.run(body())
