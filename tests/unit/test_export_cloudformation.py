"""The CloudFormation renderer: what the live state says ends up in the template, and the
template passes cfn-lint (its Python API, the default rules: errors and warnings)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from optional import lazy, needs

from cloud.export import cloudformation as cf
from cloud.export.state import Scaling, ScalingPolicy, example

pytestmark = needs("cfnlint", reason="cfn-lint is a dev dependency")
cfnlint_api = lazy("cfnlint.api")

VARIANTS = {
    "capacity provider, requests": example(),
    "fixed hosts, cpu, binpack": example(capacity_provider=False, placement="binpack",
                                         metric="ECSServiceAverageCPUUtilization",
                                         target_value=60),
    "awsvpc, no scaling": example(network_mode="awsvpc", metric=None),
    "two policies": dataclasses.replace(example(), scaling=Scaling(2, 8, (
        ScalingPolicy("cpu", "ECSServiceAverageCPUUtilization", 60),
        ScalingPolicy("mem", "ECSServiceAverageMemoryUtilization", 70, disable_scale_in=True)))),
}


def _lint(text: str) -> list[str]:
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in cfnlint_api.lint(text)]


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_passes_cfn_lint_with_no_error_or_warning(name: str) -> None:
    assert _lint(cf.render(VARIANTS[name])) == []


def test_cfn_lint_does_catch_a_broken_template() -> None:
    """The check above can fail: the same template with a wrong type is rejected."""
    t = cf.template(example())
    t["Resources"]["Service"]["Properties"]["DesiredCount"] = "four"
    t["Resources"]["TargetGroup"]["Properties"]["HealthCheckIntervalSeconds"] = 1
    found = _lint(yaml.safe_dump(t))
    assert any("four" in f for f in found), found
    assert any("HealthCheckIntervalSeconds" in f or "minimum" in f for f in found), found


def test_yaml_round_trips_to_the_template() -> None:
    d = example()
    assert yaml.safe_load(cf.render(d)) == cf.template(d)


def test_task_definition_carries_cpu_memory_port_health_check_and_image() -> None:
    d = example()
    t = cf.template(d)
    props = t["Resources"]["TaskDefinition"]["Properties"]
    [c] = props["ContainerDefinitions"]
    assert (props["Cpu"], props["Memory"]) == ("256", "512")
    assert (c["Cpu"], c["Memory"]) == (256, 512)
    assert c["Image"] == {"Ref": "ImageUri"}
    assert t["Parameters"]["ImageUri"]["Default"] == d.task_definition.container.image
    # host mode (the kit's) becomes bridge with a dynamic host port, target type instance
    assert props["NetworkMode"] == "bridge"
    assert c["PortMappings"] == [{"ContainerPort": 8080, "Protocol": "tcp", "HostPort": 0}]
    assert t["Resources"]["TargetGroup"]["Properties"]["TargetType"] == "instance"
    assert c["HealthCheck"] == {"Command": ["CMD", "python", "/app/service/healthcheck.py"],
                                "Interval": 30, "Timeout": 5, "Retries": 3, "StartPeriod": 0}
    assert any("bridge" in n for n in t["Metadata"]["FraudLab"]["WhatDiffers"])


def test_awsvpc_keeps_its_mode_with_ip_targets_and_a_network_configuration() -> None:
    t = cf.template(example(network_mode="awsvpc"))
    assert t["Resources"]["TaskDefinition"]["Properties"]["NetworkMode"] == "awsvpc"
    assert t["Resources"]["TargetGroup"]["Properties"]["TargetType"] == "ip"
    assert "AwsvpcConfiguration" in t["Resources"]["Service"]["Properties"][
        "NetworkConfiguration"]


def test_service_follows_the_live_state() -> None:
    d = dataclasses.replace(example(), desired_count=7, minimum_healthy_percent=50,
                            maximum_percent=150, circuit_breaker=True, rollback=True)
    svc = cf.template(d)["Resources"]["Service"]
    props = svc["Properties"]
    assert props["DesiredCount"] == 7
    assert props["DeploymentConfiguration"] == {
        "MaximumPercent": 150, "MinimumHealthyPercent": 50,
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
    assert props["PlacementStrategies"] == [
        {"Type": "spread", "Field": "attribute:ecs.availability-zone"},
        {"Type": "spread", "Field": "instanceId"}]
    assert props["LoadBalancers"] == [{"ContainerName": "fraud-detection",
                                       "ContainerPort": 8080,
                                       "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert "Listener" in svc["DependsOn"]


def test_capacity_provider_replaces_the_launch_type() -> None:
    with_cp = cf.template(example())["Resources"]
    assert "LaunchType" not in with_cp["Service"]["Properties"]
    assert with_cp["Service"]["Properties"]["CapacityProviderStrategy"][0][
        "CapacityProvider"] == {"Ref": "CapacityProvider"}
    ms = with_cp["CapacityProvider"]["Properties"]["AutoScalingGroupProvider"]["ManagedScaling"]
    assert ms == {"Status": "ENABLED", "TargetCapacity": 100, "MinimumScalingStepSize": 1,
                  "MaximumScalingStepSize": 10000, "InstanceWarmupPeriod": 300}
    group = with_cp["AutoScalingGroup"]["Properties"]
    assert (group["MinSize"], group["MaxSize"]) == ("0", "4")
    assert "DesiredCapacity" not in group
    assert with_cp["ClusterCapacityProviderAssociations"]["Type"] == \
        "AWS::ECS::ClusterCapacityProviderAssociations"

    fixed = cf.template(example(capacity_provider=False))["Resources"]
    assert "CapacityProvider" not in fixed
    assert fixed["Service"]["Properties"]["LaunchType"] == "EC2"
    group = fixed["AutoScalingGroup"]["Properties"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == ("2", "2", "2")


def test_hosts_are_parameterised() -> None:
    t = cf.template(example())
    assert t["Parameters"]["AmiId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert t["Parameters"]["AmiId"]["Default"].startswith("/aws/service/ecs/optimized-ami/")
    assert t["Parameters"]["Subnets"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    data = t["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["ImageId"] == {"Ref": "AmiId"}
    assert "ECS_CLUSTER=${Cluster}" in data["UserData"]["Fn::Base64"]["Fn::Sub"]


def test_target_group_keeps_health_check_and_attributes() -> None:
    d = example()
    tg = dataclasses.replace(d.target_group, health_check_interval=10, attributes={
        **d.target_group.attributes, "load_balancing.algorithm.type": "least_outstanding_requests",
        "deregistration_delay.timeout_seconds": "5", "waf.fail_open.enabled": "false"})
    props = cf.template(dataclasses.replace(d, target_group=tg))["Resources"]["TargetGroup"][
        "Properties"]
    attrs = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}
    assert attrs["load_balancing.algorithm.type"] == "least_outstanding_requests"
    assert attrs["deregistration_delay.timeout_seconds"] == "5"
    assert "waf.fail_open.enabled" not in attrs  # an ALB-level attribute, not a target group's
    assert props["HealthCheckIntervalSeconds"] == 10
    assert props["HealthCheckPath"] == "/health"


def test_scaling_policy_tracks_the_live_metric_and_target() -> None:
    r = cf.template(example(target_value=750))["Resources"]
    assert (r["ScalableTarget"]["Properties"]["MinCapacity"],
            r["ScalableTarget"]["Properties"]["MaxCapacity"]) == (1, 10)
    config = r["ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 750
    spec = config["PredefinedMetricSpecification"]
    assert spec["PredefinedMetricType"] == "ALBRequestCountPerTarget"
    assert spec["ResourceLabel"] == {"Fn::Join": ["/", [
        {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]},
        {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]}]]}

    cpu = cf.template(example(metric="ECSServiceAverageCPUUtilization", target_value=60))
    spec = cpu["Resources"]["ScalingPolicy"]["Properties"][
        "TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec == {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert "ScalableTarget" not in cf.template(example(metric=None))["Resources"]
