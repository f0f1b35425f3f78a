"""ECS deploy steps: task definition, cluster, service and its desired count.

Plain boto3 calls (valid against real AWS too), each idempotent: a second call finds what the
first made and returns ``changed=False`` with the same result. Facts: ecs-facts.md §2–§4, §11.
Also the small helpers the other step modules share (``aws_cli``, ``matches``).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from cloud.aws.steps.base import Badge, StepResult
from cloud.core.instance_types import tasks_that_fit
from cloud.ecs.placement import parse_strategy

FAMILY = "fraud-detection"
CONTAINER = "fraud-detection"
CONTAINER_PORT = 8080  # the port the fraud-model container listens on (service/gunicorn_conf)
CLUSTER = "fraud-cluster"
SERVICE = "fraud-svc"
HEALTH_COMMAND = ("CMD", "python", "/app/service/healthcheck.py")
# §2 (task_definition_parameters.md): interval 30 s, timeout 5 s, retries 3, startPeriod off.
HEALTH_DEFAULTS: dict[str, int] = {"interval": 30, "timeout": 5, "retries": 3}
ENVIRONMENT = {"MODEL_RUNTIME": "litert"}
EMULATED = "emulated"


# ---- shared helpers -----------------------------------------------------------------------
def aws_cli(service_name: str, operation: str, /, **args: Any) -> str:
    """The ``aws`` command line for one API call: ``cluster_name="x"`` → ``--cluster-name x``.

    None/False are left out, True is a bare flag, a list of plain values is space-separated,
    dicts and lists of dicts are compact JSON; everything is shell-quoted.
    """
    parts = ["aws", service_name, operation]
    for key, value in args.items():
        if value is None or value is False:
            continue
        parts.append("--" + key.replace("_", "-"))
        if value is True:
            continue
        if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
            parts.extend(shlex.quote(str(v)) for v in value)
        elif isinstance(value, dict | list | tuple):
            parts.append(shlex.quote(json.dumps(value, separators=(",", ":"))))
        else:
            parts.append(shlex.quote(str(value)))
    return " ".join(parts)


def matches(want: Any, have: Any) -> bool:
    """True when ``have`` (what the API describes) holds everything in ``want`` (what we sent).

    Dicts may carry extra keys (defaults the service adds); lists of ``{"name": …}`` dicts
    compare in any order; an empty list or dict matches a missing value.
    """
    if want in ([], {}) and have is None:
        return True
    if isinstance(want, dict):
        return isinstance(have, dict) and all(matches(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list | tuple):
        if not isinstance(have, list | tuple) or len(want) != len(have):
            return False
        if all(isinstance(w, dict) and "name" in w for w in want):
            want = sorted(want, key=lambda d: str(d["name"]))
            have = sorted(have, key=lambda d: str(d.get("name")) if isinstance(d, dict) else "")
        return all(matches(w, h) for w, h in zip(want, have, strict=True))
    return bool(want == have)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# ---- task definition ----------------------------------------------------------------------
def task_definition_spec(family: str, image: str, cpu: int, memory: int, container_port: int,
                         health_check: Mapping[str, Any] | None, network_mode: str,
                         environment: Mapping[str, str] | None) -> dict[str, Any]:
    """The ``register_task_definition`` arguments for the fraud-model container."""
    port: dict[str, Any] = {"containerPort": container_port, "protocol": "tcp"}
    if network_mode in ("host", "awsvpc"):
        port["hostPort"] = container_port  # host/awsvpc: hostPort must equal containerPort (§2)
    elif network_mode == "bridge":
        port["hostPort"] = 0  # dynamic host port from the ephemeral range (§2)
    env = {**ENVIRONMENT, **(environment or {})}
    container = {
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "cpu": cpu,
        "memory": memory,  # hard limit; moto 5.2.5 answers 500 without a container memory
        "portMappings": [port] if network_mode != "none" else [],
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "healthCheck": {"command": list(HEALTH_COMMAND), **HEALTH_DEFAULTS,
                        **(health_check or {})},
    }
    return {"family": family, "requiresCompatibilities": ["EC2"], "networkMode": network_mode,
            "cpu": str(cpu), "memory": str(memory), "containerDefinitions": [container]}


def _latest_active(ecs: Any, family: str) -> dict[str, Any] | None:
    try:
        return ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    except ClientError as exc:
        if error_code(exc) in ("ClientException", "InvalidParameterException"):
            return None  # no ACTIVE revision of this family yet
        raise


def _network_warning(cpu: int, memory: int, port: int) -> str:
    bridge = tasks_that_fit("t3.medium", cpu, memory, "bridge")
    awsvpc = tasks_that_fit("t3.medium", cpu, memory, "awsvpc")
    return (f"The case study fits 2 of these tasks on a t3.medium. How many fit depends on the "
            f"network mode: bridge with dynamic host ports {bridge.count} ({bridge.binding}-"
            f"bound); host 1 (every copy needs host port {port}); awsvpc {awsvpc.count} (one "
            "ENI each: a t3.medium's 3 ENIs minus the primary, no trunking on T3) "
            "(ecs-facts.md §1.1, §2, §11a).")


NETWORK_MODE_WHY = {
    "bridge": ("bridge, hostPort 0: each task gets a dynamic host port from the ephemeral range "
               "(describe-tasks networkBindings); the target group (type instance) gets the "
               "instance id and that port. In the kit the task's process listens on that very "
               "port of 127.0.0.1."),
    "host": ("host: the container uses the instance's network stack and its static port "
             "{port}, so at most one task per instance. describe-tasks shows hostPort {port}; in "
             "the kit every 'instance' shares one loopback, so each task's process listens on "
             "a free port of 127.0.0.1 of its own."),
    "awsvpc": ("awsvpc: each task gets its own ENI and a private IP from its instance's subnet "
               "(describe-tasks attachments); the target group must be of type ip (IP + "
               "container port {port}). A t3.medium has 3 ENIs, the primary counted: 2 tasks. "
               "The kit's traffic still goes to 127.0.0.1, to a port of each task's own."),
}


def register_task_definition(ecs: Any, family: str = FAMILY, *, image: str, cpu: int = 256,
                             memory: int = 512, container_port: int = CONTAINER_PORT,
                             health_check: Mapping[str, Any] | None = None,
                             network_mode: str = "bridge",
                             environment: Mapping[str, str] | None = None,
                             badge: Badge = EMULATED) -> StepResult:
    """Register the task definition, or reuse the latest ACTIVE revision when it is identical.

    ``health_check`` overrides the §2 defaults (e.g. ``{"startPeriod": 20}``); ``environment``
    adds to ``MODEL_RUNTIME=litert``.
    """
    spec = task_definition_spec(family, image, cpu, memory, container_port, health_check,
                                network_mode, environment)
    latest = _latest_active(ecs, family)
    changed = latest is None or not matches(spec, latest)
    if changed:
        latest = ecs.register_task_definition(**spec)["taskDefinition"]
    assert latest is not None
    container = latest["containerDefinitions"][0]
    result = {
        "taskDefinitionArn": latest["taskDefinitionArn"],
        "family": latest["family"],
        "revision": latest["revision"],
        "networkMode": latest.get("networkMode"),
        "requiresCompatibilities": latest.get("requiresCompatibilities", []),
        "cpu": latest.get("cpu"),
        "memory": latest.get("memory"),
        "image": container["image"],
        "portMappings": container.get("portMappings", []),
        "environment": {e["name"]: e["value"] for e in container.get("environment", [])},
        "healthCheck": container.get("healthCheck"),
    }
    if network_mode in NETWORK_MODE_WHY:
        result["networkModeWhy"] = NETWORK_MODE_WHY[network_mode].format(port=container_port)
    flat = {k: v for k, v in spec.items() if k != "containerDefinitions"}
    cli = aws_cli("ecs", "register-task-definition", **_cli_args(flat),
                  container_definitions=spec["containerDefinitions"])
    return StepResult(
        step="register-task-definition",
        title=f"Register task definition {family}:{result['revision']}",
        result=result,
        cli=cli,
        aws_note=("Registering stores an immutable, numbered revision of the recipe and starts "
                  "nothing; the task's CPU and memory are reserved on an instance only when a "
                  "task is placed. The container health check (every 30 s, 5 s timeout, 3 "
                  "retries) marks a task UNHEALTHY and the service scheduler replaces it."),
        source="ecs-facts.md §2; ECS Developer Guide task_definition_parameters",
        badge=badge,
        changed=changed,
        warnings=[_network_warning(cpu, memory, container_port)],
    )


def _cli_args(api_args: Mapping[str, Any]) -> dict[str, Any]:
    """camelCase API arguments → snake_case keywords for ``aws_cli``."""
    out = {}
    for key, value in api_args.items():
        out["".join(f"_{c.lower()}" if c.isupper() else c for c in key)] = value
    return out


# ---- cluster ------------------------------------------------------------------------------
def create_cluster(ecs: Any, name: str = CLUSTER, *, badge: Badge = EMULATED) -> StepResult:
    """Create the cluster, or find it ACTIVE."""
    found = [c for c in ecs.describe_clusters(clusters=[name]).get("clusters", [])
             if c.get("status") == "ACTIVE"]
    changed = not found
    cluster = ecs.create_cluster(clusterName=name)["cluster"] if changed else found[0]
    return StepResult(
        step="create-cluster",
        title=f"Create the ECS cluster {name}",
        result={"clusterName": cluster["clusterName"], "clusterArn": cluster["clusterArn"],
                "status": cluster["status"]},
        cli=aws_cli("ecs", "create-cluster", cluster_name=name),
        aws_note=("A cluster is only a logical grouping of container instances, services and "
                  "tasks: creating it launches no EC2 instance. Instances join when the ECS "
                  "agent on each one registers with it, or are added by an Auto Scaling group "
                  "capacity provider with managed scaling if you configure one."),
        source="ecs-facts.md §3 (capacity providers), §11b; ECS Developer Guide "
               "cluster-auto-scaling",
        badge=badge,
        changed=changed,
    )


# ---- service ------------------------------------------------------------------------------
def placement_strategy(name: str) -> list[dict[str, str]]:
    """The kit's strategy name (cloud.ecs.placement.STRATEGIES) as ECS's ``placementStrategy``.

    "spread" is ECS's default for services on EC2: spread over ``attribute:ecs.availability-zone``,
    then over ``instanceId`` (§3); "binpack" packs by memory.
    """
    kind, field = parse_strategy(name)
    if kind == "spread" and field == "az":
        return [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "spread", "field": "instanceId"}]
    if kind == "spread":
        return [{"type": "spread", "field": "instanceId"}]
    if kind == "binpack":
        return [{"type": "binpack", "field": field}]
    return [{"type": "random"}]


def deployment_configuration(minimum_healthy_percent: int = 100, maximum_percent: int = 200,
                             circuit_breaker: bool = False) -> dict[str, Any]:
    """Rolling-update settings; the defaults are ECS's for a replica service (§4)."""
    return {"maximumPercent": maximum_percent, "minimumHealthyPercent": minimum_healthy_percent,
            "deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": circuit_breaker}}


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any] | None:
    """The ACTIVE service, or None (a deleted one is INACTIVE/DRAINING)."""
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    return next((s for s in services if s.get("status") == "ACTIVE"), None)


