"""ECR deploy steps: the repository, and the image recorded in it under a tag and a digest.

``record_image`` stores a Docker image manifest with ``put_image`` — what ``docker push`` does
last, after uploading the layers. Where no real image was pushed, ``service_manifest`` derives
a deterministic manifest from the service's files, so the digest changes exactly when the
service does (ecs-facts.md §4 "Image digest pinning", §5, §11c).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cloud.steps.base import Badge, StepResult
from cloud.steps.ecs import EMULATED, aws_cli, error_code

REPOSITORY = "fraud-detection"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SERVICE_DIR = Path(__file__).resolve().parents[2] / "service"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_manifest(config_digest: str, config_size: int,
                    layers: Sequence[tuple[str, int]]) -> str:
    """A Docker image manifest v2 (schema 2) from the config blob's and the layers' digests.

    The JSON is compact, so the bytes — and the digest a registry computes — are stable.
    """
    for digest, size in [(config_digest, config_size), *layers]:
        if not _DIGEST.match(digest):
            raise ValueError(f"not a sha256 digest: {digest!r}")
        if size < 0:
            raise ValueError(f"blob size cannot be negative: {size}")
    if not layers:
        raise ValueError("an image needs at least one layer")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": config_size, "digest": config_digest},
        "layers": [{"mediaType": LAYER_TAR_GZIP, "size": size, "digest": digest}
                   for digest, size in layers],
    }
    return json.dumps(manifest, separators=(",", ":"))


def _files_digest(root: Path, files: Sequence[Path]) -> tuple[str, int]:
    """sha256 over (path, size, content) of each file in order, and their total size."""
    h = hashlib.sha256()
    total = 0
    for path in files:
        data = path.read_bytes()
        h.update(f"{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
        total += len(data)
    return "sha256:" + h.hexdigest(), total


def service_layers(service_dir: Path = SERVICE_DIR) -> list[tuple[str, str, int]]:
    """(name, digest, size) of the image's three content layers: dependencies, code, model."""
    root = service_dir.parent
    groups = {
        "dependencies": [service_dir / "requirements.txt"],
        "code": sorted(p for p in service_dir.rglob("*.py") if "__pycache__" not in p.parts),
        "model": [service_dir / "artifacts" / "model.json",
                  service_dir / "artifacts" / "fraud_mlp.tflite"],
    }
    layers = []
    for name, files in groups.items():
        missing = [str(f) for f in files if not f.is_file()]
        if missing or not files:
            raise FileNotFoundError(f"the image's {name} layer needs {missing or name} "
                                    f"(service directory {service_dir})")
        layers.append((name, *_files_digest(root, files)))
    return layers


def service_manifest(service_dir: Path = SERVICE_DIR) -> str:
    """A deterministic manifest for the service image, derived from its files.

    Layer "digests" are sha256 over the files' paths and bytes — not over real tar.gz blobs,
    and no blob is uploaded — so this stands for a ``docker build`` + ``docker push`` of the
    same files: identical files, identical digest; any change, a new digest.
    """
    layers = service_layers(service_dir)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"WorkingDir": "/app", "ExposedPorts": {"8080/tcp": {}},
                   "Labels": {"org.opencontainers.image.title": "fraudlab-service"}},
        "rootfs": {"type": "layers", "diff_ids": [digest for _, digest, _ in layers]},
    }
    blob = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    return docker_manifest(sha256_digest(blob), len(blob),
                           [(digest, size) for _, digest, size in layers])


def content_tag(manifest_json: str) -> str:
    """A tag naming the content: ``svc-`` and the first 12 hex digits of the digest."""
    return "svc-" + sha256_digest(manifest_json.encode())[7:19]


def _repository(ecr: Any, name: str) -> dict[str, Any] | None:
    try:
        return ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as exc:
        if error_code(exc) == "RepositoryNotFoundException":
            return None
        raise


