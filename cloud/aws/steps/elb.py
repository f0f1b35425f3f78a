"""Application Load Balancer deploy steps: load balancer, target group, its attributes, listener.

Plain boto3 ``elbv2`` calls (valid against real AWS too), each idempotent: a second call finds
what the first made and returns ``changed=False`` with the same result. Facts: ecs-facts.md §6.

Emulator quirks worked around here (moto 5.2.5): ``CreateLoadBalancer`` with the name of an
existing load balancer makes a second one and ``CreateListener`` on a port already in use
adds a second listener (AWS answers with the existing load balancer, and
``DuplicateListener``), so every step describes first and creates only what is missing.
The emulator forwards no HTTP: FraudLab's reverse proxy (:mod:`cloud.lb.proxy`) is the data
plane, configured from these resources by :mod:`cloud.lb.sync`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.base import Badge, StepResult
from cloud.aws.steps.ecs import CLUSTER, CONTAINER_PORT, EMULATED, aws_cli, error_code, matches
from cloud.aws.steps.hosts import AZS, _container_instances, _instances, default_subnet
from cloud.lb.routing import ROUND_ROBIN, check_algorithm

LOAD_BALANCER = "fraud-alb"
TARGET_GROUP = "fraud-tg"  # the name cloud.ecs.controller's events use
LISTENER_PORT = 80
# ALB's health-check defaults for instance/ip targets (§6), on the service's /health path.
HEALTH_CHECK: dict[str, Any] = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPath": "/health",
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 5,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200"},
}
ALGORITHM = "load_balancing.algorithm.type"
DEREGISTRATION_DELAY = "deregistration_delay.timeout_seconds"
SOURCE = "ecs-facts.md §6; ALB User Guide "


def _cli_name(key: str) -> str:
    """``HealthCheckPath`` → ``health_check_path`` (``aws_cli`` keyword)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key).lstrip("_")


# ---- load balancer ------------------------------------------------------------------------
def host_subnets(ec2: Any, ecs: Any, cluster: str = CLUSTER,
                 azs: Sequence[str] = AZS) -> dict[str, str]:
    """AZ → subnet of the cluster's hosts, topped up to two AZs with default subnets of ``azs``.

    ECS asks that the load balancer's subnets cover every AZ its container instances are in;
    an ALB needs subnets in at least two AZs.
    """
    hosts = _container_instances(ecs, cluster)
    found: dict[str, str] = {}
    for inst in _instances(ec2, [ci["ec2InstanceId"] for ci in hosts]).values():
        az, subnet = inst.get("Placement", {}).get("AvailabilityZone"), inst.get("SubnetId")
        if az and subnet:
            found.setdefault(az, subnet)
    for az in azs:
        if len(found) >= 2:
            break
        if az not in found:
            found[az] = default_subnet(ec2, az)
    if len(found) < 2:
        raise LookupError(f"an Application Load Balancer needs subnets in two AZs; found "
                          f"{', '.join(found) or 'none'} (pass azs=)")
    return dict(sorted(found.items()))


def _describe_load_balancer(elbv2: Any, name: str) -> dict[str, Any] | None:
    try:
        found = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as exc:
        if error_code(exc) == "LoadBalancerNotFound":
            return None
        raise
    return found[0] if found else None


def _lb_result(lb: Mapping[str, Any]) -> dict[str, Any]:
    zones = sorted(lb.get("AvailabilityZones", []), key=lambda z: z.get("ZoneName", ""))
    return {
        "loadBalancerName": lb["LoadBalancerName"],
        "loadBalancerArn": lb["LoadBalancerArn"],
        "dnsName": lb.get("DNSName"),
        "scheme": lb.get("Scheme"),
        "type": lb.get("Type"),
        "vpcId": lb.get("VpcId"),
        "availabilityZones": {z["ZoneName"]: z.get("SubnetId") for z in zones},
        "securityGroups": lb.get("SecurityGroups", []),
    }


