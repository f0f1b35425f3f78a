"""What a drill does to the running local cloud, step by step (blocking: a thread worker
runs them).

Each drill sets up what its fault needs so the fault shows every time: the "stuck tasks"
drill pins the service's auto scaling bounds to the count it asks for (else Application Auto
Scaling pulls 16 back to the walkthrough's MaxCapacity 8, 8 fit on two hosts and nothing is
stuck), and puts them back afterwards; the drills that need two hosts launch the missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloud.aws.steps.ecs import CLUSTER, SERVICE
from cloud.aws.steps.hosts import launch_hosts
from cloud.aws.steps.scaling import NAMESPACE, SCALABLE_DIMENSION, resource_id


@dataclass(frozen=True)
class Post:
    """One control-API call (the same one a key on the dashboard makes)."""

    path: str
    body: dict[str, Any]

    def run(self, backend: Any, saved: dict[str, Any]) -> None:
        backend.client.post(self.path, self.body)


def _scalable_target(aas: Any) -> dict[str, Any] | None:
    rid = resource_id(CLUSTER, SERVICE)
    found = aas.describe_scalable_targets(ServiceNamespace=NAMESPACE, ResourceIds=[rid],
                                          ScalableDimension=SCALABLE_DIMENSION)
    return next((t for t in found.get("ScalableTargets", []) if t["ResourceId"] == rid), None)


@dataclass(frozen=True)
class PinScaling:
    """``aws application-autoscaling register-scalable-target --min-capacity N --max-capacity
    N``: auto scaling then holds the desired count at N; the bounds before are kept."""

    count: int

    def run(self, backend: Any, saved: dict[str, Any]) -> None:
        aas = backend.aws("application-autoscaling")
        saved.setdefault("scalable_target", _scalable_target(aas))
        aas.register_scalable_target(ServiceNamespace=NAMESPACE,
                                     ResourceId=resource_id(CLUSTER, SERVICE),
                                     ScalableDimension=SCALABLE_DIMENSION,
                                     MinCapacity=self.count, MaxCapacity=self.count)


@dataclass(frozen=True)
class RestoreScaling:
    """Put the auto scaling bounds back as they were before the drill (or none)."""

    def run(self, backend: Any, saved: dict[str, Any]) -> None:
        if "scalable_target" not in saved:
            return
        before = saved.pop("scalable_target")
        aas = backend.aws("application-autoscaling")
        kwargs = {"ServiceNamespace": NAMESPACE, "ResourceId": resource_id(CLUSTER, SERVICE),
                  "ScalableDimension": SCALABLE_DIMENSION}
        if before is None:
            aas.deregister_scalable_target(**kwargs)
        else:
            aas.register_scalable_target(MinCapacity=before["MinCapacity"],
                                         MaxCapacity=before["MaxCapacity"], **kwargs)


@dataclass(frozen=True)
class EnsureHosts:
    """Launch hosts until the cluster has ``count`` (a host drill run before took one)."""

    count: int = 2

    def run(self, backend: Any, saved: dict[str, Any]) -> None:
        if len(backend.client.get("/v1/snapshot").get("hosts") or []) >= self.count:
            return
        launch_hosts(backend.aws("ec2"), backend.aws("ecs"), CLUSTER, count=self.count)


Action = Post | PinScaling | RestoreScaling | EnsureHosts


def run_actions(actions: tuple[Action, ...], backend: Any, saved: dict[str, Any]) -> None:
    for action in actions:
        action.run(backend, saved)
