"""Conformance: what the local AWS validates, refuses and answers from the kit's own record —
driven with the real AWS CLI and boto3 against a running local cloud (cloud/aws/guards.py).

Each call either happens for real and reads back as AWS would report it, or is refused with
the error AWS returns (or, for what the kit does not run, an AWS-shaped 400 naming the limit).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime

import pytest
import requests
from aws_cli import Aws
from botocore.exceptions import ClientError
from kit_cloud import deployed_cloud

from cloud.aws.guards import TASKS_LOCK
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE, TG = "fraud-cluster", "fraud-svc", "fraud-tg"
TIME_SCALE = 30.0
RID = f"service/{CLUSTER}/{SERVICE}"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with deployed_cloud(tmp_path_factory, time_scale=TIME_SCALE, ready=_healthy) as lc:
        yield lc


@pytest.fixture(scope="module")
def aws(cloud, tmp_path_factory) -> Aws:
    return Aws(cloud.endpoint.url, tmp_path_factory.mktemp("aws"))


def _healthy(lc: LocalCloud) -> int:
    return sum(t["state"] == "healthy" for t in lc.lb.snapshot(trace_limit=0)["targets"])


def _tg_arn(aws: Aws) -> str:
    return aws("elbv2", "describe-target-groups", "--names", TG)["TargetGroups"][0][
        "TargetGroupArn"]


def _health(aws: Aws, arn: str) -> dict[int, str]:
    found = aws("elbv2", "describe-target-health", "--target-group-arn", arn)
    return {d["Target"]["Port"]: d["TargetHealth"]["State"]
            for d in found["TargetHealthDescriptions"]}


def test_health_check_settings_are_validated_as_elbv2_does(cloud, aws) -> None:
    arn = _tg_arn(aws)
    err = aws.fails("ValidationError", "elbv2", "modify-target-group", "--target-group-arn", arn,
                    "--health-check-interval-seconds", "10", "--health-check-timeout-seconds",
                    "10")
    assert "must be smaller than the interval '10'" in err
    aws.fails("ValidationError", "elbv2", "modify-target-group", "--target-group-arn", arn,
              "--healthy-threshold-count", "11")
    aws.fails("ValidationError", "elbv2", "modify-target-group", "--target-group-arn", arn,
              "--health-check-path", "health")
    vpc = aws("elbv2", "describe-target-groups", "--names", TG)["TargetGroups"][0]["VpcId"]
    with pytest.raises(ClientError) as refused:
        cloud.endpoint.client("elbv2").create_target_group(
            Name="other-tg", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=6)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    aws.fails("DuplicateTargetGroupName", "elbv2", "create-target-group", "--name", TG,
              "--protocol", "HTTP", "--port", "8080", "--vpc-id", vpc, "--target-type", "ip")
    # Nothing refused was applied.
    tg = aws("elbv2", "describe-target-groups", "--names", TG)["TargetGroups"][0]
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"],
            tg["HealthCheckPath"]) == (30, 5, "/health")


def test_a_new_health_check_path_is_what_the_load_balancer_probes(cloud, aws, wait_for) -> None:
    arn = _tg_arn(aws)
    # ECS would replace the unhealthy targets' tasks; a long grace period keeps them (AWS's
    # healthCheckGracePeriodSeconds: the scheduler ignores ELB health that long after start).
    svc = aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
              "--health-check-grace-period-seconds", "36000")["service"]
    assert svc["healthCheckGracePeriodSeconds"] == 36000
    aws("elbv2", "modify-target-group", "--target-group-arn", arn, "--health-check-path",
        "/no-such-path", "--health-check-interval-seconds", "5",
        "--health-check-timeout-seconds", "2")
    try:
        wait_for(lambda: cloud.lb.health_settings.path == "/no-such-path", 15,
                 "the proxy to take the new path")
        states = wait_for(lambda: (lambda h: h if h and set(h.values()) == {"unhealthy"}
                                   else None)(_health(aws, arn)), 60,
                          "both targets unhealthy on a path the service does not have")
        assert len(states) == 2
        found = aws("elbv2", "describe-target-health", "--target-group-arn", arn)
        reasons = {d["TargetHealth"].get("Reason") for d in found["TargetHealthDescriptions"]}
        assert reasons == {"Target.ResponseCodeMismatch"}
    finally:
        aws("elbv2", "modify-target-group", "--target-group-arn", arn, "--health-check-path",
            "/health", "--health-check-interval-seconds", "30",
            "--health-check-timeout-seconds", "5")
    wait_for(lambda: (lambda h: h if h and set(h.values()) == {"healthy"} else None)(
        _health(aws, arn)), 90, "both targets healthy again on /health")
    assert set(_health(aws, arn)) == set(states)  # the same tasks: none was replaced
    aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
        "--health-check-grace-period-seconds", "0")


def test_a_target_deregistered_by_hand_stays_deregistered(cloud, aws, wait_for) -> None:
    arn = _tg_arn(aws)
    ports = sorted(_health(aws, arn))
    assert len(ports) == 2
    gone = ports[0]
    task = next(t for t in cloud.snapshot()["tasks"] if t.get("host_port") == gone)
    listed = aws("elbv2", "describe-target-health", "--target-group-arn", arn)
    [target_id] = [d["Target"]["Id"] for d in listed["TargetHealthDescriptions"]
                   if d["Target"]["Port"] == gone]  # type instance: the task's EC2 instance
    aws("elbv2", "deregister-targets", "--target-group-arn", arn, "--targets",
        f"Id={target_id},Port={gone}")
    wait_for(lambda: cloud.lb.state_of(task["task_id"]) in ("draining", "unused"), 15,
             "the proxy to drain the target deregistered by hand")
    for _ in range(15):  # several sync passes (0.2 s each): never registered again
        assert _health(aws, arn).get(gone) in (None, "draining")
        time.sleep(0.2)
    answered = {requests.get(f"{cloud.lb.url}/health", timeout=5).json()["task_id"]
                for _ in range(6)}
    assert task["task_id"] not in answered
    # The task itself keeps running (ECS does not stop a task for that).
    ecs = cloud.endpoint.client("ecs")
    [described] = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["task_id"]])["tasks"]
    assert described["lastStatus"] == "RUNNING"


def test_scaling_policy_ids_are_validated_and_alarms_follow_the_policy(cloud, aws) -> None:
    aws.fails("ValidationException", "application-autoscaling", "register-scalable-target",
              "--service-namespace", "ecs", "--scalable-dimension", "ecs:service:DesiredCount",
              "--resource-id", SERVICE, "--min-capacity", "1", "--max-capacity", "4")
    config = json.dumps({"TargetValue": 50.0, "PredefinedMetricSpecification": {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    put = ("application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
           "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", RID,
           "--policy-name", "cpu50", "--policy-type", "TargetTrackingScaling",
           "--target-tracking-scaling-policy-configuration")
    aws.fails("ObjectNotFoundException", *put, config)
    aws("application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
        "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", RID,
        "--min-capacity", "1", "--max-capacity", "4")
    first = aws(*put, config)
    second = aws(*put, config.replace("50.0", "60.0"))
    alarms = aws("cloudwatch", "describe-alarms", "--alarm-name-prefix",
                 f"TargetTracking-{RID}")["MetricAlarms"]
    names = {a["AlarmName"] for a in alarms}
    assert names == {a["AlarmName"] for a in second["Alarms"]}
    assert not names & {a["AlarmName"] for a in first["Alarms"]}
    aws("application-autoscaling", "delete-scaling-policy", "--service-namespace", "ecs",
        "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", RID,
        "--policy-name", "cpu50")
    assert aws("cloudwatch", "describe-alarms", "--alarm-name-prefix",
               f"TargetTracking-{RID}")["MetricAlarms"] == []


def test_scaling_activities_are_the_kits_own_record(cloud, aws, wait_for) -> None:
    started = time.time()
    aws("ecs", "update-service", "--cluster", CLUSTER, "--service", SERVICE,
        "--desired-count", "3")
    # Registering Min/Max brings a desired count outside them inside (RegisterScalableTarget
    # API reference): 3 → MaxCapacity 2, a scaling activity in the kit's record.
    aws("application-autoscaling", "register-scalable-target", "--service-namespace", "ecs",
        "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", RID,
        "--min-capacity", "1", "--max-capacity", "2")
    # Needs a policy to be evaluated: target tracking on requests, far above the traffic.
    aws("application-autoscaling", "put-scaling-policy", "--service-namespace", "ecs",
        "--scalable-dimension", "ecs:service:DesiredCount", "--resource-id", RID,
        "--policy-name", "cpu90", "--policy-type", "TargetTrackingScaling",
        "--target-tracking-scaling-policy-configuration", json.dumps({
            "TargetValue": 90.0, "DisableScaleIn": True, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}))

    def recorded():
        return [a for a in cloud.scaling.snapshot()["activities"] if "MaxCapacity" in a["Cause"]]

    kit = wait_for(recorded, 60, "the pull-back below MaxCapacity in the kit's record")
    answer = aws("application-autoscaling", "describe-scaling-activities",
                 "--service-namespace", "ecs", "--resource-id", RID)["ScalingActivities"]
    api = {a["ActivityId"]: a for a in answer}
    for mine in kit:
        got = api[mine["ActivityId"]]
        for key in ("ServiceNamespace", "ResourceId", "ScalableDimension", "Description",
                    "Cause", "StatusCode"):
            assert got[key] == mine[key]
        assert got["StatusCode"] == "Successful"
        # Timestamps: the CLI prints ISO 8601 or epoch seconds; either is after the call.
        stamp = got["StartTime"]
        seconds = stamp if isinstance(stamp, int | float) else \
            datetime.fromisoformat(stamp).timestamp()
        assert started - 5 <= seconds <= time.time() + 5
    assert aws("application-autoscaling", "describe-scaling-activities",
               "--service-namespace", "ecs", "--resource-id",
               "service/fraud-cluster/nope")["ScalingActivities"] == []


def test_what_the_local_ecs_does_not_run_is_refused_with_the_limit(cloud, aws) -> None:
    aws.fails("UnsupportedFeatureException", "ecs", "run-task", "--cluster", CLUSTER,
              "--task-definition", "fraud-detection", "--launch-type", "FARGATE")
    err = aws.fails("UnsupportedFeatureException", "ecs", "run-task", "--cluster", CLUSTER,
                    "--task-definition", "fraud-detection", "--placement-constraints",
                    "type=memberOf,expression=attribute:ecs.instance-type==t3.large")
    assert "memberOf" in err
    aws("ecs", "create-cluster", "--cluster-name", "other-cluster")
    err = aws.fails("UnsupportedFeatureException", "ecs", "run-task", "--cluster",
                    "other-cluster", "--task-definition", "fraud-detection")
    assert "FraudLab's local ECS" in err and "RunTask" in err
    aws.fails("InvalidParameterException", "ecs", "create-service", "--cluster", CLUSTER,
              "--service-name", SERVICE, "--task-definition", "fraud-detection",
              "--desired-count", "1")
    aws.fails("InvalidParameterException", "ecs", "stop-task", "--cluster", CLUSTER, "--task",
              "0123456789abcdef0123456789abcdef")
    # Refused means nothing happened: no task, no service.
    assert aws("ecs", "list-services", "--cluster", "other-cluster")["serviceArns"] == []
    assert aws("ecs", "list-tasks", "--cluster", "other-cluster")["taskArns"] == []


def test_fargate_and_a_second_listener_are_refused(cloud, aws) -> None:
    aws.fails("UnsupportedFeatureException", "ecs", "create-service", "--cluster", CLUSTER,
              "--service-name", "on-fargate", "--task-definition", "fraud-detection",
              "--desired-count", "1", "--launch-type", "FARGATE")
    [lb] = aws("elbv2", "describe-load-balancers")["LoadBalancers"]
    tg = _tg_arn(aws)
    err = aws.fails("OperationNotPermitted", "elbv2", "create-listener", "--load-balancer-arn",
                    lb["LoadBalancerArn"], "--protocol", "HTTP", "--port", "8081",
                    "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    assert "one listener per target group" in err
    assert len(aws("elbv2", "describe-listeners", "--load-balancer-arn",
                   lb["LoadBalancerArn"])["Listeners"]) == 1
    # Nothing changed: the service still runs its deployment.
    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                SERVICE)["services"]
    assert len(svc["deployments"]) == 1


def test_describe_tasks_is_answered_whole_beside_a_write_back(cloud) -> None:
    """describe-tasks is answered under the lock the controller's task write-back takes: it
    never shows half a write (lastStatus STOPPED before the container's exitCode)."""
    ecs = cloud.endpoint.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    answered = threading.Event()

    def describe() -> None:
        ecs.describe_tasks(cluster=CLUSTER, tasks=arns)
        answered.set()

    with TASKS_LOCK:  # as a write-back holds it
        reader = threading.Thread(target=describe, daemon=True)
        reader.start()
        assert not answered.wait(1.0), "describe-tasks was answered during a write-back"
    assert answered.wait(30), "describe-tasks was not answered after the write-back"
    reader.join(5)
