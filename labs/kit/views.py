"""Live ipywidgets views of the local cloud, fed by the control API's stream.

The HTML renderers are pure functions of a snapshot (unit-tested without a cloud);
:class:`LiveDashboard` reads ``ControlClient.stream()`` in a bounded background thread and
updates its widgets while traffic runs. It decides nothing: it shows what the stream says
and sends actions (crash, spike) through the session.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from cloud.server.stream import apply_changes
from labs.kit.template import badge_html
from tui.view import human_event  # plain text helpers (no Textual import)

STATE_COLOURS = {"RUNNING": "#1b7f3b", "PENDING": "#b58900", "PROVISIONING": "#b58900",
                 "ACTIVATING": "#b58900", "DEACTIVATING": "#8a5a00", "STOPPING": "#8a5a00",
                 "DEPROVISIONING": "#8a5a00", "STOPPED": "#b00020"}
HISTORY = 120  # points kept per chart


def sparkline_svg(values: Sequence[float], width: int = 220, height: int = 40,
                  colour: str = "#1f5fa8") -> str:
    """An inline SVG polyline of ``values`` (scaled to its own max), with the last value."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return f"<svg width='{width}' height='{height}'></svg>"
    top = max(max(vals), 1e-9)
    n = len(vals)
    step = width / max(n - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}"
                      for i, v in enumerate(vals))
    return (f"<svg width='{width}' height='{height}' style='background:#f6f6f6'>"
            f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{points}'/>"
            f"</svg>")


def hosts_html(snap: dict[str, Any]) -> str:
    """Each host as a box holding its tasks (state, CPU/mem, pulled or cached image)."""
    stats = {t["task_id"]: t for t in (snap.get("service_metrics") or {}).get("tasks", [])}
    observed = bool(snap.get("source"))  # read from AWS: what it does not report is left out
    by_host: dict[str, list[dict[str, Any]]] = {}
    for t in snap.get("tasks") or []:
        if t["last_status"] != "STOPPED" or t.get("stopped_reason"):
            by_host.setdefault(t.get("host") or "-", []).append(t)
    boxes = []
    for h in snap.get("hosts") or []:
        rows = []
        recent = [t for t in by_host.get(h["instance_id"], [])
                  if t["last_status"] != "STOPPED"][:12]
        stopped = [t for t in by_host.get(h["instance_id"], [])
                   if t["last_status"] == "STOPPED"][-2:]
        for t in [*recent, *stopped]:
            s = stats.get(t["task_id"], {})
            colour = STATE_COLOURS.get(t["last_status"], "#444")
            pull = ("cached" if t.get("pull_cached") else
                    f"pulled {t['pull_seconds']:.0f}s" if t.get("pull_seconds") else "")
            why = (f"<br><span style='color:#b00020'>{html.escape(t['stopped_reason'] or '')}"
                   f"</span>" if t["last_status"] == "STOPPED" else "")
            use = (f"cpu {s.get('cpu_percent', 0):.0f}% mem {s.get('memory_percent', 0):.0f}% "
                   if s or not observed else "")
            rows.append(
                f"<div style='border:1px solid {colour};margin:2px;padding:2px;font-size:11px'>"
                f"<b style='color:{colour}'>{t['last_status']}</b> {t['task_id'][:8]} "
                f"{use}{pull}{why}</div>")
        cache = ", ".join(i.rsplit(":", 1)[-1] for i in h.get("image_cache") or []) or "empty"
        cache_line = ("" if h.get("image_cache", []) is None else
                      f"<br>image cache: {html.escape(cache)}")
        boxes.append(
            f"<div style='display:inline-block;vertical-align:top;width:240px;margin:3px;"
            f"overflow-wrap:anywhere;"
            f"border:2px solid #555;padding:4px'><b>{h['instance_id']}</b> {h['az']} "
            f"{h['type']} <i>{h['status']}</i><br><span style='font-size:11px'>CPU "
            f"{h['remaining_cpu']}/{h['registered_cpu']} free · mem {h['remaining_memory']}/"
            f"{h['registered_memory']} MiB free{cache_line}</span>"
            f"{''.join(rows) or '<i>no tasks</i>'}</div>")
    unplaced = [e for e in snap.get("timeline") or [] if "unable to place" in e.get("text", "")]
    note = (f"<div style='color:#b00020'>{html.escape(unplaced[-1]['text'])}</div>"
            if unplaced else "")
    badges = (f"{badge_html('real')} read from AWS" if observed else
              f"{badge_html('simulated')} placement · {badge_html('real')} tasks")
    return (f"<div><b>Hosts</b> {badges}<br>{''.join(boxes) or '<i>no hosts yet</i>'}"
            f"{note}</div>")


