"""Generate ``labs/notebooks/NN_*.ipynb`` from the lab modules (no outputs).

    python -m labs.build_notebooks          # write the notebooks
    python -m labs.build_notebooks --check  # exit 1 if a committed notebook differs

Every notebook has the same frame: the lab's intro, the live view (labs 04–07), one cell per
step, the exercises, the checks and a last cell that says what keeps running (it stops
nothing: after Run All the live view keeps updating).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from labs.lessons import NAMES

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
LIVE_SECONDS = 600  # the live view ends by itself after this long


def file_name(module: str) -> str:
    number, _, rest = module.removeprefix("lab").partition("_")
    return f"{number}_{rest}.ipynb"


def build(module: str) -> nbformat.NotebookNode:
    lab = importlib.import_module(f"labs.lessons.{module}").LAB
    cells = [
        new_markdown_cell(
            f"# Lab {lab.number:02d} — {lab.title}\n\n"
            f"**What you'll do:** {lab.do}\n\n**What you'll learn:** {lab.learn}\n\n"
            f"**What you need:** {lab.need}\n\n**The case study says:** *{lab.myth}* — this "
            "lab checks it against what ECS really does.\n\n"
            "Run the cells top to bottom. The first one attaches to the running local cloud "
            "(`fraudlab up`) or starts one."),
        new_code_cell("from labs.kit.session import open_session\n"
                      f"from labs.lessons import {module} as lab\n\n"
                      "session = open_session()\nlab.LAB.intro()"),
    ]
    if lab.live:
        cells += [
            new_markdown_cell("## Live view\n\nHosts holding their tasks, the load balancer's "
                              "routing, metrics and events — updated from the local cloud's "
                              "stream while you work. The buttons crash a task or start the "
                              "×10 spike."),
            new_code_cell("from labs.kit.views import LiveDashboard\n\n"
                          f"dashboard = LiveDashboard(session, seconds={LIVE_SECONDS}).start()"
                          "\ndashboard"),
        ]
    for i, step in enumerate(lab.steps, 1):
        cells += [new_markdown_cell(f"## Step {i} — {step.title} · {step.badge.upper()}\n\n"
                                    f"{step.what}\n\n```\n$ {step.cli}\n```\n\n"
                                    f"*In AWS:* {step.fact} ({step.source})"),
                  new_code_cell(f'lab.LAB.run_step(session, "{step.id}")')]
    exercises = "\n".join(f"{i}. {e}" for i, e in enumerate(lab.exercises, 1))
    cells += [
        new_markdown_cell(f"## Exercises\n\n{exercises}"),
        new_code_cell("# your turn: e.g. session.snapshot()['services']"),
        new_markdown_cell("## Checks\n\nGraded on the cluster's state through the AWS API; a "
                          "failed check says what to do."),
        new_code_cell("checks = lab.LAB.grade(session)\nchecks"),
        new_markdown_cell("## Done\n\nThe live view keeps updating while you read (it stops "
                          "by itself, or run `session.close()`); the local cloud keeps running "
                          "for the next lab (`fraudlab down` stops it)."),
        new_code_cell("print(checks.summary())\nsession.done()"),
    ]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (FraudLab)",
                       "language": "python"},
        "language_info": {"name": "python"}})
    for n, cell in enumerate(nb.cells):  # stable ids, so regenerating changes nothing
        cell["id"] = f"lab{lab.number:02d}-{n:02d}"
    return nb


def render(module: str) -> str:
    return nbformat.writes(build(module)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed notebooks instead of writing")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for module in NAMES:
        path = NOTEBOOKS / file_name(module)
        text = render(module)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python -m labs.build_notebooks): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