def create_load_balancer(elbv2: Any, ec2: Any, ecs: Any, cluster: str = CLUSTER,
                         name: str = LOAD_BALANCER, *, azs: Sequence[str] = AZS,
                         badge: Badge = EMULATED) -> StepResult:
    """An internet-facing Application Load Balancer in the hosts' subnets (two AZs at least).

    An existing one missing some of the hosts' AZs gets them added (``SetSubnets``).
    """
    subnets = host_subnets(ec2, ecs, cluster, azs)
    lb = _describe_load_balancer(elbv2, name)
    args = {"Name": name, "Subnets": list(subnets.values()), "Scheme": "internet-facing",
            "Type": "application", "IpAddressType": "ipv4"}
    cli = aws_cli("elbv2", "create-load-balancer", name=name, type="application",
                  scheme="internet-facing", ip_address_type="ipv4",
                  subnets=list(subnets.values()))
    changed = lb is None
    if lb is None:
        elbv2.create_load_balancer(**args)
    else:
        have = {z["ZoneName"]: z.get("SubnetId") for z in lb.get("AvailabilityZones", [])}
        missing = {az: s for az, s in subnets.items() if az not in have}
        if missing:
            wanted = [*have.values(), *missing.values()]
            elbv2.set_subnets(LoadBalancerArn=lb["LoadBalancerArn"], Subnets=wanted)
            cli = aws_cli("elbv2", "set-subnets", load_balancer_arn=lb["LoadBalancerArn"],
                          subnets=wanted)
            changed = True
    lb = _describe_load_balancer(elbv2, name)  # moto: provisioning → active on describe
    assert lb is not None
    result = _lb_result(lb)
    if badge == EMULATED:
        result["runs"] = ("The emulator stores the load balancer and forwards nothing; "
                          "FraudLab's reverse proxy on 127.0.0.1 (real HTTP) is its data plane.")
    warnings = []
    if not lb.get("SecurityGroups"):
        warnings.append("No security group given: in AWS the VPC's default security group is "
                        "attached, which admits no traffic from the internet; give the load "
                        "balancer one that allows TCP 80 in, and let the tasks' group admit "
                        "the load balancer's.")
    return StepResult(
        step="create-load-balancer",
        title=f"Create the Application Load Balancer {name} in "
              f"{', '.join(result['availabilityZones'])}",
        result=result,
        cli=cli,
        aws_note=("AWS places load balancer nodes in each enabled AZ (an ALB needs subnets in "
                  "two AZs at least, and for ECS every AZ its container instances are in), "
                  "gives it a DNS name and takes it from provisioning to active. It routes "
                  "nothing until a listener forwards to a target group; it closes idle "
                  "connections after 60 s and answers 504 when a target does not connect "
                  "within 10 s."),
        source=SOURCE + "application-load-balancers, load-balancer-troubleshooting; ECS "
               "Developer Guide alb",
        badge=badge,
        changed=changed,
        warnings=warnings,
    )


# ---- target group -------------------------------------------------------------------------
def describe_target_group(elbv2: Any, name: str) -> dict[str, Any] | None:
    try:
        found = elbv2.describe_target_groups(Names=[name])["TargetGroups"]
    except ClientError as exc:
        if error_code(exc) == "TargetGroupNotFound":
            return None
        raise
    return found[0] if found else None


def _tg_result(tg: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "targetGroupName": tg["TargetGroupName"],
        "targetGroupArn": tg["TargetGroupArn"],
        "protocol": tg.get("Protocol"),
        "port": tg.get("Port"),
        "targetType": tg.get("TargetType"),
        "vpcId": tg.get("VpcId"),
        "healthCheck": {k: tg.get(k) for k in HEALTH_CHECK},
    }


TARGET_TYPE_NOTE = (
    "Target type instance: ECS registers each task as its EC2 instance id and host port — what "
    "bridge (dynamic host ports) and host tasks need. Type ip (the task's private IP and "
    "container port) is for awsvpc tasks only; ECS refuses the mismatch at create-service "
    "(cloud.ecs.network). The kit's proxy still reaches every task at 127.0.0.1:<its port>.")


