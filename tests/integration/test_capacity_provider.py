"""Cluster auto scaling end to end: an ASG capacity provider launches a host for tasks that
do not fit, and retires the host a scale-in left empty after 15 low lab minutes.

In-process local cloud (moto server, process runtime), real replicas, real HTTP; everything
asserted through the AWS API (ECS, Auto Scaling, EC2, CloudWatch) and /predict.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud
from service.contract import example_transaction

CLUSTER, SERVICE, CP = "fraud-cluster", "fraud-svc", "fraud-cp"
TIME_SCALE = 60.0  # a lab minute lasts one wall second
DESIRED = 9  # 256 CPU / 512 MiB each: 7 fit on a t3.medium (memory-bound), 2 need a second host
AFTER = 2




def _running(snap):
    return [t for t in snap["tasks"] if t["last_status"] == "RUNNING"]


def _instances(ecs) -> list[dict]:
    arns = ecs.list_container_instances(cluster=CLUSTER, status="ACTIVE")["containerInstanceArns"]
    if not arns:
        return []
    return ecs.describe_container_instances(cluster=CLUSTER,
                                            containerInstances=arns)["containerInstances"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    lc = LocalCloud("process", time_scale=TIME_SCALE,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    yield lc
    lc.stop()


@pytest.fixture(scope="module")
def scaled_out(wait_for, cloud):
    from cloud.aws.steps.plan import deploy_all

    started = time.monotonic()
    steps = deploy_all(cloud.endpoint.client, desired=DESIRED, placement="binpack", hosts=1,
                       capacity_provider=True, max_hosts=3, instance_warmup_period=30)
    ecs = cloud.endpoint.client("ecs")
    wait_for(lambda: len(_instances(ecs)) == 2, 20, "a second container instance")
    snap = wait_for(lambda: (s := cloud.snapshot()) and len(_running(s)) == DESIRED and s, 60,
                 f"{DESIRED} RUNNING tasks")
    return {"steps": steps, "snapshot": snap, "seconds": time.monotonic() - started}


def test_step_creates_the_capacity_provider(cloud, scaled_out) -> None:
    step = next(s for s in scaled_out["steps"] if s.step == "create-capacity-provider")
    assert "aws ecs create-capacity-provider" in step.cli
    assert "aws ecs put-cluster-capacity-providers" in step.cli
    assert any("§11b" in w for w in step.warnings)
    ecs = cloud.endpoint.client("ecs")
    cp = ecs.describe_capacity_providers(capacityProviders=[CP])["capacityProviders"][0]
    ms = cp["autoScalingGroupProvider"]["managedScaling"]
    assert (ms["status"], ms["targetCapacity"], ms["instanceWarmupPeriod"]) == ("ENABLED", 100, 30)
    assert cp["autoScalingGroupProvider"]["managedTerminationProtection"] == "DISABLED"
    cluster = ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
    assert cluster["capacityProviders"] == [CP]
    assert cluster["defaultCapacityProviderStrategy"][0]["capacityProvider"] == CP

    from cloud.aws.steps.capacity import create_capacity_provider

    client = cloud.endpoint.client
    again = create_capacity_provider(client("autoscaling"), client("ec2"), ecs, max_size=3,
                                     instance_warmup_period=30)
    assert not again.changed  # idempotent: the group already holds both hosts
    assert again.result["autoScalingGroup"]["desiredCapacity"] == 2


def test_cli_passes_the_capacity_provider_options() -> None:
    from cli.main import build_parser

    args = build_parser().parse_args(["deploy", "--capacity-provider", "--max-hosts", "3"])
    assert (args.capacity_provider, args.max_hosts) == (True, 3)
    assert build_parser().parse_args(["deploy"]).capacity_provider is False


def test_a_second_host_is_launched_for_tasks_that_do_not_fit(cloud, scaled_out) -> None:
    assert scaled_out["seconds"] < 60
    ecs = cloud.endpoint.client("ecs")
    cis = _instances(ecs)
    assert len(cis) == 2
    for ci in cis:
        reg = {r["name"]: r.get("integerValue") for r in ci["registeredResources"]}
        assert reg["CPU"] == 2048  # the agent's value for a t3.medium, not moto's 4096
    assert sorted(ci["runningTasksCount"] for ci in cis) == [2, 7]

    group = cloud.endpoint.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["fraud-cluster-asg"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 2
    assert {i["InstanceId"] for i in group["Instances"]} == {ci["ec2InstanceId"] for ci in cis}

    running = _running(scaled_out["snapshot"])
    for t in running:
        reply = requests.post(f"{t['url']}/predict", json=example_transaction(), timeout=5)
        assert reply.status_code == 200
        assert reply.json()["task_id"] == t["task_id"]

    outs = [e for e in cloud.snapshot()["timeline"]
            if e["kind"] == "capacity" and e.get("action") == "scale-out"]
    assert len(outs) == 1
    assert "CapacityProviderReservation 200%" in outs[0]["text"]
    assert outs[0]["badge"] == "simulated"
    svc = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    assert any("was unable to place a task" in e["message"] for e in svc["events"])

    now = datetime.now(UTC)
    stats = cloud.endpoint.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ECS/ManagedScaling", MetricName="CapacityProviderReservation",
        Dimensions=[{"Name": "ClusterName", "Value": CLUSTER},
                    {"Name": "CapacityProviderName", "Value": CP}],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Maximum"])["Datapoints"]
    assert max(d["Maximum"] for d in stats) == 200.0


def test_the_empty_host_is_retired_after_15_low_minutes(wait_for, cloud, scaled_out) -> None:
    ecs = cloud.endpoint.client("ecs")
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=AFTER)
    asked = cloud.clock.now()

    def one_empty():
        snap = cloud.snapshot()
        busy = {t["host"] for t in snap["tasks"] if t["last_status"] != "STOPPED"}
        empty = [h["instance_id"] for h in snap["hosts"] if h["instance_id"] not in busy]
        return len(_running(snap)) == AFTER and len(busy) == 1 and empty
    empty = wait_for(one_empty, 20, f"{AFTER} tasks left, all on one host")
    assert len(empty) == 1  # binpack scale-in empties the host with the most room first

    cis = wait_for(lambda: (c := _instances(ecs)) and len(c) == 1 and c, 40,
                "the empty host to be retired")
    assert cis[0]["ec2InstanceId"] != empty[0]

    def scale_ins():  # the snapshot is published once per pass: the entry may come one later
        return [e for e in cloud.snapshot()["timeline"]
                if e["kind"] == "capacity" and e.get("action") == "scale-in"]

    ins = wait_for(scale_ins, 10, "the scale-in in the published timeline")
    assert len(ins) == 1 and ins[0]["retire"] == empty
    assert "for 15 of 15 datapoints" in ins[0]["text"]
    assert ins[0]["lab"] - asked >= 14 * 60  # 15 one-minute datapoints below target

    state = cloud.endpoint.client("ec2").describe_instances(InstanceIds=empty)[
        "Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")
    group = cloud.endpoint.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["fraud-cluster-asg"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 1
    assert [i["InstanceId"] for i in group["Instances"]] == [cis[0]["ec2InstanceId"]]
    for t in _running(cloud.snapshot()):
        reply = requests.post(f"{t['url']}/predict", json=example_transaction(), timeout=5)
        assert reply.json()["task_id"] == t["task_id"]
    assert cloud.snapshot()["capacity"]["desired_capacity"] == 1
    assert not cloud.tick_errors


def test_a_killed_group_host_is_replaced_by_the_auto_scaling_group(wait_for, tmp_path) -> None:
    """EC2 Auto Scaling keeps its desired capacity: a terminated member is replaced, the new
    instance's agent registers it, and the service's tasks run again."""
    from cloud.aws.steps.plan import deploy_all

    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path)
    lc = LocalCloud("process", time_scale=60.0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=3, hosts=2, capacity_provider=True,
                   instance_warmup_period=30)
        snap = wait_for(lambda: (s := lc.snapshot()) and len(_running(s)) == 3 and s, 60,
                     "3 RUNNING tasks")
        victim = snap["hosts"][0]["instance_id"]
        assert lc.kill_host(victim)["replaced_by_auto_scaling_group"] is True

        def recovered():
            s = lc.snapshot()
            ids = {h["instance_id"] for h in s["hosts"]}
            return s if len(ids) == 2 and victim not in ids and len(_running(s)) == 3 else None

        snap = wait_for(recovered, 60, "a replacement instance and 3 RUNNING tasks")
        texts = [e["text"] for e in snap["timeline"] if e["kind"] == "capacity"]
        assert any("joined Auto Scaling group" in t for t in texts)
        group = lc.endpoint.client("autoscaling").describe_auto_scaling_groups()[
            "AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 2
        assert victim not in {i["InstanceId"] for i in group["Instances"]}
        for t in _running(snap):
            reply = requests.post(f"{t['url']}/predict", json=example_transaction(), timeout=5)
            assert reply.json()["task_id"] == t["task_id"]
    finally:
        lc.stop()
