"""The frame every lab shares: what you'll do / learn / need, steps, exercises, checks.

Each step shows its ``aws`` CLI equivalent, the fact from ``ecs-facts.md`` that it teaches and
a REAL / EMULATED / SIMULATED badge, then runs (a button runs it again). Rendering is plain
HTML in ipywidgets; the data is in :class:`Lab` and :class:`Step`.
"""

from __future__ import annotations

import html
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets

from cloud.aws.steps.base import short_cli  # shared with the TUI and the command
from labs.kit.checks import results_html

BADGE_COLOURS = {"real": "#1b7f3b", "emulated": "#1f5fa8", "simulated": "#8a5a00"}
BADGE_MEANING = {
    "real": "really happens here: processes or containers, HTTP, the model's decisions",
    "emulated": "an AWS API call answered by the local emulator (moto or LocalStack)",
    "simulated": "the kit's controllers do what AWS would, following the rule in ecs-facts.md",
}


def badge_html(badge: str) -> str:
    """A coloured REAL / EMULATED / SIMULATED badge with its meaning as a tooltip."""
    if badge not in BADGE_COLOURS:
        raise ValueError(f"badge must be one of {', '.join(BADGE_COLOURS)}, got {badge!r}")
    return (f'<span title="{html.escape(BADGE_MEANING[badge])}" style="background:'
            f'{BADGE_COLOURS[badge]};color:white;border-radius:3px;padding:1px 6px;'
            f'font-size:11px;font-weight:bold">{badge.upper()}</span>')


@dataclass(frozen=True)
class Step:
    """One thing the learner does, with what AWS really does and how faithful the kit is."""

    id: str
    title: str
    what: str  # what you'll do
    cli: str  # the aws (or docker) CLI equivalent
    fact: str  # what really happens in AWS
    source: str  # where the fact comes from (ecs-facts.md section)
    badge: str
    run: Callable[[Any], Any]  # (session) → str | dict | StepResults | widget


@dataclass(frozen=True)
class Lab:
    number: int
    slug: str
    title: str
    do: str  # what you'll do
    learn: str  # what you'll learn
    need: str  # what you need
    myth: str  # the case study's claim this lab checks
    steps: Sequence[Step]
    exercises: Sequence[str]
    checks: Callable[[Any], list[Any]]
    live: bool = False  # the notebook shows the live dashboard
    notes: Sequence[str] = field(default_factory=tuple)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"lab {self.number:02d} has no step {step_id!r}; steps: "
                       f"{', '.join(s.id for s in self.steps)}")

    # ---- widgets -------------------------------------------------------------------------
    def intro(self) -> widgets.HTML:
        rows = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{k}</th>"
                       f"<td>{html.escape(v)}</td></tr>"
                       for k, v in (("What you'll do", self.do), ("What you'll learn", self.learn),
                                    ("What you need", self.need),
                                    ("The case study says", self.myth)))
        legend = " ".join(f"{badge_html(b)} {html.escape(m)}<br>"
                          for b, m in BADGE_MEANING.items())
        return widgets.HTML(f"<h3>Lab {self.number:02d} — {html.escape(self.title)}</h3>"
                            f"<table>{rows}</table><p style='font-size:12px'>{legend}</p>")

    def run_step(self, session: Any, step_id: str, auto: bool = True) -> StepView:
        """The step's card and its output; runs it now (``auto``) and again on each click."""
        view = StepView(self.step(step_id), session)
        if auto:
            view.run()
            if view.error and os.environ.get("FRAUDLAB_LAB_STRICT"):  # CI: fail the notebook
                raise RuntimeError(f"lab {self.number:02d} step {step_id}: {view.error}")
        return view

    def grade(self, session: Any) -> CheckView:
        """The lab's checks, graded now on the cluster's state; a button grades again."""
        view = CheckView(self, session)
        view.grade()
        return view


def step_card_html(step: Step) -> str:
    return (f"<div style='border-left:4px solid {BADGE_COLOURS[step.badge]};padding-left:8px'>"
            f"<b>{html.escape(step.title)}</b> {badge_html(step.badge)}<br>"
            f"{html.escape(step.what)}<br>"
            f"<code style='white-space:pre-wrap'>$ {html.escape(step.cli)}</code><br>"
            f"<i>In AWS:</i> {html.escape(step.fact)} "
            f"<span style='color:#666'>({html.escape(step.source)})</span></div>")


