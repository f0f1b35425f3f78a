"""The help screen: every key, what it does, and which API call it makes."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("c", "crash a task", "POST /v1/crash — SIGKILL; the service scheduler replaces it"),
    ("k", "kill a host", "POST /v1/kill-host — the instance and its tasks go"),
    ("t", "traffic on/off", "POST /v1/traffic (steady) · /v1/traffic/stop"),
    ("s", "spike on/off", "×10 Black Friday: POST /v1/traffic/profile spike:10 ↔ steady"),
    ("+ / -", "scale out / in", "POST /v1/scale = aws ecs update-service --desired-count"),
    ("a", "switch algorithm", "round_robin ↔ least_outstanding_requests (target group)"),
    ("r", "toggle retry knob", "kit-only: ALB does not retry a failed connection"),
    ("l", "slow a task", "POST /v1/slow — one task answers 300 ms later (kit-only)"),
    ("d", "dashboard", "hosts, containers, the load balancer, charts, events"),
    ("w", "walkthrough", "the case study step by step (progress is kept)"),
    ("p", "practice", "quiz, the interview question, drills with a hidden fault"),
    ("x · n · b", "walkthrough", "run the step · next step · back"),
    ("?", "help", "this screen (esc closes it)"),
    ("q", "quit", "the local cloud keeps running; `fraudlab down` stops it"),
]


def keys_table() -> Table:
    table = Table(box=None, padding=(0, 1), show_header=True, expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("does", no_wrap=True)
    table.add_column("through")
    for key, does, how in KEYS:
        table.add_row(key, does, how)
    return table


BADGES = Text.assemble(
    ("[REAL]", "bold green"), " Docker, processes, HTTP, the model's decisions · ",
    ("[EMULATED]", "bold cyan"), " AWS API calls answered by moto or LocalStack · ",
    ("[SIMULATED]", "bold yellow"), " what the kit's controllers do in AWS's place")


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static("[b]FraudLab keys[/b]", classes="help-title")
            yield Static(keys_table())
            yield Static(BADGES, classes="help-badges")
