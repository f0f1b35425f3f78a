"""The arrows of architecture.md: ``cloud/`` imports no front end (Textual, ipywidgets, Flask,
``tui``, ``labs``, the ``cli`` command above it); ``service/`` never imports ``cloud``; the front
ends never import the command above them; ``cloud/`` is grouped by AWS service; the project's
own modules are imported at module top, unless a comment gives the measured start-up reason.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CLOUD = {"textual", "ipywidgets", "flask", "werkzeug", "tui", "labs", "cli"}
# One package per AWS service (../shared/layout.md): a new top-level module in cloud/ would be a
# room without a name.
CLOUD_PACKAGES = {"core", "aws", "ecs", "lb", "autoscaling", "runtime", "image", "traffic",
                  "export", "server"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "cloud").rglob("*.py")), ids=str)
def test_cloud_module_does_not_import_ui_or_web_frameworks(path: Path) -> None:
    assert not _imports(path) & FORBIDDEN_IN_CLOUD


@pytest.mark.parametrize("path", sorted((ROOT / "service").rglob("*.py")), ids=str)
def test_service_does_not_know_where_it_runs(path: Path) -> None:
    assert not _imports(path) & {"cloud", "tui", "labs"}


def test_importing_every_cloud_module_loads_none_of_them() -> None:
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts)
               for p in (ROOT / "cloud").rglob("*.py") if p.stem != "__init__"]
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout)
    assert "cloud" in loaded
    assert not set(loaded) & FORBIDDEN_IN_CLOUD


@pytest.mark.parametrize("front_end", ["tui", "labs"])
def test_front_ends_do_not_import_the_command_above_them(front_end: str) -> None:
    for path in sorted((ROOT / front_end).rglob("*.py")):
        assert "cli" not in _imports(path), path


def test_cloud_is_grouped_by_aws_service() -> None:
    top_level = {p.stem for p in (ROOT / "cloud").glob("*.py")} - {"__init__"}
    packages = {p.name for p in (ROOT / "cloud").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert top_level == set()
    assert packages == CLOUD_PACKAGES


# ---- imports at module top (issue 13) -------------------------------------------------------
PROJECT = {"cloud", "service", "tui", "labs", "cli"}
# A lazy import's comment must give the start-up figure that justifies it, e.g. "0.37 s" or
# "44 MiB" (python -X importtime, farm-bench), on its line or in the comments just above.
FIGURE = re.compile(r"\d+(\.\d+)?\s*(s|ms|MiB|MB)\b")


def function_level_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Imports of the project's own modules inside a function body."""
    found: set[ast.Import | ast.ImportFrom] = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = {node.module.split(".")[0]}
            elif isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            else:
                continue
            if names & PROJECT:
                found.add(node)
    return sorted(found, key=lambda n: n.lineno)


def reason_comment(lines: list[str], lineno: int) -> str:
    """The comments that go with the import on ``lineno`` (1-based): its own, those on the
    lines just above (over other imports and blank lines), and the opening line's."""
    comments = []
    i = lineno - 1
    while i >= 0:
        line = lines[i]
        code, _, comment = line.partition("#")
        comments.append(comment)
        stripped = code.strip()
        if i != lineno - 1 and stripped and not stripped.startswith(("from ", "import ")):
            break
        i -= 1
    return " ".join(comments)


def unjustified_lazy_imports(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    return [f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}"
            for node in function_level_imports(ast.parse(source, str(path)))
            if not FIGURE.search(reason_comment(lines, node.lineno))]


def test_project_imports_are_at_module_top_unless_a_measured_reason_is_written() -> None:
    paths = [p for package in sorted(PROJECT) for p in sorted((ROOT / package).rglob("*.py"))]
    assert [where for p in paths for where in unjustified_lazy_imports(p)] == []


def test_the_lazy_import_rule_catches_a_bare_one_and_accepts_a_measured_one(tmp_path) -> None:
    bare = tmp_path / "bare.py"
    bare.write_text("def f():\n    from cloud.core.ports import free_port\n\n"
                    "    return free_port()\n")
    measured = tmp_path / "measured.py"
    measured.write_text("def f():\n    # pandas: 0.5 s at start-up (farm-bench)\n"
                        "    import json\n\n    from service.examples import sample_requests\n"
                        "    return sample_requests\n")
    assert len(function_level_imports(ast.parse(bare.read_text()))) == 1
    assert not FIGURE.search(reason_comment(bare.read_text().splitlines(), 2))
    assert FIGURE.search(reason_comment(measured.read_text().splitlines(), 5))


def test_every_fraudlab_subcommand_names_a_handler_that_imports() -> None:
    """cli/main.py imports a subcommand's module when it runs: each name must resolve."""
    code = ("import argparse, importlib, json, cli.main as m\n"
            "def walk(p):\n"
            "    for a in p._actions:\n"
            "        if isinstance(a, argparse._SubParsersAction):\n"
            "            for sp in a.choices.values():\n"
            "                yield sp.get_default('handler')\n"
            "                yield from walk(sp)\n"
            "names = {h for h in walk(m.build_parser()) if h}\n"
            "names |= {f'cli.aws:{c}' for c in ('deploy', 'status', 'destroy')}\n"
            "print(json.dumps({n: callable(m.handler(n)) for n in sorted(names)}))")
    resolved = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                                         capture_output=True, text=True).stdout)
    assert len(resolved) >= 20 and all(resolved.values()), resolved
