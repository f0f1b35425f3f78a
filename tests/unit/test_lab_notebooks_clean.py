"""The committed lab notebooks: generated, without outputs, one per lab, each step taught."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from optional import lazy, needs

pytestmark = needs("nbformat", "ipywidgets")
nbformat = lazy("nbformat")

from labs import build_notebooks  # noqa: E402
from labs.lessons import NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "labs" / "notebooks").glob("*.ipynb"))


def test_eight_notebooks_one_per_lab() -> None:
    assert [p.name for p in NOTEBOOKS] == [build_notebooks.file_name(m) for m in NAMES]
    assert len(NOTEBOOKS) == 8


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], f"{path.name}: a cell has outputs"
        assert cell.execution_count is None, f"{path.name}: a cell has an execution count"
    nbformat.validate(nb)


@pytest.mark.parametrize("module", NAMES)
def test_matches_the_generator(module: str) -> None:
    path = ROOT / "labs" / "notebooks" / build_notebooks.file_name(module)
    assert path.read_text() == build_notebooks.render(module), (
        f"{path.name} differs from `python -m labs.build_notebooks`")


def test_check_mode_sees_a_stale_notebook(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(build_notebooks, "NOTEBOOKS", tmp_path)
    assert build_notebooks.main(["--check"]) == 1  # nothing written yet
    assert build_notebooks.main([]) == 0
    assert build_notebooks.main(["--check"]) == 0
    first = tmp_path / build_notebooks.file_name(NAMES[0])
    first.write_text(first.read_text().replace("Lab 01", "Lab 1"))
    assert build_notebooks.main(["--check"]) == 1


@pytest.mark.parametrize("module", NAMES)
def test_every_step_teaches(module: str) -> None:
    lab = importlib.import_module(f"labs.lessons.{module}").LAB
    assert lab.number == NAMES.index(module) + 1
    assert lab.do and lab.learn and lab.need and lab.myth and lab.exercises
    for step in lab.steps:
        assert step.badge in ("real", "emulated", "simulated"), step.id
        assert step.cli and step.fact and "ecs-facts.md" in step.source, step.id
    with pytest.raises(KeyError, match="has no step"):
        lab.step("nope")
    nb = build_notebooks.build(module)
    text = "\n".join(c.source for c in nb.cells)
    assert all(f'"{s.id}"' in text for s in lab.steps)
    assert ("LiveDashboard" in text) == lab.live
    assert nb.cells[-1].source.endswith("session.done()")  # Run All must not freeze the view
