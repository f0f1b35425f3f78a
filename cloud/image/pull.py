"""One host's image pull at the registry-protocol level, into that host's layer store.

Each simulated EC2 host has a directory under the state directory that stands for its Docker
image store: ``<store>/<host>/blobs/sha256/<hex>``. A pull does what ``docker pull`` does over
the wire: fetch the manifest (always — ECS_IMAGE_PULL_BEHAVIOR=default asks the registry on
every task start), then download the config and each layer blob the host does not already
have, verifying each sha256. The first task on a host downloads every layer; later tasks on
that host download none (a cache hit): ecs-facts.md §5.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloud.core.owner import process_alive, start_time
from cloud.image.distribution import RegistryClient
from cloud.image.reference import Reference


@dataclass(frozen=True)
class BlobPull:
    """One blob of a pull: downloaded, or already in the host's store."""

    digest: str
    size: int
    cached: bool
    seconds: float


@dataclass(frozen=True)
class HostPull:
    """A pull on one host, measured."""

    host_id: str
    image: str
    digest: str  # the manifest's digest: what ECS pins the task to
    seconds: float  # wall seconds, manifest request included
    downloaded_bytes: int  # bytes that came over the wire for blobs
    image_bytes: int  # the image's compressed size (config + layers)
    blobs: list[BlobPull] = field(default_factory=list)

    @property
    def cached(self) -> bool:
        """Every blob was already on the host: nothing but the manifest was fetched."""
        return all(b.cached for b in self.blobs)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cached": self.cached}


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "_"


def blob_path(host_dir: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return host_dir / "blobs" / algorithm / hexdigest


def pull_to_host(registry: RegistryClient, ref: Reference, host_dir: Path, host_id: str,
                 on_blob: Callable[[BlobPull], None] | None = None) -> HostPull:
    """Pull ``ref`` onto the host whose store is ``host_dir`` (see the module doc)."""
    started = time.monotonic()
    manifest = registry.manifest(ref.repository, ref.ref)
    host_dir.mkdir(parents=True, exist_ok=True)
    (host_dir / "manifests").mkdir(exist_ok=True)
    wanted = [manifest.config, *manifest.layers]
    blobs: list[BlobPull] = []
    downloaded = 0
    for item in wanted:
        digest, size = str(item["digest"]), int(item.get("size", 0))
        path = blob_path(host_dir, digest)
        t0 = time.monotonic()
        if path.is_file() and path.stat().st_size == size:
            blob = BlobPull(digest, size, True, 0.0)
        else:
            got = registry.download_blob(ref.repository, digest, path)
            downloaded += got
            blob = BlobPull(digest, got, False, time.monotonic() - t0)
        blobs.append(blob)
        if on_blob:
            on_blob(blob)
    # The host now knows this manifest (as `docker images --digests` would list it).
    (host_dir / "manifests" / safe_name(manifest.digest)).write_bytes(manifest.raw)
    return HostPull(host_id, str(ref), manifest.digest, time.monotonic() - started, downloaded,
                    sum(int(i.get("size", 0)) for i in wanted), blobs)


def store_owner() -> str:
    """This process as the owner of a layer-store directory: ``<pid>-<start time>``."""
    pid = os.getpid()
    return f"{pid}-{start_time(pid) or '0'}"


def prune_stores(root: Path) -> list[str]:
    """Remove the layer stores of processes that are gone (a crashed local cloud); names."""
    removed = []
    if not root.is_dir():
        return removed
    for path in root.iterdir():
        pid, _, start = path.name.partition("-")
        if not pid.isdigit():
            continue
        if not process_alive(int(pid), "" if start == "0" else start):
            with contextlib.suppress(OSError):
                shutil.rmtree(path)
            removed.append(path.name)
    return removed
