"""The pure parts of ``fraudlab aws``: the cost table, the stack template (cfn-lint clean, the
run's tags where stack tags do not reach), subnet choice, stack events, cost so far."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from optional import lazy, needs

from cloud.aws.real import costs
from cloud.aws.real.plan import (
    RUN_TAG,
    RealAwsRequest,
    cost_lines,
    deployment,
    new_run_id,
    stack_name,
    stack_template,
)
from cloud.aws.real.push import architecture_problem
from cloud.aws.real.stack import choose_subnets, event_line, new_events, watch
from cloud.aws.real.status import hours_since

pytestmark = needs("cfnlint", reason="cfn-lint is a dev dependency")
cfnlint_api = lazy("cfnlint.api")
URI = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/fraud-detection:run-x"


def test_the_hourly_estimate_adds_up_from_the_table() -> None:
    lines = costs.hourly_lines("t3.medium", 2, autoscale=False)
    assert lines[0].hourly == pytest.approx(2 * 0.0416)
    expected = (2 * 0.0416 + 2 * 30 * 0.08 / 730 + 2 * 0.005 + 0.0225 + 0.008 + 2 * 0.005
                + 0.5 * 0.10 / 730)
    assert costs.total(lines) == pytest.approx(expected)
    table = "\n".join(costs.render(lines))
    assert "list prices" in table and "us-east-1" in table and f"{expected:.4f}" in table
    assert "priced differently" not in table
    assert "eu-west-1 is priced differently" in "\n".join(costs.render(lines, "eu-west-1"))


def test_the_estimate_counts_the_most_instances_a_capacity_provider_may_run() -> None:
    req = RealAwsRequest(capacity_provider=True, max_hosts=4, autoscale="cpu:60")
    lines = cost_lines(req)
    assert lines[0].quantity == 4
    assert any("alarms" in line.item for line in lines)
    with pytest.raises(ValueError, match="no list price"):
        costs.instance_hourly("z1.enormous")


def test_cost_so_far_is_hours_times_the_hourly_estimate() -> None:
    created = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    hours = hours_since(created, created + timedelta(minutes=90))
    assert hours == pytest.approx(1.5)
    assert costs.so_far(0.14, hours) == pytest.approx(0.21)
    assert hours_since(created.replace(tzinfo=None), created - timedelta(hours=1)) == 0.0


@pytest.mark.parametrize("req", [
    RealAwsRequest(),
    RealAwsRequest(capacity_provider=True, autoscale="requests:500", desired=3),
    RealAwsRequest(autoscale="cpu:60", min_tasks=2, max_tasks=6),
], ids=["fixed", "capacity-provider+requests", "cpu"])
def test_the_stack_template_passes_cfn_lint_and_tags_the_run(req: RealAwsRequest) -> None:
    t = stack_template(deployment(req, URI), "20260101-1000-abcd")
    found = [f"{m.rule.id}: {m.message}" for m in cfnlint_api.lint(yaml.safe_dump(t))]
    assert found == []
    r = t["Resources"]
    specs = r["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["TagSpecifications"]
    assert {s["ResourceType"] for s in specs} == {"instance", "volume"}
    assert {"Key": RUN_TAG, "Value": "20260101-1000-abcd", "PropagateAtLaunch": True} in \
        r["AutoScalingGroup"]["Properties"]["Tags"]
    assert r["Service"]["Properties"]["PropagateTags"] == "SERVICE"
    assert r["Service"]["Properties"]["DesiredCount"] == req.desired
    assert r["TaskDefinition"]["Properties"]["NetworkMode"] == "bridge"
    assert t["Parameters"]["ImageUri"]["Default"] == URI
    assert ("ScalableTarget" in r) == bool(req.autoscale)
    assert ("CapacityProvider" in r) == req.capacity_provider
    logs = r["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["LogConfiguration"]
    assert logs["LogDriver"] == "awslogs" and r["LogGroup"]["Type"] == "AWS::Logs::LogGroup"


def test_an_image_for_another_architecture_is_refused_before_the_push() -> None:
    assert architecture_problem("amd64", "t3.medium") is None
    problem = architecture_problem("arm64", "t3.medium")
    assert problem is not None and "--platform linux/amd64" in problem
    assert "nothing was created" in problem


def test_run_ids_make_valid_stack_names() -> None:
    run = new_run_id(datetime(2026, 12, 6, 4, 50, tzinfo=UTC), lambda n: "ab" * n)
    assert run == "20261206-0450-abab"
    assert stack_name(run) == "fraudlab-20261206-0450-abab"


def test_one_subnet_per_offered_zone_in_zone_order() -> None:
    subnets = [{"SubnetId": f"subnet-{z}", "AvailabilityZone": f"us-east-1{z}"}
               for z in "fedcba"] + [{"SubnetId": "subnet-a2", "AvailabilityZone": "us-east-1a"}]
    offered = {"us-east-1a", "us-east-1c", "us-east-1d", "us-east-1f"}  # no t3 in 1e, say
    chosen = [s["SubnetId"] for s in choose_subnets(subnets, offered)]
    assert chosen == ["subnet-a", "subnet-c", "subnet-d"]
    assert len(choose_subnets(subnets, None, limit=10)) == 6


def test_events_are_shown_once_oldest_first() -> None:
    when = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    events = [{"EventId": str(i), "Timestamp": when + timedelta(seconds=i),
               "ResourceStatus": "CREATE_COMPLETE", "ResourceType": "AWS::ECS::Cluster",
               "LogicalResourceId": f"R{i}"} for i in (3, 2, 1)]
    seen: set[str] = set()
    assert [e["EventId"] for e in new_events(events, seen)] == ["1", "2", "3"]
    assert new_events(events, seen) == []
    failed = {**events[0], "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "no"}
    assert event_line(failed).endswith("R3 — no") and "10:00:03" in event_line(failed)


class FakeStacks:
    """describe_stack_events/describe_stacks of a stack that stays CREATE_IN_PROGRESS."""

    def describe_stack_events(self, StackName: str) -> dict:
        return {"StackEvents": []}

    def describe_stacks(self, StackName: str) -> dict:
        return {"Stacks": [{"StackStatus": "CREATE_IN_PROGRESS"}]}


def test_watch_gives_up_at_its_deadline_on_the_injected_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    with pytest.raises(TimeoutError, match="still CREATE_IN_PROGRESS after 30 s"):
        watch(FakeStacks(), "s", io.StringIO(), ("CREATE_COMPLETE",), timeout=30,
              interval=10, sleep=sleep, clock=lambda: now[0])
    assert slept == [10, 10, 10]


def test_a_local_deployment_becomes_the_request_its_plan_and_cost_describe() -> None:
    from cloud.aws.real.plan import request_from
    from cloud.export.state import example

    req = request_from(example(capacity_provider=True, target_value=500.0), "eu-west-1")
    assert (req.desired, req.capacity_provider, req.max_hosts) == (4, True, 4)
    assert req.autoscale == "requests:500" and (req.min_tasks, req.max_tasks) == (1, 10)
    assert req.region == "eu-west-1" and req.instance_type == "t3.medium"
    fixed = request_from(example(capacity_provider=False, metric=None), "us-east-1")
    assert (fixed.capacity_provider, fixed.hosts, fixed.autoscale) == (False, 2, None)
