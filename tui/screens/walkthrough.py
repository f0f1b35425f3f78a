"""The walkthrough: the case study step by step, each with its run action and its lesson."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, ListItem, ListView, Static

from tui.keys import hidden_actions
from tui.messages import StepFinished
from tui.view import BADGE_STYLE, badge_label
from tui.walkthrough.progress import Progress, default_path
from tui.walkthrough.steps import STEPS, Step
from tui.widgets.notice import NoticeLine


def step_label(step: Step, index: int, done: bool) -> Text:
    mark = Text("✓ " if done else "  ", style="green")
    return mark + Text(f"{index + 1:>2}. {step.title}")


def command_heading(cli: str) -> str:
    """"The AWS equivalent" only over an ``aws`` command; docker, kubectl, fraudlab say so."""
    if cli.startswith("aws "):
        return "The AWS equivalent"
    if cli.startswith("("):
        return "In AWS"
    return f"The command ({cli.split()[0]})"


def step_detail(step: Step, index: int, result: str | None, running: bool) -> Text:
    out = Text(f"{index + 1}. {step.title}  ", style="bold")
    out += Text(badge_label(step.badge), style=BADGE_STYLE.get(step.badge, ""))
    out += Text(f"   {step.part}\n\n", style="dim")
    out += Text("What you'll do\n", style="bold underline") + Text(f"{step.what}\n\n")
    out += Text(f"{command_heading(step.cli)}\n", style="bold underline")
    out += Text(f"$ {step.cli}\n\n", style="cyan")
    out += Text("Myth ", style="bold red") + Text(f"{step.myth}\n")
    out += Text("Fact ", style="bold green") + Text(f"{step.fact}\n\n")
    out += Text("Result\n", style="bold underline")
    if running:
        out += Text("running…", style="yellow")
    elif result:
        out += Text(result)
    elif step.run:
        out += Text("not run yet: press enter (or x) to run this step", style="dim")
    else:
        out += Text("a step to read", style="dim")
    return out


class WalkthroughScreen(Screen):
    """Steps on the left; the selected step's explanation, action and result on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *hidden_actions(),
        Binding("x,enter", "run_step", "Run"),
        Binding("n", "next_step", "Next"),
        Binding("b", "prev_step", "Back"),
        Binding("pagedown,space", "scroll_detail(1)", "Result", key_display="PgDn"),
        Binding("pageup", "scroll_detail(-1)", "Up", key_display="PgUp", show=False),
        Binding("R", "reset", "Reset progress", show=False),
        Binding("d,escape", "app.dashboard", "Dashboard"),
    ]

    def __init__(self, progress_path: Path | None = None) -> None:
        super().__init__()
        self.progress_path = progress_path
        self.progress = Progress()
        self.running: str | None = None

    def path(self) -> Path:
        if self.progress_path is None:
            self.progress_path = default_path()
        return self.progress_path

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="walk-status")
        with Horizontal(id="walk"):
            yield ListView(*[ListItem(Static(step_label(s, i, False), classes="step-label"),
                                      id=f"step-{s.id}") for i, s in enumerate(STEPS)],
                           id="steps")
            with VerticalScroll(id="step-detail"):
                yield Static("", id="detail")
        yield NoticeLine(id="notice")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "walkthrough"
        self.progress = Progress.load(self.path())
        self.query_one("#steps").border_title = "case study"
        ids = [s.id for s in STEPS]
        current = self.progress.current
        if current not in ids:
            current = next((s for s in ids if s not in self.progress.done), ids[0])
        self.query_one(ListView).index = ids.index(current)
        self.watch(self.query_one("#step-detail", VerticalScroll), "scroll_y",
                   lambda _: self.show_scroll_cue(), init=False)
        self.refresh_steps()
        app: Any = self.app
        if app.snapshot is not None:
            self.show_snapshot(app.snapshot)

    def selected(self) -> tuple[int, Step]:
        index = self.query_one(ListView).index or 0
        return index, STEPS[index]

    def refresh_steps(self) -> None:
        for i, s in enumerate(STEPS):
            self.query_one(f"#step-{s.id} .step-label", Static).update(
                step_label(s, i, s.id in self.progress.done))
        index, step = self.selected()
        self.query_one("#detail", Static).update(step_detail(
            step, index, self.progress.results.get(step.id), self.running == step.id))
        done = len(self.progress.done)
        self.query_one("#steps").border_subtitle = f"{done}/{len(STEPS)} done"
        self.call_after_refresh(self.show_scroll_cue)

    def show_scroll_cue(self) -> None:
        """The detail box says when its text goes on below (PgDn/space) or above (PgUp)."""
        detail = self.query_one("#step-detail", VerticalScroll)
        below = detail.scroll_y < detail.max_scroll_y
        above = detail.scroll_y > 0
        detail.border_subtitle = ("▼ more: PgDn/space" if below else
                                  "▲ PgUp" if above else "")


    def show_snapshot(self, snap: dict[str, Any]) -> None:
        services = snap.get("services") or []
        text = " · ".join(f"{s['name']} desired {s['desired']} running {s['running']}"
                          for s in services) or "no service yet"
        hosts = len(snap.get("hosts") or [])
        self.query_one("#walk-status", Static).update(
            f"lab {float(snap.get('lab_time') or 0):.0f}s · {hosts} hosts · {text} · "
            "d: live dashboard")

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        if event.item is None:
            return
        _, step = self.selected()
        self.progress.current = step.id
        self.progress.save(self.path())
        self.refresh_steps()

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        self.action_run_step()

    def action_scroll_detail(self, pages: int) -> None:
        """PgDn / space / PgUp scroll the step's text while the step list keeps the focus."""
        detail = self.query_one("#step-detail", VerticalScroll)
        if pages > 0:
            detail.scroll_page_down()
        else:
            detail.scroll_page_up()

    def action_next_step(self) -> None:
        self.query_one(ListView).action_cursor_down()

    def action_prev_step(self) -> None:
        self.query_one(ListView).action_cursor_up()

    def action_reset(self) -> None:
        self.progress = Progress()
        self.progress.save(self.path())
        self.refresh_steps()
        self.notify("walkthrough progress reset")

    def action_run_step(self) -> None:
        _, step = self.selected()
        if self.running:
            self.notify(f"{self.running} is still running", severity="warning")
            return
        app: Any = self.app
        if step.run is None:
            self.post_message(StepFinished(step.id, True, "read", step.badge))
            return
        self.running = step.id
        self.refresh_steps()
        self.run_step(step, app.backend, app.rate)

    @work(thread=True, group="step")
    def run_step(self, step: Step, backend: Any, rate: float) -> None:
        try:
            outcome = step.run(backend, rate)  # type: ignore[misc]
        except Exception as exc:
            self.post_message(StepFinished(step.id, False, f"{type(exc).__name__}: {exc}",
                                           step.badge))
            return
        self.post_message(StepFinished(step.id, True, outcome.text, outcome.badge))

    def on_step_finished(self, message: StepFinished) -> None:
        message.stop()
        self.running = None
        if message.ok:
            self.progress.mark(message.step_id, message.result)
            self.notify(f"done {badge_label(message.badge)}: its result is at the end of the "
                        "step (shown)", title=message.step_id, timeout=4)
        else:
            self.progress.results[message.step_id] = f"failed: {message.result}"
            self.notify(message.result, title=f"{message.step_id} failed", severity="error",
                        timeout=8)
        self.progress.save(self.path())
        self.refresh_steps()
        if message.step_id == self.selected()[1].id:  # show its result, at the end
            self.call_after_refresh(self.query_one("#step-detail", VerticalScroll).scroll_end,
                                    animate=False)
