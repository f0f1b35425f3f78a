"""A run recorded while a lab runs, drawn inline with the plots of ``fraudlab report``.

The recorder samples the local cloud's snapshot once a second in its own thread (as the demo
does); ``view()`` saves the run under the state directory's ``runs/`` (so ``fraudlab report``
can open it) and returns the same plotly figure as a widget — inside an ``iframe`` so that
plotly's script runs wherever the widget is shown.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from cloud.export.run_report import load, render
from cloud.export.runs import RunRecorder, new_name

HEIGHT_PX = 1100  # the report's four rows of plots and its tables


class LabRecording:
    """Start it before what you want to see; ``view()`` when it is over."""

    def __init__(self, session: Any, label: str) -> None:
        self.recorder = RunRecorder(new_name(label), meta={
            "time_scale": session.time_scale, "runtime": session.info.get("runtime"),
            "lab": label})
        self._stop = threading.Event()
        self.recorder.follow(session.snapshot, self._stop)
        self.path: Path | None = None

    def stop(self) -> Path:
        """Stop sampling and save the run (once); its path."""
        self._stop.set()
        if self.path is None:
            self.path = self.recorder.save()
        return self.path

    def view(self) -> widgets.HTML:
        """The run's plots (offered vs served, p50/p99, running vs desired, per target, events
        marked), as in ``fraudlab report``, inline."""
        page = render([load(self.stop())])
        return widgets.HTML(
            f"<p>{len(self.recorder.samples)} samples, one a second; the same run opens with "
            f"<code>fraudlab report {html.escape(self.recorder.name)}</code>.</p>"
            f"<iframe title='run report' style='width:100%;height:{HEIGHT_PX}px;border:0' "
            f"srcdoc=\"{html.escape(page, quote=True)}\"></iframe>")


def recording(session: Any, label: str) -> LabRecording:
    """The session's recording named ``label``, started at the first call."""
    kept: dict[str, LabRecording] = session.__dict__.setdefault("recordings", {})
    if label not in kept:
        kept[label] = LabRecording(session, label)
    return kept[label]