def create_target_group(elbv2: Any, name: str = TARGET_GROUP, *, vpc_id: str,
                        port: int = CONTAINER_PORT, health_check: Mapping[str, Any] | None = None,
                        target_type: str = "instance",
                        badge: Badge = EMULATED) -> StepResult:
    """The HTTP target group (type instance for bridge/host tasks, ip for awsvpc) with ALB's
    health-check defaults on ``/health``.

    An existing group with other health-check settings is brought to these
    (``ModifyTargetGroup``); one whose protocol, port, type or VPC differ cannot be changed
    (ValueError: delete it first).
    """
    checks = {**HEALTH_CHECK, **(health_check or {})}
    fixed = {"Protocol": "HTTP", "Port": port, "VpcId": vpc_id, "TargetType": target_type}
    tg = describe_target_group(elbv2, name)
    cli = aws_cli("elbv2", "create-target-group", name=name, protocol="HTTP", port=port,
                  vpc_id=vpc_id, target_type=target_type,
                  **{_cli_name(k): v for k, v in checks.items()})
    changed = tg is None
    if tg is None:
        tg = elbv2.create_target_group(Name=name, **fixed, **checks)["TargetGroups"][0]
    else:
        wrong = sorted(k for k, v in fixed.items() if tg.get(k) != v)
        if wrong:
            raise ValueError(f"target group {name} exists with other {', '.join(wrong)} (which "
                             "cannot be modified): delete it or choose another name")
        diff = {k: v for k, v in checks.items() if not matches(v, tg.get(k))}
        if diff:
            arn = tg["TargetGroupArn"]
            tg = elbv2.modify_target_group(TargetGroupArn=arn, **diff)["TargetGroups"][0]
            cli = aws_cli("elbv2", "modify-target-group", target_group_arn=arn,
                          **{_cli_name(k): v for k, v in diff.items()})
            changed = True
    result = _tg_result(tg)
    if badge == EMULATED:
        result["runs"] = ("The emulator stores the group and reports every target healthy; "
                          "FraudLab's proxy health-checks the tasks for real and writes each "
                          "target's true state back (describe-target-health).")
    return StepResult(
        step="create-target-group",
        title=f"Create the target group {name} (HTTP:{port}, health checks on "
              f"{checks['HealthCheckPath']})",
        result=result,
        cli=cli,
        aws_note=(f"A target group stores the targets and how to check them. ECS registers each "
                  f"task's address when it runs; it is initial until it passes one health check "
                  f"(GET {checks['HealthCheckPath']} every {checks['HealthCheckIntervalSeconds']}"
                  f" s, {checks['HealthCheckTimeoutSeconds']} s timeout, code "
                  f"{checks['Matcher']['HttpCode']}), then "
                  f"{checks['UnhealthyThresholdCount']} consecutive failures make it unhealthy "
                  f"and {checks['HealthyThresholdCount']} passes healthy again. If every "
                  "target is unhealthy, the ALB routes to all of them (fail-open)."),
        source=SOURCE + "target-group-health-checks, load-balancer-target-groups",
        badge=badge,
        changed=changed,
        warnings=[TARGET_TYPE_NOTE],
    )


# ---- target group attributes --------------------------------------------------------------
def target_group_attributes(elbv2: Any, target_group_arn: str) -> dict[str, str]:
    found = elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn)
    return {a["Key"]: a["Value"] for a in found["Attributes"]}


