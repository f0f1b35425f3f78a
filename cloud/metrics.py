"""The load balancer's CloudWatch metrics, published once per lab minute (ecs-facts.md §6, §7).

ALB publishes per-minute metrics to ``AWS/ApplicationELB``: RequestCount, RequestCountPerTarget
(requests ÷ healthy targets; Application Auto Scaling's ALBRequestCountPerTarget reads it),
TargetResponseTime (seconds, average) and HTTPCode_ELB_5XX_Count. The kit computes them from
the proxy's counters at each lab-minute boundary and puts them into the emulator's CloudWatch,
where ``get-metric-statistics`` reads them back.
"""

from __future__ import annotations

import math
import time
from typing import Any

from cloud.clock import Clock

NAMESPACE = "AWS/ApplicationELB"
PERIOD = 60.0
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


class LoadBalancerMetrics:
    """Call ``tick`` often; it publishes when a lab minute has ended."""

    def __init__(self, cloudwatch: Any, lb: Any, clock: Clock) -> None:
        self.cloudwatch = cloudwatch
        self.lb = lb
        self.clock = clock
        self.latest: dict[str, float] = {}
        self._minute: float | None = None
        self._at = 0.0  # lab time of the last reading
        self._counters: dict[str, float] = {}

    def tick(self) -> dict[str, float] | None:
        now = self.clock.now()
        minute = math.floor(now / PERIOD) * PERIOD
        if self._minute is not None and minute <= self._minute:
            return None
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
        dims = {"RequestCount": [("LoadBalancer", LOAD_BALANCER)],
                "HTTPCode_ELB_5XX_Count": [("LoadBalancer", LOAD_BALANCER)],
                "RequestCountPerTarget": [("TargetGroup", TARGET_GROUP)],
                "TargetResponseTime": [("LoadBalancer", LOAD_BALANCER)]}
        units = {"TargetResponseTime": "Seconds"}
        self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=[
            {"MetricName": name, "Value": value, "Timestamp": time.time(),
             "Unit": units.get(name, "Count"),
             "Dimensions": [{"Name": n, "Value": v} for n, v in dims[name]]}
            for name, value in self.latest.items()])
        return self.latest
