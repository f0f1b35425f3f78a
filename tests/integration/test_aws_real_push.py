"""The image half of ``fraudlab aws deploy`` with a real Docker engine, on the loopback only.

- The real-ECR code path (``GetAuthorizationToken`` from moto's ECR, ``docker login``, ``docker
  push`` with that auth) pushes to the kit's local registry named as the repository, so every
  byte stays on 127.0.0.1; the registry then serves the pushed digest.
- ``fraudlab aws deploy`` without ``--image`` against moto alone: the repository is created
  with the run's tag, the build is pushed (to the kit's registry standing in for moto's ECR,
  recorded in moto's ECR), the task definition names ``<repositoryUri>:run-<id>``, and
  ``destroy`` — from an empty state directory, as from another machine — deletes that image
  and the repository the run created.

Skipped, with the reason, when no Docker engine answers or no registry binary is installed.
"""

from __future__ import annotations

import contextlib
import json
import warnings

import pytest
import requests
from botocore.exceptions import ClientError
from tiny_images import one_layer_image

from cli.main import main
from cloud.aws.endpoint import open_endpoint
from cloud.aws.real import deploy as real_deploy
from cloud.aws.real.access import TEST_ENDPOINT_ENV
from cloud.aws.real.plan import CONFIRM_ENV, RUN_TAG
from cloud.aws.real.push import ensure_repository, push_image
from cloud.image.distribution import RegistryClient

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def emulator(free_port_factory):
    url = f"http://127.0.0.1:{free_port_factory()}"
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": url})
    requests.post(f"{url}/moto-api/reset", timeout=30)
    yield endpoint
    requests.post(f"{url}/moto-api/reset", timeout=30)  # the next module starts from empty
    endpoint.stop()


@pytest.fixture(scope="module")
def tiny_image(docker_client, registry):
    """A one-layer image of a few kB, removed after the module with its pushed tags."""
    with one_layer_image(docker_client, registry.host, "aws", pushed_as="fraud-detection") as name:
        yield name


def test_the_real_ecr_path_logs_in_and_pushes(emulator, docker_client, registry,
                                              tiny_image) -> None:
    ecr = emulator.client("ecr")
    ensure_repository(ecr, "push-test")
    name = f"{registry.host}/fraud-detection"  # where real ECR's host would be
    digest, sent, had = push_image(ecr, docker_client, tiny_image, name, "run-push",
                                   emulated=False)
    assert sent >= 1 and had == 0
    assert RegistryClient(registry.url).manifest("fraud-detection", "run-push").digest == digest


def test_deploy_pushes_the_build_and_destroy_deletes_it(emulator, docker_client, registry,
                                                       tiny_image, monkeypatch, tmp_path,
                                                       capsys) -> None:
    monkeypatch.setenv(TEST_ENDPOINT_ENV, emulator.url)
    monkeypatch.setenv(CONFIRM_ENV, "1")
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("cloud.image.registry.running_registry", lambda: registry)
    monkeypatch.setitem(real_deploy.SOURCE_IMAGES, "slim", tiny_image)
    warnings.simplefilter("ignore")
    ecr = emulator.client("ecr")
    with contextlib.suppress(ClientError):  # not there: the deploy creates it
        ecr.delete_repository(repositoryName="fraud-detection", force=True)
    assert main(["aws", "deploy", "--json"]) == 0
    out = capsys.readouterr().out
    assert "ECR repository" in out and "(created)" in out and "layers sent" in out
    made = json.loads(out[out.rindex("\n{\n") + 1:])
    tag = made["image_tag"]
    assert tag == f"run-{made['run_id']}" and made["repository_created"]
    repo = ecr.describe_repositories(repositoryNames=["fraud-detection"])["repositories"][0]
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert {"Key": RUN_TAG, "Value": made["run_id"]} in tags
    image = ecr.describe_images(repositoryName="fraud-detection",
                                imageIds=[{"imageTag": tag}])["imageDetails"][0]
    assert image["imageDigest"] == made["image_digest"]
    ecs = emulator.client("ecs")
    svc = ecs.describe_services(cluster="fraud-cluster", services=["fraud-svc"])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    assert td["containerDefinitions"][0]["image"] == f"{repo['repositoryUri']}:{tag}"

    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path / "another-machine"))
    main(["aws", "destroy"])  # rc 1 on moto: its CloudFormation leaves the ECS resources
    out = capsys.readouterr().out
    assert f"ECR: deleted fraud-detection:{tag}" in out and "deleted the repository" in out
    with pytest.raises(ClientError, match="RepositoryNotFound"):
        ecr.describe_repositories(repositoryNames=["fraud-detection"])


def test_a_refused_create_stack_undoes_the_push(emulator, docker_client, registry, tiny_image,
                                                monkeypatch, tmp_path, capsys) -> None:
    """Another deploy created its stack between the check and ours (AlreadyExists): no stack
    of ours would lead destroy to the image, so the deploy deletes it at once."""
    from cloud.aws.real import stack

    monkeypatch.setenv(TEST_ENDPOINT_ENV, emulator.url)
    monkeypatch.setenv(CONFIRM_ENV, "1")
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("cloud.image.registry.running_registry", lambda: registry)
    monkeypatch.setitem(real_deploy.SOURCE_IMAGES, "slim", tiny_image)

    def refused(cfn, name, *args, **kwargs):
        raise ClientError({"Error": {"Code": "AlreadyExistsException",
                                     "Message": f"Stack [{name}] already exists"}},
                          "CreateStack")

    monkeypatch.setattr(stack, "create", refused)
    warnings.simplefilter("ignore")
    assert main(["aws", "deploy"]) == 1
    out = capsys.readouterr()
    assert "AlreadyExistsException" in out.err and "ECR: deleted fraud-detection:run-" in out.out
    assert "deleted the repository fraud-detection" in out.out  # this run had created it
    with pytest.raises(ClientError, match="RepositoryNotFound"):
        emulator.client("ecr").list_images(repositoryName="fraud-detection")
