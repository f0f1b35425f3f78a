"""One lab minute of ALB metrics from the proxy's counters."""

from __future__ import annotations

from cloud.lb.cloudwatch import LOAD_BALANCER, TARGET_GROUP, dimension_values, minute_metrics

DELTA = {"requests": 600.0, "elb_502": 2.0, "elb_503": 1.0, "elb_504": 0.0,
         "target_responses": 597.0, "target_time_ms": 597 * 4.0}


def test_per_minute_metrics() -> None:
    m = minute_metrics(DELTA, healthy=4)
    assert m["RequestCount"] == 600
    assert m["RequestCountPerTarget"] == 150  # requests ÷ healthy targets
    assert m["HTTPCode_ELB_5XX_Count"] == 3
    assert abs(m["TargetResponseTime"] - 0.004) < 1e-12  # seconds, average


def test_no_healthy_target_and_no_answer_publish_no_per_target_or_time() -> None:
    m = minute_metrics({**DELTA, "target_responses": 0.0, "target_time_ms": 0.0}, healthy=0)
    assert "RequestCountPerTarget" not in m and "TargetResponseTime" not in m
    assert m["RequestCount"] == 600


def test_counts_are_scaled_to_a_minute_when_the_window_is_not_one() -> None:
    # Read 45 lab s apart (a late pass before, an early one now): 600 requests → 800/minute.
    m = minute_metrics(DELTA, healthy=4, window=45.0)
    assert m["RequestCount"] == 800 and m["RequestCountPerTarget"] == 200
    assert m["HTTPCode_ELB_5XX_Count"] == 4
    assert abs(m["TargetResponseTime"] - 0.004) < 1e-12  # an average: not scaled
    two = minute_metrics(DELTA, healthy=4, window=120.0)  # a slow pass: two minutes
    assert two["RequestCount"] == 300


def test_dimension_values_come_from_the_arns_once_there_are_some() -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
    assert dimension_values(arn + "loadbalancer/app/fraud-alb/50dc6c495c0c9188",
                            arn + "targetgroup/fraud-tg/6d0ecf831eec9f09") == (
        "app/fraud-alb/50dc6c495c0c9188", "targetgroup/fraud-tg/6d0ecf831eec9f09")
    assert dimension_values(None, None) == (LOAD_BALANCER, TARGET_GROUP)
