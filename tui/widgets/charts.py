"""Sparklines: throughput, p99 latency, desired vs running tasks, the services' CPU."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from tui.view import History


class Chart(Horizontal):
    """A label, a sparkline and the latest value."""

    def __init__(self, label: str, chart_id: str) -> None:
        super().__init__(id=chart_id, classes="chart")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="chart-label")
        yield Sparkline([], classes="chart-line")
        yield Label("-", classes="chart-value")

    def show(self, data: list[float], value: str) -> None:
        self.query_one(Sparkline).data = data or [0.0]
        self.query_one(".chart-value", Label).update(value)


class Charts(Vertical):
    def compose(self) -> ComposeResult:
        yield Chart("req/s", "chart-throughput")
        yield Chart("p99 ms", "chart-p99")
        yield Chart("running", "chart-running")
        yield Chart("cpu %", "chart-cpu")

    def show(self, history: History) -> None:
        tp, p99 = list(history.throughput), list(history.p99)
        running, desired = list(history.running), list(history.desired)
        self.query_one("#chart-throughput", Chart).show(tp, f"{tp[-1]:.0f}" if tp else "-")
        self.query_one("#chart-p99", Chart).show(p99, f"{p99[-1]:.0f}" if p99 else "-")
        self.query_one("#chart-running", Chart).show(
            running, f"{running[-1]:.0f}/{desired[-1]:.0f} desired" if running else "-")
        cpu = list(history.cpu)
        self.query_one("#chart-cpu", Chart).show(cpu, f"{cpu[-1]:.0f}% avg" if cpu else "-")
