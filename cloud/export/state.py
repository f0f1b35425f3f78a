"""The running deployment, read through the AWS API only, as plain frozen dataclasses.

``read_deployment(client)`` makes ``describe_*`` calls (ECS, EC2, Auto Scaling, ELBv2,
Application Auto Scaling) — what ``aws … describe-…`` shows a learner — and returns a
:class:`Deployment`. Everything after that (the CloudFormation and Kubernetes renderers) is
pure. Calls valid against real AWS too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.ecs import CLUSTER, SERVICE

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class HealthCheck:
    """A container health check (ECS ``healthCheck``; §2 defaults 30/5/3/0)."""

    command: tuple[str, ...]
    interval: int = 30
    timeout: int = 5
    retries: int = 3
    start_period: int = 0


@dataclass(frozen=True)
class Container:
    """The service's (single, essential) container."""

    name: str
    image: str
    port: int
    cpu: int | None = None  # CPU units (1024 = one vCPU); a relative weight (cpu-shares)
    memory: int | None = None  # MiB, hard limit
    memory_reservation: int | None = None  # MiB, soft limit
    environment: tuple[tuple[str, str], ...] = ()
    health_check: HealthCheck | None = None
    stop_timeout: int | None = None


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    revision: int
    network_mode: str
    container: Container
    cpu: int | None = None  # task-level CPU units (a hard cap on EC2, CFS quota)
    memory: int | None = None  # task-level MiB
    requires_compatibilities: tuple[str, ...] = ("EC2",)


@dataclass(frozen=True)
class Hosts:
    """The cluster's container instances: how many and of which type."""

    count: int
    instance_type: str


@dataclass(frozen=True)
class CapacityProvider:
    """An Auto Scaling group capacity provider with its group's size and launch template."""

    name: str
    managed_scaling: bool
    target_capacity: int
    minimum_scaling_step_size: int
    maximum_scaling_step_size: int
    instance_warmup_period: int
    managed_termination_protection: str
    group_name: str
    min_size: int
    max_size: int
    desired_capacity: int
    instance_type: str


@dataclass(frozen=True)
class TargetGroup:
    name: str
    protocol: str
    port: int
    target_type: str
    health_check_path: str
    health_check_protocol: str = "HTTP"
    health_check_interval: int = 30
    health_check_timeout: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def algorithm(self) -> str:
        return self.attributes.get("load_balancing.algorithm.type", "round_robin")

    @property
    def deregistration_delay(self) -> int:
        return int(self.attributes.get("deregistration_delay.timeout_seconds", "300"))


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    scheme: str
    ip_address_type: str
    listener_port: int
    listener_protocol: str
    availability_zones: tuple[str, ...]


@dataclass(frozen=True)
class ScalingPolicy:
    """A target-tracking policy on a predefined metric (§7)."""

    name: str
    metric: str  # ECSServiceAverageCPUUtilization | …MemoryUtilization | ALBRequestCountPerTarget
    target_value: float
    scale_out_cooldown: int = 300
    scale_in_cooldown: int = 300
    disable_scale_in: bool = False


