"""``docker build`` of the service's images through the Docker SDK, the log streamed.

The same build as ``scripts/build_image.sh``: the repository root as context, ``--target slim``
(LiteRT) or ``full`` (TensorFlow), ``--network host``, ``BASE_IMAGE`` from
``$FRAUDLAB_BASE_IMAGE`` (else ``local/python:3.11-bookworm`` when the engine has it, else the
Dockerfile's default) and the host's extra CA certificates as ``EXTRA_CA_CERTS`` — so both share
Docker's layer cache. ``APIClient.build(decode=True)`` streams the engine's JSON log lines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloud.image.layers import LayerRow, layer_table

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("slim", "full")
IMAGE_REPO = "fraudlab/service"
BASE_ENV = "FRAUDLAB_BASE_IMAGE"
LOCAL_BASE = "local/python:3.11-bookworm"
DOCKERFILE_BASE = "python:3.11-slim-bookworm"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


class BuildFailed(RuntimeError):
    """The engine reported a build error."""


@dataclass(frozen=True)
class BuildResult:
    """A finished build."""

    image: str  # the tag, e.g. fraudlab/service:slim
    image_id: str
    target: str
    base_image: str
    seconds: float
    steps: int  # Dockerfile steps the engine ran
    cached_steps: int  # of which "Using cache"
    size_bytes: int  # unpacked, as `docker images` shows it
    log: list[str] = field(default_factory=list)
    layers: list[LayerRow] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = [row.as_dict() for row in self.layers]
        return out


def extra_ca_certs(directory: Path = EXTRA_CA_DIR) -> str:
    """The PEM text of every ``*.crt``/``*.pem`` in ``directory`` (sorted), as the script
    passes it: each file's text followed by a newline."""
    if not directory.is_dir():
        return ""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".crt",
                                                                                   ".pem"))
    return "".join(p.read_text(errors="replace").rstrip("\n") + "\n" for p in files)


def choose_base(client: Any, env: Mapping[str, str] | None = None) -> str:
    """``$FRAUDLAB_BASE_IMAGE``, else the local base when the engine has it, else the
    Dockerfile's default."""
    env = os.environ if env is None else env
    if env.get(BASE_ENV):
        return env[BASE_ENV]
    from docker.errors import ImageNotFound

    try:
        client.images.get(LOCAL_BASE)
        return LOCAL_BASE
    except ImageNotFound:
        return DOCKERFILE_BASE


def log_text(event: Mapping[str, Any]) -> str | None:
    """One engine build event as a log line (None for events without text)."""
    if event.get("stream"):
        return str(event["stream"]).rstrip("\n") or None
    if event.get("status"):
        return " ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k))
    return None


def base_entries(client: Any, base_image: str) -> int:
    """How many history entries the base image brings (0 when the engine lacks it)."""
    from docker.errors import ImageNotFound

    try:
        return len(client.api.history(base_image))
    except ImageNotFound:
        return 0


def build(client: Any, target: str = "slim", tag: str | None = None,
          base_image: str | None = None, on_line: Callable[[str], None] | None = None,
          timeout: float = 1800) -> BuildResult:
    """Build ``target`` from the repository's Dockerfile and tag it (default
    ``fraudlab/service:<target>``); ``on_line`` gets each log line as it comes."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: choose slim or full")
    tag = tag or f"{IMAGE_REPO}:{target}"
    base = base_image or choose_base(client)
    buildargs = {"BASE_IMAGE": base}
    extra = extra_ca_certs()
    if extra:
        buildargs["EXTRA_CA_CERTS"] = extra
    started = time.monotonic()
    lines: list[str] = []
    steps = cached = 0
    image_id = None
    api = client.api
    old_timeout, api.timeout = api.timeout, timeout
    try:
        for event in api.build(path=str(ROOT), tag=tag, target=target, network_mode="host",
                               buildargs=buildargs, rm=True, forcerm=True, decode=True):
            if event.get("error") or event.get("errorDetail"):
                detail = (event.get("errorDetail") or {}).get("message") or event.get("error")
                tail = "\n".join(lines[-15:])
                raise BuildFailed(f"docker build --target {target} failed: {detail}\n{tail}")
            aux = event.get("aux")
            if isinstance(aux, Mapping) and aux.get("ID"):
                image_id = str(aux["ID"])
            text = log_text(event)
            if text is None:
                continue
            for line in text.splitlines():
                if line.startswith("Step "):
                    steps += 1
                if "Using cache" in line:
                    cached += 1
                lines.append(line)
                if on_line:
                    on_line(line)
    finally:
        api.timeout = old_timeout
    seconds = time.monotonic() - started
    image = client.images.get(tag)
    rows = layer_table(api.history(tag), base_entries(client, base))
    return BuildResult(tag, image_id or image.id, target, base, seconds, steps, cached,
                       int(image.attrs["Size"]), lines, rows)


def build_command(target: str, tag: str, base_image: str) -> str:
    """The ``docker build`` command line this build equals."""
    return (f"docker build --network host --target {target} --build-arg BASE_IMAGE={base_image} "
            f"--build-arg EXTRA_CA_CERTS=\"$(cat /usr/local/share/ca-certificates/*.crt)\" "
            f"-t {tag} .")
