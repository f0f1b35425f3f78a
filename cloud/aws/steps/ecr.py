"""ECR deploy steps: the repository, and the image recorded in it under a tag and a digest.

``record_image`` stores a Docker image manifest with ``put_image`` — what ``docker push`` does
last, after uploading the layers. Where no real image was pushed, ``service_manifest`` derives
a deterministic manifest from the service's files, so the digest changes exactly when the
service does (ecs-facts.md §4 "Image digest pinning", §5, §11c).

The real path: ``registry_login`` (``aws ecr get-login-password | docker login``) and
``push_image`` (``docker push`` to the registry behind the repository — LocalStack's, or the
kit's own on 127.0.0.1 — then the registry's manifest bytes recorded with ``put_image``).
"""

from __future__ import annotations

import hashlib
import json
import re
from base64 import b64decode
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.ecs import EMULATED, aws_cli, error_code
from cloud.image.distribution import RegistryClient, sha256_digest
from cloud.image.push import push
from cloud.image.reference import parse_reference
from cloud.image.registry import registry_for_repository

REPOSITORY = "fraud-detection"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_TAR_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SERVICE_DIR = Path(__file__).resolve().parents[3] / "service"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


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


# -- the real path: docker login and docker push to the registry behind the repository -------

REAL: Badge = "real"
PUSH_NOTE = ("`docker push` uploads each layer the registry lacks (gzipped), then the manifest; "
             "ECR names the image by the manifest's sha256 digest and reports its size as the "
             "sum of the compressed layers. When a service deploys, ECS resolves the tag to "
             "that digest; each EC2 instance pulls the image when its first task starts and "
             "reuses the cached layers for later tasks (ECS_IMAGE_PULL_BEHAVIOR=default), while "
             "Fargate pulls the whole image for every task.")
PUSH_SOURCE = "ecs-facts.md §4 (Image digest pinning), §5 (Image pulls and caching)"
LOGIN_NOTE = ("ECR has no passwords of its own: `get-authorization-token` returns a token "
              "(user AWS, valid 12 hours) from your IAM credentials, and `docker login` hands it "
              "to the Docker engine, which sends it with every push and pull to that registry. "
              "On EC2 the ECS agent does this itself with the instance role.")
LOGIN_SOURCE = ("ECR API Reference GetAuthorizationToken (\"valid for 12 hours\"), "
                "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/"
                "API_GetAuthorizationToken.html; ECS Developer Guide, container instance IAM "
                "role; ecs-facts.md §5")


def repository_uri(ecr: Any, repository: str = REPOSITORY) -> str:
    repo = _repository(ecr, repository)
    if repo is None:
        raise LookupError(f"no ECR repository {repository}: create it first "
                          f"(`aws ecr create-repository --repository-name {repository}`)")
    return str(repo["repositoryUri"])


def registry_login(ecr: Any, docker_client: Any, repository: str = REPOSITORY, *,
                   registry: Any = None) -> StepResult:
    """``aws ecr get-login-password | docker login``: the token from the emulator's ECR, then a
    real ``docker login`` where the registry asks for credentials (LocalStack's accepts any);
    the kit's own registry runs without authentication, so the login is skipped there.

    ``registry`` is the kit's local registry (``cloud.image.registry.RegistryInfo``) or None.
    ``result["auth_config"]`` is what ``push_image`` should send (None: no auth).
    """
    uri = repository_uri(ecr, repository)
    name, why = registry_for_repository(uri, registry)
    host = parse_reference(name).registry
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = b64decode(data["authorizationToken"]).decode().partition(":")
    local = registry is not None and name.startswith(f"{registry.host}/") and not registry.auth
    if local:
        login = (f"skipped: the kit's registry at {host} (CNCF distribution) runs without "
                 f"authentication, as a registry on 127.0.0.1 may; the token is not needed")
        auth_config = None
        badge = EMULATED
    else:
        reply = docker_client.login(username=user, password=password, registry=host,
                                    reauth=True)
        login = str(reply.get("Status") or reply)
        auth_config = {"username": user, "password": password}
        badge = REAL
    return StepResult(
        step="registry-login",
        title=f"Log Docker in to the registry {host}",
        result={"registry": host, "proxyEndpoint": data.get("proxyEndpoint"), "user": user,
                "expiresAt": str(data.get("expiresAt")), "login": login, "why": why,
                "auth_config": auth_config},
        cli=(f"{aws_cli('ecr', 'get-login-password')} | docker login --username {user} "
             f"--password-stdin {host}"),
        aws_note=LOGIN_NOTE,
        source=LOGIN_SOURCE,
        badge=badge,
    )


