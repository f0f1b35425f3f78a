"""A small client of the Registry HTTP API v2 — what ``docker pull`` speaks to a registry.

``GET /v2/<name>/manifests/<ref>`` (with ``Accept`` naming the Docker v2 manifest) gives the
manifest bytes and their digest (``Docker-Content-Digest``); ``GET /v2/<name>/blobs/<digest>``
streams one blob (the image config, or a gzipped layer). Every download is checked against
its sha256 digest, as Docker checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CHUNK = 1 << 20


class RegistryError(RuntimeError):
    """The registry refused, or sent bytes that are not what was asked for."""


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry served it."""

    raw: bytes  # the exact bytes (their sha256 is the image digest)
    digest: str
    media_type: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def layers(self) -> list[dict[str, Any]]:
        return list(self.data.get("layers", []))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.data.get("config", {}))

    @property
    def layer_bytes(self) -> int:
        """Sum of the layers' (compressed) sizes: what ECR reports as imageSizeInBytes."""
        return sum(int(layer.get("size", 0)) for layer in self.layers)


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``: how registries (and ECR) name a blob or a manifest."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    """One registry's HTTP API v2 (``url`` like ``http://127.0.0.1:5000``)."""

    def __init__(self, url: str, session: requests.Session | None = None,
                 auth: tuple[str, str] | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        if auth:
            self.session.auth = auth
        self.timeout = timeout

    def ping(self) -> bool:
        try:
            return self.session.get(f"{self.url}/v2/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def manifest(self, repository: str, ref: str) -> Manifest:
        """The manifest of ``repository`` at a tag or digest, its digest verified."""
        reply = self._get(f"/v2/{repository}/manifests/{ref}",
                          headers={"Accept": f"{MANIFEST_V2}, {OCI_MANIFEST}"})
        raw = reply.content
        digest = sha256_digest(raw)
        told = reply.headers.get("Docker-Content-Digest")
        if told and told != digest:
            raise RegistryError(f"manifest {repository}:{ref}: the registry says {told}, the "
                                f"bytes hash to {digest}")
        if ref.startswith("sha256:") and ref != digest:
            raise RegistryError(f"manifest {repository}@{ref}: the bytes hash to {digest}")
        media = reply.headers.get("Content-Type", "").split(";")[0] or \
            json.loads(raw).get("mediaType", MANIFEST_V2)
        return Manifest(raw, digest, media)

    def has_manifest(self, repository: str, ref: str) -> bool:
        try:
            reply = self.session.head(f"{self.url}/v2/{repository}/manifests/{ref}",
                                      headers={"Accept": MANIFEST_V2}, timeout=self.timeout)
        except requests.RequestException:
            return False
        return reply.status_code == 200

    def blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        """A small blob (the image config) as JSON, its digest verified."""
        raw = self._get(f"/v2/{repository}/blobs/{digest}").content
        if sha256_digest(raw) != digest:
            raise RegistryError(f"blob {digest} of {repository}: the bytes hash to "
                                f"{sha256_digest(raw)}")
        return json.loads(raw)

    def download_blob(self, repository: str, digest: str, dest: Path,
                      on_bytes: Callable[[int], None] | None = None) -> int:
        """Stream a blob into ``dest`` (via a temporary file, renamed once its sha256 matches
        ``digest``); returns the bytes downloaded."""
        if not digest.startswith("sha256:"):
            raise RegistryError(f"unsupported digest {digest!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        h = hashlib.sha256()
        size = 0
        with self.session.get(f"{self.url}/v2/{repository}/blobs/{digest}", stream=True,
                              timeout=self.timeout) as reply:
            self._check(reply, f"blob {digest}")
            with tmp.open("wb") as out:
                for chunk in reply.iter_content(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if on_bytes:
                        on_bytes(len(chunk))
        if "sha256:" + h.hexdigest() != digest:
            tmp.unlink(missing_ok=True)
            raise RegistryError(f"blob {digest} of {repository}: the bytes hash to "
                                f"sha256:{h.hexdigest()}")
        tmp.replace(dest)
        return size

    def _get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        try:
            reply = self.session.get(f"{self.url}{path}", headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"{self.url} did not answer: {exc}") from exc
        self._check(reply, path)
        return reply

    def _check(self, reply: requests.Response, what: str) -> None:
        if reply.status_code == 200:
            return
        try:
            errors = reply.json().get("errors", [])
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            detail = reply.text[:200]
        raise RegistryError(f"{self.url} {what}: HTTP {reply.status_code} {detail}".strip())
