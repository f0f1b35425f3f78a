"""Practice mode: the quiz, the interview question, and drills with a hidden fault."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, ListItem, ListView, Static

from tui.keys import hidden_actions
from tui.practice.content import DRILLS, INTERVIEW_QUESTION, MODEL_ANSWER, QUIZ, RUBRIC, Question
from tui.practice.drills import Action, run_actions
from tui.widgets.notice import NoticeLine

SECTIONS = ["quiz", "interview", *[f"drill-{d.id}" for d in DRILLS]]


class DrillPlanted(Message):
    """A drill's fault was planted (``error`` set: it could not be)."""

    def __init__(self, drill_id: str, error: str | None) -> None:
        super().__init__()
        self.drill_id = drill_id
        self.error = error


def question_text(q: Question, chosen: int | None) -> Text:
    out = Text(f"{q.text}\n\n", style="bold")
    for i, option in enumerate(q.options):
        style = ""
        if chosen is not None:
            style = "bold green" if i == q.answer else "red" if i == chosen else "dim"
        out += Text(f"  {i + 1}. {option}\n", style=style)
    if chosen is None:
        out += Text("\nanswer with 1-4", style="dim")
    else:
        right = chosen == q.answer
        out += Text("\nright: " if right else "\nnot quite: ",
                    style="bold green" if right else "bold red")
        if not right:
            out += Text(f"the answer is {q.answer + 1}. {q.options[q.answer]}. ", style="bold")
        out += Text(q.why)
    return out


