"""Conformance off the kit's path: a second service with its own target group and listener,
and a second cluster — typed with the real AWS CLI against a running local cloud, and read
back against what really runs (which task answers through which listener, target health,
the processes).

The tests run in order and share the module's local cloud (the kit's deployment: fraud-svc
in fraud-cluster behind fraud-tg, listener port 80 of fraud-alb).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import requests
from aws_cli import Aws
from kit_cloud import deployed_cloud

from cli.narrate import status
from cloud.aws.steps.ecs import CONTAINER, CONTAINER_PORT, task_definition_spec
from cloud.aws.steps.elb import create_load_balancer
from cloud.aws.steps.hosts import launch_hosts
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE, TG = "fraud-cluster", "fraud-svc", "fraud-tg"
WEB, WEB_TG, OTHER = "web", "web-tg", "other-cluster"
TIME_SCALE = 30.0
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:latest"
UNPLACED = "was unable to place a task because no container instance met all of its requirements"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with deployed_cloud(tmp_path_factory, time_scale=TIME_SCALE, ready=_fraud_healthy) as lc:
        yield lc


@pytest.fixture(scope="module")
def aws(cloud, tmp_path_factory) -> Aws:
    return Aws(cloud.endpoint.url, tmp_path_factory.mktemp("aws"))


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    return {}


def _fraud_healthy(lc: LocalCloud) -> int:
    return sum(t["state"] == "healthy" for t in lc.lb.snapshot(trace_limit=0)["targets"])


def _answers(url: str) -> str | None:
    try:
        return requests.get(f"{url}/health", timeout=2).json()["task_id"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def _task_ids(aws: Aws, cluster: str, service: str) -> set[str]:
    arns = aws("ecs", "list-tasks", "--cluster", cluster, "--service-name", service)["taskArns"]
    return {a.rsplit("/", 1)[-1] for a in arns}


def _health(aws: Aws, arn: str) -> dict[int, str]:
    found = aws("elbv2", "describe-target-health", "--target-group-arn", arn)
    return {d["Target"]["Port"]: d["TargetHealth"]["State"]
            for d in found["TargetHealthDescriptions"]}


def _register(aws: Aws, tmp_path, family: str) -> str:
    spec = task_definition_spec(family, IMAGE, 256, 512, CONTAINER_PORT, None, "bridge",
                                {"APP": family})
    path = tmp_path / f"{family}.json"
    path.write_text(json.dumps(spec))
    return aws("ecs", "register-task-definition", "--cli-input-json",
               f"file://{path}")["taskDefinition"]["taskDefinitionArn"]


def test_a_second_service_behind_its_own_listener(cloud, aws, wait_for, tmp_path,
                                                  flow) -> None:
    [alb] = aws("elbv2", "describe-load-balancers", "--names", "fraud-alb")["LoadBalancers"]
    [fraud_tg] = aws("elbv2", "describe-target-groups", "--names", TG)["TargetGroups"]
    tg = aws("elbv2", "create-target-group", "--name", WEB_TG, "--protocol", "HTTP",
             "--port", str(CONTAINER_PORT), "--vpc-id", alb["VpcId"],
             "--health-check-path", "/health")["TargetGroups"][0]["TargetGroupArn"]
    port = free_port()
    listener = aws("elbv2", "create-listener", "--load-balancer-arn", alb["LoadBalancerArn"],
                   "--protocol", "HTTP", "--port", str(port), "--default-actions",
                   f"Type=forward,TargetGroupArn={tg}")["Listeners"][0]
    td = _register(aws, tmp_path, WEB)
    made = aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", WEB,
               "--task-definition", td, "--desired-count", "2", "--load-balancers",
               f"targetGroupArn={tg},containerName={CONTAINER},"
               f"containerPort={CONTAINER_PORT}")["service"]
    assert made["runningCount"] == 0
    flow.update(tg=tg, listener=listener["ListenerArn"], port=port, fraud_tg=fraud_tg)
    aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", WEB)

    [svc] = aws("ecs", "describe-services", "--cluster", CLUSTER, "--services",
                WEB)["services"]
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    web, fraud = _task_ids(aws, CLUSTER, WEB), _task_ids(aws, CLUSTER, SERVICE)
    assert len(web) == 2 and len(fraud) == 2 and not web & fraud
    described = aws("ecs", "describe-tasks", "--cluster", CLUSTER, "--tasks", *web)["tasks"]
    assert {t["taskDefinitionArn"] for t in described} == {td}
    assert {t["group"] for t in described} == {f"service:{WEB}"}
    running = {t["task_id"]: t for t in cloud.snapshot()["tasks"]
               if t["last_status"] == "RUNNING"}
    assert web | fraud == set(running)
    web_ports = {running[t]["port"] for t in web}
    fraud_ports = {running[t]["port"] for t in fraud}

    # Each target group lists its own service's tasks only, healthy (the truth, as probed).
    wait_for(lambda: _health(aws, tg) == dict.fromkeys(web_ports, "healthy"), 60,
             "web-tg: the web tasks, healthy", 0.5)
    assert {p for p, s in _health(aws, fraud_tg["TargetGroupArn"]).items()
            if s != "draining"} == fraud_ports

    # A real request through each listener: the web listener answers from web tasks, the
    # kit's listener (the kit's proxy port) from fraud tasks only.
    local = wait_for(lambda: next((x["local_port"] for x in
                                   cloud.snapshot()["load_balancer"]["listeners"]
                                   if x["listener_arn"] == flow["listener"]), None), 10,
                     "the listener's local port")
    assert local == port  # 1024+ and free: its own port
    assert {_answers(f"http://127.0.0.1:{port}") for _ in range(8)} == web
    assert {_answers(cloud.lb.url) for _ in range(8)} == fraud
    kit = next(x for x in cloud.snapshot()["load_balancer"]["listeners"] if x["port"] == 80)
    assert kit["local_port"] == cloud.lb.port and kit["target_group"] == TG
    # the kit's group never had a proxy of its own (not even before its service existed)
    texts = [e["text"] for e in cloud.controller.timeline.entries if e["kind"] == "lb"]
    assert not any(t.startswith(f"target group {TG}:") for t in texts)
    assert any(t.startswith(f"target group {WEB_TG}: its own proxy") for t in texts)
    printed = _status(cloud)  # what `fraudlab status` prints
    assert f"listener fraud-alb:80 → {cloud.lb.url} ({TG})" in printed
    assert f"listener fraud-alb:{port} → http://127.0.0.1:{port} ({WEB_TG})" in printed


def _status(cloud: LocalCloud) -> str:
    out = io.StringIO()
    status(out, cloud.snapshot())
    return out.getvalue()


def test_target_health_reads_each_tasks_own_group(cloud, flow) -> None:
    for t in cloud.snapshot()["tasks"]:
        if t["last_status"] == "RUNNING":
            assert cloud.controller.target_health(t["task_id"]) == "healthy"


def test_listener_limits_are_refused_with_the_limit(cloud, aws, flow) -> None:
    [alb] = aws("elbv2", "describe-load-balancers", "--names", "fraud-alb")["LoadBalancers"]
    err = aws.fails("OperationNotPermitted", "elbv2", "create-listener", "--load-balancer-arn",
                    alb["LoadBalancerArn"], "--protocol", "HTTP", "--port", str(free_port()),
                    "--default-actions", f"Type=forward,TargetGroupArn={flow['tg']}")
    assert "one listener per target group" in err
    err = aws.fails("OperationNotPermitted", "elbv2", "create-listener", "--load-balancer-arn",
                    alb["LoadBalancerArn"], "--protocol", "HTTP", "--port", str(free_port()),
                    "--default-actions",
                    "Type=fixed-response,FixedResponseConfig={StatusCode=200}")
    assert "forwards to one target group" in err
    err = aws.fails("OperationNotPermitted", "elbv2", "create-rule", "--listener-arn",
                    flow["listener"], "--priority", "10", "--conditions",
                    "Field=path-pattern,Values=/x", "--actions",
                    f"Type=forward,TargetGroupArn={flow['tg']}")
    assert "rules" in err
    listener = aws("elbv2", "describe-listeners", "--listener-arns", flow["listener"])[
        "Listeners"][0]
    err = aws.fails("OperationNotPermitted", "elbv2", "modify-listener", "--listener-arn",
                    flow["listener"], "--default-actions",
                    f"Type=forward,TargetGroupArn={flow['fraud_tg']['TargetGroupArn']}")
    assert "one listener per target group" in err
    assert aws("elbv2", "describe-listeners", "--listener-arns", flow["listener"])[
        "Listeners"][0]["DefaultActions"] == listener["DefaultActions"]
    assert len(aws("elbv2", "describe-listeners", "--load-balancer-arn",
                   alb["LoadBalancerArn"])["Listeners"]) == 2


def test_a_service_in_two_target_groups_registers_in_both(cloud, aws, wait_for,
                                                           flow) -> None:
    [alb] = aws("elbv2", "describe-load-balancers", "--names", "fraud-alb")["LoadBalancers"]
    other = aws("elbv2", "create-target-group", "--name", "dual-tg", "--protocol", "HTTP",
                "--port", str(CONTAINER_PORT), "--vpc-id", alb["VpcId"],
                "--health-check-path", "/health")["TargetGroups"][0]["TargetGroupArn"]
    aws("ecs", "create-service", "--cluster", CLUSTER, "--service-name", "dual",
        "--task-definition", WEB, "--desired-count", "1", "--load-balancers",
        f"targetGroupArn={flow['tg']},containerName={CONTAINER},containerPort={CONTAINER_PORT}",
        f"targetGroupArn={other},containerName={CONTAINER},containerPort={CONTAINER_PORT}")
    aws("ecs", "wait", "services-stable", "--cluster", CLUSTER, "--services", "dual")
    [task] = _task_ids(aws, CLUSTER, "dual")
    port = next(t["port"] for t in cloud.snapshot()["tasks"] if t["task_id"] == task)
    wait_for(lambda: _health(aws, other) == {port: "healthy"}
             and _health(aws, flow["tg"]).get(port) == "healthy", 60,
             "the dual task healthy in both of its target groups", 0.5)
    web = _task_ids(aws, CLUSTER, WEB)
    assert {_answers(f"http://127.0.0.1:{flow['port']}") for _ in range(9)} == web | {task}
    assert task not in {_answers(cloud.lb.url) for _ in range(6)}
    aws("ecs", "update-service", "--cluster", CLUSTER, "--service", "dual", "--desired-count",
        "0")
    wait_for(lambda: _health(aws, other) == {} and port not in _health(aws, flow["tg"]), 60,
             "the dual task drained out of both groups", 0.5)


def test_a_privileged_listener_port_on_another_load_balancer_is_a_free_port(
        cloud, aws, wait_for) -> None:
    elbv2, ec2 = cloud.endpoint.client("elbv2"), cloud.endpoint.client("ec2")
    alt = create_load_balancer(elbv2, ec2, cloud.endpoint.client("ecs"), CLUSTER, "alt-alb")
    tg = aws("elbv2", "create-target-group", "--name", "alt-tg", "--protocol", "HTTP",
             "--port", str(CONTAINER_PORT), "--vpc-id", alt.result["vpcId"])[
        "TargetGroups"][0]["TargetGroupArn"]
    aws("elbv2", "create-listener", "--load-balancer-arn", alt.result["loadBalancerArn"],
        "--protocol", "HTTP", "--port", "80", "--default-actions",
        f"Type=forward,TargetGroupArn={tg}")
    x = wait_for(lambda: next((x for x in cloud.snapshot()["load_balancer"]["listeners"]
                               if x["load_balancer"] == "alt-alb" and x["url"]), None), 10,
                 "the alt-alb listener's local port")
    assert x["port"] == 80 and x["local_port"] not in (None, 80, cloud.lb.port)
    # a real port: ALB's answer for a target group without registered targets
    reply = requests.get(f"{x['url']}/health", timeout=5)
    assert reply.status_code == 503 and "no registered targets" in reply.text


def test_delete_listener_closes_its_port(cloud, aws, wait_for, flow) -> None:
    aws("elbv2", "delete-listener", "--listener-arn", flow["listener"])

    def closed() -> bool:
        try:
            requests.get(f"http://127.0.0.1:{flow['port']}/health", timeout=1)
        except requests.ConnectionError:
            return True
        return False

    wait_for(closed, 10, "the deleted listener's port to close", 0.2)
    wait_for(lambda: all(x["listener_arn"] != flow["listener"]
                         for x in cloud.snapshot()["load_balancer"]["listeners"]), 10,
             "the deleted listener gone from the snapshot")
    # The service's target group still checks its tasks' health (ECS keeps them registered).
    assert set(_health(aws, flow["tg"]).values()) == {"healthy"}


def test_a_second_cluster_without_instances_says_why_then_runs(cloud, aws, wait_for,
                                                               tmp_path) -> None:
    aws("ecs", "create-cluster", "--cluster-name", OTHER)
    td = _register(aws, tmp_path, "batch")
    aws("ecs", "create-service", "--cluster", OTHER, "--service-name", "batch",
        "--task-definition", td, "--desired-count", "1")

    def event() -> str | None:
        [svc] = aws("ecs", "describe-services", "--cluster", OTHER, "--services",
                    "batch")["services"]
        return next((e["message"] for e in svc.get("events", []) if UNPLACED in e["message"]),
                    None)

    wait_for(event, 30, "ECS's unable-to-place event", 0.5)
    launch_hosts(cloud.endpoint.client("ec2"), cloud.endpoint.client("ecs"), OTHER, count=1)
    aws("ecs", "wait", "services-stable", "--cluster", OTHER, "--services", "batch")
    [task] = _task_ids(aws, OTHER, "batch")
    [described] = aws("ecs", "describe-tasks", "--cluster", OTHER, "--tasks", task)["tasks"]
    assert described["lastStatus"] == "RUNNING"
    [cluster] = aws("ecs", "describe-clusters", "--clusters", OTHER)["clusters"]
    assert (cluster["runningTasksCount"], cluster["activeServicesCount"],
            cluster["registeredContainerInstancesCount"]) == (1, 1, 1)
    def summary() -> list[dict[str, Any]]:
        return next((c["tasks"] for c in cloud.snapshot()["clusters"]
                     if c["cluster"] == OTHER and c["tasks"]), [])

    [mine] = wait_for(summary, 10, "the other cluster's task in the snapshot")
    assert mine["task_id"] == task and _answers(f"http://127.0.0.1:{mine['port']}") == task
    assert f"cluster {OTHER}: 1 container instance(s), 1 live task(s)" in _status(cloud)
    # the kit's cluster is untouched: its service's tasks only
    assert {t["service"] for t in cloud.snapshot()["tasks"]} == {SERVICE, WEB, "dual"}
    err = aws.fails("ValidationException", "application-autoscaling",
                    "register-scalable-target", "--service-namespace", "ecs",
                    "--resource-id", f"service/{OTHER}/batch", "--scalable-dimension",
                    "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "3")
    assert "would never scale" in err
    # stop-task in the other cluster: stopped for real and replaced by its scheduler
    aws("ecs", "stop-task", "--cluster", OTHER, "--task", task, "--reason", "by hand")
    wait_for(lambda: _task_ids(aws, OTHER, "batch") - {task}, 60, "a replacement task", 0.5)
    [gone] = aws("ecs", "describe-tasks", "--cluster", OTHER, "--tasks", task)["tasks"]
    wait_for(lambda: aws("ecs", "describe-tasks", "--cluster", OTHER, "--tasks", task)[
        "tasks"][0]["lastStatus"] == "STOPPED", 60, "the stopped task STOPPED", 0.5)
    assert gone["stoppedReason"] == "by hand"
