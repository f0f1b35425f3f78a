"""Service auto scaling through the API: the steps, then the scaling controller driven one lab
minute at a time (manual clock) against a real moto server in this process.

Everything is asserted as a learner would check it: ``describe-scalable-targets``,
``describe-scaling-policies``, ``describe-alarms``, ``describe-services``. Each test uses its
own service; moto is reset when the module ends (other modules expect an empty account).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from cloud.autoscaling.controller import ScalingController
from cloud.autoscaling.target_tracking import CPU, REQUESTS
from cloud.aws.endpoint import Endpoint, open_endpoint
from cloud.aws.steps.ecs import create_cluster, create_service, register_task_definition
from cloud.aws.steps.scaling import (
    put_scaling_policy,
    register_scalable_target,
    resource_label,
    scaling_steps,
)
from cloud.core.clock import ManualClock
from cloud.ecs.controller import Timeline
from cloud.ecs.writeback import reset_moto

CLUSTER = "scale-cluster"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:test"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def endpoint(free_port_factory) -> Iterator[Endpoint]:
    ep = open_endpoint({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_factory()}"})
    assert ep.kind == "moto"
    reset_moto(ep.url)  # moto's backends are the process's: start from an empty account
    clients: dict[str, object] = {}
    make = ep.client
    ep.client = lambda name: clients.get(name) or clients.setdefault(name, make(name))
    try:
        ecs = ep.client("ecs")
        td = register_task_definition(ecs, "scale-fam", image=IMAGE)
        create_cluster(ecs, CLUSTER)
        ep.taskdef = td.result["taskDefinitionArn"]  # type: ignore[attr-defined]
        yield ep
    finally:
        reset_moto(ep.url)
        ep.stop()


@pytest.fixture
def service(endpoint) -> str:
    name = f"svc-{next(_names)}"
    create_service(endpoint.client("ecs"), CLUSTER, name, task_definition=endpoint.taskdef,
                   desired_count=2)
    return name


def desired(endpoint, service: str) -> int:
    return endpoint.client("ecs").describe_services(
        cluster=CLUSTER, services=[service])["services"][0]["desiredCount"]


def alarms(endpoint, service: str) -> dict[str, dict]:
    found = endpoint.client("cloudwatch").describe_alarms(
        AlarmNamePrefix=f"TargetTracking-service/{CLUSTER}/{service}-")["MetricAlarms"]
    return {("High" if "-AlarmHigh-" in a["AlarmName"] else "Low"): a for a in found}


class Lab:
    """The scaling controller, one lab minute per ``minute()``."""

    def __init__(self, endpoint: Endpoint, service: str) -> None:
        self.rid = f"service/{CLUSTER}/{service}"
        self.clock = ManualClock(start=600.0)
        self.timeline = Timeline()
        self.ctl = ScalingController(endpoint, self.clock, CLUSTER, self.timeline, ttl=0)

    def minute(self, alb=None, service=None, minutes: int = 1):
        self.clock.advance(60 * minutes)
        decided = self.ctl.tick(alb, service)
        return [decided[self.rid]] if self.rid in decided else []

    def texts(self) -> list[str]:
        return [e["text"] for e in self.timeline.entries if e["kind"] == "scaling"]


# ---- steps ---------------------------------------------------------------------------------
def test_register_scalable_target_is_idempotent_and_validated(endpoint, service) -> None:
    aas, ecs = endpoint.client("application-autoscaling"), endpoint.client("ecs")
    first = register_scalable_target(aas, ecs, CLUSTER, service, min_capacity=1, max_capacity=5)
    assert first.changed and first.badge == "emulated"
    assert "aws application-autoscaling register-scalable-target" in first.cli
    assert "--scalable-dimension ecs:service:DesiredCount" in first.cli
    assert "§7" in first.source
    again = register_scalable_target(aas, ecs, CLUSTER, service, min_capacity=1, max_capacity=5)
    assert not again.changed and again.result == first.result
    moved = register_scalable_target(aas, ecs, CLUSTER, service, min_capacity=2, max_capacity=6)
    assert moved.changed
    [t] = aas.describe_scalable_targets(ServiceNamespace="ecs",
                                        ResourceIds=[f"service/{CLUSTER}/{service}"])[
        "ScalableTargets"]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (2, 6)
    with pytest.raises(ValueError, match="cannot exceed"):
        register_scalable_target(aas, ecs, CLUSTER, service, min_capacity=4, max_capacity=3)
    with pytest.raises(LookupError, match="no ACTIVE service"):
        register_scalable_target(aas, ecs, CLUSTER, "nope", min_capacity=1, max_capacity=3)


def test_request_policy_takes_its_resource_label_from_the_load_balancer(endpoint, service):
    aas = endpoint.client("application-autoscaling")
    with pytest.raises(LookupError, match="register it first"):
        put_scaling_policy(aas, CLUSTER, service, metric=CPU, target_value=50)
    register_scalable_target(aas, endpoint.client("ecs"), CLUSTER, service, min_capacity=1,
                             max_capacity=4)
    lb = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/alb/"
          "0123456789abcdef")
    tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/fedcba9876543210"
    step = put_scaling_policy(aas, CLUSTER, service, metric=REQUESTS, target_value=500,
                              load_balancer_arn=lb, target_group_arn=tg,
                              cloudwatch=endpoint.client("cloudwatch"))
    assert step.changed and "aws application-autoscaling put-scaling-policy" in step.cli
    assert "--policy-type TargetTrackingScaling" in step.cli
    assert any("§11e" in w for w in step.warnings)
    spec = step.result["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"]
    assert spec == {"PredefinedMetricType": REQUESTS, "ResourceLabel": resource_label(lb, tg)}
    assert len(step.result["Alarms"]) == 2
    same = put_scaling_policy(aas, CLUSTER, service, metric=REQUESTS, target_value=500,
                              load_balancer_arn=lb, target_group_arn=tg)
    assert not same.changed and same.result["PolicyARN"] == step.result["PolicyARN"]
    moved = put_scaling_policy(aas, CLUSTER, service, metric=REQUESTS, target_value=800,
                               load_balancer_arn=lb, target_group_arn=tg,
                               cloudwatch=endpoint.client("cloudwatch"))
    assert moved.changed
    assert any("left its 2 old alarms" in w for w in moved.warnings)
    assert set(alarms(endpoint, service)) == {"High", "Low"}  # no orphans left behind


def test_request_policy_finds_the_target_group_or_falls_back(endpoint, service) -> None:
    aas = endpoint.client("application-autoscaling")
    ec2, elbv2 = endpoint.client("ec2"), endpoint.client("elbv2")
    register_scalable_target(aas, endpoint.client("ecs"), CLUSTER, service, min_capacity=1,
                             max_capacity=4)
    fallback = put_scaling_policy(aas, CLUSTER, service, metric=REQUESTS, target_value=100,
                                  policy_name="fallback", elbv2=elbv2)
    label = fallback.result["TargetTrackingScalingPolicyConfiguration"][
        "PredefinedMetricSpecification"]["ResourceLabel"]
    assert label == "app/fraud-alb/0123456789abcdef/targetgroup/fraud-tg/0123456789abcdef"
    assert any("No load balancer with target group fraud-tg" in w for w in fallback.warnings)

    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24",
                                 AvailabilityZone=az)["Subnet"]["SubnetId"]
               for i, az in enumerate(("us-east-1a", "us-east-1b"))]
    lb = elbv2.create_load_balancer(Name="fraud-alb", Subnets=subnets)["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name="fraud-tg", Protocol="HTTP", Port=8080, VpcId=vpc,
                                   TargetType="ip")["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                          DefaultActions=[{"Type": "forward",
                                           "TargetGroupArn": tg["TargetGroupArn"]}])
    try:
        found = put_scaling_policy(aas, CLUSTER, service, metric=REQUESTS, target_value=100,
                                   policy_name="found", elbv2=elbv2)
        spec = found.result["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"]
        assert spec["ResourceLabel"] == resource_label(lb["LoadBalancerArn"],
                                                       tg["TargetGroupArn"])
        assert not any("No load balancer" in w for w in found.warnings)
    finally:
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])


# ---- the controller --------------------------------------------------------------------------
def test_requests_above_target_scale_out_then_quiet_scales_in_to_min(endpoint, service) -> None:
    steps = scaling_steps(endpoint.client, CLUSTER, service, metric=REQUESTS, target_value=10,
                          min_capacity=2, max_capacity=4)
    assert [s.step for s in steps] == ["register-scalable-target", "put-scaling-policy"]
    lab = Lab(endpoint, service)
    busy = {"RequestCountPerTarget": 17.0}
    assert [d.action for _ in range(2) for d in lab.minute(busy)] == ["none", "none"]
    assert desired(endpoint, service) == 2
    [out] = lab.minute(busy)
    assert out.action == "scale-out" and out.desired == 4  # ceil(2 × 17 / 10)
    assert desired(endpoint, service) == 4  # through the API

    high = alarms(endpoint, service)["High"]
    assert high["StateValue"] == "ALARM"
    assert high["StateReason"].startswith("Threshold Crossed: 3 datapoints [17.0")
    # moto made a CPUUtilization alarm with threshold 6; it now says what it watches.
    assert (high["Namespace"], high["MetricName"], high["Threshold"]) == (
        "AWS/ApplicationELB", "RequestCountPerTarget", 10.0)
    assert (high["EvaluationPeriods"], high["ComparisonOperator"]) == (3, "GreaterThanThreshold")
    low = alarms(endpoint, service)["Low"]
    assert (low["Threshold"], low["EvaluationPeriods"], low["StateValue"]) == (9.0, 15, "OK")
    texts = lab.texts()
    assert any("changed from OK to ALARM: Threshold Crossed" in t for t in texts)
    assert any("Setting desired count to 4. Cause: monitor alarm TargetTracking-service/"
               in t for t in texts)
    [act] = lab.ctl.activities(lab.rid)
    assert act["Cause"] == (f"monitor alarm {high['AlarmName']} in state ALARM triggered "
                            "policy fraud-requests-target-tracking")  # the emulator's alarm

    quiet = {"RequestCountPerTarget": 0.0}
    actions = [d.action for _ in range(14) for d in lab.minute(quiet)]
    assert actions == ["none"] * 14 and desired(endpoint, service) == 4
    [first_in] = lab.minute(quiet)  # the 15th low minute
    assert first_in.action == "scale-in" and first_in.desired == 3  # gradual: one task
    assert alarms(endpoint, service)["Low"]["StateValue"] == "ALARM"
    later = [d for _ in range(5) for d in lab.minute(quiet)]  # ScaleInCooldown 300 s
    assert [d.desired for d in later if d.action == "scale-in"] == [2]
    assert desired(endpoint, service) == 2
    held = [d for _ in range(6) for d in lab.minute(quiet)]  # past the cooldown: at Min
    assert [d.action for d in held] == ["none"] * 6, [d.reason for d in held]
    assert "MinCapacity 2" in held[-1].reason, held[-1].reason

    acts = lab.ctl.activities(lab.rid)
    assert [a["Description"] for a in acts] == ["Setting desired count to 2.",
                                               "Setting desired count to 3.",
                                               "Setting desired count to 4."]  # newest first
    assert all(a["StatusCode"] == "Successful" and a["ServiceNamespace"] == "ecs" for a in acts)
    snap = lab.ctl.snapshot()
    [target] = [t for t in snap["targets"] if t["ResourceId"] == lab.rid]
    [policy] = [p for p in snap["policies"] if p["ResourceId"] == lab.rid]
    assert target["MinCapacity"] == 2 and policy["TargetValue"] == 10
    assert {a["kind"]: a["state"] for a in snap["alarms"]
            if a["resource"] == lab.rid} == {"AlarmHigh": "OK", "AlarmLow": "ALARM"}


def test_cpu_policy_reads_the_service_metric_and_missing_data_never_scales(endpoint, service):
    scaling_steps(endpoint.client, CLUSTER, service, metric=CPU, target_value=50,
                  min_capacity=1, max_capacity=10)
    lab = Lab(endpoint, service)
    hot = {service: {"CPUUtilization": 90.0}}
    assert [d.action for _ in range(2) for d in lab.minute(service=hot)] == ["none", "none"]
    gap = lab.minute(service={})  # no datapoint this minute: the run of 3 breaks
    assert gap[0].action == "none" and "INSUFFICIENT_DATA" in gap[0].reason
    assert alarms(endpoint, service)["High"]["StateValue"] == "INSUFFICIENT_DATA"
    assert [d.action for _ in range(2) for d in lab.minute(service=hot)] == ["none", "none"]
    [out] = lab.minute(service=hot)
    assert (out.action, out.desired) == ("scale-out", 4)  # ceil(2 × 90 / 50)
    assert desired(endpoint, service) == 4
    high = alarms(endpoint, service)["High"]
    assert (high["Namespace"], high["MetricName"], high["Threshold"]) == (
        "AWS/ECS", "CPUUtilization", 50.0)


def test_a_slow_pass_fills_the_minutes_it_skipped(endpoint, service) -> None:
    scaling_steps(endpoint.client, CLUSTER, service, metric=REQUESTS, target_value=10,
                  min_capacity=1, max_capacity=8)
    lab = Lab(endpoint, service)
    lab.minute({"RequestCountPerTarget": 1.0})
    # The loop stalled for 3 lab minutes: the load balancer's per-minute rate covers all three.
    [d] = lab.minute({"RequestCountPerTarget": 17.0}, minutes=3)
    points = lab.ctl.targets[lab.rid].state.datapoints(REQUESTS)
    assert [p.at for p in points[-3:]] == [720.0, 780.0, 840.0]
    assert [p.value for p in points[-3:]] == [17.0, 17.0, 17.0]
    assert (d.action, d.desired) == ("scale-out", 4)  # ceil(2 × 17 / 10) at once
    hot = {service: {"CPUUtilization": 80.0}}
    lab.minute(service=hot, minutes=2)  # no CPU policy: nothing recorded for CPU
    assert lab.ctl.targets[lab.rid].state.datapoints(CPU) == ()


def test_min_capacity_above_desired_is_applied_at_once(endpoint, service) -> None:
    aas = endpoint.client("application-autoscaling")
    register_scalable_target(aas, endpoint.client("ecs"), CLUSTER, service, min_capacity=3,
                             max_capacity=5)  # no policy at all
    lab = Lab(endpoint, service)
    [d] = lab.minute()
    assert (d.action, d.desired) == ("scale-out", 3)
    assert desired(endpoint, service) == 3
    assert "below MinCapacity 3" in lab.ctl.activities(lab.rid)[0]["Cause"]


def test_suspended_scale_out_and_ignored_policies(endpoint, service) -> None:
    aas = endpoint.client("application-autoscaling")
    scaling_steps(endpoint.client, CLUSTER, service, metric=CPU, target_value=50,
                  min_capacity=1, max_capacity=10)
    rid = f"service/{CLUSTER}/{service}"
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=rid,
                                 ScalableDimension="ecs:service:DesiredCount",
                                 SuspendedState={"DynamicScalingOutSuspended": True})
    aas.put_scaling_policy(PolicyName="steps", ServiceNamespace="ecs", ResourceId=rid,
                           ScalableDimension="ecs:service:DesiredCount", PolicyType="StepScaling",
                           StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity",
                                                           "StepAdjustments": [
                                                               {"ScalingAdjustment": 1,
                                                                "MetricIntervalLowerBound": 0}]})
    lab = Lab(endpoint, service)
    hot = {service: {"CPUUtilization": 95.0}}
    decisions = [d for _ in range(4) for d in lab.minute(service=hot)]
    assert desired(endpoint, service) == 2
    assert any(d.action == "scale-out" for d in decisions)  # decided, not applied
    assert any("DynamicScalingOutSuspended" in t for t in lab.texts())
    assert any("steps: StepScaling policies are not simulated" in w
               for w in lab.ctl.snapshot()["ignored"])
