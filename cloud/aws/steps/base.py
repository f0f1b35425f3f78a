"""What each deploy step returns: the result, the `aws` CLI equivalent, the AWS truth."""

from __future__ import annotations

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
