"""The kit's local registry for real: a tiny image pushed with the push step and recorded in
the emulator's ECR (real digest and size in describe-images), then pulled per host over the
Registry HTTP API v2 by the Docker runtime (first pull downloads, later ones hit the cache).

Skipped, with the reason, when no Docker engine answers or no registry binary is installed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tiny_images import one_layer_image

from cloud.image.distribution import RegistryClient
from cloud.runtime.base import PullError
from cloud.runtime.docker import DockerRuntime

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def tiny_image(docker_client, registry):
    """A one-layer image of a few kB, removed after the module with its pushed tags."""
    with one_layer_image(docker_client, registry.host, "tiny", pushed_as="tiny-test") as name:
        yield name


@pytest.fixture(scope="module")
def pushed(registry, tiny_image, docker_client, tmp_path_factory):
    """The push step against an in-process local cloud's ECR (moto with the write-back)."""
    from cloud.aws.steps.ecr import create_repository, push_image, registry_login
    from cloud.core.ports import free_port
    from cloud.server.localcloud import LocalCloud

    lc = LocalCloud("process", time_scale=12.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        ecr = lc.endpoint.client("ecr")
        create_repository(ecr, "tiny-test")
        login = registry_login(ecr, docker_client, "tiny-test", registry=registry)
        seen = []
        step = push_image(ecr, docker_client, tiny_image, "tiny-test", "t1", registry=registry,
                          auth_config=login.result["auth_config"],
                          on_progress=lambda p: seen.append(p.as_dict()))
        described = ecr.describe_images(repositoryName="tiny-test",
                                        imageIds=[{"imageTag": "t1"}])["imageDetails"][0]
        stored = ecr.batch_get_image(repositoryName="tiny-test",
                                     imageIds=[{"imageTag": "t1"}])["images"][0]
        yield {"login": login, "step": step, "progress": seen, "described": described,
               "stored": stored}
    finally:
        lc.stop()


def test_login_is_skipped_for_the_unauthenticated_registry(pushed, registry) -> None:
    login = pushed["login"]
    assert login.result["auth_config"] is None
    assert "without authentication" in login.result["login"]
    assert login.cli.startswith("aws ecr get-login-password | docker login --username AWS")
    assert login.cli.endswith(registry.host)
    assert login.badge == "emulated"


def test_push_records_the_registry_manifest_in_ecr(pushed, registry, docker_client) -> None:
    step, described = pushed["step"], pushed["described"]
    assert step.badge == "real"
    assert step.cli.startswith("docker tag ") and "docker push 127.0.0.1:" in step.cli
    image = step.result["image"]
    assert image == f"{registry.host}/tiny-test:t1"
    manifest = RegistryClient(registry.url).manifest("tiny-test", "t1")
    assert step.result["imageDigest"] == manifest.digest
    assert manifest.digest == "sha256:" + hashlib.sha256(manifest.raw).hexdigest()
    # describe-images tells the truth: the registry's digest and the sum of the layers.
    assert described["imageDigest"] == manifest.digest
    assert described["imageSizeInBytes"] == manifest.layer_bytes
    assert manifest.layer_bytes != manifest.config["size"]
    assert pushed["stored"]["imageManifest"].encode() == manifest.raw
    # The engine knows the same digest for what it pushed.
    repo_digests = docker_client.images.get(image).attrs["RepoDigests"]
    assert f"{registry.host}/tiny-test@{manifest.digest}" in repo_digests
    # Per-layer progress was reported as data, ending with every layer pushed.
    last = pushed["progress"][-1]
    assert last["digest"] == manifest.digest
    assert [layer["done"] for layer in last["layers"]] == [True] * len(manifest.layers)
    assert step.result["layersPushed"] == len(manifest.layers) == 1


def test_each_host_pulls_once_then_hits_its_cache(pushed, registry, docker_client,
                                                  tmp_path: Path) -> None:
    image = pushed["step"].result["image"]
    docker_client.api.remove_image(image)  # the engine must get it back from the registry
    rt = DockerRuntime(docker_client, layer_store=tmp_path / "hosts", close_timeout=1)
    try:
        first = rt.pull("i-aaa", image)
        again = rt.pull("i-aaa", image)
        other = rt.pull("i-bbb", image)
    finally:
        rt.close()
    manifest = RegistryClient(registry.url).manifest("tiny-test", "t1")
    blob_bytes = manifest.config["size"] + manifest.layer_bytes
    assert (first.badge, first.cached, first.downloaded_bytes) == ("real", False, blob_bytes)
    assert first.size_bytes == blob_bytes
    assert "the engine pulled" in first.detail
    docker_client.images.get(image)  # back in the engine, by digest then tagged
    assert (again.badge, again.cached, again.downloaded_bytes) == ("real", True, 0)
    assert "cache hit" in again.detail
    assert (other.cached, other.downloaded_bytes) == (False, blob_bytes)
    for host in ("i-aaa", "i-bbb"):
        for item in [manifest.config, *manifest.layers]:
            blob = tmp_path / "hosts" / host / "blobs" / "sha256" / item["digest"][7:]
            assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == item["digest"]


def test_an_unknown_tag_cannot_be_pulled(registry, docker_client, tmp_path: Path) -> None:
    rt = DockerRuntime(docker_client, layer_store=tmp_path / "hosts", close_timeout=1)
    try:
        with pytest.raises(PullError, match=r"CannotPullContainerError.*MANIFEST_UNKNOWN|"
                                            r"CannotPullContainerError.*404"):
            rt.pull("i-aaa", f"{registry.host}/tiny-test:no-such-tag")
    finally:
        rt.close()


def test_an_emulated_ecr_uri_is_pulled_from_the_kits_registry(pushed, registry) -> None:
    from cloud.image.registry import stand_in
    from cloud.server.localcloud import LOCAL_IMAGE, local_image

    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert pushed["step"].result["ecrImage"].endswith("/tiny-test:t1")
    assert stand_in(f"{ecr}/tiny-test:t1") == f"{registry.host}/tiny-test:t1"
    assert local_image(f"{ecr}/tiny-test:t1") == f"{registry.host}/tiny-test:t1"
    assert stand_in(f"{ecr}/tiny-test:no-such-tag") is None
    assert local_image(f"{ecr}/tiny-test:no-such-tag") == LOCAL_IMAGE  # the local build
    assert stand_in("fraudlab/service:slim") is None
    assert local_image("fraudlab/service:slim") == "fraudlab/service:slim"
