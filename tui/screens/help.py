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

KEYS = [  # the third column stays within 37 cells so each key is one line at 80×24
    ("c", "crash a task", "POST /v1/crash: SIGKILL, ECS replaces"),
    ("k", "kill a host", "POST /v1/kill-host: host + tasks go"),
    ("t", "traffic on/off", "POST /v1/traffic · /v1/traffic/stop"),
    ("s", "spike on/off", "×10 Black Friday ↔ steady traffic"),
    ("+ / -", "scale out / in", "update-service --desired-count"),
    ("a", "switch algorithm", "round robin ↔ least outstanding"),
    ("r", "toggle retry knob", "kit-only: ALB never retries connects"),
    ("l", "slow a task", "POST /v1/slow: a task 300 ms slower"),
    ("d", "dashboard", "hosts, load balancer, charts, events"),
    ("w", "walkthrough", "the case study step by step"),
    ("p", "practice", "quiz, interview question, drills"),
    ("x · n · b", "walkthrough", "run the step · next step · back"),
    ("PgDn/space", "walkthrough", "scroll the step down to its Result"),
    ("?", "help", "this screen (esc closes it)"),
    ("q", "quit", "the local cloud keeps running"),
]


OBSERVER_KEYS = [  # observer mode (fraudlab tui --aws): what each key does on AWS
    ("c", "stop a task", "ecs stop-task, after your yes"),
    ("t", "traffic on/off", "≤20 tx/s to the ALB, ≤120 s, after a yes"),
    ("s", "spike on/off", "×10 of t's rate, within the 20 tx/s cap"),
    ("k", "kill a host ✗", "aws ec2 terminate-instances"),
    ("+ / -", "scale ✗", "aws ecs update-service --desired-count"),
    ("a", "algorithm ✗", "aws elbv2 modify-target-group-attributes"),
    ("r · l", "retry · slow ✗", "kit-only: need the local cloud"),
    ("w · p", "walk · practice ✗", "the local cloud: fraudlab tui"),
    ("d", "dashboard", "read from AWS every 5 s"),
    ("?", "help", "this screen (esc closes it)"),
    ("q", "quit", "stops its traffic; nothing else runs"),
]
OBSERVER_NOTE = Text.assemble(
    ("✗", "bold"), " not in observer mode (not in the footer): the command beside it does it\n",
    ("[REAL]", "bold green"), " everything: each value is an AWS API answer; a blank or – is "
    "what AWS does not report (per-target counts, routing decisions, image caches)")


def keys_table(keys: list[tuple[str, str, str]] | None = None) -> Table:
    table = Table(box=None, padding=(0, 1, 0, 0), show_header=True, expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("does", no_wrap=True)
    table.add_column("through")
    for key, does, how in keys or KEYS:
        table.add_row(key, does, how)
    return table


QUIT_NOTE = Text("q leaves the local cloud running: `fraudlab down` stops it", style="dim")

BADGES = Text.assemble(
    ("[REAL]", "bold green"), " Docker, processes, HTTP, the model's decisions · ",
    ("[EMULATED]", "bold cyan"), " AWS API calls answered by moto or LocalStack · ",
    ("[SIMULATED]", "bold yellow"), " what the kit's controllers do in AWS's place")


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "close")]

    def __init__(self, observer: bool = False) -> None:
        super().__init__()
        self.observer = observer  # fraudlab tui --aws: the keys as they act on AWS

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static("[b]FraudLab keys[/b] · esc closes", classes="help-title")
            if self.observer:
                yield Static(keys_table(OBSERVER_KEYS))
                yield Static(OBSERVER_NOTE, classes="help-badges")
                return
            yield Static(keys_table())
            yield Static(QUIT_NOTE)
            yield Static(BADGES, classes="help-badges")
