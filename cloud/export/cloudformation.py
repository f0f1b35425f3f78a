"""The running deployment as a CloudFormation template (pure: a Deployment in, a dict/YAML out).

What is kept from the live state: the task definition's CPU, memory, port, health check and
image; the service's desired count, placement strategy, deployment configuration and load
balancer; the capacity provider's managed scaling and its group's min/max; the target group's
health check and attributes (algorithm, deregistration delay); the listener; the scalable
target and each target-tracking policy. What must change to run in a real account is said in
:func:`notes` (and in the template's ``Metadata``): network mode, subnets/VPC, the AMI, the
image's account.
"""

from __future__ import annotations

from typing import Any

import yaml

from cloud.export.state import Deployment

# The ECS-optimized Amazon Linux 2023 AMI, as the public SSM parameter AWS keeps current
# (the kit's hosts use al2023-ami-ecs-hvm-*-kernel-6.1-x86_64: cloud/aws/steps/hosts.py).
ECS_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
ECS_INSTANCE_POLICY = "service-role/AmazonEC2ContainerServiceforEC2Role"
DYNAMIC_PORTS = (32768, 65535)  # bridge mode's host ports (§2: the ephemeral range)
TG_ATTRIBUTES = ("deregistration_delay.timeout_seconds", "load_balancing.algorithm.type",
                 "slow_start.duration_seconds", "stickiness.enabled",
                 "load_balancing.cross_zone.enabled")
ALB_REQUESTS = "ALBRequestCountPerTarget"
PREDEFINED = ("ECSServiceAverageCPUUtilization", "ECSServiceAverageMemoryUtilization",
              ALB_REQUESTS)


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _att(name: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def exported_network_mode(d: Deployment) -> str:
    """``bridge`` for the kit's ``host`` mode (what its register step says AWS would use)."""
    mode = d.task_definition.network_mode
    return "bridge" if mode in ("host", "bridge", "") else mode


def notes(d: Deployment) -> list[str]:
    """What differs between the live (emulated) deployment and this template."""
    out = []
    if d.task_definition.network_mode == "host":
        out.append("Network mode: the kit runs tasks in host mode (each its own port on "
                   "127.0.0.1). Host mode allows one copy per instance for a fixed port, so "
                   "the template uses bridge mode with dynamic host ports (hostPort 0) and "
                   "target type instance, as the register-task-definition step advises "
                   "(ecs-facts.md §2, §11a).")
    out.append("VPC, subnets and the AMI are parameters: the emulator's ids mean nothing in "
               "your account; the AMI comes from the public SSM parameter for the "
               "ECS-optimized Amazon Linux 2023 image.")
    out.append("ImageUri defaults to the emulator's ECR URI (account 123456789012): push the "
               "image to your own ECR repository and pass its URI.")
    if d.capacity_provider is not None:
        out.append("The service uses the capacity provider strategy, not launchType EC2: in "
                   "AWS a launchType EC2 service ignores the cluster's capacity provider, so "
                   "its unplaceable tasks would fail instead of waiting in PROVISIONING "
                   "(ecs-facts.md §3). The group has no DesiredCapacity: managed scaling "
                   "owns it.")
    else:
        out.append(f"No capacity provider was configured: the {d.hosts.count} hosts become a "
                   f"fixed-size Auto Scaling group ({d.hosts.count} × {d.hosts.instance_type}) "
                   "with no capacity provider, so ECS launches no instance for you (§11b).")
    skipped = [p.name for p in (d.scaling.policies if d.scaling else ())
               if p.metric not in PREDEFINED]
    if skipped:
        out.append(f"Policies on a customized metric are not exported: {', '.join(skipped)}.")
    out.append("IAM: the hosts get an instance role with AmazonEC2ContainerServiceforEC2Role "
               "(agent registration, ECR pulls); the service and scaling target use their "
               "service-linked roles. Deploy with --capabilities CAPABILITY_IAM.")
    return out


def _parameters(d: Deployment) -> dict[str, Any]:
    instance_type = (d.capacity_provider.instance_type if d.capacity_provider
                     else d.hosts.instance_type)
    return {
        "VpcId": {"Type": "AWS::EC2::VPC::Id",
                  "Description": "The VPC of the hosts and the load balancer"},
        "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>",
                    "Description": "Subnets in at least two Availability Zones (an ALB needs "
                                   "two); the hosts launch in them too and need a route to "
                                   "ECS and ECR (public IP, NAT gateway or VPC endpoints)"},
        "AmiId": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
                  "Default": ECS_AMI_PARAMETER,
                  "Description": "The ECS-optimized AMI, resolved from AWS's public SSM "
                                 "parameter at deploy time"},
        "InstanceType": {"Type": "String", "Default": instance_type,
                         "Description": "The hosts' instance type (live: the cluster's)"},
        "ImageUri": {"Type": "String", "Default": d.task_definition.container.image,
                     "Description": "The service's image in YOUR ECR repository (the default "
                                    "is the emulator's URI)"},
    }


