"""Observer mode's pure pieces: API answers → the snapshot's shape, the traffic bounds, and
the one-line refusal when there are no credentials (nothing leaves 127.0.0.1)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from cloud.aws.observer import (
    health_changes,
    host_view,
    scaling_view,
    targets_view,
    task_view,
    timeline,
)
from cloud.aws.observer_client import MAX_RATE, MAX_SECONDS, ObserverClient, ObserverError

CI_ARN = "arn:aws:ecs:eu-west-1:111122223333:container-instance/c/abc"


def _task(task_id: str, status: str = "RUNNING", **extra: object) -> dict:
    return {"taskArn": f"arn:aws:ecs:eu-west-1:111122223333:task/c/{task_id}",
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:111122223333:task-definition/fraud:7",
            "group": "service:svc", "lastStatus": status, "desiredStatus": status,
            "containerInstanceArn": CI_ARN, "cpu": "512", "memory": "1024",
            "containers": [{"exitCode": 137 if status == "STOPPED" else None,
                            "networkBindings": [{"hostPort": 32768}]}], **extra}


def test_a_bridge_task_is_its_instance_and_host_port_and_an_awsvpc_task_its_eni_ip() -> None:
    hosts = {CI_ARN: "i-0abc"}
    bridge = task_view(_task("t1"), hosts)
    awsvpc = task_view(_task("t2", attachments=[{"details": [
        {"name": "privateIPv4Address", "value": "10.0.1.7"}]}]), hosts)
    health = [{"Target": {"Id": "i-0abc", "Port": 32768}, "TargetHealth": {"State": "healthy"}},
              {"Target": {"Id": "10.0.1.7", "Port": 8000},
               "TargetHealth": {"State": "unhealthy", "Reason": "Target.Timeout"}},
              {"Target": {"Id": "i-other", "Port": 1}, "TargetHealth": {"State": "draining"}}]
    targets = targets_view(health, [bridge, awsvpc])
    assert [t["id"] for t in targets] == ["t1", "t2", "i-other:1"]  # unknown: never guessed
    assert targets[1]["reason"] == "Target.Timeout"
    assert bridge["task_definition"] == "fraud:7" and bridge["host"] == "i-0abc"
    assert bridge["pull_cached"] is None and bridge["exit_code"] is None


def test_a_stopped_task_keeps_its_exit_code_and_pull_time_comes_from_ecs() -> None:
    t = task_view(_task("t3", "STOPPED", pullStartedAt=datetime(2026, 1, 1, tzinfo=UTC),
                        pullStoppedAt=datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC)), {})
    assert t["exit_code"] == 137 and t["pull_seconds"] == 4.0 and t["host"] is None


def test_a_host_counts_its_live_tasks_and_does_not_invent_an_image_cache() -> None:
    ci = {"containerInstanceArn": CI_ARN, "ec2InstanceId": "i-0abc", "status": "ACTIVE",
          "registeredResources": [{"name": "CPU", "integerValue": 2048}],
          "remainingResources": [{"name": "CPU", "integerValue": 1536}],
          "attributes": [{"name": "ecs.instance-type", "value": "t3.medium"}]}
    tasks = [task_view(_task("a"), {CI_ARN: "i-0abc"}),
             task_view(_task("b", "STOPPED"), {CI_ARN: "i-0abc"})]
    host = host_view(ci, tasks)
    assert host["tasks"] == {"svc": 1} and host["image_cache"] is None
    assert host["registered_memory"] is None  # not in the answer: absent, not 0
    assert (host["registered_cpu"], host["remaining_cpu"], host["type"]) == (2048, 1536,
                                                                           "t3.medium")
    assert host_view({**ci, "agentConnected": False}, [])["status"] == (
        "ACTIVE · agent disconnected")


def test_the_timeline_merges_events_activities_and_health_changes_oldest_first() -> None:
    services = [{"name": "svc", "events": [{"at": 1_000.0, "message": "(service svc) has "
                                                                     "reached a steady state."}]}]
    activities = [{"StartTime": datetime.fromtimestamp(1_010.0, UTC), "StatusCode": "Successful",
                   "Description": "Setting desired count to 6."}]
    states, lines = health_changes({"t1": "healthy"}, [{"id": "t1", "state": "unhealthy",
                                                        "reason": "Target.Timeout"}], 1_020.0)
    entries = timeline(services, activities, lines, started=1_005.0)
    assert [e["lab"] for e in entries] == [-5.0, 5.0, 15.0]
    assert "Setting desired count to 6. [Successful]" in entries[1]["text"]
    assert "healthy → unhealthy: Target.Timeout" in entries[2]["text"]
    assert {e["badge"] for e in entries} == {"real"} and states == {"t1": "unhealthy"}
    assert entries[0]["clock"] == "00:16:40"


def test_scaling_view_keeps_the_targets_and_names_the_policies() -> None:
    view = scaling_view({"targets": [{"MinCapacity": 2, "MaxCapacity": 8}], "policies": [
        {"PolicyName": "req", "PolicyType": "TargetTrackingScaling",
         "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100.0}}],
        "activities": None})
    assert view["targets"][0]["MaxCapacity"] == 8 and view["activities"] == []
    assert view["policies"] == [{"name": "req", "type": "TargetTrackingScaling",
                                 "target_value": 100.0}]


def test_traffic_is_bounded_in_rate_and_time() -> None:
    assert ObserverClient.traffic_request({"rate": 3, "duration": 10_000})[:2] == (
        3.0, MAX_SECONDS)
    with pytest.raises(ObserverError, match="at most"):
        ObserverClient.traffic_request({"rate": MAX_RATE + 1})
    with pytest.raises(ObserverError, match="positive"):
        ObserverClient.traffic_request({"rate": True})


def test_no_credentials_is_one_line_before_any_screen(monkeypatch, tmp_path) -> None:
    from tui.__main__ import observe

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookup
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # and nothing off loopback
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    args = argparse.Namespace(aws=True, cluster="c", service="s", rate=20.0)
    with pytest.raises(RuntimeError, match=r"^cannot observe c/s: no AWS credentials found "
                                           r"\(botocore NoCredentialsError\): configure"):
        observe(args)


class _CloudWatch:
    """GetMetricStatistics as CloudWatch answers it, percentiles included (moto has none)."""

    def __init__(self) -> None:
        self.asked: list[dict] = []

    def get_metric_statistics(self, **kwargs: object) -> dict:
        self.asked.append(kwargs)
        stamp = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
        older = {"Timestamp": datetime(2026, 1, 1, tzinfo=UTC), "Sum": 1.0, "Average": 9.0}
        if kwargs["MetricName"] == "TargetResponseTime":
            return {"Datapoints": [older, {"Timestamp": stamp, "Average": 0.02,
                                           "ExtendedStatistics": {"p50": 0.01, "p99": 0.3}}]}
        return {"Datapoints": [older, {"Timestamp": stamp, "Sum": 600.0}]}


class _AutoScaling:
    def describe_scalable_targets(self, **_: object) -> dict:
        return {"ScalableTargets": [{"MinCapacity": 2, "MaxCapacity": 6}]}

    def describe_scaling_policies(self, **_: object) -> dict:
        return {"ScalingPolicies": []}

    def describe_scaling_activities(self, **kwargs: object) -> dict:
        assert kwargs["ResourceId"] == "service/c/s"
        return {"ScalingActivities": [{"StartTime": datetime(2026, 1, 1, tzinfo=UTC),
                                       "StatusCode": "InProgress",
                                       "Description": "Setting desired count to 4."}]}


def test_the_latest_datapoint_and_the_percentiles_are_read_from_cloudwatch() -> None:
    from cloud.aws.observer import Observer

    cw = _CloudWatch()
    observer = Observer("c", "s", {"cloudwatch": cw}.__getitem__, now=lambda: 1_767_225_700.0)
    lb_arn = "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/alb/abc"
    metrics = observer.alb_metrics({"load_balancer_arn": lb_arn})
    assert metrics["RequestCount"] == 600.0 and metrics["HTTPCode_Target_5XX_Count"] == 600.0
    assert metrics["TargetResponseTime"] == 0.02
    assert metrics["TargetResponseTime_p99"] == 0.3 and "TargetResponseTime_p90" not in metrics
    asked = next(a for a in cw.asked if a["MetricName"] == "TargetResponseTime")
    assert asked["ExtendedStatistics"] == ["p50", "p90", "p99"]
    assert asked["Dimensions"] == [{"Name": "LoadBalancer", "Value": "app/alb/abc"}]


def test_scaling_activities_reach_the_timeline() -> None:
    from cloud.aws.observer import Observer

    observer = Observer("c", "s", {"application-autoscaling": _AutoScaling()}.__getitem__)
    scaling = observer.scaling()
    view = scaling_view(scaling)
    assert view["targets"][0]["MinCapacity"] == 2 and observer.errors == []
    entries = timeline([], scaling["activities"], [], started=0.0)
    assert entries[0]["text"] == "auto scaling: Setting desired count to 4. [InProgress]"


def test_target_tracking_alarms_in_the_local_clouds_shape() -> None:
    from cloud.aws.observer import alarm_names
    from tui.screens.dashboard import alarm_window

    high = "TargetTracking-service/c/s-AlarmHigh-1"
    low = "TargetTracking-service/c/s-AlarmLow-2"
    policies = [{"PolicyName": "cpu60", "Alarms": [{"AlarmName": high}, {"AlarmName": low}]}]
    assert alarm_names(policies) == [high, low]
    view = scaling_view({"policies": policies, "alarms": [
        {"AlarmName": high, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 60.0,
         "EvaluationPeriods": 3, "DatapointsToAlarm": 3, "StateValue": "ALARM",
         "MetricName": "CPUUtilization"},
        {"AlarmName": low, "ComparisonOperator": "LessThanThreshold", "Threshold": 54.0,
         "EvaluationPeriods": 15, "StateValue": "OK"}]})
    a_high, a_low = view["alarms"]
    assert (a_high["kind"], a_high["state"], a_high["policy"]) == ("AlarmHigh", "ALARM", "cpu60")
    assert (a_low["kind"], a_low["datapoints"], a_low["breaching"]) == ("AlarmLow", 15, None)
    assert [alarm_window(a) for a in view["alarms"]] == [">60×3", "<54×15"]
    assert alarm_window({"breaching": 2, "datapoints": 3, "threshold": 60.0}) == "2/3"  # local
