"""Service auto scaling end to end: traffic through the load balancer above an
ALBRequestCountPerTarget target raises the service's desired count through the API, quiet
brings it back to MinCapacity; the service's CPUUtilization is in CloudWatch under load.

In-process local cloud (moto server, process runtime, real gunicorn replicas behind the kit's
load balancer) at time scale 60: a lab minute lasts a wall second, so AlarmHigh's 3 minutes
take 3 s, AlarmLow's 15 minutes 15 s and a 300 s cooldown 5 s. Every wait is bounded; the
traffic stops by itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from kit_cloud import deployed_cloud

from cloud.autoscaling.target_tracking import REQUESTS
from cloud.server.control import ControlClient, ControlError
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE = "fraud-cluster", "fraud-svc"
TIME_SCALE = 60.0
RATE = 30.0  # tx/s: 30 × 60 / 60 = 30 requests per lab minute, 15 per target with 2
TARGET = 5.0  # requests per target per lab minute: 15 is far above it, so is 30 / 4 = 7.5


def _healthy(lc: LocalCloud) -> int:
    return sum(t["state"] == "healthy" for t in lc.lb.snapshot(trace_limit=0)["targets"])


def _desired(lc: LocalCloud) -> int:
    return lc.endpoint.client("ecs").describe_services(
        cluster=CLUSTER, services=[SERVICE])["services"][0]["desiredCount"]


def _count(activity: dict) -> int:
    """The desired count of a scaling activity ("Setting desired count to 4.")."""
    return int(activity["Description"].removeprefix("Setting desired count to ").rstrip("."))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with deployed_cloud(tmp_path_factory, time_scale=TIME_SCALE, ready=_healthy, timeout=60) as lc:
        yield lc


@pytest.fixture(scope="module")
def api(cloud) -> ControlClient:
    return ControlClient(cloud.control.url, cloud.token)


def test_service_cpu_utilization_is_in_cloudwatch_under_load(wait_for, cloud, api) -> None:
    cloud.start_traffic({"rate": RATE, "profile": "steady", "duration": 4})
    try:
        got = wait_for(lambda: (cloud.service_metrics.latest.get(SERVICE, {})
                                .get("CPUUtilization", 0) > 0
                                and cloud.service_metrics.latest[SERVICE]), 15,
                       "a CPUUtilization datapoint above 0")
    finally:
        cloud.stop_traffic()
    assert got["RunningTasks"] == 2
    assert 0 < got["MemoryUtilization"] < 100
    now = datetime.now(UTC)
    stats = cloud.endpoint.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ECS", MetricName="CPUUtilization",
        Dimensions=[{"Name": "ClusterName", "Value": CLUSTER},
                    {"Name": "ServiceName", "Value": SERVICE}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
        Period=60, Statistics=["Average", "Maximum"], Unit="Percent")
    assert stats["Datapoints"], stats
    assert max(p["Maximum"] for p in stats["Datapoints"]) > 0
    snap = api.get("/v1/snapshot")
    assert SERVICE in snap["service_metrics"]["services"]
    assert len(snap["service_metrics"]["tasks"]) == 2
    print(f"CPUUtilization {got['CPUUtilization']:.1f} %, MemoryUtilization "
          f"{got['MemoryUtilization']:.1f} % at {RATE:.0f} tx/s over 2 tasks of 256 CPU units")


def test_requests_above_target_scale_out_and_quiet_scales_back_in(wait_for, cloud, api):
    from cloud.aws.steps.scaling import resource_label, scaling_steps

    steps = scaling_steps(cloud.endpoint.client, CLUSTER, SERVICE, metric=REQUESTS,
                          target_value=TARGET, min_capacity=2, max_capacity=4)
    assert [s.step for s in steps] == ["register-scalable-target", "put-scaling-policy"]
    # ResourceLabel names the load balancer and target group the deploy steps created.
    elbv2 = cloud.endpoint.client("elbv2")
    [tg] = elbv2.describe_target_groups(Names=["fraud-tg"])["TargetGroups"]
    label = steps[1].result["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"]["ResourceLabel"]
    assert label == resource_label(tg["LoadBalancerArns"][0], tg["TargetGroupArn"])
    assert not any("No load balancer" in w for w in steps[1].warnings)
    wait_for(lambda: api.get("/v1/scaling")["policies"], 10, "the policy read back")

    started = time.monotonic()
    cloud.start_traffic({"rate": RATE, "profile": "steady", "duration": 30})
    try:
        wait_for(lambda: _desired(cloud) == 4, 20, "desiredCount 4 through the API", 0.25)
        out_s = time.monotonic() - started
        wait_for(lambda: _healthy(cloud) == 4, 40, "4 healthy targets", 0.1)
        ready_s = time.monotonic() - started
    finally:
        cloud.stop_traffic()
    # Newest first. One step to 4 as a rule; on a loaded machine the generator can fall behind
    # in the first minutes, so a lower datapoint scales out to 3 first and the next to 4 (target
    # tracking scales out proportionally to each datapoint, in as many steps as it takes).
    outs = api.get("/v1/scaling")["activities"]
    counts = [_count(a) for a in outs]
    assert counts[0] == 4 and counts == sorted(set(counts), reverse=True) and counts[-1] > 2, outs
    for act in outs:
        assert act["Cause"].startswith(f"monitor alarm TargetTracking-service/{CLUSTER}/"
                                       f"{SERVICE}-AlarmHigh-"), act
        assert act["Cause"].endswith("triggered policy fraud-requests-target-tracking")

    quiet = time.monotonic()
    try:
        wait_for(lambda: _desired(cloud) == 2, 45, "desiredCount back to MinCapacity 2", 0.25)
    except AssertionError:
        snap = api.get("/v1/scaling")
        print(snap["targets"], snap["activities"], cloud.tick_errors[-5:])
        raise
    in_s = time.monotonic() - quiet
    wait_for(lambda: _healthy(cloud) == 2, 30, "2 healthy targets", 0.1)
    scaling = api.get("/v1/scaling")
    ins = scaling["activities"][:len(scaling["activities"]) - len(outs)]
    assert [_count(a) for a in ins] == [2, 3]  # newest first: 4 -> 3 -> 2, one task a step
    assert [_count(a) for a in scaling["activities"][len(ins):]] == counts
    alarms = {a["kind"]: a for a in scaling["alarms"]}
    assert alarms["AlarmLow"]["state"] == "ALARM" and alarms["AlarmLow"]["threshold"] == 4.5
    assert alarms["AlarmLow"]["AlarmName"] in scaling["activities"][0]["Cause"]
    described = {a["AlarmName"]: a for a in cloud.endpoint.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=f"TargetTracking-service/{CLUSTER}/{SERVICE}-")["MetricAlarms"]}
    low = described[alarms["AlarmLow"]["AlarmName"]]
    assert (low["StateValue"], low["MetricName"], low["Threshold"]) == (
        "ALARM", "RequestCountPerTarget", 4.5)
    assert low["StateReason"].startswith("Threshold Crossed: 15 datapoints [0.0")
    # The alarm watches the metric the load balancer publishes: same name, same dimensions.
    now = datetime.now(UTC)
    stats = cloud.endpoint.client("cloudwatch").get_metric_statistics(
        Namespace=low["Namespace"], MetricName=low["MetricName"], Dimensions=low["Dimensions"],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1), Period=60,
        Statistics=["Sum"])
    assert sum(p["Sum"] for p in stats["Datapoints"]) > 0
    texts = [e["text"] for e in api.get("/v1/snapshot")["timeline"] if e["kind"] == "scaling"]
    assert any("Setting desired count to 4." in t for t in texts)
    assert any("from OK to ALARM" in t for t in texts)
    print(f"scale-out: desired 4 after {out_s:.1f} s, 4 healthy after {ready_s:.1f} s; "
          f"scale-in to 2 after {in_s:.1f} s of quiet (wall, time scale {TIME_SCALE:g})")

    # A manual desired count above MaxCapacity is not pulled back at once: Application Auto
    # Scaling brings it inside Min/Max at its next scaling activity (RegisterScalableTarget
    # API reference) — here the quiet traffic's AlarmLow scale-in, which lands inside.
    with pytest.raises(ControlError, match="whole number of tasks"):
        api.post("/v1/scale", {"desired": "five"})
    with pytest.raises(ControlError, match="no service 'nope'"):
        api.post("/v1/scale", {"desired": 3, "service": "nope"})
    step = api.post("/v1/scale", {"desired": 5})
    assert step["changed"] and "aws ecs update-service" in step["cli"]
    assert any("only at its next scaling activity" in w for w in step["warnings"])

    def pulled_back():
        return next((a for a in api.get("/v1/scaling")["activities"]
                     if a["Description"] == "Setting desired count to 4."
                     and "AlarmLow" in a["Cause"]), None)

    back = wait_for(pulled_back, 20, "a scale-in activity back inside MaxCapacity 4", 0.25)
    assert "above MaxCapacity" not in back["Cause"]  # a scaling activity, not a pull-back