def _hosts(d: Deployment) -> dict[str, Any]:
    cp = d.capacity_provider
    container_port = d.task_definition.container.port
    awsvpc = exported_network_mode(d) == "awsvpc"
    low, high = (container_port, container_port) if awsvpc else DYNAMIC_PORTS
    resources: dict[str, Any] = {
        "HostRole": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/" + ECS_INSTANCE_POLICY}]}},
        "HostInstanceProfile": {"Type": "AWS::IAM::InstanceProfile",
                                "Properties": {"Roles": [_ref("HostRole")]}},
        "LoadBalancerSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "The load balancer: HTTP from anywhere",
            "VpcId": _ref("VpcId"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": _listener_port(d),
                                      "ToPort": _listener_port(d), "CidrIp": "0.0.0.0/0"}]}},
        "HostSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "The ECS hosts: task ports from the load balancer only",
            "VpcId": _ref("VpcId"),
            "SecurityGroupIngress": [{
                "IpProtocol": "tcp", "FromPort": low, "ToPort": high,
                "SourceSecurityGroupId": _ref("LoadBalancerSecurityGroup")}]}},
        "LaunchTemplate": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {
            "LaunchTemplateData": {
                "ImageId": _ref("AmiId"), "InstanceType": _ref("InstanceType"),
                "IamInstanceProfile": {"Arn": _att("HostInstanceProfile", "Arn")},
                "SecurityGroupIds": [_ref("HostSecurityGroup")],
                "UserData": {"Fn::Base64": {"Fn::Sub": (
                    "#!/bin/bash\necho ECS_CLUSTER=${Cluster} >> /etc/ecs/ecs.config\n")}}}}},
    }
    group: dict[str, Any] = {
        "LaunchTemplate": {"LaunchTemplateId": _ref("LaunchTemplate"),
                           "Version": _att("LaunchTemplate", "LatestVersionNumber")},
        "VPCZoneIdentifier": _ref("Subnets"),
    }
    if cp is not None:
        group.update({"MinSize": str(cp.min_size), "MaxSize": str(cp.max_size),
                      "NewInstancesProtectedFromScaleIn":
                          cp.managed_termination_protection == "ENABLED"})
    else:
        n = str(d.hosts.count)
        group.update({"MinSize": n, "MaxSize": n, "DesiredCapacity": n})
    group["Tags"] = [{"Key": "Name", "Value": f"{d.cluster}-host", "PropagateAtLaunch": True}]
    resources["AutoScalingGroup"] = {"Type": "AWS::AutoScaling::AutoScalingGroup",
                                     "Properties": group}
    if cp is not None:
        resources["CapacityProvider"] = {"Type": "AWS::ECS::CapacityProvider", "Properties": {
            "AutoScalingGroupProvider": {
                "AutoScalingGroupArn": _ref("AutoScalingGroup"),
                "ManagedScaling": {
                    "Status": "ENABLED" if cp.managed_scaling else "DISABLED",
                    "TargetCapacity": cp.target_capacity,
                    "MinimumScalingStepSize": cp.minimum_scaling_step_size,
                    "MaximumScalingStepSize": cp.maximum_scaling_step_size,
                    "InstanceWarmupPeriod": cp.instance_warmup_period},
                "ManagedTerminationProtection": cp.managed_termination_protection}}}
        resources["ClusterCapacityProviderAssociations"] = {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations", "Properties": {
                "Cluster": _ref("Cluster"),
                "CapacityProviders": [_ref("CapacityProvider")],
                "DefaultCapacityProviderStrategy": [
                    {"CapacityProvider": _ref("CapacityProvider"), "Weight": 1, "Base": 0}]}}
    return resources


def _listener_port(d: Deployment) -> int:
    return d.load_balancer.listener_port if d.load_balancer else 80


