"""The deploy steps against a real moto server in this process
(``cloud.aws.endpoint.open_endpoint``).

Every assertion goes through the AWS API (``describe_*``), as a learner would check. moto's
backends are shared by the whole process, so each test names its own resources, and the
module resets moto when it is done (other modules expect an empty account).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloud.aws.endpoint import Endpoint, EndpointError, open_endpoint
from cloud.aws.steps.ecr import (
    MANIFEST_V2,
    SERVICE_DIR,
    content_tag,
    create_repository,
    docker_manifest,
    record_image,
    service_layers,
    service_manifest,
    sha256_digest,
)
from cloud.aws.steps.ecs import (
    create_cluster,
    create_service,
    placement_strategy,
    register_task_definition,
    service_load_balancers,
    update_service_desired,
)
from cloud.aws.steps.elb import (
    create_listener,
    create_load_balancer,
    create_target_group,
    modify_target_group_attributes,
)
from cloud.aws.steps.hosts import deregister_host, ecs_optimized_ami, launch_hosts
from cloud.aws.steps.plan import deploy_all
from cloud.core.instance_types import INSTANCE_TYPES
from cloud.ecs.placement import RESERVED_PORTS, STRATEGIES

T3M = INSTANCE_TYPES["t3.medium"]
AZS = ["us-east-1a", "us-east-1b"]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:test"
SPREAD = [{"type": "spread", "field": "attribute:ecs.availability-zone"},
          {"type": "spread", "field": "instanceId"}]


@pytest.fixture(scope="module")
def endpoint(free_port_factory: Callable[[], int]) -> Iterator[Endpoint]:
    """One moto server, in this process, for the module; reset and stopped afterwards."""
    ep = open_endpoint({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_factory()}"})
    assert ep.kind == "moto" and ep._server is not None
    try:
        yield ep
    finally:
        reset = urllib.request.Request(f"{ep.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        ep.stop()


@pytest.fixture(scope="module")
def ecr(endpoint: Endpoint) -> Any:
    return endpoint.client("ecr")


@pytest.fixture(scope="module")
def ecs(endpoint: Endpoint) -> Any:
    return endpoint.client("ecs")


@pytest.fixture(scope="module")
def ec2(endpoint: Endpoint) -> Any:
    return endpoint.client("ec2")


@pytest.fixture(scope="module")
def elbv2(endpoint: Endpoint) -> Any:
    return endpoint.client("elbv2")


@pytest.fixture(scope="module")
def ami(ec2: Any) -> str:
    """The ECS-optimized AMI, looked up once (moto lists ~1,200 images)."""
    return ecs_optimized_ami(ec2)


@pytest.fixture
def name() -> str:
    """A unique suffix for this test's resources."""
    return uuid.uuid4().hex[:8]


def _instances(ecs: Any, cluster: str) -> list[dict[str, Any]]:
    arns = ecs.list_container_instances(cluster=cluster, status="ACTIVE")[
        "containerInstanceArns"]
    if not arns:
        return []
    return ecs.describe_container_instances(cluster=cluster,
                                            containerInstances=arns)["containerInstances"]


def _registered(ci: dict[str, Any]) -> dict[str, Any]:
    return {r["name"]: r.get("stringSetValue") if r["type"] == "STRINGSET"
            else r["integerValue"] for r in ci["registeredResources"]}


def _attrs(ci: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a.get("value") for a in ci["attributes"]}


def _service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=cluster, services=[service])["services"][0]


# ---- ECR ----------------------------------------------------------------------------------
def test_create_repository_is_idempotent(ecr: Any, name: str) -> None:
    repo = f"fraud-{name}"
    first = create_repository(ecr, repo)
    second = create_repository(ecr, repo)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result
    assert first.cli == f"aws ecr create-repository --repository-name {repo} " \
                        "--image-tag-mutability MUTABLE"
    described = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert described["repositoryUri"] == first.result["repositoryUri"]
    assert first.badge == "emulated" and "§5" in first.source