def _service_result(svc: Mapping[str, Any], instances: int) -> dict[str, Any]:
    return {
        "serviceName": svc["serviceName"],
        "serviceArn": svc["serviceArn"],
        "clusterArn": svc.get("clusterArn"),
        "taskDefinition": svc.get("taskDefinition"),
        "desiredCount": svc.get("desiredCount"),
        "launchType": svc.get("launchType"),
        "schedulingStrategy": svc.get("schedulingStrategy"),
        "placementStrategy": svc.get("placementStrategy", []),
        "deploymentConfiguration": svc.get("deploymentConfiguration", {}),
        "loadBalancers": svc.get("loadBalancers", []),
        "containerInstances": instances,
    }


def _active_instances(ecs: Any, cluster: str) -> int:
    return len(ecs.list_container_instances(cluster=cluster, status="ACTIVE")
               .get("containerInstanceArns", []))


DESIRED_COUNT_MYTH = (
    "The case study says that with desired count 4 ECS launches 2 EC2 instances. Desired count "
    "launches no instance: it only tells the service scheduler how many tasks to keep; tasks "
    "that fit on no registered instance fail with \"unable to place a task because no "
    "container instance met all of its requirements\". Instances are added for you only by an "
    "Auto Scaling group capacity provider with managed scaling (ecs-facts.md §11b).")


