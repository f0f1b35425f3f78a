"""Image references as Docker reads them: ``[registry/]repository[:tag][@digest]``; pure."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"^{_PART}(?:/{_PART})*$")
ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")


@dataclass(frozen=True)
class Reference:
    """One image reference, split."""

    registry: str  # "127.0.0.1:5000", "docker.io", "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    repository: str  # "fraud-detection"
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository (Docker Hub names keep their short form)."""
        return self.repository if self.registry == DOCKER_HUB else \
            f"{self.registry}/{self.repository}"

    @property
    def ref(self) -> str:
        """What the registry's manifest endpoint is asked for: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def by_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(text: str) -> Reference:
    """Split an image reference; a clear ``ValueError`` for what Docker would refuse."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an image reference cannot be empty")
    rest, digest = text.strip(), None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"{text!r}: the digest must be sha256: and 64 hex digits")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, tag = path.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ValueError(f"{text!r}: {tag!r} is not a valid tag")
    if not _REPO.match(path):
        raise ValueError(f"{text!r}: {path!r} is not a valid repository name (lower case "
                         f"letters, digits and . _ - separators)")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return Reference(registry, path, tag if tag or digest else "latest", digest)


def is_loopback_registry(registry: str) -> bool:
    """Whether ``registry`` (host[:port]) is on this machine: 127.0.0.0/8, ::1 or localhost —
    the registries Docker lets a client use over plain HTTP."""
    if registry.startswith("["):  # [::1]:5000
        host = registry[1:].split("]", 1)[0]
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ecr_host(registry: str) -> tuple[str, str] | None:
    """(account, region) of an ECR registry host name, else None."""
    found = ECR_HOST.match(registry)
    return (found["account"], found["region"]) if found else None


# The kit's fraud-service image: its local build (``scripts/build_image.sh``) and the ECR
# repository `fraudlab push` and the deploy steps use (cloud.aws.steps.ecr.REPOSITORY).
KIT_REPOSITORIES = ("fraudlab/service", "fraud-detection")


def kit_image(image: str, extra_repositories: tuple[str, ...] = ()) -> bool:
    """Whether ``image`` is the kit's fraud-service image, wherever it is pulled from (a local
    build, ECR, the kit's registry): its repository's last part is one of
    ``KIT_REPOSITORIES`` (or ``extra_repositories``)."""
    try:
        ref = parse_reference(image)
    except ValueError:
        return False
    return ref.repository in (*KIT_REPOSITORIES, *extra_repositories) or \
        ref.repository.rsplit("/", 1)[-1] in ("fraud-detection",)