def test_record_image_shows_the_manifest_digest(ecr: Any, name: str) -> None:
    repo = f"fraud-{name}"
    create_repository(ecr, repo)
    manifest = service_manifest()
    digest = sha256_digest(manifest.encode())
    tag = content_tag(manifest)
    first = record_image(ecr, repo, tag, manifest)
    second = record_image(ecr, repo, tag, manifest, digest=digest)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result
    assert first.result["imageDigest"] == digest
    assert first.result["image"].endswith(f"/{repo}:{tag}")
    assert first.result["imageByDigest"].endswith(f"/{repo}@{digest}")

    [detail] = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert detail["imageDigest"] == digest
    assert detail["imageTags"] == [tag]
    assert detail["imageManifestMediaType"] == MANIFEST_V2
    [image] = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": tag}])["images"]
    assert image["imageManifest"] == manifest

    assert first.cli.startswith(f"aws ecr put-image --repository-name {repo} --image-tag {tag} "
                                "--image-manifest '{")
    assert f"--image-digest {digest}" in first.cli
    assert "digest" in first.aws_note and "§4" in first.source
    assert any("§11c" in w and "fresh image" in w for w in first.warnings)


def test_record_image_moves_a_tag_to_a_new_digest(ecr: Any, name: str) -> None:
    repo = f"fraud-{name}"
    create_repository(ecr, repo)
    old = docker_manifest(sha256_digest(b"config-1"), 8, [(sha256_digest(b"layer-1"), 7)])
    new = docker_manifest(sha256_digest(b"config-2"), 8, [(sha256_digest(b"layer-2"), 7)])
    record_image(ecr, repo, "latest", old)
    moved = record_image(ecr, repo, "latest", new)
    assert moved.changed
    assert any("moved" in w and sha256_digest(old.encode()) in w for w in moved.warnings)
    details = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "latest"}])
    assert details["imageDetails"][0]["imageDigest"] == sha256_digest(new.encode())


def test_record_image_refuses_a_digest_that_is_not_the_manifests(ecr: Any) -> None:
    manifest = docker_manifest(sha256_digest(b"c"), 1, [(sha256_digest(b"l"), 1)])
    with pytest.raises(ValueError, match="not the sha256 of the manifest"):
        record_image(ecr, "anything", "v1", manifest, digest=sha256_digest(b"other"))


def test_docker_manifest_is_a_valid_v2_manifest() -> None:
    manifest = json.loads(service_manifest())
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == MANIFEST_V2
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert len(manifest["layers"]) == 3
    for blob in [manifest["config"], *manifest["layers"]]:
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", blob["digest"])
        assert blob["size"] > 0
    with pytest.raises(ValueError, match="sha256"):
        docker_manifest("md5:abc", 1, [(sha256_digest(b"l"), 1)])
    with pytest.raises(ValueError, match="layer"):
        docker_manifest(sha256_digest(b"c"), 1, [])