def observed_routing_html(lb: dict[str, Any], metrics: dict[str, Any]) -> str:
    """An ALB on AWS: each target's health, CloudWatch's last minute; no per-target counts
    and no routing decisions (AWS does not report them)."""
    rows = "".join(f"<tr><td style='font-size:11px'>{html.escape(str(t['id'])[:12])}</td>"
                   f"<td style='font-size:11px'>{html.escape(str(t.get('state')))}"
                   f"{' · ' + html.escape(t['reason']) if t.get('reason') else ''}</td></tr>"
                   for t in lb.get("targets") or [])

    def value(key: str, scale: float = 1.0, unit: str = "") -> str:
        v = metrics.get(key)
        return "–" if v is None else f"{float(v) * scale:.0f}{unit}"

    return (f"<div><b>Load balancer</b> {badge_html('real')} {lb.get('algorithm', '?')} · "
            f"{html.escape(str((lb.get('api') or {}).get('dns_name') or ''))}<br>"
            f"<table>{rows or '<tr><td><i>no targets</i></td></tr>'}</table>"
            f"<span style='font-size:11px'>CloudWatch, last minute: "
            f"{value('RequestCount')} requests · target 5xx "
            f"{value('HTTPCode_Target_5XX_Count')} · response time avg "
            f"{value('TargetResponseTime', 1000, ' ms')} · p99 "
            f"{value('TargetResponseTime_p99', 1000, ' ms')} (per-target counts and routing "
            f"decisions: not reported by AWS)</span></div>")


def routing_html(snap: dict[str, Any], width: int = 200) -> str:
    """Requests per target as bars, outstanding requests, and the last routing decisions."""
    lb = snap.get("load_balancer") or {}
    if lb.get("observed"):
        return observed_routing_html(lb, snap.get("alb_metrics") or {})
    targets = [t for t in lb.get("targets") or [] if t.get("state") != "unused"]
    top = max([t.get("requests", 0) for t in targets] + [1])
    rows = []
    for t in targets:
        bar = int(width * t.get("requests", 0) / top)
        colour = {"healthy": "#1b7f3b", "draining": "#b58900"}.get(t["state"], "#b00020")
        rows.append(f"<tr><td style='font-size:11px'>{t['id'][:8]}</td><td><div style='"
                    f"background:{colour};width:{bar}px;height:10px'></div></td><td "
                    f"style='font-size:11px'>{t.get('requests', 0)} req · "
                    f"{t.get('outstanding', 0)} outstanding · {t['state']}"
                    f"{' · 502: ' + str(t['elb_502']) if t.get('elb_502') else ''}</td></tr>")
    trace = [f"<li>{html.escape(e.get('reason', ''))} → {e.get('status')} "
             f"({e.get('latency_ms', 0):.0f} ms)</li>" for e in (lb.get("trace") or [])[-5:]]
    totals = lb.get("totals") or {}
    return (f"<div><b>Load balancer</b> {badge_html('real')} {lb.get('algorithm', '?')} · "
            f"retry: {html.escape(str(lb.get('retry_label', '')))}<br>"
            f"<table>{''.join(rows) or '<tr><td><i>no targets</i></td></tr>'}</table>"
            f"<span style='font-size:11px'>502: {totals.get('elb_502', 0)} · 503: "
            f"{totals.get('elb_503', 0)} · 504: {totals.get('elb_504', 0)}</span>"
            f"<ul style='font-size:11px'>{''.join(trace)}</ul></div>")


