"""The walkthrough's progress, kept in the state directory between runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cloud.core.state_dir import state_dir

PROGRESS_FILE = "tui-progress.json"


def default_path() -> Path:
    return state_dir() / PROGRESS_FILE


@dataclass
class Progress:
    """Which steps are done, their last results, and the step the learner was on."""

    done: list[str] = field(default_factory=list)
    results: dict[str, str] = field(default_factory=dict)
    current: str | None = None

    @classmethod
    def load(cls, path: Path) -> Progress:
        try:
            data = json.loads(path.read_text())
            return cls(list(data.get("done", [])), dict(data.get("results", {})),
                       data.get("current"))
        except (OSError, ValueError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    def mark(self, step_id: str, result: str) -> None:
        if step_id not in self.done:
            self.done.append(step_id)
        self.results[step_id] = result
