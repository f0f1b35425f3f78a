"""The notice line: what an action did, shown above the footer instead of a pop-up toast.

A toast floats over the screen and covers what it reports (the step text, the event log);
this line takes its own row, pushes the content up while it shows, and clears itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

SEVERITY_STYLE = {"information": "bold cyan", "warning": "bold yellow", "error": "bold red"}
DEFAULT_SECONDS = 8.0


def notice_text(message: str, title: str = "", severity: str = "information") -> Text:
    """``title: message`` with the title styled by severity."""
    out = Text(f"{title}: " if title else "› ", style=SEVERITY_STYLE.get(severity, "bold"))
    return out + Text(message, style="red" if severity == "error" else "")


class NoticeLine(Static):
    """One or two lines above the footer; hidden when there is nothing to say. Not docked:
    it takes its rows in the screen's layout (docked, the footer would cover it)."""

    DEFAULT_CSS = """
    NoticeLine {
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $boost;
        display: none;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._timer: Timer | None = None

    def say(self, message: str, title: str = "", severity: str = "information",
            timeout: float | None = None) -> None:
        self.update(notice_text(message, title, severity))
        self.display = True
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(timeout or DEFAULT_SECONDS, self.clear)

    def clear(self) -> None:
        self.update("")
        self.display = False
