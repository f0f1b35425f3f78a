"""The load balancer: its algorithm, the retry knob, each target, the routing decisions."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.view import Rates, dash, short

TARGET_STYLE = {"healthy": "green", "initial": "yellow", "draining": "yellow",
                "unhealthy": "red", "unused": "dim"}
FEED = 6  # routing decisions shown


def targets_table(lb: dict[str, Any], rates: Rates, max_rows: int | None = None) -> Table:
    """Targets in use (not "unused" ones); beyond ``max_rows`` a last row says how many more
    (so a full panel never hides targets without saying so)."""
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, show_edge=False)
    for name, justify in (("target", "left"), ("state", "left"), ("out", "right"),
                          ("req", "right"), ("r/s", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    used = [t for t in lb.get("targets") or [] if t.get("state") != "unused"]
    shown = used if max_rows is None or len(used) <= max_rows else used[:max(0, max_rows - 1)]
    for t in shown:
        rate = rates.per_target.get(t.get("id", ""), 0.0) if rates.counted else None
        table.add_row(short(t.get("id")), Text(t.get("state", "?"),
                                               style=TARGET_STYLE.get(t.get("state"), "")),
                      dash(t.get("outstanding", 0 if rates.counted else None)),
                      dash(t.get("requests", 0 if rates.counted else None)),
                      dash(rate, "{:.1f}"))
    if len(shown) < len(used):
        table.add_row(Text(f"+{len(used) - len(shown)} more", style="bold yellow"), "", "", "",
                      "")
    return table


def routing_feed(lb: dict[str, Any]) -> Text:
    if "trace" not in lb:  # the source does not see routing decisions (an ALB on AWS)
        return Text("routing: not reported by AWS\n(ALB access logs go to S3)", style="dim")
    out = Text()
    for d in (lb.get("trace") or [])[-FEED:][::-1]:
        status = d.get("status")
        style = "green" if status and int(status) < 400 else "red"
        out += Text(f"→ {short(d.get('target'))} ", style="bold")
        out += Text(f"{status} ", style=style)
        counts = " ".join(str(v) for v in (d.get("outstanding") or {}).values())
        out += Text(f"[{counts}] ", style="dim")
        reason = d.get("reason") or ""
        out += Text(reason.split(":", 1)[0] + (f" {d['note']}" if d.get("note") else "") + "\n",
                    style="dim")
    return out or Text("no requests yet", style="dim")


def cloudwatch_line(metrics: dict[str, Any]) -> Text:
    """The ALB's last CloudWatch minute: requests, target 5xx, latency average and p99."""
    def ms(key: str) -> str:
        value = metrics.get(key)
        return "–" if value is None else f"{float(value) * 1000:.0f}"

    return Text(" · last minute (CW)\n") + Text(
        f"{dash(metrics.get('RequestCount'), '{:.0f}')} req "
        f"5xx {dash(metrics.get('HTTPCode_Target_5XX_Count'), '{:.0f}')} "
        f"avg {ms('TargetResponseTime')} p99 {ms('TargetResponseTime_p99')} ms")


class BalancerPanel(Vertical):
    """Per-target state, outstanding requests and requests/s; the routing feed."""

    def compose(self) -> ComposeResult:
        yield Static("", id="lb-head")
        yield Static("", id="lb-targets")
        yield Static("", id="lb-feed")

    def show(self, snap: dict[str, Any], rates: Rates) -> None:
        lb = snap.get("load_balancer") or {}
        if not lb:
            self.query_one("#lb-head", Static).update("no load balancer yet")
            return
        retry = lb.get("retry_on_connect_error")
        totals = lb.get("totals") or {}
        elb_5xx = sum(totals.get(k, 0) for k in ("elb_502", "elb_503", "elb_504"))
        head = Text(f"{lb.get('algorithm', '?')}", style="bold")
        if lb.get("observed"):  # an ALB on AWS: CloudWatch's minute, no retry knob
            self.query_one("#lb-head", Static).update(
                head + cloudwatch_line(snap.get("alb_metrics") or {}))
        else:
            head += Text(f" · {totals.get('requests', 0)} req · 5xx {elb_5xx} · "
                         f"{rates.total:.1f} r/s ({rates.window:.0f}s avg)\nretry ")
            head += Text("on" if retry else "off", style="bold yellow" if retry else "bold")
            head += Text(f" ({lb.get('retry_label', '')})", style="dim")
            self.query_one("#lb-head", Static).update(head)
        room = self.content_size.height - 2 - 1 - 1  # head, table header, one feed line
        self.query_one("#lb-targets", Static).update(
            targets_table(lb, rates, room if room > 0 else None))
        self.query_one("#lb-feed", Static).update(routing_feed(lb))
