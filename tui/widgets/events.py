"""The event log: the timeline in ECS's wording, each line with its fidelity badge."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from rich.text import Text
from textual.events import Resize
from textual.widgets import RichLog

from tui.view import BADGE_STYLE, badge_label, human_event

SEEN = 2000
KEPT = 300  # entries re-rendered when the width changes


def entry_line(entry: dict[str, Any]) -> Text:
    badge = entry.get("badge") or ""
    line = Text(f"{entry['clock']} " if entry.get("clock") else
                f"{entry.get('lab', 0):6.0f}s ", style="dim")  # clock: AWS's own time (UTC)
    line += Text(f"{badge_label(badge):<11}", style=BADGE_STYLE.get(badge, ""))
    line += Text(f" {human_event(str(entry.get('text', '')))}")
    return line


class EventLog(RichLog):
    """Appends the timeline entries it has not shown yet; re-wraps them on resize."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(wrap=True, markup=False, max_lines=KEPT, **kwargs)
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self._entries: deque[dict[str, Any]] = deque(maxlen=KEPT)
        self._width = 0

    def show(self, snap: dict[str, Any]) -> None:
        for entry in snap.get("timeline") or []:
            key = json.dumps(entry, sort_keys=True, default=str)
            if key in self._seen:
                continue
            self._seen.add(key)
            self._order.append(key)
            if len(self._order) > SEEN:
                self._seen.discard(self._order.popleft())
            self._entries.append(entry)
            self._write(entry)

    def _write(self, entry: dict[str, Any]) -> None:
        width = self.scrollable_content_region.width
        self.write(entry_line(entry), width=width if width > 10 else None)

    def on_resize(self, event: Resize) -> None:
        if event.size.width and event.size.width != self._width and self._width:
            self.clear()
            for entry in self._entries:
                self._write(entry)
        self._width = event.size.width or self._width
