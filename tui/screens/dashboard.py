"""The live dashboard: hosts and containers, the load balancer, charts, the event log."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tui.view import History, traffic_summary
from tui.widgets.balancer import BalancerPanel
from tui.widgets.charts import Charts
from tui.widgets.events import EventLog
from tui.widgets.hosts import HostsPanel
from tui.widgets.notice import NoticeLine


def clock_text(snap: dict[str, Any]) -> Text:
    """Where the time comes from: the lab clock, or AWS polled at a wall-clock time."""
    source = snap.get("source")
    if source:
        return Text(f"AWS {source.get('region') or '?'} · read {source.get('clock')} UTC  ",
                    style="dim")  # every 5 s: the help says so
    scale = float(snap.get("time_scale") or 1.0)
    lab = float(snap.get("lab_time") or 0.0)
    return Text(f"lab {lab:.0f}s · wall {lab / scale:.0f}s · {snap.get('runtime', '?')}  ",
                style="dim")


def alarm_window(alarm: dict[str, Any]) -> str:
    """``2/3`` (breaching of the window: the local cloud evaluates it), or ``>60×3`` (the
    threshold and the datapoints it needs: what CloudWatch's describe-alarms says)."""
    if alarm.get("breaching") is not None:
        return f"{alarm['breaching']}/{alarm.get('datapoints', '?')}"
    threshold = alarm.get("threshold")
    sign = "<" if str(alarm.get("comparison", "")).startswith("Less") else ">"
    value = f"{threshold:g}" if isinstance(threshold, (int, float)) else "?"
    return f"{sign}{value}×{alarm.get('datapoints', '?')}"


def status_line(snap: dict[str, Any]) -> Text:
    out = clock_text(snap)
    for s in snap.get("services") or []:
        out += Text(f"{s['name']}: ", style="bold")
        out += Text(f"desired {s.get('desired', 0)} running {s.get('running', 0)} "
                    f"pending {s.get('pending', 0)}  ")
    if not snap.get("services"):
        out += Text("service not found  " if snap.get("source") else
                    "no service yet (w: walkthrough)  ", style="yellow")
    out += Text(traffic_summary(snap), style="dim")
    scaling = snap.get("scaling") or {}
    for target in scaling.get("targets") or []:
        out += Text(f"  auto scaling {target.get('MinCapacity')}–{target.get('MaxCapacity')}",
                    style="bold")
    for alarm in scaling.get("alarms") or []:
        state = str(alarm.get("state", "?"))
        out += Text(f" {alarm.get('kind', '?')} {state} {alarm_window(alarm)}",
                    style="bold red" if state == "ALARM" else "dim")
    errors = snap.get("tick_errors") or []
    if errors:
        out += Text(f"  ⚠ {errors[-1]}", style="red")
    return out


class DashboardScreen(Screen):
    """Everything the local cloud is doing, refreshed by the stream."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("connecting to the local cloud…", id="status")
        with Horizontal(id="main"):
            yield HostsPanel(id="hosts")
            with Vertical(id="side"):
                yield BalancerPanel(id="balancer")
                yield Charts(id="charts")
        yield EventLog(id="events")
        yield NoticeLine(id="notice")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#balancer").border_title = "load balancer"
        self.query_one("#events").border_title = "events"
        self.title = "FraudLab"
        app: Any = self.app
        if app.backend.observer:  # the status line wraps to a second row (the scaling alarms)
            self.add_class("observer")
        if app.snapshot is not None:
            self.show(app.snapshot, app.history)

    def show(self, snap: dict[str, Any], history: History) -> None:
        self.query_one("#status", Static).update(status_line(snap))
        self.query_one(HostsPanel).show(snap, history.rates, history.stopped_shown)
        self.query_one(BalancerPanel).show(snap, history.rates)
        self.query_one(Charts).show(history)
        self.query_one(EventLog).show(snap)

    def show_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)
