"""Fixtures for the TUI tests: a fake control client and an app wired to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tui_fake import FakeControl


@pytest.fixture
def fake() -> FakeControl:
    client = FakeControl()
    yield client
    client.closed.set()  # ends the app's stream worker


@pytest.fixture
def make_app(fake: FakeControl, tmp_path: Path) -> Callable[..., object]:
    """A FraudLabApp on the fake client, its walkthrough progress in tmp_path."""
    from tui.app import FraudLabApp
    from tui.backend import Backend

    def make(**kwargs: object) -> FraudLabApp:
        return FraudLabApp(Backend(fake, info={"runtime": "process"}),
                           progress_path=tmp_path / "progress.json", **kwargs)

    return make
