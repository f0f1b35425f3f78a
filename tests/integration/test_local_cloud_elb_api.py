"""The Application Load Balancer through the ELBv2 API, in a local cloud on the process runtime.

Everything is checked with boto3, as a learner would: the load balancer, listener and target
group exist; the service names the group; describe-target-health lists exactly the RUNNING
tasks, with the health the proxy really saw; a crash and its replacement show up; a
learner's modify-target-group(-attributes) reaches the proxy.
"""

from __future__ import annotations

import os

import pytest
import requests

from cloud.core.ports import free_port
from cloud.lb.routing import Target
from cloud.server.localcloud import LocalCloud
from service.contract import example_transaction

DESIRED = 3


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    from cloud.aws.steps.plan import deploy_all

    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    lc = LocalCloud("process", time_scale=12.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        steps = deploy_all(lc.endpoint.client, desired=DESIRED, placement="spread", hosts=2)
        lc.steps = {s.step: s.result for s in steps}
        yield lc
    finally:
        lc.stop()


@pytest.fixture(scope="module")
def elbv2(cloud):
    return cloud.endpoint.client("elbv2")


@pytest.fixture(scope="module")
def tg_arn(cloud) -> str:
    return cloud.steps["create-target-group"]["targetGroupArn"]


def _running_ports(lc: LocalCloud) -> set[int]:
    return {int(t["url"].rsplit(":", 1)[1]) for t in lc.snapshot()["tasks"]
            if t["last_status"] == "RUNNING"}


def _health(elbv2, arn: str) -> dict[int, dict]:
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    # target type instance: the task's EC2 instance and host port (bridge: its dynamic port,
    # where its process listens); 127.0.0.1 only for the targets these tests add by hand
    assert all(d["Target"]["Id"].startswith("i-") or d["Target"]["Id"] == "127.0.0.1"
               for d in found)
    return {d["Target"]["Port"]: d["TargetHealth"] for d in found}


def _healthy(elbv2, arn: str) -> set[int]:
    return {p for p, h in _health(elbv2, arn).items() if h["State"] == "healthy"}


def test_load_balancer_listener_and_target_group_exist_and_the_service_uses_them(
        cloud, elbv2, tg_arn) -> None:
    [lb] = elbv2.describe_load_balancers(Names=["fraud-alb"])["LoadBalancers"]
    assert (lb["Type"], lb["Scheme"]) == ("application", "internet-facing")
    assert len({z["ZoneName"] for z in lb["AvailabilityZones"]}) == 2
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": tg_arn}]
    [tg] = elbv2.describe_target_groups(Names=["fraud-tg"])["TargetGroups"]
    assert (tg["TargetGroupArn"], tg["TargetType"], tg["HealthCheckPath"]) == (
        tg_arn, "instance", "/health")
    [svc] = cloud.endpoint.client("ecs").describe_services(
        cluster="fraud-cluster", services=["fraud-svc"])["services"]
    assert svc["loadBalancers"] == [{"targetGroupArn": tg_arn,
                                     "containerName": "fraud-detection", "containerPort": 8080}]


def test_target_health_lists_exactly_the_running_tasks_healthy(wait_for, cloud, elbv2,
                                                                tg_arn) -> None:
    wait_for(lambda: len(_running_ports(cloud)) == DESIRED
             and _healthy(elbv2, tg_arn) == _running_ports(cloud), 60,
             f"{DESIRED} RUNNING tasks, each a healthy target")
    assert set(_health(elbv2, tg_arn)) == _running_ports(cloud)  # nothing else listed
    found = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    want = {(t["host"], t["host_port"]) for t in cloud.snapshot()["tasks"]
            if t["last_status"] == "RUNNING"}
    assert {(d["Target"]["Id"], d["Target"]["Port"]) for d in found} == want
    api = cloud.snapshot()["load_balancer"]["api"]
    assert api["target_group_arn"] == tg_arn and api["health_written_back"]
    assert api["listeners"][0]["port"] == 80 and api["dns_name"]
    assert api["attributes"]["load_balancing.algorithm.type"] == "round_robin"
    assert not cloud.tick_errors


def test_a_target_is_initial_until_checked_then_unhealthy_then_gone(wait_for, cloud, elbv2,
                                                                     tg_arn) -> None:
    port = free_port()  # nothing listens there: every health check is refused
    cloud.lb.register(Target("no-such-task", "127.0.0.1", port))
    first = wait_for(lambda: _health(elbv2, tg_arn).get(port), 5, "the target in the API")
    assert first == {"State": "initial", "Reason": "Elb.RegistrationInProgress",
                     "Description": "Target registration is in progress"}
    # 2 failures (unhealthy threshold) 30 lab s apart: ~2.5 s at time scale 12
    bad = wait_for(lambda: (h := _health(elbv2, tg_arn).get(port)) and
                   h["State"] == "unhealthy" and h, 15, "unhealthy")
    assert bad["Reason"] == "Target.FailedHealthChecks"
    assert bad["Description"].startswith("Health checks failed")
    cloud.lb.deregister("no-such-task")
    wait_for(lambda: port not in _health(elbv2, tg_arn), 5, "the target to leave")
    [gone] = elbv2.describe_target_health(TargetGroupArn=tg_arn, Targets=[
        {"Id": "127.0.0.1", "Port": port}])["TargetHealthDescriptions"]
    assert gone["TargetHealth"]["State"] == "unused"
    assert gone["TargetHealth"]["Reason"] == "Target.NotRegistered"


def test_targets_are_told_apart_by_port_and_membership_follows_the_proxy(
        wait_for, cloud, elbv2, tg_arn) -> None:
    ports = [free_port(), free_port()]
    with cloud.lb_sync._lock:  # between two ticks: what a learner's own call leaves
        elbv2.register_targets(TargetGroupArn=tg_arn,
                               Targets=[{"Id": "127.0.0.1", "Port": p} for p in ports])
        health = _health(elbv2, tg_arn)
    assert [health[p]["State"] for p in ports] == ["initial", "initial"]  # both kept
    # The kit's simplification: membership follows the proxy (the tasks ECS registered), so
    # the next tick deregisters them; AWS would keep them and health-check them.
    wait_for(lambda: not set(ports) & set(_health(elbv2, tg_arn)), 5, "the targets to leave")


def test_a_crashed_task_leaves_and_its_replacement_becomes_healthy(wait_for, cloud, elbv2,
                                                                   tg_arn) -> None:
    wait_for(lambda: _healthy(elbv2, tg_arn) == _running_ports(cloud)
             and len(_running_ports(cloud)) == DESIRED, 60, "a steady service")
    before = _running_ports(cloud)
    task = next(t for t in cloud.snapshot()["tasks"] if t["last_status"] == "RUNNING")
    crashed_port = int(task["url"].rsplit(":", 1)[1])
    assert cloud.controller.crash(task["task_id"])
    wait_for(lambda: _health(elbv2, tg_arn).get(crashed_port, {"State": "gone"})["State"]
             in ("gone", "draining", "unhealthy"), 15, "the crashed target out of service")
    wait_for(lambda: len(_running_ports(cloud)) == DESIRED and _running_ports(cloud) != before
             and _healthy(elbv2, tg_arn) == _running_ports(cloud), 60,
             "the replacement healthy in the target group")
    assert crashed_port not in _healthy(elbv2, tg_arn)


def test_the_learners_own_api_calls_reach_the_proxy(wait_for, cloud, elbv2, tg_arn) -> None:
    elbv2.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
        {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"},
        {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
    # Each reaches the proxy within a tick (a separate call for each: wait for both).
    wait_for(lambda: cloud.lb.snapshot(trace_limit=0)["algorithm"]
             == "least_outstanding_requests", 2, "the proxy routing by least outstanding")
    wait_for(lambda: cloud.lb.health_settings.deregistration_delay == 5, 2,
             "the proxy's deregistration delay at 5 s")
    elbv2.modify_target_group(TargetGroupArn=tg_arn, HealthCheckIntervalSeconds=10)
    wait_for(lambda: cloud.lb.health_settings.interval == 10, 5, "the new check interval")
    texts = [e["text"] for e in cloud.snapshot()["timeline"] if e["kind"] == "lb"]
    assert any("least_outstanding_requests" in t for t in texts)

    # The control API's knob writes the attribute: the API stays the source of truth.
    assert cloud.configure_lb({"algorithm": "round_robin"})["algorithm"] == "round_robin"
    attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(
        TargetGroupArn=tg_arn)["Attributes"]}
    assert attrs["load_balancing.algorithm.type"] == "round_robin"
    assert cloud.lb.snapshot(trace_limit=0)["algorithm"] == "round_robin"


def test_a_request_through_the_load_balancer_answers_200(wait_for, cloud, elbv2,
                                                         tg_arn) -> None:
    wait_for(lambda: _healthy(elbv2, tg_arn), 30, "a healthy target")
    reply = requests.post(f"{cloud.lb.url}/predict", json=example_transaction(), timeout=10)
    assert reply.status_code == 200, reply.text
    assert not cloud.tick_errors
