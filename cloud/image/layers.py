"""The layer table and pull-time arithmetic: pure functions, no I/O.

An image is a stack of layers, one per filesystem-changing Dockerfile instruction. The table
says, per layer, its size (unpacked, as ``docker history`` shows it; compressed, as the
registry stores and a host downloads it, once the image has been pushed), the instruction
that made it (shortened) and what it holds: the **base** image, the **dependencies** (the
virtualenv), the service's **code** and **model** (this Dockerfile copies ``service/``, code
and model artifacts, in one layer), small **setup** changes, or **metadata** (instructions
that change no file: ENV, CMD, LABEL … no bytes to pull).

Pull time: a host downloads the compressed layers it does not have. The figures use a named
bandwidth assumption, not a measurement of AWS (AWS publishes none): see
``ASSUMED_BANDWIDTH_BYTES_PER_S``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

ASSUMED_BANDWIDTH_BYTES_PER_S = 50_000_000
"""50 MB/s of compressed bytes: an assumed rate for an EC2 instance pulling from ECR in its own
Region — an illustration, not a figure AWS publishes; real rates depend on the instance's
network and on parallel layer downloads."""

GZIP_RATIO_ESTIMATE = 0.3
"""Compressed / unpacked size used only before the image is pushed (Python wheels and shared
libraries gzip to roughly a third); after a push the registry's real layer sizes replace it."""

METADATA = ("ENV", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "HEALTHCHECK", "ARG",
            "STOPSIGNAL", "SHELL", "VOLUME", "ONBUILD", "MAINTAINER")
