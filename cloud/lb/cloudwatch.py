"""The load balancer's CloudWatch metrics, published once per lab minute (ecs-facts.md §6, §7).

ALB publishes per-minute metrics to ``AWS/ApplicationELB``: RequestCount, RequestCountPerTarget
(requests ÷ healthy targets; Application Auto Scaling's ALBRequestCountPerTarget reads it),
TargetResponseTime (seconds, average) and HTTPCode_ELB_5XX_Count. The kit computes them from
the proxy's counters at each lab-minute boundary and puts them into the emulator's CloudWatch,
where ``get-metric-statistics`` reads them back — under the dimension values of the load
balancer and target group in the API (``app/NAME/ID``, ``targetgroup/NAME/ID``, from their ARNs)
once they exist, the kit's stand-in names before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cloud.core.clock import PERIOD, Clock, is_new_minute, minute_of

NAMESPACE = "AWS/ApplicationELB"
LOAD_BALANCER = "app/fraud-alb/0123456789abcdef"
TARGET_GROUP = "targetgroup/fraud-tg/0123456789abcdef"
COUNTERS = ("requests", "elb_502", "elb_503", "elb_504", "target_responses", "target_time_ms")


def minute_metrics(delta: dict[str, float], healthy: int,
                   window: float = PERIOD) -> dict[str, float]:
    """One lab minute's metrics from the counters' increase over ``window`` lab seconds (pure).

    The counters are read at the first loop pass of each minute, so the window between two
    readings is a minute give or take a pass (and several minutes when a pass was slow): the
    counts are scaled to 60 lab seconds, a per-minute rate.
    """
    per_minute = PERIOD / window if window > 0 else 1.0
    responses = delta["target_responses"]
    requests = delta["requests"] * per_minute
    metrics = {
        "RequestCount": requests,
        "HTTPCode_ELB_5XX_Count": (delta["elb_502"] + delta["elb_503"] + delta["elb_504"])
        * per_minute,
    }
    if healthy:
        metrics["RequestCountPerTarget"] = requests / healthy
    if responses:
        metrics["TargetResponseTime"] = delta["target_time_ms"] / responses / 1000
    return metrics


def dimension_values(load_balancer_arn: str | None,
                     target_group_arn: str | None) -> tuple[str, str]:
    """The LoadBalancer and TargetGroup dimension values of two ARNs (the part after
    ``loadbalancer/`` and the resource part); the kit's stand-ins for what is missing."""
    lb = (load_balancer_arn.split(":loadbalancer/", 1)[1]
          if load_balancer_arn and ":loadbalancer/" in load_balancer_arn else LOAD_BALANCER)
    tg = (target_group_arn.rsplit(":", 1)[1]
          if target_group_arn and ":targetgroup/" in target_group_arn else TARGET_GROUP)
    return lb, tg


class LoadBalancerMetrics:
    """Call ``tick`` often; it publishes when a lab minute has ended.

    ``arns`` tells the load balancer's and target group's ARNs as the API has them (None while
    there are none); their dimension values name the metrics.
    """

    def __init__(self, cloudwatch: Any, lb: Any, clock: Clock,
                 arns: Callable[[], tuple[str | None, str | None]] | None = None) -> None:
        self.cloudwatch = cloudwatch
        self.lb = lb
        self.clock = clock
        self.arns = arns or (lambda: (None, None))
        self.latest: dict[str, float] = {}
        self._minute: float | None = None
        self._at = 0.0  # lab time of the last reading
        self._counters: dict[str, float] = {}

    def tick(self) -> dict[str, float] | None:
        now = self.clock.now()
        if not is_new_minute(now, self._minute):
            return None
        minute = minute_of(now)
        snap = self.lb.snapshot(trace_limit=0)
        counters = {k: float(snap["totals"].get(k, 0)) for k in COUNTERS}
        first = self._minute is None
        delta = {k: counters[k] - self._counters.get(k, 0.0) for k in COUNTERS}
        window, self._at = now - self._at, now
        self._minute, self._counters = minute, counters
        if first:
            return None  # the baseline: a whole minute has not been seen yet
        healthy = sum(t["state"] == "healthy" for t in snap["targets"])
        self.latest = minute_metrics(delta, healthy, window)
        lb_name, tg_name = dimension_values(*self.arns())
        dims = {"RequestCount": [("LoadBalancer", lb_name)],
                "HTTPCode_ELB_5XX_Count": [("LoadBalancer", lb_name)],
                "RequestCountPerTarget": [("TargetGroup", tg_name)],
                "TargetResponseTime": [("LoadBalancer", lb_name)]}
        units = {"TargetResponseTime": "Seconds"}
        self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
            {"MetricName": name, "Value": value, "Timestamp": time.time(),
             "Unit": units.get(name, "Count"),
             "Dimensions": [{"Name": n, "Value": v} for n, v in dims[name]]}
            for name, value in self.latest.items()])
        return self.latest
