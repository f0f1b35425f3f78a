"""What each deploy step returns: the result, the `aws` CLI equivalent, the AWS truth."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Badge = Literal["real", "emulated", "simulated"]


@dataclass(frozen=True)
class StepResult:
    """One deploy step, ready to show to a learner."""

    step: str  # e.g. "create-cluster"
    title: str  # e.g. "Create the ECS cluster fraud-cluster"
    result: dict[str, Any]  # the structured outcome (ARNs, ids, counts)
    cli: str  # the equivalent `aws …` command
    aws_note: str  # what really happens in AWS, in one or two sentences
    source: str  # where the note comes from (ecs-facts.md section and document)
    badge: Badge  # real / emulated / simulated
    changed: bool = True  # False when the step found everything already in place
    warnings: list[str] = field(default_factory=list)  # e.g. the case study's myth

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


LONG_ARGUMENT = 1000  # characters: a JSON argument longer than this is summarised
SUMMARISED = ("--image-manifest",)  # always summarised: a manifest says nothing to read


def short_cli(cli: str) -> str:
    """The aws command with long JSON arguments summarised: ``put-image --image-manifest
    '{…the whole manifest…}'`` → ``--image-manifest file://manifest.json (3 layers)``."""
    try:
        parts = shlex.split(cli)
    except ValueError:
        return cli
    out = []
    for i, part in enumerate(parts):
        long = len(part) > LONG_ARGUMENT or (i > 0 and parts[i - 1] in SUMMARISED)
        if not long or part[:1] not in "{[" or i == 0:
            out.append(shlex.quote(part))
            continue
        name = parts[i - 1].removeprefix("--")
        try:
            value = json.loads(part)
        except ValueError:
            value = None
        layers = len(value.get("layers") or []) if isinstance(value, dict) else 0
        out.append(f"file://{name.removeprefix('image-')}.json" +
                   (f" ({layers} layers)" if layers else f" ({len(part)} characters of JSON)"))
    return " ".join(out)