def _task_definition(d: Deployment) -> dict[str, Any]:
    td, c = d.task_definition, d.task_definition.container
    mode = exported_network_mode(d)
    port: dict[str, Any] = {"ContainerPort": c.port, "Protocol": "tcp"}
    port["HostPort"] = 0 if mode == "bridge" else c.port
    container: dict[str, Any] = {"Name": c.name, "Image": _ref("ImageUri"), "Essential": True}
    if c.cpu is not None:
        container["Cpu"] = c.cpu
    if c.memory is not None:
        container["Memory"] = c.memory
    if c.memory_reservation is not None:
        container["MemoryReservation"] = c.memory_reservation
    if c.port:
        container["PortMappings"] = [port]
    if c.environment:
        container["Environment"] = [{"Name": k, "Value": v} for k, v in c.environment]
    if c.health_check is not None:
        hc = c.health_check
        container["HealthCheck"] = {"Command": list(hc.command), "Interval": hc.interval,
                                    "Timeout": hc.timeout, "Retries": hc.retries,
                                    "StartPeriod": hc.start_period}
    if c.stop_timeout is not None:
        container["StopTimeout"] = c.stop_timeout
    props: dict[str, Any] = {"Family": td.family, "NetworkMode": mode,
                             "RequiresCompatibilities": list(td.requires_compatibilities)}
    if td.cpu is not None:
        props["Cpu"] = str(td.cpu)
    if td.memory is not None:
        props["Memory"] = str(td.memory)
    props["ContainerDefinitions"] = [container]
    return {"Type": "AWS::ECS::TaskDefinition", "Properties": props}


def _load_balancing(d: Deployment) -> dict[str, Any]:
    lb, tg = d.load_balancer, d.target_group
    if lb is None or tg is None:
        return {}
    attributes = [{"Key": k, "Value": tg.attributes[k]} for k in TG_ATTRIBUTES
                  if k in tg.attributes]
    awsvpc = exported_network_mode(d) == "awsvpc"
    return {
        "LoadBalancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
            "Name": lb.name, "Type": "application", "Scheme": lb.scheme,
            "IpAddressType": lb.ip_address_type, "Subnets": _ref("Subnets"),
            "SecurityGroups": [_ref("LoadBalancerSecurityGroup")]}},
        "TargetGroup": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Name": tg.name, "Protocol": tg.protocol, "Port": d.task_definition.container.port,
            "VpcId": _ref("VpcId"), "TargetType": "ip" if awsvpc else "instance",
            "HealthCheckEnabled": True, "HealthCheckProtocol": tg.health_check_protocol,
            "HealthCheckPort": "traffic-port",
            "HealthCheckPath": tg.health_check_path,
            "HealthCheckIntervalSeconds": tg.health_check_interval,
            "HealthCheckTimeoutSeconds": tg.health_check_timeout,
            "HealthyThresholdCount": tg.healthy_threshold,
            "UnhealthyThresholdCount": tg.unhealthy_threshold,
            "Matcher": {"HttpCode": tg.matcher},
            "TargetGroupAttributes": attributes}},
        "Listener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
            "LoadBalancerArn": _ref("LoadBalancer"), "Port": lb.listener_port,
            "Protocol": lb.listener_protocol,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": _ref("TargetGroup")}]}},
    }


def _service(d: Deployment) -> dict[str, Any]:
    c = d.task_definition.container
    props: dict[str, Any] = {"ServiceName": d.service, "Cluster": _ref("Cluster"),
                             "TaskDefinition": _ref("TaskDefinition"),
                             "DesiredCount": d.desired_count, "SchedulingStrategy": "REPLICA"}
    depends = []
    if d.capacity_provider is not None:
        props["CapacityProviderStrategy"] = [
            {"CapacityProvider": _ref("CapacityProvider"), "Weight": 1, "Base": 0}]
        depends.append("ClusterCapacityProviderAssociations")
    else:
        props["LaunchType"] = "EC2"
        depends.append("AutoScalingGroup")
    if d.placement_strategy:
        props["PlacementStrategies"] = [{"Type": t, **({"Field": f} if f else {})}
                                        for t, f in d.placement_strategy]
    props["DeploymentConfiguration"] = {
        "MaximumPercent": d.maximum_percent, "MinimumHealthyPercent": d.minimum_healthy_percent,
        "DeploymentCircuitBreaker": {"Enable": d.circuit_breaker, "Rollback": d.rollback}}
    if d.load_balancer is not None and d.target_group is not None:
        props["LoadBalancers"] = [{"ContainerName": c.name, "ContainerPort": c.port,
                                   "TargetGroupArn": _ref("TargetGroup")}]
        if d.health_check_grace_period:
            props["HealthCheckGracePeriodSeconds"] = d.health_check_grace_period
        depends.append("Listener")  # the target group must be attached to the ALB first
    if exported_network_mode(d) == "awsvpc":
        props["NetworkConfiguration"] = {"AwsvpcConfiguration": {
            "Subnets": _ref("Subnets"), "SecurityGroups": [_ref("HostSecurityGroup")]}}
    return {"Type": "AWS::ECS::Service", "DependsOn": depends, "Properties": props}


