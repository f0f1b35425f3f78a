"""``fraudlab report``: one self-contained HTML file of a recorded run (plotly.js inline), or of
two runs side by side on shared axes — like Locust's report.

Rows: offered vs served requests/s, p50/p99 latency, running vs desired tasks (one axis),
requests/s per target; the crash, spike and scaling events marked on the time axis; the run's
summary table under the plots.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROWS = ("requests/s", "latency (ms)", "tasks", "requests/s per target")
EVENT_COLOURS = {"chaos": "#b00020", "traffic": "#b58900", "scaling": "#1f5fa8",
                 "exit": "#b00020"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def figure(runs: list[dict[str, Any]]) -> go.Figure:
    """The plots: one column per run, the rows' y axes shared across the columns."""
    fig = make_subplots(rows=len(ROWS), cols=len(runs), shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=[f"{r['name']}: {title}" for title in ROWS
                                        for r in runs], vertical_spacing=0.06)
    for col, run in enumerate(runs, 1):
        xs = [round(s["wall"], 1) for s in run["samples"]]
        series = [(1, "offered", "offered", "#999"), (1, "served", "served", "#1b7f3b"),
                  (2, "p50_ms", "p50", "#1f5fa8"), (2, "p99_ms", "p99", "#b00020"),
                  (3, "running", "running", "#1b7f3b"), (3, "desired", "desired", "#999")]
        for row, key, label, colour in series:
            fig.add_trace(go.Scatter(x=xs, y=[s[key] for s in run["samples"]], name=label,
                                     legendgroup=label, showlegend=col == 1,
                                     line={"color": colour, "shape": "hv" if row == 3
                                           else "linear"}), row=row, col=col)
        targets = sorted({t for s in run["samples"] for t in s.get("per_target", {})})
        for t in targets:
            fig.add_trace(go.Scatter(x=xs, y=[s.get("per_target", {}).get(t) for s in
                                              run["samples"]], name=f"target {t[:8]}",
                                     legendgroup=t, showlegend=False, line={"width": 1}),
                          row=4, col=col)
        for event in run.get("events") or []:
            wall = float(event["lab"]) / float(run.get("meta", {}).get("time_scale") or 1.0)
            fig.add_vline(x=wall, line={"color": EVENT_COLOURS.get(event["kind"], "#666"),
                                        "dash": "dot", "width": 1}, col=col, row="all")
    for row in range(1, len(ROWS) + 1):
        fig.update_yaxes(rangemode="tozero", row=row)  # zero drawn as zero
    fig.update_xaxes(title_text="seconds (wall clock)", row=len(ROWS))
    fig.update_layout(height=260 * len(ROWS), template="plotly_white",
                      margin={"l": 50, "r": 20, "t": 60, "b": 40})
    return fig


def events_table(run: dict[str, Any]) -> str:
    scale = float(run.get("meta", {}).get("time_scale") or 1.0)
    rows = "".join(f"<tr data-kind='{html.escape(e['kind'])}'><td>{float(e['lab']) / scale:.1f} s"
                   f"</td><td>{html.escape(e['kind'])}</td><td>{html.escape(str(e['text']))}"
                   f"</td></tr>" for e in run.get("events") or [])
    return (f"<h3>Events of {html.escape(run['name'])}</h3><table class='events'><tr><th>wall"
            f"</th><th>kind</th><th>what</th></tr>{rows}</table>")


def summary_table(run: dict[str, Any]) -> str:
    phases = (run.get("summary") or {}).get("phases") or []
    if not phases:
        return ""
    head = "".join(f"<th>{k}</th>" for k in ("phase", "offered/s", "served/s", "sent",
                                               "errors", "not sent", "p50 ms", "p99 ms", "s"))
    rows = "".join(
        f"<tr><td>{html.escape(p['name'])}</td><td>{p['target_rate']:.0f}</td>"
        f"<td>{(p['ok'] / p['seconds'] if p['seconds'] else 0):.0f}</td><td>{p['sent']}</td>"
        f"<td>{sum(p['errors'].values())}</td><td>{p['dropped']}</td><td>{p['p50_ms']:.1f}</td>"
        f"<td>{p['p99_ms']:.1f}</td><td>{p['seconds']:.1f}</td></tr>" for p in phases)
    return (f"<h3>Summary of {html.escape(run['name'])}</h3><table class='summary'><tr>{head}"
            f"</tr>{rows}</table>")


def render(runs: list[dict[str, Any]]) -> str:
    """The whole report: one HTML file with plotly.js inline (opens offline)."""
    plots = figure(runs).to_html(full_html=False, include_plotlyjs=True,
                                 div_id="fraudlab-run-plots")
    names = " vs ".join(html.escape(r["name"]) for r in runs)
    tables = "".join(f"<div class='run'>{summary_table(r)}{events_table(r)}</div>"
                     for r in runs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>FraudLab run report: "
            f"{names}</title><style>body{{font-family:sans-serif;margin:20px}} table{{"
            f"border-collapse:collapse;font-size:12px}} td,th{{border:1px solid #ccc;padding:"
            f"2px 6px}} .run{{display:inline-block;vertical-align:top;margin-right:20px;"
            f"max-width:{100 // len(runs) - 2}%}}</style></head><body><h1>FraudLab run report"
            f"</h1><p>{names} — dotted lines mark events (red: crash, yellow: traffic, blue: "
            f"scaling); rates are requests per wall second, each averaged over the second "
            f"since the sample before.</p>{plots}{tables}</body></html>")


def write(run_paths: list[Path], out: Path) -> Path:
    out.write_text(render([load(p) for p in run_paths]))
    return out