def test_service_manifest_changes_exactly_when_the_service_does(tmp_path: Path) -> None:
    copy = tmp_path / "service"
    shutil.copytree(SERVICE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    before = service_manifest(copy)
    assert service_manifest(copy) == before  # deterministic
    assert service_manifest(copy) == service_manifest(SERVICE_DIR)  # path-independent

    layers = dict((n, d) for n, d, _ in service_layers(copy))
    with (copy / "app.py").open("a") as f:
        f.write("\n# a code change\n")
    after_code = service_manifest(copy)
    assert sha256_digest(after_code.encode()) != sha256_digest(before.encode())
    changed = {n for n, d, _ in service_layers(copy) if layers[n] != d}
    assert changed == {"code"}

    model = copy / "artifacts" / "fraud_mlp.tflite"
    model.write_bytes(model.read_bytes() + b"\0")
    assert {n for n, d, _ in service_layers(copy) if layers[n] != d} == {"code", "model"}
    assert content_tag(service_manifest(copy)) != content_tag(after_code)


# ---- task definition, cluster -------------------------------------------------------------
def test_register_task_definition_bridge_mode_health_check_and_revisions(ecs: Any,
                                                                        name: str) -> None:
    family = f"fd-{name}"
    first = register_task_definition(ecs, family, image=IMAGE)
    second = register_task_definition(ecs, family, image=IMAGE)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result
    assert first.result["revision"] == 1

    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert td["revision"] == 1  # the identical second call registered nothing
    assert td["networkMode"] == "bridge"  # what AWS would run as drawn (ecs-facts.md §2)
    assert td["requiresCompatibilities"] == ["EC2"]
    assert (td["cpu"], td["memory"]) == ("256", "512")
    [container] = td["containerDefinitions"]
    assert container["image"] == IMAGE
    assert container["portMappings"] == [{"containerPort": 8080, "hostPort": 0,
                                          "protocol": "tcp"}]
    assert container["environment"] == [{"name": "MODEL_RUNTIME", "value": "litert"}]
    health = container["healthCheck"]
    assert health["command"] == ["CMD", "python", "/app/service/healthcheck.py"]
    assert (health["interval"], health["timeout"], health["retries"]) == (30, 5, 3)

    assert first.cli.startswith(f"aws ecs register-task-definition --family {family} "
                                "--requires-compatibilities EC2 --network-mode bridge "
                                "--cpu 256 --memory 512 --container-definitions '[{")
    assert "127.0.0.1" in first.result["networkModeWhy"]
    assert "dynamic host port" in first.result["networkModeWhy"]
    assert any("bridge with dynamic host ports 7" in w and "host 1" in w and "awsvpc 2" in w
               for w in first.warnings)
    assert "§2" in first.source

    bigger = register_task_definition(ecs, family, image=IMAGE, memory=1024,
                                      health_check={"startPeriod": 20})
    assert bigger.changed and bigger.result["revision"] == 2
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    assert td["memory"] == "1024"
    assert td["containerDefinitions"][0]["healthCheck"]["startPeriod"] == 20


def test_host_mode_uses_the_static_port(ecs: Any, name: str) -> None:
    step = register_task_definition(ecs, f"fd-{name}", image=IMAGE, network_mode="host")
    td = ecs.describe_task_definition(taskDefinition=f"fd-{name}")["taskDefinition"]
    assert td["networkMode"] == "host"
    assert td["containerDefinitions"][0]["portMappings"][0]["hostPort"] == 8080
    assert "one task per instance" in step.result["networkModeWhy"]


def test_create_cluster_is_idempotent(ecs: Any, name: str) -> None:
    cluster = f"cluster-{name}"
    first = create_cluster(ecs, cluster)
    second = create_cluster(ecs, cluster)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result
    assert first.cli == f"aws ecs create-cluster --cluster-name {cluster}"
    [described] = ecs.describe_clusters(clusters=[cluster])["clusters"]
    assert described["status"] == "ACTIVE"
    assert described["clusterArn"] == first.result["clusterArn"]


def test_default_names_give_the_case_studys_commands(ecs: Any, ecr: Any) -> None:
    assert create_cluster(ecs).cli.startswith("aws ecs create-cluster --cluster-name "
                                              "fraud-cluster")
    assert create_repository(ecr).cli.startswith("aws ecr create-repository "
                                                 "--repository-name fraud-detection")


# ---- hosts --------------------------------------------------------------------------------
def test_launch_hosts_registers_the_true_resources(ec2: Any, ecs: Any, name: str) -> None:
    cluster = f"hosts-{name}"
    create_cluster(ecs, cluster)
    first = launch_hosts(ec2, ecs, cluster)  # default AMI lookup, t3.medium, 2 AZs
    second = launch_hosts(ec2, ecs, cluster)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result

    described = _instances(ecs, cluster)
    assert len(described) == 2
    for ci in described:
        registered = _registered(ci)
        assert registered["CPU"] == 2048 == T3M.cpu_units  # not moto's 4096
        assert registered["MEMORY"] == T3M.registered_memory_mib()  # not moto's 7482
        assert registered["MEMORY"] < 4096
        assert sorted(registered["PORTS"]) == sorted(str(p) for p in RESERVED_PORTS)
        assert _attrs(ci)["ecs.instance-type"] == "t3.medium"
    by_instance = {ci["ec2InstanceId"]: _attrs(ci)["ecs.availability-zone"] for ci in described}
    assert sorted(by_instance.values()) == AZS  # one per AZ

    reservations = ec2.describe_instances(InstanceIds=list(by_instance))["Reservations"]
    for inst in (i for r in reservations for i in r["Instances"]):
        assert inst["InstanceType"] == "t3.medium"
        assert inst["Placement"]["AvailabilityZone"] == by_instance[inst["InstanceId"]]
        [subnet] = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"]
        assert subnet["AvailabilityZone"] == by_instance[inst["InstanceId"]]
        data = ec2.describe_instance_attribute(InstanceId=inst["InstanceId"],
                                               Attribute="userData")["UserData"]["Value"]
        assert f"ECS_CLUSTER={cluster}" in base64.b64decode(data).decode()

    hosts = first.result["hosts"]
    assert [h["availabilityZone"] for h in hosts] == AZS
    assert {h["registeredCpu"] for h in hosts} == {2048}
    assert {h["containerInstanceArn"] for h in hosts} == {ci["containerInstanceArn"]
                                                          for ci in described}
    assert first.cli.startswith("aws ec2 run-instances --image-id ami-")
    assert "aws ecs register-container-instance --cluster " + cluster in first.cli
    assert "agent" in first.aws_note and "§1.2" in first.source
    myth = first.warnings[0]
    assert "1024 CPU units" in myth and "2048 CPU units" in myth and "§11a" in myth


def test_launch_hosts_tops_up_the_az_with_fewest(ec2: Any, ecs: Any, ami: str,
                                                  name: str) -> None:
    cluster = f"topup-{name}"
    create_cluster(ecs, cluster)
    assert launch_hosts(ec2, ecs, cluster, count=1, image_id=ami).changed
    step = launch_hosts(ec2, ecs, cluster, count=3, image_id=ami)
    assert step.changed
    azs = Counter(_attrs(ci)["ecs.availability-zone"] for ci in _instances(ecs, cluster))
    assert azs == {"us-east-1a": 2, "us-east-1b": 1}


def test_deregister_host_kills_one_host(ec2: Any, ecs: Any, ami: str, name: str) -> None:
    cluster = f"chaos-{name}"
    create_cluster(ecs, cluster)
    hosts = launch_hosts(ec2, ecs, cluster, image_id=ami).result["hosts"]
    victim = hosts[0]
    first = deregister_host(ec2, ecs, cluster, victim["instanceId"])
    second = deregister_host(ec2, ecs, cluster, victim["instanceId"])
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result

    left = _instances(ecs, cluster)
    assert [ci["ec2InstanceId"] for ci in left] == [hosts[1]["instanceId"]]
    state = ec2.describe_instances(InstanceIds=[victim["instanceId"]])["Reservations"][0][
        "Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")
    assert first.cli.splitlines() == [
        f"aws ec2 terminate-instances --instance-ids {victim['instanceId']}",
        f"aws ecs deregister-container-instance --cluster {cluster} --container-instance "
        f"{victim['containerInstanceArn']} --force"]
    assert "orphaned" in first.aws_note

    with pytest.raises(LookupError, match="create it first"):
        launch_hosts(ec2, ecs, f"missing-{name}", image_id=ami)
    refill = launch_hosts(ec2, ecs, cluster, image_id=ami)
    assert refill.changed
    assert sorted(h["availabilityZone"] for h in refill.result["hosts"]) == AZS
    assert sorted(h["name"] for h in refill.result["hosts"]) == [f"{cluster}-host-2",
                                                                  f"{cluster}-host-3"]


# ---- service ------------------------------------------------------------------------------
def _cluster_with_taskdef(ecs: Any, name: str) -> tuple[str, str]:
    cluster = f"svc-{name}"
    create_cluster(ecs, cluster)
    td = register_task_definition(ecs, f"fd-{name}", image=IMAGE).result["taskDefinitionArn"]
    return cluster, td


def test_create_service_spread(ecs: Any, ec2: Any, ami: str, name: str) -> None:
    cluster, td = _cluster_with_taskdef(ecs, name)
    launch_hosts(ec2, ecs, cluster, image_id=ami)
    first = create_service(ecs, cluster, task_definition=td)
    second = create_service(ecs, cluster, task_definition=td)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result

    svc = _service(ecs, cluster, "fraud-svc")
    assert svc["desiredCount"] == 4
    assert svc["placementStrategy"] == SPREAD
    assert svc["launchType"] == "EC2"
    assert svc["taskDefinition"] == td
    config = svc["deploymentConfiguration"]
    assert (config["maximumPercent"], config["minimumHealthyPercent"]) == (200, 100)
    assert config["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}

    assert first.cli.startswith(f"aws ecs create-service --cluster {cluster} --service-name "
                                f"fraud-svc --task-definition fd-{name}:1 --desired-count 4 "
                                "--launch-type EC2 --scheduling-strategy REPLICA "
                                "--placement-strategy '[{\"type\":\"spread\"")
    assert "§11b" in first.warnings[0] and "launches no instance" in first.warnings[0]
    assert "never launches EC2 instances" in first.aws_note
    assert "scheduler" in first.result["runs"]
    assert first.result["containerInstances"] == 2


def test_create_service_binpack_and_no_hosts(ecs: Any, name: str) -> None:
    cluster, td = _cluster_with_taskdef(ecs, name)
    step = create_service(ecs, cluster, "binpacked", task_definition=td, desired_count=2,
                          placement="binpack", circuit_breaker=True)
    svc = _service(ecs, cluster, "binpacked")
    assert svc["placementStrategy"] == [{"type": "binpack", "field": "memory"}]
    assert svc["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True,
                                                                          "rollback": True}
    assert svc["desiredCount"] == 2
    assert any("No container instance" in w for w in step.warnings)


def test_create_service_brings_an_existing_service_to_the_new_spec(ecs: Any,
                                                                    name: str) -> None:
    cluster, td = _cluster_with_taskdef(ecs, name)
    create_service(ecs, cluster, task_definition=td)
    td2 = register_task_definition(ecs, f"fd-{name}", image=IMAGE + "2").result[
        "taskDefinitionArn"]
    step = create_service(ecs, cluster, task_definition=td2, desired_count=4,
                          placement="binpack")
    assert step.changed
    assert step.cli.startswith(f"aws ecs update-service --cluster {cluster} --service fraud-svc")
    assert f"--task-definition {td2}" in step.cli
    svc = _service(ecs, cluster, "fraud-svc")
    assert svc["taskDefinition"] == td2
    assert svc["placementStrategy"] == [{"type": "binpack", "field": "memory"}]
    again = create_service(ecs, cluster, task_definition=td2, placement="binpack")
    assert not again.changed and again.result == step.result


def test_update_service_desired(ecs: Any, name: str) -> None:
    cluster, td = _cluster_with_taskdef(ecs, name)
    create_service(ecs, cluster, task_definition=td)
    first = update_service_desired(ecs, cluster, "fraud-svc", 6)
    second = update_service_desired(ecs, cluster, "fraud-svc", 6)
    assert (first.changed, second.changed) == (True, False)
    assert second.result == first.result
    assert _service(ecs, cluster, "fraud-svc")["desiredCount"] == 6
    assert first.cli == f"aws ecs update-service --cluster {cluster} --service fraud-svc " \
                        "--desired-count 6"
    assert any("§11e" in w for w in first.warnings)
    with pytest.raises(ValueError):
        update_service_desired(ecs, cluster, "fraud-svc", -1)
    with pytest.raises(LookupError):
        update_service_desired(ecs, cluster, "no-such-service", 1)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_kit_strategy_has_an_ecs_placement_strategy(strategy: str) -> None:
    ecs_form = placement_strategy(strategy)
    assert ecs_form and all(s["type"] in ("spread", "binpack", "random") for s in ecs_form)
    assert placement_strategy("spread") == SPREAD


# ---- the whole deploy ---------------------------------------------------------------------
def test_deploy_all_twice_changes_nothing_the_second_time(endpoint: Endpoint, ecs: Any,
                                                          ecr: Any, name: str) -> None:
    names = {"repository": f"repo-{name}", "family": f"fd-{name}", "cluster": f"c-{name}",
             "service": f"s-{name}"}
    names |= {"load_balancer": f"alb-{name}", "target_group": f"tg-{name}"}
    first = deploy_all(endpoint.client, **names)
    clients = {s: endpoint.client(s) for s in ("ecr", "ecs", "ec2", "elbv2")}
    second = deploy_all(clients, **names)  # a dict of clients works too
    assert [s.step for s in first] == ["create-repository", "record-image",
                                       "register-task-definition", "create-cluster",
                                       "launch-hosts", "create-load-balancer",
                                       "create-target-group", "modify-target-group-attributes",
                                       "create-listener", "create-service"]
    assert [s.changed for s in first] == [True] * 7 + [False, True, True]  # ALB defaults kept
    assert [s.changed for s in second] == [False] * 10
    assert [s.result for s in second] == [s.result for s in first]

    for step in first:
        assert step.cli.startswith("aws "), step.step
        assert step.aws_note and step.title, step.step
        assert "ecs-facts.md §" in step.source, step.step
        assert step.badge == "emulated", step.step
        assert step.as_dict()["step"] == step.step

    cluster = names["cluster"]
    svc = _service(ecs, cluster, names["service"])
    assert svc["desiredCount"] == 4 and svc["placementStrategy"] == SPREAD
    image = first[1].result
    assert svc["taskDefinition"] == first[2].result["taskDefinitionArn"]
    assert first[2].result["image"] == image["image"]
    [detail] = ecr.describe_images(repositoryName=names["repository"])["imageDetails"]
    assert detail["imageDigest"] == image["imageDigest"]
    assert {_registered(ci)["CPU"] for ci in _instances(ecs, cluster)} == {2048}
    tg_arn = first[6].result["targetGroupArn"]
    assert svc["loadBalancers"] == [{"targetGroupArn": tg_arn, "containerName": "fraud-detection",
                                     "containerPort": 8080}]


# ---- the Application Load Balancer --------------------------------------------------------
def test_load_balancer_target_group_attributes_listener(elbv2: Any, ec2: Any, ecs: Any,
                                                        ami: str, name: str) -> None:
    cluster = create_cluster(ecs, f"c-{name}").result["clusterName"]
    launch_hosts(ec2, ecs, cluster, count=1, image_id=ami)  # one host: a 2nd AZ is added
    lb = create_load_balancer(elbv2, ec2, ecs, cluster, f"alb-{name}")
    assert lb.changed and lb.step == "create-load-balancer"
    assert sorted(lb.result["availabilityZones"]) == AZS
    [found] = elbv2.describe_load_balancers(Names=[f"alb-{name}"])["LoadBalancers"]
    assert (found["Scheme"], found["Type"], found["State"]["Code"]) == (
        "internet-facing", "application", "active")
    assert lb.cli.startswith(f"aws elbv2 create-load-balancer --name alb-{name} --type "
                             "application --scheme internet-facing")
    again = create_load_balancer(elbv2, ec2, ecs, cluster, f"alb-{name}")
    assert not again.changed and again.result == lb.result
    assert len([b for b in elbv2.describe_load_balancers()["LoadBalancers"]
                if b["LoadBalancerName"] == f"alb-{name}"]) == 1

    tg = create_target_group(elbv2, f"tg-{name}", vpc_id=lb.result["vpcId"])
    arn = tg.result["targetGroupArn"]
    [desc] = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    assert (desc["TargetType"], desc["Protocol"], desc["Port"]) == ("instance", "HTTP", 8080)
    assert (desc["HealthCheckPath"], desc["HealthCheckIntervalSeconds"],
            desc["HealthCheckTimeoutSeconds"], desc["HealthyThresholdCount"],
            desc["UnhealthyThresholdCount"], desc["Matcher"]) == (
        "/health", 30, 5, 5, 2, {"HttpCode": "200"})
    assert "--health-check-path /health" in tg.cli and "awsvpc" in tg.warnings[0]
    assert not create_target_group(elbv2, f"tg-{name}", vpc_id=lb.result["vpcId"]).changed
    faster = create_target_group(elbv2, f"tg-{name}", vpc_id=lb.result["vpcId"],
                                 health_check={"HealthCheckIntervalSeconds": 10})
    assert faster.changed and faster.cli.startswith("aws elbv2 modify-target-group")
    assert faster.result["healthCheck"]["HealthCheckIntervalSeconds"] == 10
    with pytest.raises(ValueError, match="Port"):
        create_target_group(elbv2, f"tg-{name}", vpc_id=lb.result["vpcId"], port=9000)

    same = modify_target_group_attributes(elbv2, arn)
    assert not same.changed  # round_robin and 300 s are ALB's defaults
    lor = modify_target_group_attributes(elbv2, arn, algorithm="least_outstanding_requests",
                                         deregistration_delay=5)
    attrs = {a["Key"]: a["Value"] for a in
             elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    assert lor.changed
    assert attrs["load_balancing.algorithm.type"] == "least_outstanding_requests"
    assert attrs["deregistration_delay.timeout_seconds"] == "5"
    with pytest.raises(ValueError, match="weighted_random"):
        modify_target_group_attributes(elbv2, arn, algorithm="weighted_random")

    listener = create_listener(elbv2, lb.result["loadBalancerArn"], arn)
    assert listener.changed and listener.result["port"] == 80
    [desc_l] = elbv2.describe_listeners(LoadBalancerArn=lb.result["loadBalancerArn"])[
        "Listeners"]
    assert desc_l["DefaultActions"][0] == {"Type": "forward", "TargetGroupArn": arn}
    again_l = create_listener(elbv2, lb.result["loadBalancerArn"], arn)
    assert not again_l.changed and again_l.result == listener.result
    assert len(elbv2.describe_listeners(LoadBalancerArn=lb.result["loadBalancerArn"])[
        "Listeners"]) == 1
    for step in (lb, tg, lor, listener):
        assert step.cli.startswith("aws elbv2 ") and "ecs-facts.md §6" in step.source
        assert step.badge == "emulated"


def test_create_service_with_a_target_group_shows_it(ecs: Any, elbv2: Any, ec2: Any,
                                                     name: str) -> None:
    cluster, td = _cluster_with_taskdef(ecs, name)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    arn = create_target_group(elbv2, f"tg-{name}", vpc_id=vpc["VpcId"]).result[
        "targetGroupArn"]
    create_service(ecs, cluster, task_definition=td)  # an older service without one
    step = create_service(ecs, cluster, task_definition=td,
                          load_balancers=service_load_balancers(arn))
    assert step.changed and "--load-balancers" in step.cli
    assert _service(ecs, cluster, "fraud-svc")["loadBalancers"] == service_load_balancers(arn)
    assert step.result["loadBalancers"] == service_load_balancers(arn)
    assert "target group" in step.aws_note
    assert not create_service(ecs, cluster, task_definition=td,
                              load_balancers=service_load_balancers(arn)).changed


def test_a_real_aws_badge_is_passed_through(ecs: Any, name: str) -> None:
    assert create_cluster(ecs, f"badge-{name}", badge="real").badge == "real"


# ---- the endpoint's safety ----------------------------------------------------------------
def test_real_credentials_in_the_environment_are_not_used(endpoint: Endpoint,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-session-token")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # make boto3 read the environment now
    client = endpoint.client("ecs")
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.ecs.*",
        lambda request, **_: sent.append({k: v if isinstance(v, str) else v.decode()
                                          for k, v in request.headers.items()}))
    client.list_clusters()
    credentials = client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "test", "test", None)
    assert client.meta.endpoint_url == endpoint.url
    assert "Credential=test/" in sent[0]["Authorization"]
    assert "AKIA" not in json.dumps(sent)
    assert "X-Amz-Security-Token" not in sent[0]


def test_a_stray_aws_profile_does_not_break_the_kits_clients(
        endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_PROFILE", "bank-production")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    assert endpoint.client("ecs").list_clusters()["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("env", [
    {"AWS_ENDPOINT_URL": "http://10.0.0.1:4566"},
    {"AWS_ENDPOINT_URL": "https://ecs.us-east-1.amazonaws.com"},
    {"AWS_ENDPOINT_URL": "http://127.0.0.1.nip.io:4566"},
    {"LOCALSTACK_HOST": "10.0.0.1:4566"},
], ids=lambda env: next(iter(env.values())))
def test_an_endpoint_off_loopback_is_refused_before_any_request(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{what}{args[1:] if what == 'connect' else args}")
            raise AssertionError(f"network use: {what}")
        return record

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    url = env.get("AWS_ENDPOINT_URL") or f"http://{env['LOCALSTACK_HOST']}"
    with pytest.raises(EndpointError, match=r"127\.0\.0\.1") as refused:
        open_endpoint(env)
    assert url in str(refused.value)
    assert attempts == []