def metric_point(snap: dict[str, Any]) -> dict[str, float]:
    """The numbers the charts follow, from one snapshot."""
    traffic = snap.get("traffic") or {}
    svc = next(iter((snap.get("service_metrics") or {}).get("services", {}).values()), {})
    services = snap.get("services") or [{}]
    return {"throughput": float((snap.get("alb_metrics") or {}).get("RequestCount") or 0),
            "p99_ms": float((traffic.get("latency") or {}).get("p99_ms")
                            or 1000 * ((snap.get("alb_metrics") or {}).get(
                                "TargetResponseTime_p99") or 0)),
            "running": float(services[0].get("running") or 0),
            "desired": float(services[0].get("desired") or 0),
            "cpu": float(svc.get("CPUUtilization") or 0)}


def charts_html(history: Sequence[dict[str, float]], badge: str = "simulated") -> str:
    charts = []
    for key, label in (("throughput", "requests per lab minute (ALB RequestCount)"),
                       ("p99_ms", "p99 latency, ms"), ("running", "running tasks"),
                       ("desired", "desired count"), ("cpu", "service CPU %")):
        values = [p[key] for p in history]
        last = f"{values[-1]:.0f}" if values else "–"
        charts.append(f"<div style='display:inline-block;margin:3px'><span style='font-size:"
                      f"11px'>{label}: <b>{last}</b></span><br>{sparkline_svg(values)}</div>")
    return "<div><b>Metrics</b> " + badge_html(badge) + "<br>" + "".join(charts) + "</div>"


def when(entry: dict[str, Any]) -> str:
    """An event's time: AWS's own (UTC clock) when read from AWS, else the lab time."""
    return f"{entry['clock']} UTC" if entry.get("clock") else f"lab {entry.get('lab', 0):.0f}s"


def events_html(snap: dict[str, Any], limit: int = 8) -> str:
    items = [f"<li>{badge_html(e.get('badge', 'simulated'))} {when(e)} "
             f"{html.escape(human_event(str(e.get('text', ''))))}</li>"
             for e in (snap.get("timeline") or [])[-limit:]]
    return (f"<div><b>Events</b><ul style='font-size:11px;white-space:normal;"
            f"overflow-wrap:anywhere'>{''.join(items)}</ul></div>")


def spike_note(snap: dict[str, Any]) -> str:
    """What a ×10 spike leads to here: scaling only if a scaling policy exists (lab 07)."""
    if (snap.get("scaling") or {}).get("policies"):
        return ("target tracking needs 3 one-minute datapoints above target, then raises the "
                "desired count")
    return ("no scaling policy is set in this lab, so the desired count stays where it is: "
            "watch latency and errors rise (lab 07 adds target tracking)")


