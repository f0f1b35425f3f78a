"""Lab 02 — ECR: create the repository, push (record) the image, describe_images."""

from __future__ import annotations

from typing import Any

from cloud.aws.steps.ecr import (
    REPOSITORY,
    content_tag,
    create_repository,
    record_image,
    service_manifest,
)
from labs.kit import checks
from labs.kit.template import Lab, Step


def manifest() -> str:
    """The image manifest pushed to ECR (derived from the service's files until a real
    registry push is wired in; one function so it can later point at ``cloud/image``)."""
    return service_manifest()


def _create(session: Any) -> list[Any]:
    return [create_repository(session.aws("ecr"), REPOSITORY)]


def _push(session: Any) -> list[Any]:
    m = manifest()
    return [record_image(session.aws("ecr"), REPOSITORY, content_tag(m), m)]


def _describe(session: Any) -> dict[str, Any]:
    ecr = session.aws("ecr")
    details = ecr.describe_images(repositoryName=checks.REPOSITORY)["imageDetails"]
    rows = [{"tags": d.get("imageTags"), "digest": d["imageDigest"],
             "sizeInBytes": d.get("imageSizeInBytes")} for d in details]
    if details:
        session.record("ecr_image_digest", details[-1]["imageDigest"])
    return {"imageDetails": rows}


def grade(session: Any) -> list[checks.CheckResult]:
    return [checks.repository_has_image(session)]


LAB = Lab(
    2, "ecr", "ECR, the warehouse",
    do="Create the ECR repository, push the image's manifest under its tag, describe it.",
    learn="A repository stores images by digest; tags point at digests.",
    need="The local cloud (started or attached by the first cell).",
    myth="ECS pulls a fresh image from ECR on every restart.",
    steps=[
        Step("create", "Create the repository", "create-repository fraud-detection.",
             "aws ecr create-repository --repository-name fraud-detection",
             "A private repository in your account and Region; pushes and pulls go over "
             "HTTPS with an auth token (aws ecr get-login-password).", "ecs-facts.md §5",
             "emulated", _create),
        Step("push", "Push the image", "Record the image manifest under its content tag "
             "(the last call of docker push).", "docker push <account>.dkr.ecr.<region>."
             "amazonaws.com/fraud-detection:<tag>", "docker push uploads missing layers, "
             "then PutImage stores the manifest; the digest is the manifest's sha256.",
             "ecs-facts.md §4", "emulated", _push),
        Step("describe", "Describe the images", "describe_images through boto3.",
             "aws ecr describe-images --repository-name fraud-detection",
             "On EC2 the agent contacts the registry but reuses cached layers "
             "(ECS_IMAGE_PULL_BEHAVIOR=default); only Fargate pulls everything per task.",
             "ecs-facts.md §5, §11c", "emulated", _describe),
    ],
    exercises=["Push the same manifest again: does a new image appear? (record_image says "
               "'already in place').",
               "With boto3: session.aws('ecr').list_images(repositoryName='fraud-detection')"],
    checks=grade,
)
