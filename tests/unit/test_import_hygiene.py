"""The arrows of architecture.md: ``cloud/`` imports no front end (Textual, ipywidgets, Flask,
``tui``, ``labs``, the ``cli`` command above it); ``service/`` never imports ``cloud``; the front
ends never import the command above them; ``cloud/`` is grouped by AWS service.
"""

from __future__ import annotations

import ast
import json
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
