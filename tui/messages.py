"""Messages the app's workers post to the UI thread (named in the past tense)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message


class CloudConnected(Message):
    """A worker reached the local cloud (started it, or attached to a running one)."""

    def __init__(self, info: dict[str, Any], started: bool, seconds: float) -> None:
        super().__init__()
        self.info = info
        self.started = started
        self.seconds = seconds


class CloudUnreachable(Message):
    """Starting or attaching to the local cloud failed."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class SnapshotReceived(Message):
    """The stream brought a new snapshot (the whole state, changes already applied)."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        super().__init__()
        self.snapshot = snapshot


class StreamLost(Message):
    """The stream ended or failed; the worker reconnects."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ActionSucceeded(Message):
    """A control-API action answered."""

    def __init__(self, action: str, text: str, reply: Any = None) -> None:
        super().__init__()
        self.action = action
        self.text = text
        self.reply = reply


class ActionFailed(Message):
    """A control-API action (or a deploy step) failed; shown as a notification."""

    def __init__(self, action: str, error: str) -> None:
        super().__init__()
        self.action = action
        self.error = error


class StepFinished(Message):
    """A walkthrough step's run action ended (``ok`` False: ``result`` is the error)."""

    def __init__(self, step_id: str, ok: bool, result: str, badge: str) -> None:
        super().__init__()
        self.step_id = step_id
        self.ok = ok
        self.result = result
        self.badge = badge


class ConfirmationNeeded(Message):
    """An action on real resources waits for the learner's yes (observer mode)."""

    def __init__(self, action: str, path: str, question: str, body: dict[str, Any],
                 describe: Callable[[Any], str]) -> None:
        super().__init__()
        self.action = action
        self.path = path
        self.question = question
        self.body = body
        self.describe = describe