@dataclass(frozen=True)
class Scaling:
    """The scalable target (the service's desired count) and its target-tracking policies."""

    min_capacity: int
    max_capacity: int
    policies: tuple[ScalingPolicy, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """What ``describe-*`` says about one ECS service and everything around it."""

    region: str
    cluster: str
    service: str
    desired_count: int
    task_definition: TaskDefinition
    hosts: Hosts
    launch_type: str | None = "EC2"
    placement_strategy: tuple[tuple[str, str], ...] = ()  # (type, field); field "" for random
    minimum_healthy_percent: int = 100
    maximum_percent: int = 200
    circuit_breaker: bool = False
    rollback: bool = False
    health_check_grace_period: int = 0
    capacity_provider: CapacityProvider | None = None
    load_balancer: LoadBalancer | None = None
    target_group: TargetGroup | None = None
    scaling: Scaling | None = None
    endpoint: str = ""  # where it was read from, for the header


# ---- reading (the only I/O of the package) -----------------------------------------------
def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _task_definition(td: Mapping[str, Any]) -> TaskDefinition:
    containers = td.get("containerDefinitions") or []
    if not containers:
        raise LookupError(f"task definition {td.get('taskDefinitionArn')} has no container")
    essential = [c for c in containers if c.get("essential", True)] or list(containers)
    c = essential[0]
    ports = c.get("portMappings") or []
    hc = c.get("healthCheck")
    health = None if not hc else HealthCheck(
        command=tuple(hc.get("command", [])), interval=int(hc.get("interval", 30)),
        timeout=int(hc.get("timeout", 5)), retries=int(hc.get("retries", 3)),
        start_period=int(hc.get("startPeriod", 0)))
    container = Container(
        name=c["name"], image=c["image"], port=int(ports[0]["containerPort"]) if ports else 0,
        cpu=_int(c.get("cpu")), memory=_int(c.get("memory")),
        memory_reservation=_int(c.get("memoryReservation")),
        environment=tuple((e["name"], e["value"]) for e in c.get("environment", [])),
        health_check=health, stop_timeout=_int(c.get("stopTimeout")))
    return TaskDefinition(
        family=td["family"], revision=int(td["revision"]),
        network_mode=td.get("networkMode") or "bridge", container=container,
        cpu=_int(td.get("cpu")), memory=_int(td.get("memory")),
        requires_compatibilities=tuple(td.get("requiresCompatibilities") or ("EC2",)))


def _hosts(ecs: Any, cluster: str) -> Hosts:
    arns = ecs.list_container_instances(cluster=cluster, status="ACTIVE").get(
        "containerInstanceArns", [])
    types: list[str] = []
    if arns:
        described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
        for ci in described.get("containerInstances", []):
            attrs = {a["name"]: a.get("value") for a in ci.get("attributes", [])}
            if attrs.get("ecs.instance-type"):
                types.append(str(attrs["ecs.instance-type"]))
    common = max(set(types), key=types.count) if types else "t3.medium"
    return Hosts(count=len(arns), instance_type=common)


def _capacity_provider(ecs: Any, autoscaling: Callable[[], Any], cluster: Mapping[str, Any],
                       hosts: Hosts) -> CapacityProvider | None:
    names = [n for n in cluster.get("capacityProviders") or []
             if n not in ("FARGATE", "FARGATE_SPOT")]
    if not names:
        return None
    found = ecs.describe_capacity_providers(capacityProviders=names[:1]).get(
        "capacityProviders", [])
    if not found:
        return None
    cp = found[0]
    asg_provider = cp.get("autoScalingGroupProvider") or {}
    ms = asg_provider.get("managedScaling") or {}
    group_name = str(asg_provider.get("autoScalingGroupArn", "")).rpartition(
        "autoScalingGroupName/")[2]
    groups = autoscaling().describe_auto_scaling_groups(
        AutoScalingGroupNames=[group_name]).get("AutoScalingGroups", []) if group_name else []
    group = groups[0] if groups else {}
    types = [i["InstanceType"] for i in group.get("Instances", []) if i.get("InstanceType")]
    return CapacityProvider(
        name=cp["name"], managed_scaling=ms.get("status") == "ENABLED",
        target_capacity=int(ms.get("targetCapacity", 100)),
        minimum_scaling_step_size=int(ms.get("minimumScalingStepSize", 1)),
        maximum_scaling_step_size=int(ms.get("maximumScalingStepSize", 10_000)),
        instance_warmup_period=int(ms.get("instanceWarmupPeriod", 300)),
        managed_termination_protection=asg_provider.get("managedTerminationProtection",
                                                        "DISABLED"),
        group_name=group_name, min_size=int(group.get("MinSize", 0)),
        max_size=int(group.get("MaxSize", 0)),
        desired_capacity=int(group.get("DesiredCapacity", 0)),
        instance_type=max(set(types), key=types.count) if types else hosts.instance_type)


def _load_balancing(elbv2: Any, target_group_arn: str) -> tuple[LoadBalancer | None,
                                                                TargetGroup | None]:
    groups = elbv2.describe_target_groups(TargetGroupArns=[target_group_arn]).get(
        "TargetGroups", [])
    if not groups:
        return None, None
    tg = groups[0]
    attrs = elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn).get(
        "Attributes", [])
    target_group = TargetGroup(
        name=tg["TargetGroupName"], protocol=tg.get("Protocol", "HTTP"),
        port=int(tg.get("Port", 80)), target_type=tg.get("TargetType", "instance"),
        health_check_path=tg.get("HealthCheckPath", "/"),
        health_check_protocol=tg.get("HealthCheckProtocol", "HTTP"),
        health_check_interval=int(tg.get("HealthCheckIntervalSeconds", 30)),
        health_check_timeout=int(tg.get("HealthCheckTimeoutSeconds", 5)),
        healthy_threshold=int(tg.get("HealthyThresholdCount", 5)),
        unhealthy_threshold=int(tg.get("UnhealthyThresholdCount", 2)),
        matcher=str((tg.get("Matcher") or {}).get("HttpCode", "200")),
        attributes={a["Key"]: str(a["Value"]) for a in attrs})
    lb_arns = tg.get("LoadBalancerArns") or []
    if not lb_arns:
        return None, target_group
    lbs = elbv2.describe_load_balancers(LoadBalancerArns=lb_arns[:1]).get("LoadBalancers", [])
    if not lbs:
        return None, target_group
    lb = lbs[0]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"]).get(
        "Listeners", [])
    forwarding = [li for li in listeners
                  if any(a.get("TargetGroupArn") == target_group_arn
                         for a in li.get("DefaultActions", []))] or listeners
    listener = forwarding[0] if forwarding else {"Port": 80, "Protocol": "HTTP"}
    load_balancer = LoadBalancer(
        name=lb["LoadBalancerName"], scheme=lb.get("Scheme", "internet-facing"),
        ip_address_type=lb.get("IpAddressType", "ipv4"),
        listener_port=int(listener.get("Port", 80)),
        listener_protocol=listener.get("Protocol", "HTTP"),
        availability_zones=tuple(sorted(z["ZoneName"] for z in lb.get("AvailabilityZones",
                                                                         []))))
    return load_balancer, target_group