KINDS = ("base", "dependencies", "code+model", "code", "model", "setup", "metadata", "other")
_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^/bin/sh -c\s+")
_BUILDKIT = re.compile(r"^\|\d+\s+(?:\S+=\S*\s+)*")  # BuildKit's "|2 ARG=v ARG2=v /bin/sh -c"
_COPY_SRC = re.compile(r"^(COPY|ADD) (?:--\S+\s+)?(?:(?:dir|file|multi):[0-9a-f]{8,}|\S+) in ")


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table (oldest layer first)."""

    index: int
    instruction: str  # the Dockerfile instruction, shortened ("COPY /opt/venv", "RUN groupadd …")
    kind: str  # one of KINDS
    holds: str  # what the layer holds, in words
    size_bytes: int  # unpacked, as `docker history` shows it
    compressed_bytes: int | None = None  # as stored in the registry (after a push)
    empty: bool = False  # an instruction that made no layer (no bytes to pull)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def instruction(created_by: str, width: int = 60) -> str:
    """``docker history``'s CreatedBy as the Dockerfile instruction, shortened to ``width``.

    ``/bin/sh -c #(nop)  ENV A=1`` → ``ENV A=1``; ``/bin/sh -c groupadd …`` → ``RUN groupadd …``;
    ``COPY dir:4f2e… in /opt/venv`` → ``COPY → /opt/venv``; an empty CreatedBy (an imported
    base) → ``(base image)``.
    """
    text = _BUILDKIT.sub("", (created_by or "").strip())
    if not text:
        return "(imported base image)"
    if _NOP.match(text):
        text = _NOP.sub("", text)
    elif _SHELL.match(text):
        text = "RUN " + _SHELL.sub("", text)
    elif not re.match(r"^[A-Z]+\b", text):
        text = "RUN " + text
    text = _COPY_SRC.sub(lambda m: f"{m.group(1)} → ", text)
    text = " ".join(text.split())
    text = text.replace("# buildkit", "").strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def classify(created_by: str, size_bytes: int, base: bool = False,
             empty: bool | None = None) -> tuple[str, str]:
    """(kind, what it holds) for one history entry. ``base``: the entry came with the base
    image; ``empty``: the image config says the instruction made no layer (else: size 0)."""
    text = instruction(created_by, width=10_000)
    verb = text.split(" ", 1)[0]
    if base:
        return "base", "the base image: Debian and the Python interpreter"
    if empty if empty is not None else (size_bytes == 0 and verb in METADATA):
        return "metadata", f"settings only ({verb}): no files, nothing to download"
    if "/opt/venv" in text and verb in ("COPY", "ADD", "RUN"):
        return "dependencies", "the virtualenv: gunicorn, Flask, NumPy, the model runtime"
    if "pip install" in text:
        return "dependencies", "Python packages installed with pip"
    if verb in ("COPY", "ADD") and ("/app/service" in text or "service/" in text):
        return "code+model", ("service/: the code and the model's artifacts (one COPY, so a "
                              "code change re-ships the model too)")
    if verb in ("COPY", "ADD") and ("artifacts" in text or ".tflite" in text):
        return "model", "the model's artifacts"
    if verb in ("COPY", "ADD") and "/app" in text:
        return "code", "the service's code"
    if verb == "RUN":
        return "setup", "a small system change (e.g. the non-root user)"
    if verb in METADATA or verb == "WORKDIR":
        made_layer = bool(size_bytes) or empty is False
        return ("setup", f"{verb}: a directory entry, no files to speak of") if made_layer \
            else ("metadata", f"settings only ({verb}): no files, nothing to download")
    return "other", "files"


def layer_table(history: Sequence[Mapping[str, Any]], base_entries: int = 0,
                config: Mapping[str, Any] | None = None,
                manifest: Mapping[str, Any] | None = None) -> list[LayerRow]:
    """The layer table from ``APIClient.history(image)`` (newest first, as the API answers).

    ``base_entries``: how many of the oldest entries the base image brought (the length of the
    base image's own history). With the pushed image's ``config`` blob (its ``history`` marks
    ``empty_layer``) and ``manifest`` (the compressed layer sizes, oldest first), each layer
    gets its compressed size; without them, an entry of size 0 counts as empty.
    """
    entries = list(reversed(list(history)))
    if base_entries < 0 or base_entries > len(entries):
        raise ValueError(f"base_entries must be within 0..{len(entries)}, got {base_entries}")
    empties: list[bool] | None = None
    compressed: list[int] | None = None
    if config is not None and manifest is not None:
        cfg_history = list(config.get("history") or [])
        layers = [int(layer["size"]) for layer in manifest.get("layers", [])]
        flags = [bool(h.get("empty_layer")) for h in cfg_history]
        if len(flags) == len(entries) and flags.count(False) == len(layers):
            empties, compressed = flags, layers
    rows: list[LayerRow] = []
    blob = iter(compressed or [])
    for i, entry in enumerate(entries):
        created_by = str(entry.get("CreatedBy") or "")
        size = int(entry.get("Size") or 0)
        empty = empties[i] if empties is not None else size == 0
        kind, holds = classify(created_by, size, base=i < base_entries,
                               empty=empty if empties is not None else None)
        rows.append(LayerRow(i, instruction(created_by), kind, holds, size,
                             None if empty or compressed is None else next(blob), empty))
    return rows


def totals_by_kind(rows: Sequence[LayerRow]) -> dict[str, dict[str, int | None]]:
    """Per kind: unpacked bytes and compressed bytes (None when some layer's is unknown)."""
    out: dict[str, dict[str, int | None]] = {}
    for row in rows:
        if row.empty:
            continue
        slot = out.setdefault(row.kind, {"size_bytes": 0, "compressed_bytes": 0, "layers": 0})
        slot["size_bytes"] = int(slot["size_bytes"] or 0) + row.size_bytes
        slot["layers"] = int(slot["layers"] or 0) + 1
        if slot["compressed_bytes"] is not None:
            slot["compressed_bytes"] = (None if row.compressed_bytes is None
                                        else slot["compressed_bytes"] + row.compressed_bytes)
    return out


def download_bytes(rows: Sequence[LayerRow]) -> tuple[int, bool]:
    """(bytes a host downloads for the image, whether that is measured): the registry's
    compressed sizes when every layer has one, else unpacked × ``GZIP_RATIO_ESTIMATE``."""
    layers = [r for r in rows if not r.empty]
    if layers and all(r.compressed_bytes is not None for r in layers):
        return sum(int(r.compressed_bytes or 0) for r in layers), True
    return round(sum(r.size_bytes for r in layers) * GZIP_RATIO_ESTIMATE), False


def pull_seconds(compressed_bytes: int,
                 bandwidth_bytes_per_s: float = ASSUMED_BANDWIDTH_BYTES_PER_S) -> float:
    """Seconds to download ``compressed_bytes`` at ``bandwidth_bytes_per_s``."""
    if compressed_bytes < 0:
        raise ValueError(f"bytes cannot be negative: {compressed_bytes}")
    if bandwidth_bytes_per_s <= 0:
        raise ValueError(f"bandwidth must be positive: {bandwidth_bytes_per_s}")
    return compressed_bytes / bandwidth_bytes_per_s


@dataclass(frozen=True)
class PullCost:
    """What one image costs each host's first task, and the whole cluster."""

    image: str
    download_bytes: int
    measured: bool  # True: the registry's compressed sizes; False: an estimate
    seconds_per_host: float  # the first task on each host waits this long
    hosts: int
    cluster_bytes: int  # every host pulls once

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pull_costs(images: Mapping[str, Sequence[LayerRow]], hosts: int,
               bandwidth_bytes_per_s: float = ASSUMED_BANDWIDTH_BYTES_PER_S) -> list[PullCost]:
    """Per image, the first-pull time per host and the bytes for ``hosts`` hosts (each host
    pulls once: ECS_IMAGE_PULL_BEHAVIOR=default reuses its cached layers afterwards)."""
    if hosts < 1:
        raise ValueError(f"hosts must be at least 1, got {hosts}")
    costs = []
    for name, rows in images.items():
        size, measured = download_bytes(rows)
        costs.append(PullCost(name, size, measured, pull_seconds(size, bandwidth_bytes_per_s),
                              hosts, size * hosts))
    return costs


def size_difference(slim: PullCost, full: PullCost) -> str:
    """One sentence: what the full image costs over the slim one, per host and per cluster."""
    extra = full.download_bytes - slim.download_bytes
    seconds = full.seconds_per_host - slim.seconds_per_host
    how = "measured" if slim.measured and full.measured else "estimated"
    return (f"full − slim = {mb(extra)} more to download ({how}): +{seconds:.1f} s for the first "
            f"task on each host at {ASSUMED_BANDWIDTH_BYTES_PER_S / 1e6:.0f} MB/s (assumed), "
            f"{mb(extra * slim.hosts)} over {slim.hosts} hosts; Fargate, which caches nothing, "
            f"pays it on every task (ecs-facts.md §5)")


def mb(size: int | None) -> str:
    """Bytes as decimal megabytes, as docker shows sizes ("—" when unknown)."""
    if size is None:
        return "—"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def render_table(rows: Sequence[LayerRow], empty: bool = False) -> list[str]:
    """The table as text lines; ``empty`` also lists the instructions that made no layer."""
    lines = [f"{'#':>2}  {'kind':<12} {'unpacked':>10} {'compressed':>10}  instruction"]
    for row in rows:
        if row.empty and not empty:
            continue
        lines.append(f"{row.index:>2}  {row.kind:<12} {mb(row.size_bytes):>10} "
                     f"{mb(row.compressed_bytes):>10}  {row.instruction}")
    return lines