def awsvpc_configuration(subnets: list[str], security_groups: list[str]) -> dict[str, Any]:
    """CreateService's ``networkConfiguration`` for awsvpc tasks: each task's ENI goes in one
    of ``subnets`` (its instance's AZ), with ``security_groups``; no public IP on EC2."""
    return {"awsvpcConfiguration": {"subnets": sorted(set(subnets)),
                                    "securityGroups": list(security_groups),
                                    "assignPublicIp": "DISABLED"}}


def service_load_balancers(target_group_arn: str, container: str = CONTAINER,
                           container_port: int = CONTAINER_PORT) -> list[dict[str, Any]]:
    """CreateService's ``loadBalancers``: register the container's port in the target group."""
    return [{"targetGroupArn": target_group_arn, "containerName": container,
             "containerPort": container_port}]


def create_service(ecs: Any, cluster: str = CLUSTER, service: str = SERVICE, *,
                   task_definition: str, desired_count: int = 4, placement: str = "spread",
                   minimum_healthy_percent: int = 100, maximum_percent: int = 200,
                   circuit_breaker: bool = False,
                   load_balancers: list[dict[str, Any]] | None = None,
                   network_configuration: dict[str, Any] | None = None,
                   badge: Badge = EMULATED) -> StepResult:
    """Create the replica service (launch type EC2), or bring an existing one to this spec.
    ``network_configuration``: awsvpc tasks need one (``awsvpc_configuration``), others none.

    An existing service whose task definition, desired count, placement strategy, deployment
    configuration or load balancers differ is updated (a new deployment) and reported as
    changed. ``load_balancers``: ``[{"targetGroupArn", "containerName", "containerPort"}]``
    (``service_load_balancers``), the target groups ECS registers each RUNNING task in.
    """
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    td_ref = td["taskDefinitionArn"].rsplit("/", 1)[-1]  # family:revision
    create_args: dict[str, Any] = {
        "cluster": cluster, "serviceName": service, "taskDefinition": td_ref,
        "desiredCount": desired_count, "launchType": "EC2", "schedulingStrategy": "REPLICA",
        "placementStrategy": placement_strategy(placement),
        "deploymentConfiguration": deployment_configuration(
            minimum_healthy_percent, maximum_percent, circuit_breaker),
    }
    wanted = {"taskDefinition": td["taskDefinitionArn"], "desiredCount": desired_count,
              "placementStrategy": create_args["placementStrategy"],
              "deploymentConfiguration": create_args["deploymentConfiguration"]}
    if load_balancers is not None:
        create_args["loadBalancers"] = wanted["loadBalancers"] = load_balancers
    if network_configuration is not None:
        create_args["networkConfiguration"] = network_configuration
    svc = describe_service(ecs, cluster, service)
    created = svc is None
    if created:
        ecs.create_service(**create_args)
        svc = describe_service(ecs, cluster, service)
    assert svc is not None
    diff = {k: v for k, v in wanted.items() if not matches(v, svc.get(k))}
    warnings: list[str] = []
    cli = aws_cli("ecs", "create-service", **_cli_args(create_args))
    if diff:
        update = dict(diff)  # taskDefinition as the full ARN: moto stores what it is given
        ecs.update_service(cluster=cluster, service=service, **update)
        svc = describe_service(ecs, cluster, service)
        assert svc is not None
        if not created:
            cli = aws_cli("ecs", "update-service", cluster=cluster, service=service,
                          **_cli_args(update))
        else:  # the emulator dropped fields CreateService was given: UpdateService sets them
            warnings.append(f"Emulator: CreateService did not keep {', '.join(sorted(diff))}; "
                            "the kit set them with UpdateService (moto 5.2.5).")
        lost = sorted(k for k, v in wanted.items() if not matches(v, svc.get(k)))
        if lost:
            warnings.append(f"Emulator: describe-services does not show {', '.join(lost)} as "
                            "sent; FraudLab's scheduler uses the values above.")
    instances = _active_instances(ecs, cluster)
    if instances == 0:
        warnings.append(f"No container instance is registered in {cluster}: in AWS every task "
                        "would stay unplaced until instances join (ecs-facts.md §3).")
    warnings.insert(0, DESIRED_COUNT_MYTH)
    result = _service_result(svc, instances)
    if badge == EMULATED:
        result["runs"] = ("The emulator stores the service and starts no task; FraudLab's "
                          "scheduler (simulated) places the tasks and runs them.")
    return StepResult(
        step="create-service",
        title=f"{'Update' if diff and not created else 'Create'} the ECS service {service} "
              f"({desired_count} tasks, {placement})",
        result=result,
        cli=cli,
        aws_note=("The service scheduler keeps desiredCount tasks running, placing each on a "
                  "registered container instance with enough CPU, memory and ports, ranked by "
                  "the placement strategy; it never launches EC2 instances. Deployments replace "
                  f"tasks keeping ≥ {minimum_healthy_percent}% of them running and ≤ "
                  f"{maximum_percent}% in total (ECS's defaults: 100/200), with the circuit "
                  f"breaker {'on' if circuit_breaker else 'off, as by default'}."
                  + (" With a load balancer, ECS registers each task in the target group once "
                     "it is RUNNING and deregisters it (draining) before stopping it."
                     if load_balancers else "")),
        source="ecs-facts.md §3, §4, §6, §11b; ECS Developer Guide task-placement-strategies, "
               "ecs_services, service_definition_parameters",
        badge=badge,
        changed=created or bool(diff),
        warnings=warnings,
    )


