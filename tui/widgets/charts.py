"""Bar charts with honest scales: zero is blank, compared series share one axis.

Textual's Sparkline scales each series to its own min..max (8 → 7 running looked like → 0, and
an all-zero series drew as full bars); these draw every value against 0..top, where top is
stated on screen: req/s and p99 against their own peak, running and desired tasks against the
larger of the two, CPU against 100 %.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from tui.view import RATE_WINDOW_S, History, bars


class BarLine(Static):
    """The latest values of one series as bars from 0 to ``top``, as many as fit."""

    def __init__(self, style: str = "", **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.values: list[float] = []
        self.top = 0.0
        self.bar_style = style

    def plot(self, values: list[float], top: float) -> None:
        self.values, self.top = values, top
        self.refresh()

    def render(self) -> Text:
        return Text(bars(self.values, self.top, self.size.width), style=self.bar_style)


class Chart(Horizontal):
    """A label, a bar line and the latest value with the scale's top."""

    def __init__(self, label: str, chart_id: str, style: str = "") -> None:
        super().__init__(id=chart_id, classes="chart")
        self.label = label
        self.style_name = style

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="chart-label")
        yield BarLine(self.style_name, classes="chart-line")
        yield Label("-", classes="chart-value")

    def show(self, data: list[float], top: float, value: str) -> None:
        self.query_one(BarLine).plot(data, top)
        self.query_one(".chart-value", Label).update(value)


def top_of(*series: list[float]) -> float:
    """The shared scale's top: the largest value of the series (0 when all are empty/zero)."""
    return max((max(s) for s in series if s), default=0.0)


class Charts(Vertical):
    def compose(self) -> ComposeResult:
        yield Chart("req/s", "chart-throughput", "green")
        yield Chart("p99 ms", "chart-p99", "yellow")
        yield Chart("running", "chart-running", "cyan")
        yield Chart("desired", "chart-desired", "magenta")
        yield Chart("cpu %", "chart-cpu", "blue")

    def show(self, history: History) -> None:
        tp, p99 = list(history.throughput), list(history.p99)
        running, desired = list(history.running), list(history.desired)
        tasks_top = top_of(running, desired)
        window = f"{RATE_WINDOW_S:.0f}s avg" if history.rates.counted else "CW, 1 min"
        self.query_one("#chart-throughput", Chart).show(
            tp, top_of(tp), f"{tp[-1]:.0f} ({window})" if tp else "-")
        self.query_one("#chart-p99", Chart).show(
            p99, top_of(p99), "– (no data)" if "p99" in history.unknown else
            f"{p99[-1]:.0f} (top {top_of(p99):.0f})" if p99 else "-")
        self.query_one("#chart-running", Chart).show(
            running, tasks_top, f"{running[-1]:.0f} (0–{tasks_top:.0f})" if running else "-")
        self.query_one("#chart-desired", Chart).show(
            desired, tasks_top, f"{desired[-1]:.0f} same scale" if desired else "-")
        cpu = list(history.cpu)
        self.query_one("#chart-cpu", Chart).show(
            cpu, 100.0, "– (no data)" if "cpu" in history.unknown else
            f"{cpu[-1]:.0f}% (0–100)" if cpu else "-")