WRAP = "white-space:pre-wrap;overflow-wrap:anywhere"  # long lines wrap, never clipped


def result_html(value: Any) -> str:
    """A step's outcome as HTML: the kit's StepResults as a list, text, or JSON."""
    if isinstance(value, list) and value and hasattr(value[0], "cli"):
        items = []
        for r in value:
            warn = "".join(f"<br>⚠ {html.escape(w)}" for w in r.warnings)
            items.append(f"<li>{badge_html(r.badge)} <b>{html.escape(r.title)}</b>"
                         f"{'' if r.changed else ' (already in place)'}<br>"
                         f"<code style='white-space:pre-wrap;overflow-wrap:anywhere'>$ "
                         f"{html.escape(short_cli(r.cli))}"
                         f"</code><br><i>In AWS:</i> {html.escape(r.aws_note)}{warn}</li>")
        return "<ul>" + "".join(items) + "</ul>"
    if isinstance(value, str):
        return f"<pre style='{WRAP}'>{html.escape(value)}</pre>"
    if isinstance(value, dict):
        return "<table>" + "".join(
            f"<tr><th style='text-align:left;vertical-align:top;padding-right:12px'>"
            f"{html.escape(str(k))}</th><td style='white-space:pre-wrap;overflow-wrap:anywhere'>"
            f"{html.escape(plain(v))}</td></tr>" for k, v in value.items()) + "</table>"
    return (f"<pre style='{WRAP}'>"
            f"{html.escape(json.dumps(value, indent=1, default=str, ensure_ascii=False))}</pre>")


def plain(value: Any) -> str:
    """A value as a reader reads it: text as is, numbers and structures as JSON with its real
    characters (→, not \\u2192)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


class StepView(widgets.VBox):
    """A step's card, a Run button and the latest outcome."""

    def __init__(self, step: Step, session: Any) -> None:
        self.step = step
        self.session = session
        self.button = widgets.Button(description="Run again", icon="play")
        self.status = widgets.HTML()
        self.output = widgets.HTML()
        self.value: Any = None
        self.error: str | None = None
        self.button.on_click(lambda _b: self.run())
        super().__init__([widgets.HTML(step_card_html(step)),
                          widgets.HBox([self.button, self.status]), self.output])

    def run(self) -> Any:
        self.button.disabled = True
        self.status.value = "running…"
        began = time.monotonic()
        try:
            self.value = self.step.run(self.session)
            self.error = None
            if isinstance(self.value, widgets.Widget):
                self.children = (*self.children[:2], self.value)
            else:
                self.output.value = result_html(self.value)
            self.status.value = f"done in {time.monotonic() - began:.1f} s"
        except Exception as exc:  # shown to the learner, with its message
            self.error = f"{type(exc).__name__}: {exc}"
            self.status.value = (f"<span style='color:#b00020'>failed: "
                                 f"{html.escape(self.error)}</span>")
        finally:
            self.button.disabled = False
        return self.value


class CheckView(widgets.VBox):
    """The lab's checks: ✓ or ✗ each, with a hint for each one that failed."""

    def __init__(self, lab: Lab, session: Any) -> None:
        self.lab = lab
        self.session = session
        self.results: list[Any] = []
        self.table = widgets.HTML()
        self.button = widgets.Button(description="Check again", icon="check")
        self.button.on_click(lambda _b: self.grade())
        super().__init__([widgets.HTML(f"<b>Checks for lab {lab.number:02d}</b> — graded on "
                                       "the cluster's state through the AWS API"),
                          self.table, self.button])

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def summary(self) -> str:
        """The checks as text (for logs and headless runs): ✓/✗, what was found, the hint."""
        lines = [f"{'✓' if r.passed else '✗'} {r.name}: {r.found}"
                 + ("" if r.passed else f" — hint: {r.hint}") for r in self.results]
        score = sum(r.passed for r in self.results)
        return "\n".join([*lines, f"lab {self.lab.number:02d}: {score} of "
                                  f"{len(self.results)} checks passed"])

    def grade(self) -> list[Any]:
        self.results = self.lab.checks(self.session)
        self.table.value = results_html(self.results)
        return self.results


def exercises_html(lab: Lab) -> str:
    return "<ol>" + "".join(f"<li>{html.escape(e)}</li>" for e in lab.exercises) + "</ol>"
