"""The pure glue around target tracking: API entries → the model, alarm definitions and the
CloudWatch-worded alarm reasons, the ``--autoscale`` argument and ResourceLabel."""

from __future__ import annotations

import json

import pytest

from cloud.autoscaling.alarms import ALARM, INSUFFICIENT_DATA, OK, Datapoint
from cloud.autoscaling.controller import (
    HIGH,
    LOW,
    PolicyConfig,
    alarm_definition,
    alarm_reason,
    parse_resource_id,
    policy_from_api,
    target_from_api,
    target_group_of,
)
from cloud.autoscaling.target_tracking import CPU, MEMORY, REQUESTS, Alarm
from cloud.aws.steps.scaling import parse_autoscale, resource_label

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
LB = ARN + "loadbalancer/app/fraud-alb/50dc6c495c0c9188"
TG = ARN + "targetgroup/fraud-tg/6d0ecf831eec9f09"
LABEL = "app/fraud-alb/50dc6c495c0c9188/targetgroup/fraud-tg/6d0ecf831eec9f09"


def test_resource_ids() -> None:
    assert parse_resource_id("service/fraud-cluster/fraud-svc") == ("fraud-cluster", "fraud-svc")
    for bad in ("service/only", "table/x/y", "service//svc", "service/a/b/c"):
        assert parse_resource_id(bad) is None


def test_scalable_target_from_api() -> None:
    item = {"ServiceNamespace": "ecs", "ResourceId": "service/c/s",
            "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 2, "MaxCapacity": 6,
            "SuspendedState": {"DynamicScalingInSuspended": True}}
    cfg = target_from_api(item)
    assert cfg is not None
    assert (cfg.target.min_capacity, cfg.target.max_capacity) == (2, 6)
    assert (cfg.target.cluster, cfg.target.service) == ("c", "s")
    assert cfg.scale_in_suspended and not cfg.scale_out_suspended
    assert target_from_api({**item, "ScalableDimension": "dynamodb:table:ReadCapacityUnits"}) \
        is None
    assert target_from_api({**item, "MinCapacity": 7}) is None  # Min > Max


def _policy(**config) -> dict:
    return {"PolicyName": "p", "PolicyARN": "arn:p", "ResourceId": "service/c/s",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": config,
            "Alarms": [{"AlarmName": "TargetTracking-service/c/s-AlarmHigh-1"},
                       {"AlarmName": "TargetTracking-service/c/s-AlarmLow-2"}]}


def test_policy_from_api() -> None:
    parsed = policy_from_api(_policy(
        TargetValue=500.0, ScaleOutCooldown=60, PredefinedMetricSpecification={
            "PredefinedMetricType": REQUESTS, "ResourceLabel": LABEL}))
    assert isinstance(parsed, PolicyConfig)
    assert parsed.policy.metric == REQUESTS and parsed.policy.target_value == 500
    assert parsed.policy.scale_out_cooldown == 60 and parsed.policy.scale_in_cooldown == 300
    assert parsed.alarms == {HIGH: "TargetTracking-service/c/s-AlarmHigh-1",
                             LOW: "TargetTracking-service/c/s-AlarmLow-2"}
    assert parsed.resource_label == LABEL
    memory = policy_from_api(_policy(TargetValue=70, PredefinedMetricSpecification={
        "PredefinedMetricType": MEMORY}))
    assert isinstance(memory, PolicyConfig) and memory.policy.metric == MEMORY


@pytest.mark.parametrize("item, why", [
    ({"PolicyName": "p", "PolicyType": "StepScaling"}, "StepScaling policies are not simulated"),
    (_policy(TargetValue=5, CustomizedMetricSpecification={}), "customized metric"),
    (_policy(TargetValue=5, PredefinedMetricSpecification={
        "PredefinedMetricType": "ECSServiceAverageNetworkIn"}), "not simulated"),
    (_policy(TargetValue=-1, PredefinedMetricSpecification={"PredefinedMetricType": CPU}),
     "target_value"),
])
def test_policies_the_kit_ignores_say_why(item, why) -> None:
    parsed = policy_from_api(item)
    assert isinstance(parsed, str) and why in parsed


