"""``docker push`` through the Docker SDK, with per-layer progress as data and as text bars.

The engine streams JSON events while it pushes (``Preparing`` / ``Waiting`` / ``Pushing``
with ``progressDetail {current, total}`` / ``Pushed`` / ``Layer already exists`` per layer
id, then an ``aux`` event with the manifest's digest and size). ``PushProgress`` folds them
into one row per layer (pure, so a TUI or a notebook can render the same data);
``render_bars`` draws text bars; ``push`` runs the push and returns what happened, timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DONE = ("Pushed", "Layer already exists", "Mounted from")


class PushFailed(RuntimeError):
    """The engine reported an error while pushing."""


@dataclass
class LayerProgress:
    """One layer of a push, as the engine last reported it."""

    id: str  # the engine's short layer id
    status: str = "Preparing"
    current: int = 0  # bytes sent
    total: int | None = None  # the layer's size as the engine counts it (unpacked)

    @property
    def done(self) -> bool:
        return self.status.startswith(DONE)

    @property
    def existed(self) -> bool:
        """The registry already had it: nothing was sent."""
        return self.status.startswith(("Layer already exists", "Mounted from"))

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.current / self.total)


@dataclass
class PushProgress:
    """Every layer of one push, folded from the engine's events."""

    layers: dict[str, LayerProgress] = field(default_factory=dict)
    digest: str | None = None
    manifest_size: int | None = None
    error: str | None = None
    messages: list[str] = field(default_factory=list)

    def update(self, event: Mapping[str, Any]) -> LayerProgress | None:
        """Fold one engine event in; the layer it concerned, if any."""
        if event.get("error") or event.get("errorDetail"):
            detail = event.get("errorDetail") or {}
            self.error = str(detail.get("message") or event.get("error"))
            return None
        aux = event.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
            self.manifest_size = int(aux.get("Size") or 0) or None
            return None
        layer_id, status = event.get("id"), str(event.get("status") or "")
        if not layer_id:
            if status:
                self.messages.append(status)
            return None
        layer = self.layers.setdefault(str(layer_id), LayerProgress(str(layer_id)))
        if layer.done and not status.startswith(DONE):
            return layer  # late "Pushing" lines after "Pushed" change nothing
        layer.status = status
        detail = event.get("progressDetail") or {}
        if "current" in detail:
            layer.current = int(detail["current"])
        if detail.get("total"):
            layer.total = int(detail["total"])
        return layer

    @property
    def done(self) -> bool:
        return bool(self.layers) and all(layer.done for layer in self.layers.values())

    def as_dict(self) -> dict[str, Any]:
        return {"layers": [asdict(layer) | {"done": layer.done, "existed": layer.existed}
                           for layer in self.layers.values()],
                "digest": self.digest, "manifest_size": self.manifest_size,
                "error": self.error}


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.1f} kB"


def render_bars(progress: PushProgress, width: int = 30) -> list[str]:
    """One text line per layer: id, a bar, bytes sent of total, status."""
    lines = []
    for layer in progress.layers.values():
        filled = round(layer.fraction * width)
        bar = "█" * filled + "░" * (width - filled)
        sent = "" if layer.existed else f"{_size(layer.current)}/{_size(layer.total)}"
        lines.append(f"{layer.id}  {bar}  {sent:>20}  {layer.status}")
    return lines


@dataclass(frozen=True)
class PushResult:
    """A finished push."""

    image: str  # registry/repository:tag
    digest: str
    seconds: float
    layers: list[dict[str, Any]]
    pushed: int  # layers sent
    existed: int  # layers the registry already had

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def push_events(client: Any, source: str, name: str, tag: str,
                auth_config: Mapping[str, str] | None = None) -> Iterator[PushProgress]:
    """Tag ``source`` as ``name:tag`` and push it; yields the progress after every event."""
    api = client.api
    if not api.tag(source, name, tag):
        raise PushFailed(f"docker tag {source} {name}:{tag} failed")
    progress = PushProgress()
    for event in api.push(name, tag=tag, stream=True, decode=True,
                          auth_config=dict(auth_config) if auth_config else None):
        progress.update(event)
        if progress.error:
            raise PushFailed(f"docker push {name}:{tag}: {progress.error}")
        yield progress


def push(client: Any, source: str, name: str, tag: str,
         auth_config: Mapping[str, str] | None = None,
         on_progress: Callable[[PushProgress], None] | None = None) -> PushResult:
    """``docker tag source name:tag && docker push name:tag``, timed; ``on_progress`` gets the
    progress after each engine event."""
    started = time.monotonic()
    progress = PushProgress()
    for progress in push_events(client, source, name, tag, auth_config):
        if on_progress:
            on_progress(progress)
    if not progress.digest:
        raise PushFailed(f"docker push {name}:{tag} ended without a digest "
                         f"({'; '.join(progress.messages[-3:])})")
    layers = [asdict(layer) | {"existed": layer.existed} for layer in progress.layers.values()]
    existed = sum(1 for layer in progress.layers.values() if layer.existed)
    return PushResult(f"{name}:{tag}", progress.digest, time.monotonic() - started, layers,
                      len(layers) - existed, existed)