def create_repository(ecr: Any, name: str = REPOSITORY, *, tag_mutability: str = "MUTABLE",
                      badge: Badge = EMULATED) -> StepResult:
    """Create the ECR repository, or find it."""
    repo = _repository(ecr, name)
    changed = repo is None
    if repo is None:
        repo = ecr.create_repository(repositoryName=name,
                                     imageTagMutability=tag_mutability)["repository"]
    result = {"repositoryName": repo["repositoryName"], "repositoryArn": repo["repositoryArn"],
              "repositoryUri": repo["repositoryUri"],
              "imageTagMutability": repo.get("imageTagMutability")}
    if badge == EMULATED:
        result["registry"] = ("The emulator answers ECR's API only: it keeps manifests but "
                              "serves no Docker registry, so `docker push` needs a real one.")
    return StepResult(
        step="create-repository",
        title=f"Create the ECR repository {name}",
        result=result,
        cli=aws_cli("ecr", "create-repository", repository_name=name,
                    image_tag_mutability=tag_mutability),
        aws_note=("ECR is a private Docker registry: a repository holds image manifests and "
                  "layers under tags and sha256 digests. The ECS agent on each EC2 instance "
                  "pulls from it when a task starts and reuses the layers it already cached on "
                  "that instance (ECS_IMAGE_PULL_BEHAVIOR=default)."),
        source="ecs-facts.md §5; ECS Developer Guide pull-behavior",
        badge=badge,
        changed=changed,
    )


def _image_by_tag(ecr: Any, repository: str, tag: str) -> dict[str, Any] | None:
    try:
        details = ecr.describe_images(repositoryName=repository,
                                      imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as exc:
        if error_code(exc) == "ImageNotFoundException":
            return None
        raise
    return details[0] if details else None


FRESH_IMAGE_MYTH = (
    "The case study says ECS \"pulls a fresh image from ECR\" on every restart. A replacement is "
    "a new task started from the digest pinned when the service deployed, not whatever the tag "
    "points to now; on EC2 the default pull behaviour reuses the instance's cached layers (and "
    "falls back to the cache if the registry fails). Only Fargate pulls the whole image for "
    "every task (ecs-facts.md §11c).")


def record_image(ecr: Any, repository: str, tag: str, manifest_json: str,
                 digest: str | None = None, *, badge: Badge = EMULATED) -> StepResult:
    """Put the image manifest under ``tag``; a no-op when the tag already names this digest.

    ``digest`` defaults to the sha256 of the manifest bytes — what a registry computes; a
    different one is refused, as ECR would refuse it.
    """
    computed = sha256_digest(manifest_json.encode())
    if digest is not None and digest != computed:
        raise ValueError(f"digest {digest} is not the sha256 of the manifest ({computed})")
    manifest = json.loads(manifest_json)
    media_type = manifest.get("mediaType", MANIFEST_V2)
    before = _image_by_tag(ecr, repository, tag)
    changed = before is None or before.get("imageDigest") != computed
    if changed:
        ecr.put_image(repositoryName=repository, imageManifest=manifest_json,
                      imageManifestMediaType=media_type, imageTag=tag, imageDigest=computed)
    after = _image_by_tag(ecr, repository, tag) or {}
    repo = _repository(ecr, repository) or {}
    uri = repo.get("repositoryUri", repository)
    warnings = [FRESH_IMAGE_MYTH]
    if before is not None and changed:
        warnings.append(f"Tag {tag} moved from {before.get('imageDigest')} to {computed}: "
                        "services already deployed keep running the old digest until their "
                        "next deployment (ecs-facts.md §4).")
    if after.get("imageDigest") != computed:
        warnings.append(f"Emulator: describe-images shows digest {after.get('imageDigest')}, "
                        f"not the manifest's sha256 {computed}.")
    layers = manifest.get("layers", [])
    result = {
        "repositoryName": repository,
        "repositoryUri": uri,
        "imageTag": tag,
        "imageDigest": after.get("imageDigest", computed),
        "image": f"{uri}:{tag}",
        "imageByDigest": f"{uri}@{computed}",
        "imageManifestMediaType": media_type,
        "layers": len(layers),
        "layerBytes": sum(int(layer.get("size", 0)) for layer in layers),
    }
    return StepResult(
        step="record-image",
        title=f"Record image {repository}:{tag} ({computed[:19]}…)",
        result=result,
        cli=aws_cli("ecr", "put-image", repository_name=repository, image_tag=tag,
                    image_manifest=manifest_json, image_manifest_media_type=media_type,
                    image_digest=computed),
        aws_note=("`docker push` uploads the layers, then this manifest; ECR names the image by "
                  "the manifest's sha256 digest. When a service deploys, ECS resolves the tag to "
                  "this digest and starts every task of the deployment from it, so moving the "
                  "tag later changes nothing until the next deployment."),
        source="ecs-facts.md §4 (Image digest pinning), §11c; ECS API Reference ContainerImage, "
               "ContainerDefinition.versionConsistency",
        badge=badge,
        changed=changed,
        warnings=warnings,
    )