def _scaling(aas: Any, cluster: str, service: str) -> Scaling | None:
    rid = f"service/{cluster}/{service}"
    dim = "ecs:service:DesiredCount"
    targets = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[rid],
                                            ScalableDimension=dim).get("ScalableTargets", [])
    target = next((t for t in targets if t["ResourceId"] == rid), None)
    if target is None:
        return None
    policies = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=rid,
                                             ScalableDimension=dim).get("ScalingPolicies", [])
    tracked = []
    for p in sorted(policies, key=lambda p: p["PolicyName"]):
        config = p.get("TargetTrackingScalingPolicyConfiguration")
        if p.get("PolicyType") != "TargetTrackingScaling" or not config:
            continue
        spec = config.get("PredefinedMetricSpecification") or {}
        tracked.append(ScalingPolicy(
            name=p["PolicyName"], metric=spec.get("PredefinedMetricType", "custom"),
            target_value=float(config["TargetValue"]),
            scale_out_cooldown=int(config.get("ScaleOutCooldown", 300)),
            scale_in_cooldown=int(config.get("ScaleInCooldown", 300)),
            disable_scale_in=bool(config.get("DisableScaleIn", False))))
    return Scaling(int(target["MinCapacity"]), int(target["MaxCapacity"]), tuple(tracked))


