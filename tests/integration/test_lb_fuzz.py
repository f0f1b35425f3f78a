"""Fuzzing the fraud service through the load balancer: a small schemathesis sample.

A real replica (gunicorn, LiteRT) behind the kit's load balancer on 127.0.0.1; schemathesis
generates cases (valid and invalid) from the ``/openapi.json`` the service serves, and each
goes through the balancer. No answer is a 5xx other than ALB's own 502/503/504 (a target
fault, ``Server: awselb/2.0``), and the replica is alive and healthy afterwards.
``bench/fuzz_lb.py`` runs the same with 10,000 cases.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from cloud.core.clock import LabClock
from cloud.lb.proxy import LoadBalancer
from cloud.lb.routing import Target
from cloud.runtime.replica import Replica, start_replica

ALB_ERRORS = (502, 503, 504)


@pytest.fixture(scope="module")
def balanced() -> Iterator[tuple[LoadBalancer, Replica]]:
    replica = start_replica("fuzz-0")
    try:
        replica.wait_ready(60)
        with LoadBalancer(clock=LabClock(60), health_checks=False) as lb:
            lb.register(Target(replica.task_id, "127.0.0.1", replica.port))
            yield lb, replica
    finally:
        replica.stop()


@pytest.fixture
def api(balanced: tuple[LoadBalancer, Replica]) -> schemathesis.BaseSchema:
    lb, _ = balanced
    schema = schemathesis.openapi.from_url(f"{lb.url}/openapi.json")
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE])
    return schema


schema = schemathesis.pytest.from_fixture("api")


@schema.parametrize()
@settings(max_examples=60, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_5xx_but_albs_through_the_load_balancer(case: schemathesis.Case, balanced) -> None:
    lb, _ = balanced
    try:
        response = case.call(base_url=lb.url, timeout=30)
    except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError):
        return  # the HTTP client itself refuses to send it
    if response.status_code >= 500:
        assert response.status_code in ALB_ERRORS, (case.method, case.formatted_path,
                                                    response.status_code, response.text[:200])
        server = {name.lower(): value for name, value in response.headers.items()}["server"]
        assert server in ("awselb/2.0", ["awselb/2.0"])  # schemathesis: lists of values


def test_the_service_is_alive_through_the_load_balancer_afterwards(balanced) -> None:
    lb, replica = balanced
    assert replica.process.poll() is None
    assert requests.get(f"{lb.url}/health", timeout=10).status_code == 200
    totals = lb.snapshot(trace_limit=0)["totals"]
    assert totals["requests"] > 60  # the fuzzing went through the balancer
    assert totals["elb_502"] == totals["elb_503"] == totals["elb_504"] == 0