def modify_target_group_attributes(elbv2: Any, target_group_arn: str, *,
                                   algorithm: str = ROUND_ROBIN, deregistration_delay: int = 300,
                                   badge: Badge = EMULATED) -> StepResult:
    """The routing algorithm (round_robin, ALB's default, or least_outstanding_requests) and
    the deregistration delay (ALB's default 300 s); only attributes that differ are sent."""
    check_algorithm(algorithm)
    if not 0 <= deregistration_delay <= 3600:
        raise ValueError(f"deregistration delay must be 0-3600 s, got {deregistration_delay}")
    wanted = {ALGORITHM: algorithm, DEREGISTRATION_DELAY: str(deregistration_delay)}
    have = target_group_attributes(elbv2, target_group_arn)
    diff = [{"Key": k, "Value": v} for k, v in wanted.items() if have.get(k) != v]
    if diff:
        elbv2.modify_target_group_attributes(TargetGroupArn=target_group_arn, Attributes=diff)
        have = target_group_attributes(elbv2, target_group_arn)
    name = target_group_arn.split("/")[-2] if "/" in target_group_arn else target_group_arn
    return StepResult(
        step="modify-target-group-attributes",
        title=f"Route with {algorithm} in {name}, deregistration delay {deregistration_delay} s",
        result={"targetGroupArn": target_group_arn,
                "attributes": {k: have.get(k) for k in wanted}},
        cli=aws_cli("elbv2", "modify-target-group-attributes",
                    target_group_arn=target_group_arn,
                    attributes=[{"Key": k, "Value": v} for k, v in wanted.items()]),
        aws_note=("round_robin (the default) sends requests to the healthy targets in turn; "
                  "least_outstanding_requests to the one with fewest requests in flight (not "
                  "combinable with slow start). A deregistered target drains: no new requests, "
                  "in-flight ones may finish, up to the deregistration delay (default 300 s; "
                  "AWS suggests a few seconds for services that answer in under a second), "
                  "then it is unused."),
        source=SOURCE + "load-balancer-target-groups",
        badge=badge,
        changed=bool(diff),
    )


# ---- listener -----------------------------------------------------------------------------
def create_listener(elbv2: Any, load_balancer_arn: str, target_group_arn: str, *,
                    port: int = LISTENER_PORT, badge: Badge = EMULATED) -> StepResult:
    """An HTTP listener on ``port`` whose default action forwards to the target group."""
    actions = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    listeners = elbv2.describe_listeners(LoadBalancerArn=load_balancer_arn)["Listeners"]
    listener = next((x for x in listeners if x.get("Port") == port), None)
    cli = aws_cli("elbv2", "create-listener", load_balancer_arn=load_balancer_arn,
                  protocol="HTTP", port=port, default_actions=actions)
    changed = listener is None
    if listener is None:
        listener = elbv2.create_listener(LoadBalancerArn=load_balancer_arn, Protocol="HTTP",
                                         Port=port, DefaultActions=actions)["Listeners"][0]
    elif (listener.get("Protocol") != "HTTP"
          or not matches(actions, [{k: a.get(k) for k in ("Type", "TargetGroupArn")}
                                   for a in listener.get("DefaultActions", [])])):
        arn = listener["ListenerArn"]
        listener = elbv2.modify_listener(ListenerArn=arn, Protocol="HTTP", Port=port,
                                         DefaultActions=actions)["Listeners"][0]
        cli = aws_cli("elbv2", "modify-listener", listener_arn=arn, protocol="HTTP", port=port,
                      default_actions=actions)
        changed = True
    result = {"listenerArn": listener["ListenerArn"], "loadBalancerArn": load_balancer_arn,
              "protocol": listener.get("Protocol"), "port": listener.get("Port"),
              "defaultActions": [{k: a.get(k) for k in ("Type", "TargetGroupArn")}
                                 for a in listener.get("DefaultActions", [])]}
    if badge == EMULATED:
        result["runs"] = ("Locally the listener is FraudLab's reverse proxy on 127.0.0.1 "
                          "(`fraudlab status` shows its port).")
    return StepResult(
        step="create-listener",
        title=f"Listen on HTTP:{port} and forward to {target_group_arn.split('/')[-2]}",
        result=result,
        cli=cli,
        aws_note=("The listener accepts client connections on its port and its default action "
                  "forwards each request to a target of the group. With no registered target "
                  "the ALB answers 503; a target that resets or closes the connection gives "
                  "502, one that does not connect in 10 s or answer within the idle timeout "
                  "(60 s) 504. It does not retry on another target."),
        source=SOURCE + "load-balancer-listeners, load-balancer-troubleshooting",
        badge=badge,
        changed=changed,
    )