def push_image(ecr: Any, docker_client: Any, source: str = "fraudlab/service:slim",
               repository: str = REPOSITORY, tag: str = "slim", *, registry: Any = None,
               auth_config: dict[str, str] | None = None,
               on_progress: Any = None) -> StepResult:
    """``docker tag`` + ``docker push`` of ``source`` to the registry behind the ECR
    repository (LocalStack's, or the kit's ``registry``), per-layer progress to
    ``on_progress``; then the registry's real manifest bytes are recorded in the emulator's ECR
    (``put_image``) so ``describe-images`` shows the real digest and size.

    ``result["ecrImage"]`` is what a task definition names, as in AWS
    (``<repositoryUri>:<tag>``); the local cloud's hosts pull it from the registry behind it,
    ``result["image"]`` (``127.0.0.1:PORT/<repo>:<tag>`` with the kit's registry).
    """
    uri = repository_uri(ecr, repository)
    name, why = registry_for_repository(uri, registry)
    target = parse_reference(f"{name}:{tag}")
    pushed = push(docker_client, source, name, tag, auth_config, on_progress)
    url = registry.url if registry is not None and target.registry == registry.host \
        else f"http://{target.registry}"
    client = RegistryClient(url, auth=(auth_config["username"], auth_config["password"])
                            if auth_config else None)
    manifest = client.manifest(target.repository, tag)
    warnings = [FRESH_IMAGE_MYTH]
    if manifest.digest != pushed.digest:
        warnings.append(f"the engine reported {pushed.digest}, the registry serves "
                        f"{manifest.digest} for {tag}")
    recorded = record_image(ecr, repository, tag, manifest.raw.decode("utf-8"))
    described = _image_by_tag(ecr, repository, tag) or {}
    size = manifest.layer_bytes
    if described.get("imageSizeInBytes") != size:
        warnings.append(f"Emulator: describe-images says imageSizeInBytes "
                        f"{described.get('imageSizeInBytes')}, the layers sum to {size}.")
    if described.get("imageDigest") != manifest.digest:
        warnings.append(f"Emulator: describe-images says {described.get('imageDigest')}, the "
                        f"registry {manifest.digest}.")
    image = f"{name}:{tag}"
    return StepResult(
        step="push-image",
        title=f"Push {source} to {image} ({manifest.digest[:19]}…)",
        result={
            "source": source,
            "image": image,
            "ecrImage": f"{uri}:{tag}",
            "imageByDigest": f"{name}@{manifest.digest}",
            "imageDigest": manifest.digest,
            "imageSizeInBytes": size,
            "repositoryUri": uri,
            "registry": target.registry,
            "why": why,
            "seconds": round(pushed.seconds, 3),
            "layersPushed": pushed.pushed,
            "layersExisting": pushed.existed,
            "layers": pushed.layers,
            "manifestLayers": [{"digest": layer["digest"], "size": layer["size"]}
                               for layer in manifest.layers],
            "describeImages": {"imageDigest": described.get("imageDigest"),
                               "imageSizeInBytes": described.get("imageSizeInBytes"),
                               "imageTags": described.get("imageTags")},
            "recorded": recorded.changed,
        },
        cli=f"docker tag {source} {image} && docker push {image}",
        aws_note=PUSH_NOTE,
        source=PUSH_SOURCE,
        badge=REAL,
        changed=pushed.pushed > 0 or recorded.changed,
        warnings=warnings,
    )