def test_alarm_definitions_are_the_true_ones() -> None:
    from cloud.autoscaling.target_tracking import ScalableTarget, TargetTrackingPolicy

    target = ScalableTarget(1, 4, "c", "s")
    req = PolicyConfig(TargetTrackingPolicy("p", REQUESTS, 500), "arn", "service/c/s", {}, LABEL)
    high = alarm_definition(req, target, HIGH)
    assert high["Namespace"] == "AWS/ApplicationELB"
    assert high["MetricName"] == "RequestCountPerTarget" and high["Statistic"] == "Sum"
    assert high["Dimensions"] == [{"Name": "TargetGroup",
                                   "Value": "targetgroup/fraud-tg/6d0ecf831eec9f09"}]
    assert (high["Threshold"], high["EvaluationPeriods"], high["ComparisonOperator"]) == (
        500, 3, "GreaterThanThreshold")
    low = alarm_definition(req, target, LOW)
    assert (low["Threshold"], low["EvaluationPeriods"], low["DatapointsToAlarm"]) == (450, 15, 15)
    assert low["ComparisonOperator"] == "LessThanThreshold"
    cpu = PolicyConfig(TargetTrackingPolicy("c", CPU, 60), "arn", "service/c/s", {})
    got = alarm_definition(cpu, target, HIGH)
    assert (got["Namespace"], got["MetricName"], got["Statistic"], got["Unit"]) == (
        "AWS/ECS", "CPUUtilization", "Average", "Percent")
    assert got["Dimensions"] == [{"Name": "ClusterName", "Value": "c"},
                                 {"Name": "ServiceName", "Value": "s"}]
    assert target_group_of(None) is None and target_group_of("app/x/1") is None


def _alarm(state: str, comparison: str = "GreaterThanThreshold", n: int = 3,
           threshold: float = 500.0) -> Alarm:
    return Alarm("TargetTracking-x-AlarmHigh-1", "p", "RequestCountPerTarget", comparison,
                 threshold, n, state, n if state == ALARM else 1)


def test_alarm_reasons_in_cloudwatch_words() -> None:
    series = [Datapoint(60, 700), Datapoint(120, 812), Datapoint(180, 900)]
    reason, data = alarm_reason(_alarm(ALARM), series, 180)
    assert reason == ("Threshold Crossed: 3 datapoints [900.0 (lab 00:03), 812.0 (lab 00:02), "
                      "700.0 (lab 00:01)] were greater than the threshold (500.0).")
    assert json.loads(data)["threshold"] == 500.0
    ok, _ = alarm_reason(_alarm(OK), [Datapoint(120, 812), Datapoint(180, 400)], 180)
    assert ok == ("Threshold Crossed: 1 out of the last 3 datapoints [400.0 (lab 00:03)] was "
                  "not greater than the threshold (500.0) (minimum 1 datapoint for ALARM -> OK "
                  "transition).")
    low, _ = alarm_reason(_alarm(OK, "LessThanThreshold", 15, 450.0), [Datapoint(180, 460)], 180)
    assert "1 out of the last 15 datapoints [460.0 (lab 00:03)] was not less than" in low
    short, _ = alarm_reason(_alarm(OK, "LessThanThreshold", 15, 450.0),
                            [Datapoint(120, 0), Datapoint(180, 0)], 180)
    assert short == ("Threshold Crossed: 2 out of the last 15 datapoints [0.0 (lab 00:03), "
                     "0.0 (lab 00:02)] were less than the threshold (450.0); 13 were missing "
                     "(ALARM needs 15 of 15).")
    missing, _ = alarm_reason(_alarm(INSUFFICIENT_DATA), [], 180)
    assert missing == "Insufficient Data: 1 datapoint was unknown."


def test_parse_autoscale() -> None:
    assert parse_autoscale("requests:500") == (REQUESTS, 500.0)
    assert parse_autoscale("CPU:60") == (CPU, 60.0)
    assert parse_autoscale("memory:75.5") == (MEMORY, 75.5)
    for bad, why in [("500", "requests:TARGET"), ("disk:5", "got 'disk:5'"),
                     ("cpu:x", "'x' is not a number"), ("cpu:0", "> 0"), ("cpu:inf", "> 0"),
                     ("cpu:nan", "> 0")]:
        with pytest.raises(ValueError, match=why):
            parse_autoscale(bad)


def test_resource_label_from_arns() -> None:
    assert resource_label(LB, TG) == LABEL
    with pytest.raises(ValueError, match="not an Application Load Balancer ARN"):
        resource_label(TG, TG)
    with pytest.raises(ValueError, match="not a target group ARN"):
        resource_label(LB, LB)
