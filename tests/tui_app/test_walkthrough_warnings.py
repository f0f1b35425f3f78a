"""The walkthrough's deploy steps show every warning, as the labs do."""

from __future__ import annotations

from cloud.aws.steps.base import StepResult
from tui.walkthrough.steps import describe_steps


def test_walkthrough_shows_every_steps_warnings() -> None:
    step = StepResult(step="x", title="T", result={}, cli="aws ecs x", aws_note="note",
                      source="s", badge="emulated", changed=True, warnings=["myth: 7 per host"])
    assert "⚠ myth: 7 per host" in describe_steps([step])
