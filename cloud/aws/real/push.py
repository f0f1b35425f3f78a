"""The image into your ECR: repository, ``GetAuthorizationToken``, ``docker login``, ``docker
push`` (the kit's push code, ``cloud.image.push``), then the digest ECR recorded.

Against the test emulator (moto's ECR answers the API only: its repository URI names no
registry) the push goes to the kit's local registry on 127.0.0.1, which stands in for ECR as in
``fraudlab push``; never to the URI's non-loopback host.
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.real.plan import RUN_TAG, RealAwsRefused
from cloud.aws.steps.ecr import REPOSITORY
from cloud.aws.steps.ecr import push_image as kit_push
from cloud.image import registry as kit_registry
from cloud.image.push import push
from cloud.image.reference import parse_reference
from cloud.runtime.choose import probe_engine


def architecture_problem(image_arch: str, instance_type: str) -> str | None:
    """Why ``image_arch`` cannot run on ``instance_type`` (the kit's types are x86_64), or
    None (pure)."""
    if image_arch in ("amd64", "x86_64", ""):
        return None
    return (f"the image is built for {image_arch} but {instance_type} instances are x86_64: "
            "`docker build --platform linux/amd64` (e.g. on an Apple silicon Mac) and push "
            "again — nothing was created")


def docker_client(image: str, instance_type: str = "t3.medium") -> Any:
    """The Docker engine that holds ``image``, built for the instances' architecture;
    RealAwsRefused (one line) when none answers, the image is missing or does not fit."""
    found = probe_engine(image)
    if not found.answered:
        detail = " ".join(str(found.detail).split())  # one line, whatever the engine said
        raise RealAwsRefused(f"no Docker engine answered at {found.address} ({detail}): the "
                             "image push needs one — start Docker (or pass --image URI for an "
                             "image already in ECR); nothing was created")
    if not found.has_image:
        found.client.close()
        raise RealAwsRefused(f"{image} is not built: `fraudlab build` first; nothing was "
                             "created")
    problem = architecture_problem(
        str(found.client.images.get(image).attrs.get("Architecture", "")), instance_type)
    if problem:
        found.client.close()
        raise RealAwsRefused(problem)
    return found.client


def ensure_repository(ecr: Any, run_id: str, name: str = REPOSITORY) -> tuple[str, bool]:
    """The repository's URI, created (tagged with the run) when missing; (uri, created)."""
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        return str(repo["repositoryUri"]), False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
    repo = ecr.create_repository(repositoryName=name, tags=[{"Key": RUN_TAG, "Value": run_id}],
                                 imageScanningConfiguration={"scanOnPush": False})["repository"]
    return str(repo["repositoryUri"]), True


def login(ecr: Any, docker: Any, registry: str) -> dict[str, str]:
    """``aws ecr get-login-password | docker login``: the auth the push sends."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = b64decode(data["authorizationToken"]).decode().partition(":")
    docker.login(username=user, password=password, registry=registry, reauth=True)
    return {"username": user, "password": password}


def push_image(ecr: Any, docker: Any, source: str, uri: str, tag: str, emulated: bool,
               on_progress: Callable[[Any], None] | None = None) -> tuple[str, int, int]:
    """``docker tag`` + ``docker push`` of ``source`` as ``uri:tag`` after the ECR login;
    (digest, layers sent, layers the registry had). With the test emulator: ``fraudlab
    push``'s step, to the kit's local registry (RealAwsRefused when it is not running)."""
    if emulated:
        return _push_to_stand_in(ecr, docker, source, tag, on_progress)
    auth = login(ecr, docker, parse_reference(uri).registry)
    done = push(docker, source, uri, tag, auth, on_progress)
    return done.digest, done.pushed, done.existed


def _push_to_stand_in(ecr: Any, docker: Any, source: str, tag: str,
                      on_progress: Callable[[Any], None] | None) -> tuple[str, int, int]:
    local = kit_registry.running_registry()
    if local is None:
        raise RealAwsRefused("the test emulator's ECR has no registry and the kit's local "
                             "registry is not running: `fraudlab registry start`, or "
                             "--skip-push")
    step = kit_push(ecr, docker, source, REPOSITORY, tag, registry=local,
                    on_progress=on_progress)
    r = step.result
    return str(r["imageDigest"]), int(r["layersPushed"]), int(r["layersExisting"])


def pushed_digest(ecr: Any, tag: str, name: str = REPOSITORY) -> str | None:
    """What ECR says the tag points at (``describe-images``), or None."""
    try:
        found = ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
    except ClientError:
        return None
    details = found.get("imageDetails") or []
    return str(details[0]["imageDigest"]) if details else None