class LiveDashboard(widgets.VBox):
    """Hosts, routing bars, charts and events, updated from the control API's stream.

    ``start()`` runs a daemon thread that ends by itself after ``seconds``; ``stop()`` ends
    it at the next event (at most ``interval`` × 4 s later). Buttons crash a task, start or
    end the ×10 spike and stop the view.
    """

    def __init__(self, session: Any, seconds: float = 120.0, interval: float = 0.5) -> None:
        self.session = session
        self.seconds = seconds
        self.interval = interval
        self.snapshot: dict[str, Any] = {}
        self.history: deque[dict[str, float]] = deque(maxlen=HISTORY)
        self.updates = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = widgets.HTML("not started")
        self.hosts = widgets.HTML()
        self.routing = widgets.HTML()
        self.charts = widgets.HTML()
        self.events = widgets.HTML()
        self.crash_button = widgets.Button(description="Crash a task", icon="bolt",
                                           button_style="danger")
        self.spike_button = widgets.Button(description="Spike ×10", icon="line-chart",
                                           button_style="warning")
        self.normal_button = widgets.Button(description="Normal traffic", icon="minus")
        self.stop_button = widgets.Button(description="Stop view", icon="stop")
        self.action = widgets.HTML()
        self.yes_button = widgets.Button(description="Yes, do it", button_style="danger")
        self.no_button = widgets.Button(description="No")
        self.confirm_box = widgets.HBox([self.yes_button, self.no_button],
                                        layout=widgets.Layout(display="none"))
        self._pending: tuple[str, dict[str, Any]] | None = None
        self.yes_button.on_click(lambda _b: self._answer(True))
        self.no_button.on_click(lambda _b: self._answer(False))
        self.crash_button.on_click(lambda _b: self._act("crash"))
        self.spike_button.on_click(lambda _b: self._act("spike"))
        self.normal_button.on_click(lambda _b: self._act("normal"))
        self.stop_button.on_click(lambda _b: self.stop())
        super().__init__([
            widgets.HBox([self.crash_button, self.spike_button, self.normal_button,
                          self.stop_button]),
            self.action, self.confirm_box, self.status, self.hosts, self.routing, self.charts,
            self.events])
        session.track(self)

    # ---- actions (the control API; the cloud decides what happens) ----------------------
    def _act(self, what: str) -> None:
        if getattr(self.session, "confirmation", None) is not None:
            self._ask(what)  # real resources (observer mode): say what happens, wait for yes
            return
        try:
            if what == "crash":
                task = self.session.crash()
                self.action.value = (f"{badge_html('real')} SIGKILL to task {task[:8]}: ECS "
                                     "marks it STOPPED (exit 137) and starts a new task")
            elif what == "spike":
                self.session.spike()
                self.action.value = f"{badge_html('real')} traffic ×10: " + spike_note(
                    self.snapshot)
            else:
                self.session.change_traffic(phase="normal")
                self.action.value = (f"{badge_html('real')} back to normal traffic: scale-in "
                                     "needs 15 datapoints below target")
        except Exception as exc:
            self.action.value = (f"<span style='color:#b00020'>{html.escape(what)} failed: "
                                 f"{html.escape(str(exc))}</span>")

    def _failed(self, what: str, exc: Exception) -> None:
        self.action.value = (f"<span style='color:#b00020'>{html.escape(what)} failed: "
                             f"{html.escape(str(exc))}</span>")

    def _ask(self, what: str) -> None:
        try:
            question, body = self.session.confirmation(what)
        except Exception as exc:
            self._failed(what, exc)
            return
        self._pending = (what, body)
        self.action.value = f"<b>{html.escape(question)}</b>"
        self.confirm_box.layout.display = "flex"

    def _answer(self, yes: bool) -> None:
        self.confirm_box.layout.display = "none"
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if not yes:
            self.action.value = "cancelled: nothing was sent"
            return
        try:
            done = self.session.confirmed(*pending)
        except Exception as exc:
            self._failed(pending[0], exc)
            return
        self.action.value = f"{badge_html('real')} {html.escape(done)}"

    # ---- the stream ----------------------------------------------------------------------
    def render(self, snap: dict[str, Any]) -> None:
        self.snapshot = snap
        self.history.append(metric_point(snap))
        self.hosts.value = hosts_html(snap)
        self.routing.value = routing_html(snap)
        source = snap.get("source")
        self.charts.value = charts_html(self.history, "real" if source else "simulated")
        self.events.value = events_html(snap)
        self.updates += 1
        self.status.value = (
            f"live: update {self.updates}, read from AWS ({html.escape(str(source.get('region')))})"
            f" at {source.get('clock')} UTC, every {source.get('poll_seconds', 0):g} s"
            if source else f"live: update {self.updates}, lab time "
                           f"{snap.get('lab_time', 0):.0f} s (×{snap.get('time_scale', 0):g})")

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        try:
            snap: dict[str, Any] = {}
            for event, data in self.session.client.stream(interval=self.interval,
                                                          seconds=self.seconds):
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
                if event == "snapshot":
                    snap = data
                elif event == "changes":
                    snap = apply_changes(snap, data)
                elif event == "end":
                    break
                self.render(snap)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.status.value = (f"stopped after {self.updates} updates"
                                 + (f" ({html.escape(self.error)})" if self.error else ""))

    def start(self) -> LiveDashboard:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self.render(self.session.snapshot())
            self._thread = threading.Thread(target=self._run, daemon=True, name="lab-dashboard")
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; True once it has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
