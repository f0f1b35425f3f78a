"""The pure decisions behind the local AWS's guards (cloud/aws/guards.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cloud.aws.guards import (
    Refused,
    activity_page,
    decode_token,
    ecs_resource_id_error,
    encode_token,
    filter_tasks,
    forward_group,
    health_check_errors,
    listener_refusal,
    page,
    scaling_refusal,
)
from cloud.ecs.writeback import stop_code


def _task(n: int, *, status: str = "RUNNING", service: str = "fraud-svc",
          family: str = "fraud-detection", started_by: str = "ecs-svc/1",
          ci: str = "ci-a") -> SimpleNamespace:
    return SimpleNamespace(
        task_arn=f"arn:aws:ecs:us-east-1:123456789012:task/c/{n:032x}", desired_status=status,
        group=f"service:{service}", started_by=started_by,
        task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:3",
        container_instance_arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{ci}")


def test_list_tasks_defaults_to_running_and_applies_every_filter() -> None:
    tasks = [_task(1), _task(2, status="STOPPED"), _task(3, service="other", family="web",
                                                         started_by="me", ci="ci-b")]
    none = {"service": None, "family": None, "started_by": None, "container_instance": None}
    assert filter_tasks(tasks, desired_status=None, **none) == [tasks[0], tasks[2]]
    assert filter_tasks(tasks, desired_status="STOPPED", **none) == [tasks[1]]
    for key, value in (("service", "other"), ("family", "web"), ("started_by", "me"),
                       ("container_instance", "arn:aws:ecs:x:1:container-instance/c/ci-b")):
        assert filter_tasks(tasks, desired_status=None, **{**none, key: value}) == [tasks[2]]


def test_pages_follow_their_tokens_to_the_end() -> None:
    items = list(range(7))
    seen, token = [], None
    while True:
        chunk, token = page(items, 3, token)
        seen += chunk
        if token is None:
            break
    assert seen == items
    assert decode_token(encode_token(4)) == 4
    with pytest.raises(Refused, match="nextToken"):
        decode_token("not-a-token")
    with pytest.raises(Refused, match="between 1 and 100"):
        page(items, 101, None)


@pytest.mark.parametrize(("args", "fragment"), [
    ((10, 10, 5, 2, "/health"), "must be smaller than the interval '10'"),
    ((30, 40, 5, 2, None), "must be smaller than the interval"),
    ((4, 2, 5, 2, None), "interval '4' must be between 5 and 300"),
    ((30, 1, 5, 2, None), "timeout '1' must be between 2 and 120"),
    ((30, 5, 11, 2, None), "Healthy threshold count '11'"),
    ((30, 5, 5, 1, None), "Unhealthy threshold count '1'"),
    ((30, 5, 5, 2, "health"), "must begin with a '/'"),
])
def test_health_checks_are_refused_as_elbv2_refuses_them(args, fragment) -> None:
    assert fragment in (health_check_errors(*args) or "")


def test_a_valid_health_check_passes() -> None:
    assert health_check_errors(30, 5, 5, 2, "/health") is None


def test_ecs_resource_ids_must_name_cluster_and_service() -> None:
    assert ecs_resource_id_error("service/fraud-cluster/fraud-svc") is None
    for bad in ("fraud-svc", "service/fraud-svc", "cluster/a/b", "service//b", "service/a/b/c"):
        assert "service/<cluster-name>/<service-name>" in (ecs_resource_id_error(bad) or "")


def test_listeners_are_refused_unless_a_proxy_can_serve_them() -> None:
    fwd = [{"Type": "forward", "TargetGroupArn": "tg-a"}]
    existing = [("alb", "fraud-alb", 80, "tg-kit")]
    assert listener_refusal("alb", 9000, fwd, existing) is None
    assert listener_refusal("alb", 80, [{"Type": "redirect"}], existing) is None  # same one
    assert "one listener per target group" in listener_refusal(
        "alb", 9000, [{"Type": "forward", "TargetGroupArn": "tg-kit"}], existing)
    assert "fixed-response" in listener_refusal("alb", 9000, [{"Type": "fixed-response"}], [])
    weighted = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": "a"}, {"TargetGroupArn": "b"}]}}]
    assert listener_refusal("alb", 9000, weighted, []) is not None
    one = [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "a"}]}}]
    assert forward_group(one) == "a" and forward_group(fwd) == "tg-a"
    assert forward_group(fwd * 2) is None and forward_group(None) is None


def test_scaling_activities_are_filtered_newest_first_and_paged() -> None:
    entries = [{"ServiceNamespace": "ecs", "ResourceId": f"service/c/s{i % 2}",
                "ScalableDimension": "ecs:service:DesiredCount", "StartTime": float(i)}
               for i in range(5)]
    answer = activity_page(entries, None, None, "ecs", 2, None)
    assert [a["StartTime"] for a in answer["ScalingActivities"]] == [4.0, 3.0]
    rest = activity_page(entries, None, None, "ecs", 2, answer["NextToken"])
    assert [a["StartTime"] for a in rest["ScalingActivities"]] == [2.0, 1.0]
    only = activity_page(entries, ["service/c/s1"], None, "ecs", None, None)
    assert [a["StartTime"] for a in only["ScalingActivities"]] == [3.0, 1.0]
    assert activity_page(entries, None, None, "dynamodb", None, None)["ScalingActivities"] == []


def test_stop_codes_follow_why_the_kit_stopped_the_task() -> None:
    assert stop_code("Scaling activity initiated by (deployment ecs-svc/1)", True) == \
        "ServiceSchedulerInitiated"
    assert stop_code("Essential container in task exited", True) == "EssentialContainerExited"
    assert stop_code("CannotPullContainerError: x", False) == "TaskFailedToStart"
    assert stop_code("Host EC2 (instance i-1) terminated.", True) == "TerminationNotice"


def test_fargate_is_refused_by_launch_type_or_capacity_provider() -> None:
    from cloud.aws.guards import fargate_refusal

    assert fargate_refusal("EC2", None) is None
    assert "launchType FARGATE" in fargate_refusal("FARGATE", None)
    assert "capacity provider" in fargate_refusal(None, [{"capacityProvider": "FARGATE_SPOT"}])
    assert fargate_refusal(None, [{"capacityProvider": "fraud-cp"}]) is None


def test_elb_health_stops_are_the_service_schedulers() -> None:
    reason = "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:x)"
    assert stop_code(reason, True) == "ServiceSchedulerInitiated"


def test_standalone_tasks_run_only_where_a_local_cloud_runs_them() -> None:
    from cloud.aws.guards import launch_refusal

    assert launch_refusal("c", {"c"}, "RunTask", None) is None
    assert launch_refusal("web", {"c", "web"}, "RunTask", None) is None  # any served cluster
    assert launch_refusal("c", {"c"}, "RunTask", [{"type": "distinctInstance"}]) is None
    assert "memberOf" in launch_refusal("c", {"c"}, "StartTask", [
        {"type": "memberOf", "expression": "attribute:ecs.instance-type == t3.large"}])
    assert "RunTask in cluster other" in launch_refusal("other", {"c"}, "RunTask", None)
    assert "services: none)" in launch_refusal("c", set(), "RunTask", None)


def test_a_forced_deployment_answers_a_new_primary_and_the_old_one_active() -> None:
    from datetime import UTC, datetime

    from cloud.aws.guards import forced_deployments

    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": "td:1",
            "runningCount": 2, "pendingCount": 0, "desiredCount": 2,
            "rolloutState": "COMPLETED", "failedTasks": 0}]
    primary, active = forced_deployments(old, "ecs-svc/2", now)
    assert (primary["id"], primary["status"], primary["taskDefinition"]) == (
        "ecs-svc/2", "PRIMARY", "td:1")
    assert (primary["rolloutState"], primary["runningCount"], primary["createdAt"]) == (
        "IN_PROGRESS", 0, now)
    assert primary["rolloutStateReason"] == "ECS deployment ecs-svc/2 in progress."
    assert (active["id"], active["status"], active["desiredCount"]) == ("ecs-svc/1", "ACTIVE", 2)
    assert forced_deployments([], "ecs-svc/2", now) == []
    new, _ = forced_deployments(old, "ecs-svc/3", now, "td:2")  # a new task definition
    assert (new["taskDefinition"], new["status"]) == ("td:2", "PRIMARY")


def test_scalable_targets_outside_the_kits_cluster_are_refused() -> None:
    assert scaling_refusal("service/fraud-cluster/fraud-svc", "fraud-cluster") is None
    assert scaling_refusal("service/other/web", None) is None  # no local cloud
    assert "cluster other would never scale" in scaling_refusal("service/other/web",
                                                                "fraud-cluster")