def read_deployment(client: Clients, cluster: str = CLUSTER, service: str = SERVICE,
                    region: str = "us-east-1", endpoint: str = "") -> Deployment:
    """Describe ``service`` in ``cluster`` and what it uses; ``client(name)`` gives boto3
    clients (e.g. ``Endpoint.client``). LookupError when there is no such ACTIVE service."""
    made: dict[str, Any] = {}

    def cached(name: str) -> Any:  # one client per service (creating one takes ~0.2-0.6 s)
        if name not in made:
            made[name] = client(name)
        return made[name]

    ecs = cached("ecs")
    clusters = [c for c in ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
                if c.get("status") == "ACTIVE"]
    if not clusters:
        raise LookupError(f"no ACTIVE cluster {cluster!r} in the AWS API: nothing to export "
                          "(deploy first: `fraudlab deploy`)")
    services = [s for s in ecs.describe_services(cluster=cluster, services=[service]).get(
        "services", []) if s.get("status") == "ACTIVE"]
    if not services:
        raise LookupError(f"no ACTIVE service {service!r} in cluster {cluster!r}: nothing to "
                          "export (deploy first: `fraudlab deploy`)")
    svc = services[0]
    td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
    config = svc.get("deploymentConfiguration") or {}
    breaker = config.get("deploymentCircuitBreaker") or {}
    load_balancer = target_group = None
    lbs = svc.get("loadBalancers") or []
    if lbs and lbs[0].get("targetGroupArn"):
        load_balancer, target_group = _load_balancing(cached("elbv2"), lbs[0]["targetGroupArn"])
    try:
        scaling = _scaling(cached("application-autoscaling"), cluster, service)
    except ClientError:
        scaling = None  # an endpoint without Application Auto Scaling: no policy to export
    hosts = _hosts(ecs, cluster)
    return Deployment(
        region=region, cluster=cluster, service=service,
        desired_count=int(svc.get("desiredCount", 0)),
        task_definition=_task_definition(td), hosts=hosts,
        launch_type=svc.get("launchType"),
        placement_strategy=tuple((p.get("type", ""), p.get("field", ""))
                                 for p in svc.get("placementStrategy") or []),
        minimum_healthy_percent=int(config.get("minimumHealthyPercent", 100)),
        maximum_percent=int(config.get("maximumPercent", 200)),
        circuit_breaker=bool(breaker.get("enable", False)),
        rollback=bool(breaker.get("rollback", False)),
        health_check_grace_period=int(svc.get("healthCheckGracePeriodSeconds") or 0),
        capacity_provider=_capacity_provider(ecs, lambda: cached("autoscaling"), clusters[0],
                                             hosts),
        load_balancer=load_balancer, target_group=target_group, scaling=scaling,
        endpoint=endpoint)


def example(*, capacity_provider: bool = True, metric: str | None = "ALBRequestCountPerTarget",
            target_value: float = 500.0, placement: str = "spread",
            network_mode: str = "host") -> Deployment:
    """A deployment like ``fraudlab deploy --capacity-provider --autoscale requests:500``
    makes, with no API needed: for the renderers' tests and to show an export before
    anything is deployed."""
    strategy = (("spread", "attribute:ecs.availability-zone"), ("spread", "instanceId")) \
        if placement == "spread" else (("binpack", "memory"),)
    container = Container(
        name="fraud-detection",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:svc-0123456789ab",
        port=8080, cpu=256, memory=512, environment=(("MODEL_RUNTIME", "litert"),),
        health_check=HealthCheck(("CMD", "python", "/app/service/healthcheck.py")))
    cp = CapacityProvider(
        name="fraud-cp", managed_scaling=True, target_capacity=100,
        minimum_scaling_step_size=1, maximum_scaling_step_size=10_000,
        instance_warmup_period=300, managed_termination_protection="DISABLED",
        group_name="fraud-cluster-asg", min_size=0, max_size=4, desired_capacity=2,
        instance_type="t3.medium") if capacity_provider else None
    scaling = None if metric is None else Scaling(1, 10, (ScalingPolicy(
        "fraud-target-tracking", metric, target_value),))
    return Deployment(
        region="us-east-1", cluster=CLUSTER, service=SERVICE, desired_count=4,
        task_definition=TaskDefinition("fraud-detection", 1, network_mode, container,
                                       cpu=256, memory=512),
        hosts=Hosts(2, "t3.medium"), launch_type="EC2", placement_strategy=strategy,
        capacity_provider=cp,
        load_balancer=LoadBalancer("fraud-alb", "internet-facing", "ipv4", 80, "HTTP",
                                   ("us-east-1a", "us-east-1b")),
        target_group=TargetGroup(
            "fraud-tg", "HTTP", 8080, "ip", "/health",
            attributes={"deregistration_delay.timeout_seconds": "300",
                        "load_balancing.algorithm.type": "round_robin",
                        "slow_start.duration_seconds": "0", "stickiness.enabled": "false"}),
        scaling=scaling, endpoint="http://127.0.0.1:4566 (example)")