class PracticeScreen(Screen):
    """Quiz, interview and drills on the left; the selected one on the right."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "answer(0)", "1", show=False),
        Binding("2", "answer(1)", "2", show=False),
        Binding("3", "answer(2)", "3", show=False),
        Binding("4", "answer(3)", "4", show=False),
        *hidden_actions(),
        Binding("n", "next_question", "Next"),
        Binding("m", "reveal", "Model answer"),
        Binding("f", "start_drill", "Start drill"),
        Binding("d,escape", "app.dashboard", "Dashboard"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.question = 0
        self.answers: dict[int, int] = {}  # quiz question → chosen option
        self.revealed = False
        self.drills: dict[str, str] = {}  # drill id → "planted" | "error: …"
        self.drill_answers: dict[str, int] = {}
        self.saved: dict[str, dict[str, Any]] = {}  # drill id → what its cleanup restores

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="practice"):
            yield ListView(ListItem(Static("Quiz"), id="sec-quiz"),
                           ListItem(Static("Interview"), id="sec-interview"),
                           *[ListItem(Static(f"Drill: {d.title}"), id=f"sec-drill-{d.id}")
                             for d in DRILLS], id="sections")
            with VerticalScroll(id="practice-detail"):
                yield Static("", id="practice-body")
        yield NoticeLine(id="notice")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "practice"
        self.query_one("#sections").border_title = "practice"
        self.query_one(ListView).index = 0
        self.render_body()

    def section(self) -> str:
        return SECTIONS[self.query_one(ListView).index or 0]

    def on_list_view_highlighted(self, event: ListView.Highlighted) -> None:
        self.render_body()

    def score(self) -> str:
        right = sum(QUIZ[q].answer == a for q, a in self.answers.items())
        return f"{right}/{len(self.answers)} right of {len(QUIZ)} questions"

    def render_body(self) -> None:
        section = self.section()
        if section == "quiz" and self.question >= len(QUIZ):
            right = sum(QUIZ[q].answer == a for q, a in self.answers.items())
            body = Text(f"Quiz done: {right} of {len(QUIZ)} right\n\n", style="bold")
            for i, q in enumerate(QUIZ):
                mark = "✓" if self.answers.get(i) == q.answer else "✕"
                body += Text(f" {mark} {i + 1}. {q.text[:60]}…\n",
                             style="green" if mark == "✓" else "red")
            body += Text("\nn: start again", style="dim")
        elif section == "quiz":
            q = QUIZ[self.question]
            body = Text(f"Question {self.question + 1} of {len(QUIZ)} · {self.score()}\n\n",
                        style="dim")
            body += question_text(q, self.answers.get(self.question))
            last = self.question == len(QUIZ) - 1
            body += Text(f"\n\nn: {'your score' if last else 'next question'}", style="dim")
        elif section == "interview":
            body = Text("The case study's interview question\n\n", style="dim")
            body += Text(f"{INTERVIEW_QUESTION}\n\n", style="bold")
            body += Text("Say your answer out loud (2 minutes), then press m.\n\n")
            if self.revealed:
                body += Text("A model answer (correcting the case study)\n",
                             style="bold underline")
                body += Text(f"{MODEL_ANSWER}\n\n")
                body += Text("Rubric: one point each\n", style="bold underline")
                for point in RUBRIC:
                    body += Text(f"  □ {point}\n")
        else:
            drill = next(d for d in DRILLS if f"drill-{d.id}" == section)
            body = Text(f"Drill: {drill.title}\n\n", style="bold")
            state = self.drills.get(drill.id)
            if state is None:
                body += Text("Press f to plant a hidden fault in the running local cloud, then "
                             "diagnose it from the dashboard.\n", style="dim")
            elif state.startswith("error"):
                body += Text(f"could not start: {state[7:]}\n", style="red")
            else:
                body += Text(f"{drill.brief}\n\n")
                body += question_text(drill.question, self.drill_answers.get(drill.id))
        self.query_one("#practice-body", Static).update(body)

    def action_answer(self, option: int) -> None:
        section = self.section()
        if section == "quiz":
            if self.question < len(QUIZ) and option < len(QUIZ[self.question].options):
                self.answers.setdefault(self.question, option)
        elif section.startswith("drill-"):
            drill_id = section[6:]
            if self.drills.get(drill_id) == "planted":
                first = drill_id not in self.drill_answers
                self.drill_answers.setdefault(drill_id, option)
                drill = next(d for d in DRILLS if d.id == drill_id)
                if first and drill.cleanup:
                    self.plant(drill.id, drill.cleanup, cleanup=True)
        self.render_body()

    def action_next_question(self) -> None:
        """The next question; after the last one the final score; then start again."""
        if self.question >= len(QUIZ):
            self.question, self.answers = 0, {}
        else:
            self.question += 1
        self.render_body()

    def action_reveal(self) -> None:
        self.revealed = True
        self.render_body()

    def action_start_drill(self) -> None:
        section = self.section()
        if not section.startswith("drill-"):
            self.notify("choose a drill on the left first")
            return
        drill = next(d for d in DRILLS if f"drill-{d.id}" == section)
        app: Any = self.app
        if app.backend.client is None:
            self.notify("not connected to the local cloud yet", severity="error")
            return
        self.drill_answers.pop(drill.id, None)
        self.plant(drill.id, drill.setup)

    @work(thread=True, group="drill")
    def plant(self, drill_id: str, actions: tuple[Action, ...], cleanup: bool = False) -> None:
        app: Any = self.app
        try:
            run_actions(actions, app.backend, self.saved.setdefault(drill_id, {}))
        except Exception as exc:
            self.post_message(DrillPlanted(drill_id, f"{'cleanup: ' if cleanup else ''}{exc}"))
            return
        if not cleanup:
            self.post_message(DrillPlanted(drill_id, None))

    def on_drill_planted(self, message: DrillPlanted) -> None:
        if message.error:
            if message.error.startswith("cleanup: "):
                self.notify(message.error, severity="error")
                return
            self.drills[message.drill_id] = f"error: {message.error}"
            self.notify(message.error, title="drill", severity="error")
        else:
            self.drills[message.drill_id] = "planted"
            self.notify("a fault is planted: look at the dashboard (d)")
        self.render_body()