def _policy_name(i: int) -> str:
    return "ScalingPolicy" if i == 0 else f"ScalingPolicy{i + 1}"


def _scaling(d: Deployment) -> dict[str, Any]:
    s = d.scaling
    if s is None:
        return {}
    out: dict[str, Any] = {"ScalableTarget": {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": {
            "ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": {"Fn::Join": ["/", ["service", _ref("Cluster"),
                                              _att("Service", "Name")]]},
            "MinCapacity": s.min_capacity, "MaxCapacity": s.max_capacity}}}
    for i, p in enumerate(s.policies):
        if p.metric not in PREDEFINED:
            continue  # a customized metric: said in notes()
        spec: dict[str, Any] = {"PredefinedMetricType": p.metric}
        if p.metric == ALB_REQUESTS:
            if d.load_balancer is None or d.target_group is None:
                continue  # no load balancer to count requests of
            spec["ResourceLabel"] = {"Fn::Join": ["/", [
                _att("LoadBalancer", "LoadBalancerFullName"),
                _att("TargetGroup", "TargetGroupFullName")]]}
        out[_policy_name(i)] = {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy", "Properties": {
                "PolicyName": p.name, "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": _ref("ScalableTarget"),
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": p.target_value, "PredefinedMetricSpecification": spec,
                    "ScaleOutCooldown": p.scale_out_cooldown,
                    "ScaleInCooldown": p.scale_in_cooldown,
                    "DisableScaleIn": p.disable_scale_in}}}
    return out


def template(d: Deployment) -> dict[str, Any]:
    """The CloudFormation template as a dict (JSON-able; intrinsics in their long form)."""
    resources: dict[str, Any] = {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": d.cluster}}}
    resources |= _hosts(d)
    resources["TaskDefinition"] = _task_definition(d)
    resources |= _load_balancing(d)
    resources["Service"] = _service(d)
    resources |= _scaling(d)
    outputs: dict[str, Any] = {
        "Cluster": {"Value": _ref("Cluster")},
        "Service": {"Value": _att("Service", "Name")}}
    if "LoadBalancer" in resources:
        outputs["LoadBalancerUrl"] = {"Value": {"Fn::Sub": "http://${LoadBalancer.DNSName}"},
                                      "Description": "Where the fraud service answers"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (f"FraudLab export of ECS service {d.service} in cluster {d.cluster} "
                        f"({d.task_definition.family}:{d.task_definition.revision}, "
                        f"{d.desired_count} tasks)"),
        "Metadata": {"FraudLab": {"ExportedFrom": d.endpoint or "the AWS API",
                                  "WhatDiffers": notes(d)}},
        "Parameters": _parameters(d),
        "Resources": resources,
        "Outputs": outputs,
    }


def deploy_command(path: str = "fraudlab.cfn.yaml", stack: str = "fraudlab") -> str:
    """The ``aws cloudformation deploy`` line for the exported file."""
    return (f"aws cloudformation deploy --template-file {path} --stack-name {stack} "
            "--capabilities CAPABILITY_IAM --parameter-overrides VpcId=vpc-… "
            "Subnets=subnet-…,subnet-… ImageUri=ACCOUNT.dkr.ecr.REGION.amazonaws.com/"
            "fraud-detection:TAG")


def render(d: Deployment) -> str:
    """The template as YAML, with a header comment."""
    header = [f"# FraudLab export (REAL file) of the deployment read from "
              f"{d.endpoint or 'the AWS API'} (EMULATED state).",
              f"# Deploy: {deploy_command()}",
              "# Validate: cfn-lint fraudlab.cfn.yaml",
              "# What differs from the live deployment: Metadata.FraudLab.WhatDiffers"]
    body = yaml.safe_dump(template(d), sort_keys=False, width=100, allow_unicode=True)
    return "\n".join(header) + "\n" + body
