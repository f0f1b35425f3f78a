"""The emulator's write counter: a learner's write call moves a service's stamp, reads do not."""

from __future__ import annotations

import boto3
import pytest

from cloud.aws.endpoint import open_endpoint
from cloud.core import api_writes
from cloud.core.ports import free_port


def test_reads_are_not_writes() -> None:
    assert not api_writes.is_write("DescribeServices")
    assert not api_writes.is_write("ListTasks")
    assert not api_writes.is_write("GetMetricData")
    assert api_writes.is_write("UpdateService")
    assert api_writes.is_write("RegisterScalableTarget")


def test_bump_moves_only_its_service() -> None:
    ecs, elb = api_writes.generation("ecs"), api_writes.generation("elbv2")
    api_writes.bump("ecs")
    assert api_writes.generation("ecs") == ecs + 1
    assert api_writes.generation("elbv2") == elb


@pytest.fixture
def moto_endpoint():
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    yield endpoint
    endpoint.stop()


def test_write_calls_through_the_api_are_counted(moto_endpoint) -> None:
    api_writes.install()
    api_writes.install()  # idempotent
    ecs: boto3.client = moto_endpoint.client("ecs")
    before = api_writes.generation("ecs")
    ecs.list_clusters()
    ecs.describe_clusters(clusters=["nope"])
    assert api_writes.generation("ecs") == before
    ecs.create_cluster(clusterName="c")
    assert api_writes.generation("ecs") == before + 1


def test_a_subscriber_hears_each_write_call_and_no_read(moto_endpoint) -> None:
    api_writes.install()
    heard: list[tuple[str, str]] = []
    unsubscribe = api_writes.subscribe(lambda service, action: heard.append((service, action)))
    try:
        ecs = moto_endpoint.client("ecs")
        ecs.list_clusters()
        assert heard == []
        ecs.create_cluster(clusterName="heard")
        assert heard == [("ecs", "CreateCluster")]
    finally:
        unsubscribe()
    ecs.create_cluster(clusterName="not-heard")
    assert heard == [("ecs", "CreateCluster")]
