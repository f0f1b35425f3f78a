"""The Docker-runtime path for real (issue 6 part 7): build slim through the SDK, push it to
the kit's local registry (recorded in the emulator's ECR), deploy 4 tasks as containers of the
registry image, crash one, and watch it recover — with the task definition's limits in
``docker inspect`` and a real pull on each host's first task, cache hits afterwards.

Skipped, with the reason, when no Docker engine answers or no registry binary is installed.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from cloud.image.distribution import RegistryClient
from cloud.image.layers import download_bytes, layer_table
from service.contract import example_transaction

pytestmark = pytest.mark.docker

DESIRED = 4
CPU, MEMORY_MIB = 256, 512  # deploy_all's task definition
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def built(docker_client, slim_image):
    """The slim image built again through the SDK: the layer cache makes it seconds."""
    from cloud.image.build import build

    lines: list[str] = []
    result = build(docker_client, "slim", slim_image, on_line=lines.append)
    return result, lines


@pytest.fixture(scope="module")
def cloud(module_state_dir, registry, docker_client, slim_image):
    from cloud.core.ports import free_port
    from cloud.server.localcloud import LocalCloud

    lc = LocalCloud("docker", time_scale=12.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture(scope="module")
def pushed(cloud, registry, docker_client, built):
    from cloud.aws.steps.ecr import create_repository, push_image, registry_login

    ecr = cloud.endpoint.client("ecr")
    create_repository(ecr)
    login = registry_login(ecr, docker_client, registry=registry)
    tag = f"ci-{uuid.uuid4().hex[:6]}"
    step = push_image(ecr, docker_client, built[0].image, tag=tag, registry=registry,
                      auth_config=login.result["auth_config"])
    yield step
    docker_client.api.remove_image(step.result["image"], force=True)


@pytest.fixture(scope="module")
def deployed(cloud, pushed, wait_for):
    from cloud.aws.steps.plan import deploy_all

    # The task definition names the ECR image, as in AWS; hosts pull it from the registry.
    deploy_all(cloud.endpoint.client, desired=DESIRED, hosts=2,
               image=pushed.result["ecrImage"])

    def all_running():
        snap = cloud.snapshot()
        running = [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]
        return running if len(running) == DESIRED else None

    return wait_for(all_running, 90, f"{DESIRED} RUNNING tasks")


def test_sdk_build_streams_the_log_and_tells_the_layers(built, docker_client, slim_image):
    result, lines = built
    assert result.image_id == docker_client.images.get(slim_image).id  # the script's image
    assert lines == result.log and any(line.startswith("Step 1/") for line in lines)
    assert f"Successfully tagged {slim_image}" in lines
    assert result.steps > 0 and 0 <= result.cached_steps <= result.steps
    kinds = [row.kind for row in result.layers if not row.empty]
    assert kinds[0] == "base" and "dependencies" in kinds and "code+model" in kinds
    unpacked = sum(row.size_bytes for row in result.layers)
    assert unpacked == result.size_bytes


def test_push_is_real_and_ecr_tells_the_truth(pushed, registry, built, docker_client):
    assert pushed.badge == "real"
    manifest = RegistryClient(registry.url).manifest("fraud-detection",
                                                     pushed.result["image"].rsplit(":", 1)[1])
    described = pushed.result["describeImages"]
    assert described["imageDigest"] == manifest.digest == pushed.result["imageDigest"]
    assert described["imageSizeInBytes"] == manifest.layer_bytes > 50_000_000
    # With the pushed config and manifest, every layer gets its compressed size.
    config = RegistryClient(registry.url).blob_json("fraud-detection",
                                                    manifest.config["digest"])
    rows = layer_table(docker_client.api.history(built[0].image),
                       len(docker_client.api.history(built[0].base_image)), config,
                       manifest.data)
    assert download_bytes(rows) == (manifest.layer_bytes, True)


def test_four_containers_pulled_per_host_with_the_task_limits(cloud, deployed, pushed,
                                                              docker_client, registry):
    image = pushed.result["image"]
    ecs = cloud.endpoint.client("ecs")
    [service] = ecs.describe_services(cluster="fraud-cluster", services=["fraud-svc"])["services"]
    taskdef = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    named = taskdef["taskDefinition"]["containerDefinitions"][0]["image"]
    assert named == pushed.result["ecrImage"] and ".dkr.ecr." in named
    assert image.startswith(f"{registry.host}/fraud-detection:")
    runs = list(cloud.controller.runs.values())
    by_host: dict[str, list] = {}
    for run in runs:
        by_host.setdefault(run.host_id, []).append(run)
    assert len(by_host) == 2
    for host, host_runs in by_host.items():
        first, *later = host_runs
        assert (first.pull.badge, first.pull.cached) == ("real", False), first.pull
        assert first.pull.downloaded_bytes >= pushed.result["imageSizeInBytes"]
        assert later, f"{host} ran one task only"
        for run in later:
            assert (run.pull.badge, run.pull.cached, run.pull.downloaded_bytes) == \
                ("real", True, 0), run.pull
    for task in deployed:
        info = docker_client.api.inspect_container(cloud.runtime.container_id(task["task_id"]))
        assert info["Config"]["Image"] == image
        assert info["HostConfig"]["NanoCpus"] == CPU * 1_000_000_000 // 1024
        assert info["HostConfig"]["Memory"] == MEMORY_MIB * MIB
        assert info["HostConfig"]["NetworkMode"] == "host"
        reply = requests.post(f"{task['url']}/predict", json=example_transaction(), timeout=5)
        assert reply.status_code == 200 and reply.json()["task_id"] == task["task_id"]


def test_two_pulls_on_one_host_at_once_download_each_layer_once(cloud, pushed):
    """Two tasks placed on a new host in one pass pull in two threads: the second waits for
    the first's layers (the engine shares an in-flight download) and downloads nothing."""
    image = pushed.result["image"]
    host = f"i-{uuid.uuid4().hex[:17]}"
    with ThreadPoolExecutor(2) as pool:
        pulls = list(pool.map(lambda _: cloud.runtime.pull(host, image), range(2)))
    assert sorted(p.downloaded_bytes == 0 for p in pulls) == [False, True], pulls
    first = next(p for p in pulls if p.downloaded_bytes)
    assert not first.cached and first.downloaded_bytes >= pushed.result["imageSizeInBytes"]
    assert next(p for p in pulls if not p.downloaded_bytes).cached


def test_a_crashed_container_is_replaced_from_the_host_cache(cloud, deployed, wait_for):
    victim = cloud.controller.crash()

    def replaced():
        running = [t for t in cloud.snapshot()["tasks"] if t["last_status"] == "RUNNING"]
        ids = {t["task_id"] for t in running}
        return running if len(running) == DESIRED and victim not in ids else None

    running = wait_for(replaced, 30, "a replacement RUNNING task")
    new = [t for t in running if t["task_id"] not in {d["task_id"] for d in deployed}]
    assert len(new) == 1
    pull = cloud.controller.runs[new[0]["task_id"]].pull
    assert (pull.badge, pull.cached, pull.downloaded_bytes) == ("real", True, 0)
    stopped = cloud.endpoint.client("ecs").describe_tasks(cluster="fraud-cluster",
                                                          tasks=[victim])["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["containers"][0]["exitCode"] == 137
