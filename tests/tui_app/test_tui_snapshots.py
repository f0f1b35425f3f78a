"""Snapshot tests (pytest-textual-snapshot): the dashboard and the walkthrough from a fixed
state, at 80×24 and 120×40. Update with ``pytest --snapshot-update`` after a deliberate change
and look at the SVGs in ``__snapshots__/``."""

from __future__ import annotations

import json

import pytest
from tui_fake import settle

SIZES = [(80, 24), (120, 40)]


async def until_snapshot(pilot) -> None:
    """The canned snapshot has arrived and is on screen; nothing is left to animate."""
    await settle(pilot, lambda: pilot.app.snapshot is not None)
    await pilot.pause()  # the snapshot's repaint, queued by the stream worker, is processed
    await pilot.wait_for_scheduled_animations()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard_snapshot(snap_compare, make_app, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=until_snapshot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_walkthrough_snapshot(snap_compare, make_app, tmp_path, size) -> None:
    (tmp_path / "progress.json").write_text(json.dumps({
        "done": ["image", "ecr", "taskdef", "cluster", "service", "lb", "traffic", "crash"],
        "results": {"crash": "SIGKILL to task 99b9798b: it exits 137, ECS marks it STOPPED "
                             "and the service scheduler starts a new task"},
        "current": "crash"}))
    assert snap_compare(make_app(walkthrough=True), terminal_size=size,
                        run_before=until_snapshot)


def test_practice_snapshot(snap_compare, make_app) -> None:
    async def answer_the_first_question(pilot) -> None:
        await until_snapshot(pilot)
        await pilot.press("p", "3")
        await settle(pilot, lambda: "right" in str(
            pilot.app.screen.query_one("#practice-body").render()))
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(make_app(), terminal_size=(80, 24),
                        run_before=answer_the_first_question)
