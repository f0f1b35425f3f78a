"""The pure decisions of the target-group sync: proxy state → DescribeTargetHealth, what to
register/deregister, and the API's settings → the proxy's (ecs-facts.md §6)."""

from __future__ import annotations

import pytest

from cloud.lb.health import HealthSettings
from cloud.lb.sync import (
    TargetPlan,
    api_health,
    current_rows,
    hand_deregistered,
    plan_targets,
    proxy_config,
    registered_now,
    target_health,
)

HOST = "127.0.0.1"


def row(port: int, state: str, reason: str | None = None, description: str | None = None,
        task: str | None = None) -> dict:
    return {"id": task or f"t{port}", "host": HOST, "port": port, "state": state,
            "reason": reason, "description": description}


def test_each_state_maps_to_albs_target_health() -> None:
    assert api_health(row(1, "healthy")) == {"State": "healthy"}
    assert api_health(row(1, "initial", "Elb.RegistrationInProgress")) == {
        "State": "initial", "Reason": "Elb.RegistrationInProgress",
        "Description": "Target registration is in progress"}
    mismatch = api_health(row(1, "unhealthy", "Target.ResponseCodeMismatch",
                              "Health checks failed with these codes: [503]"))
    assert mismatch == {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                        "Description": "Health checks failed with these codes: [503]"}
    assert api_health(row(1, "unhealthy", "Target.Timeout"))["Description"] == "Request timed out"
    assert api_health(row(1, "draining", "Target.DeregistrationInProgress")) == {
        "State": "draining", "Reason": "Target.DeregistrationInProgress",
        "Description": "Target deregistration is in progress"}
    assert api_health(row(1, "unused"))["Reason"] == "Target.NotRegistered"
    assert api_health(row(1, "unhealthy"))["Reason"] == "Target.FailedHealthChecks"


def test_a_reused_port_is_spoken_for_by_the_live_target() -> None:
    rows = [row(5001, "unused", task="old"), row(5001, "initial", task="new"),
            row(5002, "healthy", task="a"), row(5002, "draining", task="b")]
    current = current_rows(rows)
    assert {k: r["id"] for k, r in current.items()} == {(HOST, 5001): "new", (HOST, 5002): "a"}
    assert target_health(rows) == {
        (HOST, 5001): {"State": "initial", "Reason": "Elb.RegistrationInProgress",
                       "Description": "Target registration is in progress"},
        (HOST, 5002): {"State": "healthy"}}


def test_plan_registers_new_targets_and_deregisters_gone_ones() -> None:
    rows = [row(1, "initial"), row(2, "healthy"), row(3, "unhealthy"), row(4, "draining"),
            row(5, "unused")]
    listed = {(HOST, 2): "healthy", (HOST, 4): "healthy", (HOST, 5): "healthy",
              (HOST, 9): "healthy"}
    plan = plan_targets(rows, listed)
    assert plan.register == ((HOST, 1), (HOST, 3))
    assert plan.deregister == ((HOST, 4), (HOST, 5), (HOST, 9))
    # deregistered now and already unused in the proxy (or unknown to it): leaves at once
    assert plan.finished == ((HOST, 5), (HOST, 9))


def test_plan_finishes_draining_targets_once_the_proxy_has_drained_them() -> None:
    listed = {(HOST, 4): "draining", (HOST, 5): "draining"}
    plan = plan_targets([row(4, "draining"), row(5, "unused")], listed)
    assert plan == TargetPlan(register=(), deregister=(), finished=((HOST, 5),))
    # a draining address taken by a new task is registered again
    again = plan_targets([row(4, "unused", task="old"), row(4, "initial", task="new")],
                         {(HOST, 4): "draining"})
    assert again.register == ((HOST, 4),) and again.finished == ()


def test_plan_is_empty_when_api_and_proxy_agree() -> None:
    rows = [row(1, "healthy"), row(2, "initial")]
    assert plan_targets(rows, {(HOST, 1): "healthy", (HOST, 2): "initial"}) == TargetPlan()


TG = {"HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 10,
      "HealthCheckTimeoutSeconds": 4, "HealthyThresholdCount": 3, "UnhealthyThresholdCount": 2,
      "Matcher": {"HttpCode": "200-299"}}


def test_proxy_config_takes_the_api_settings() -> None:
    attrs = {"load_balancing.algorithm.type": "least_outstanding_requests",
             "deregistration_delay.timeout_seconds": "5"}
    config = proxy_config(TG, attrs, HealthSettings(), "round_robin")
    assert config.algorithm == "least_outstanding_requests" and config.notes == ()
    assert config.settings == HealthSettings(path="/health", interval=10, timeout=4,
                                             healthy_threshold=3, unhealthy_threshold=2,
                                             matcher="200-299", deregistration_delay=5)
    defaults = proxy_config({}, {}, HealthSettings(path="/health"), "least_outstanding_requests")
    assert defaults.algorithm == "round_robin"  # ALB's default when the attribute is absent
    assert defaults.settings == HealthSettings(path="/health")


@pytest.mark.parametrize(("attrs", "tg", "note"), [
    ({"load_balancing.algorithm.type": "weighted_random"}, TG, "not simulated"),
    ({}, {**TG, "HealthCheckTimeoutSeconds": 10}, "smaller than the interval"),
    ({"deregistration_delay.timeout_seconds": "soon"}, TG, "not applied"),
])
def test_what_the_proxy_cannot_take_is_kept_with_a_note(attrs, tg, note) -> None:
    current = HealthSettings(path="/health")
    config = proxy_config(tg, attrs, current, "least_outstanding_requests")
    assert any(note in n for n in config.notes)
    if "algorithm" in next(iter(attrs), ""):
        assert config.algorithm == "least_outstanding_requests"
    else:
        assert config.settings == current


def test_a_target_deregistered_by_hand_is_drained_not_registered_again() -> None:
    rows = [row(1, "healthy"), row(2, "healthy")]
    seen = registered_now(rows, {(HOST, 1): "healthy", (HOST, 2): "healthy"}, TargetPlan())
    assert seen == {(HOST, 1): "t1", (HOST, 2): "t2"}
    # The learner's deregister-targets: the API lists port 2 draining, the proxy still routes.
    assert hand_deregistered(rows, {(HOST, 1): "healthy", (HOST, 2): "draining"}, seen) == ["t2"]
    assert hand_deregistered(rows, {(HOST, 1): "healthy"}, seen) == ["t2"]
    # A new task on the same port, never listed yet, is registered as usual.
    fresh = [row(1, "healthy"), row(2, "initial", task="t9")]
    assert hand_deregistered(fresh, {(HOST, 1): "healthy"}, seen) == []
    assert plan_targets(fresh, {(HOST, 1): "healthy"}).register == ((HOST, 2),)


def test_what_the_sync_registers_counts_as_listed() -> None:
    rows = [row(1, "initial")]
    plan = plan_targets(rows, {})
    assert registered_now(rows, {}, plan) == {(HOST, 1): "t1"}
    assert registered_now([row(1, "draining")], {(HOST, 1): "healthy"}, TargetPlan()) == {}
