"""Hosts as boxes holding their containers; pending and unplaced tasks under them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.view import (
    STATE_GLYPH,
    Rates,
    image_name,
    short,
    short_reason,
    tasks_by_host,
    unplaced,
)

STATE_STYLE = {"RUNNING": "green", "PENDING": "yellow", "PROVISIONING": "yellow",
               "STOPPED": "red dim"}
STOPPED_SHOWN = 2  # the latest stopped tasks a host box keeps showing


def bar(used: float, total: float, width: int = 5) -> Text:
    """``████░░░░`` for used/total."""
    frac = 0.0 if total <= 0 else min(1.0, max(0.0, used / total))
    full = round(frac * width)
    style = "red" if frac > 0.85 else "yellow" if frac > 0.6 else "green"
    return Text("█" * full, style=style) + Text("░" * (width - full), style="dim")


def task_line(task: dict[str, Any], rates: Rates,
              usage: dict[str, dict[str, Any]] | None = None) -> Text:
    status = task.get("last_status", "?")
    line = Text(f" {STATE_GLYPH.get(status, '?')} ", style=STATE_STYLE.get(status, ""))
    line.append(short(task.get("task_id")), style="bold")
    line.append(f" {status:<7}", style=STATE_STYLE.get(status, ""))
    if status == "STOPPED":
        code = task.get("exit_code")
        line.append((f" exit {code}" if code is not None else "") +
                    f" {task.get('stopped_reason') or ''}", style="dim")
    elif status == "RUNNING":
        if rates.counted:
            line.append(f" {rates.per_target.get(task.get('task_id', ''), 0.0):4.1f}r/s")
        use = (usage or {}).get(task.get("task_id", ""))
        if use:
            line.append(f" cpu{use.get('cpu_percent', 0):.0f}% "
                        f"mem{use.get('memory_percent', 0):.0f}%", style="dim")
        if task.get("pull_cached") is not None:
            line.append(" image cached" if task["pull_cached"] else
                        f" pulled {task.get('pull_seconds') or 0:.0f} s", style="dim cyan")
    elif task.get("pull_cached") is False and task.get("pull_seconds"):
        line.append(f" pulling ({task['pull_seconds']:.0f} s)", style="dim")
    return line


def task_token(task: dict[str, Any]) -> Text:
    """A task in a few cells (``● df86``; a stopped one with its exit code) for full boxes."""
    status = task.get("last_status", "?")
    token = Text(f"{STATE_GLYPH.get(status, '?')} {short(task.get('task_id'), 4)}",
                 style=STATE_STYLE.get(status, ""))
    if status == "STOPPED" and task.get("exit_code") is not None:
        token.append(f" exit {task['exit_code']}", style="red")
    return token


def packed(tokens: list[Text], width: int) -> list[Text]:
    """Tokens side by side, as many to a line as ``width`` holds."""
    lines: list[Text] = []
    line = Text()
    for token in tokens:
        if line.cell_len and line.cell_len + 1 + token.cell_len > width:
            lines.append(line)
            line = Text()
        line += (Text(" ") if line.cell_len else Text()) + token
    if line.cell_len:
        lines.append(line)
    return lines


def host_lines(host: dict[str, Any], tasks: list[dict[str, Any]], rates: Rates,
               usage: dict[str, dict[str, Any]] | None = None, budget: int | None = None,
               width: int = 36) -> list[Text]:
    """The box's lines; when more than ``budget`` would show, the cache line goes and the
    tasks pack several to a line (stopped ones first, so a crash stays in view)."""
    cpu_total, mem_total = host.get("registered_cpu") or 0, host.get("registered_memory") or 0
    cpu_used = cpu_total - (host.get("remaining_cpu") or 0)
    mem_used = mem_total - (host.get("remaining_memory") or 0)
    head = Text("cpu ") + bar(cpu_used, cpu_total) + Text(f" {cpu_used}/{cpu_total} ")
    head += Text("mem ") + bar(mem_used, mem_total) + Text(f" {mem_used}/{mem_total}M")
    known = host.get("image_cache", []) is not None  # None: the source does not report it
    cache = ", ".join(image_name(i) for i in host.get("image_cache") or []) or "empty"
    live = [t for t in tasks if t.get("last_status") != "STOPPED"]
    stopped = [t for t in tasks if t.get("last_status") == "STOPPED"][-STOPPED_SHOWN:]
    rows = [task_line(t, rates, usage) for t in live + stopped] or \
        [Text(" (no containers)", style="dim")]
    if known and (budget is None or len(rows) + 2 <= budget):
        return [head, Text(f"cache {cache}", style="cyan"), *rows]
    if budget is None or len(rows) + 1 <= budget:
        return [head, *rows]
    return [head, *packed([task_token(t) for t in stopped + live], width)]


def host_body(host: dict[str, Any], tasks: list[dict[str, Any]], rates: Rates,
              usage: dict[str, dict[str, Any]] | None = None, budget: int | None = None,
              width: int = 36) -> Text:
    out = Text("\n").join(host_lines(host, tasks, rates, usage, budget, width))
    out.no_wrap, out.overflow = True, "ellipsis"
    return out


def gone_hosts(by_host: dict[str | None, list[dict[str, Any]]], known: set[str]) -> Text:
    """A line per host no longer in the cluster that had tasks stopped recently."""
    out = Text()
    for host, tasks in by_host.items():
        stopped = [t for t in tasks if t.get("last_status") == "STOPPED"]
        if host is None or host in known or not stopped:
            continue
        out += Text(f"{host} (gone): ", style="bold red")
        out += Text(" ").join(task_token(t) for t in stopped)
        out += Text(f" {stopped[-1].get('stopped_reason') or ''}\n", style="dim")
    return out


class HostBox(Static):
    """One EC2 instance and the containers on it."""

    def show(self, host: dict[str, Any], tasks: list[dict[str, Any]], rates: Rates,
             usage: dict[str, dict[str, Any]] | None = None, budget: int | None = None,
             width: int = 36) -> None:
        self.border_title = f"{host.get('instance_id', '?')} {host.get('type', '')}"
        running = sum(t.get("last_status") == "RUNNING" for t in tasks)
        self.border_subtitle = (f"{host.get('az', '?')} · {host.get('status', '?')} · "
                                f"{running} running")
        self.update(host_body(host, tasks, rates, usage, budget, width))


class HostsPanel(VerticalScroll):
    """Every host of the cluster; pending, unplaced and host-less tasks at the end."""

    def compose(self) -> ComposeResult:
        yield Static("", id="unplaced")  # first: tasks not placed are never out of view
        yield Static("waiting for the first snapshot…", id="hosts-empty")

    def show(self, snap: dict[str, Any], rates: Rates,
             stopped_shown: set[str] | None = None) -> None:
        """``stopped_shown``: the stopped tasks still worth showing (recent ones); None: all."""
        hosts = snap.get("hosts") or []
        by_host = tasks_by_host(snap, stopped_shown)
        usage = {u["task_id"]: u for u in (snap.get("service_metrics") or {}).get("tasks") or []
                 if "task_id" in u}
        wanted = [f"host-{h['instance_id']}" for h in hosts]
        for box in list(self.query(HostBox)):
            if box.id not in wanted:
                box.remove()
        empty = self.query_one("#hosts-empty", Static)
        empty.display = not hosts
        empty.update("no hosts yet: run the walkthrough (w) or `fraudlab deploy`")
        lines = Text()
        known = {h["instance_id"] for h in hosts}
        homeless = [t for host, ts in by_host.items() if host not in known for t in ts
                    if t.get("last_status") != "STOPPED"]
        for t in homeless:
            lines += Text("no host ", style="yellow") + task_line(t, rates) + Text("\n")
        lines += gone_hosts(by_host, known)
        for service, missing, reason in unplaced(snap):
            lines += Text(f"{missing} task(s) of {service} not placed: ", style="bold red")
            lines += Text(f"{short_reason(reason)}\n")
        lines.rstrip()
        note = self.query_one("#unplaced", Static)
        note.update(lines)
        note.display = bool(lines.plain)
        width = max(20, self.size.width - 5)  # box border, padding, scrollbar
        used = len(lines.wrap(self.app.console, width)) if lines.plain else 0
        budget = (max(2, (self.size.height - used) // len(hosts) - 2) if hosts and
                  self.size.height else None)
        for h, box_id in zip(hosts, wanted, strict=True):
            found = self.query(f"#{box_id}")
            box = found.first(HostBox) if found else HostBox(id=box_id, classes="host")
            if not found:
                self.mount(box)
            box.show(h, by_host.get(h["instance_id"], []), rates, usage, budget, width)