AUTOSCALING_MYTH = (
    "The case study says ECS detects 90% capacity and raises the desired count itself. ECS never "
    "changes desiredCount: Application Auto Scaling does (target tracking, after 3 one-minute "
    "datapoints above target, with 300 s cooldowns); a 90% target resembles a capacity "
    "provider's targetCapacity, which scales EC2 instances, not tasks (ecs-facts.md §11e).")


def update_service_desired(ecs: Any, cluster: str, service: str, n: int, *,
                           badge: Badge = EMULATED) -> StepResult:
    """Set the service's desired count to ``n`` (no call when it already is ``n``)."""
    if n < 0:
        raise ValueError(f"desired count cannot be negative: {n}")
    svc = describe_service(ecs, cluster, service)
    if svc is None:
        raise LookupError(f"no ACTIVE service {service!r} in cluster {cluster!r}")
    changed = svc.get("desiredCount") != n
    if changed:
        svc = ecs.update_service(cluster=cluster, service=service, desiredCount=n)["service"]
    result = {"serviceName": svc["serviceName"], "serviceArn": svc["serviceArn"],
              "desiredCount": svc["desiredCount"]}
    if badge == EMULATED:
        result["runs"] = ("The answer's runningCount is the true one (no new task runs yet); "
                          "FraudLab's scheduler (simulated) starts or stops the tasks and "
                          "writes the counts.")
    return StepResult(
        step="update-service-desired",
        title=f"Set the desired count of {service} to {n}",
        result=result,
        cli=aws_cli("ecs", "update-service", cluster=cluster, service=service, desired_count=n),
        aws_note=("A new desired count only tells the service scheduler how many tasks to keep: "
                  "it places or stops tasks on the registered instances (scale-in follows the "
                  "placement strategy) and adds no EC2 instance."),
        source="ecs-facts.md §3, §4, §11b, §11e; ECS Developer Guide ecs_services",
        badge=badge,
        changed=changed,
        warnings=[AUTOSCALING_MYTH],
    )
