"""The Kubernetes renderer: requests, replicas, probes and the HPA come from the live state,
and every manifest validates against the pinned Kubernetes schema (kubernetes-validate,
strict: unknown fields are errors)."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from optional import lazy, needs

from cloud.export import kubernetes as k8s
from cloud.export.state import Container, Scaling, ScalingPolicy, example

pytestmark = needs("kubernetes_validate", reason="kubernetes-validate is a dev dependency")
kv = lazy("kubernetes_validate")

VARIANTS = {
    "requests metric, spread": example(),
    "cpu metric, binpack": example(placement="binpack",
                                   metric="ECSServiceAverageCPUUtilization", target_value=60),
    "no scaling": example(metric=None),
    "two policies, no scale-in": dataclasses.replace(example(), scaling=Scaling(0, 8, (
        ScalingPolicy("cpu", "ECSServiceAverageCPUUtilization", 60, disable_scale_in=True),
        ScalingPolicy("mem", "ECSServiceAverageMemoryUtilization", 70,
                      disable_scale_in=True)))),
}


def _validate(doc: dict) -> None:
    kv.validate(doc, k8s.K8S_VERSION, strict=True)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_manifest_validates_strictly(name: str) -> None:
    docs = [d for d in yaml.safe_load_all(k8s.render(VARIANTS[name])) if d]
    assert [d["kind"] for d in docs][:2] == ["Deployment", "Service"]
    for doc in docs:
        _validate(doc)


def test_the_strict_schema_does_reject_a_wrong_manifest() -> None:
    """The check above can fail: an unknown field and a wrong type are rejected."""
    bad = k8s.deployment(example())
    bad["spec"]["replica"] = 4
    with pytest.raises(kv.ValidationError):
        _validate(bad)
    bad = k8s.hpa(example())
    bad["spec"]["maxReplicas"] = "ten"
    with pytest.raises(kv.ValidationError):
        _validate(bad)


@pytest.mark.parametrize(("units", "quantity"), [(256, "250m"), (512, "500m"),
                                                  (1024, "1000m"), (2048, "2000m"),
                                                  (100, "98m"), (1, "1m")])
def test_cpu_units_become_millicores(units: int, quantity: str) -> None:
    assert k8s.cpu_quantity(units) == quantity


def test_bad_quantities_are_refused() -> None:
    with pytest.raises(ValueError, match="CPU units"):
        k8s.cpu_quantity(0)
    with pytest.raises(ValueError, match="memory"):
        k8s.memory_quantity(-1)


def _container(d) -> dict:
    return k8s.deployment(d)["spec"]["template"]["spec"]["containers"][0]


def test_deployment_follows_the_task_definition_and_service() -> None:
    d = dataclasses.replace(example(), desired_count=6)
    dep = k8s.deployment(d)
    assert dep["spec"]["replicas"] == 6
    c = _container(d)
    assert c["image"] == d.task_definition.container.image
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"},
                              "limits": {"cpu": "250m", "memory": "512Mi"}}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["exec"]["command"] == ["python", "/app/service/healthcheck.py"]
    assert (c["livenessProbe"]["periodSeconds"], c["livenessProbe"]["failureThreshold"]) == (30, 3)
    ready = c["readinessProbe"]
    assert ready["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert (ready["periodSeconds"], ready["successThreshold"], ready["failureThreshold"]) == \
        (30, 1, 2)
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "0%",
                                                        "maxSurge": "100%"}
    half = k8s.deployment(dataclasses.replace(d, minimum_healthy_percent=50,
                                              maximum_percent=150))
    assert half["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": "50%",
                                                         "maxSurge": "50%"}


def test_memory_reservation_is_the_request_and_no_task_cpu_means_no_cpu_limit() -> None:
    d = example()
    c = dataclasses.replace(d.task_definition.container, cpu=512, memory=1024,
                            memory_reservation=768)
    td = dataclasses.replace(d.task_definition, container=c, cpu=None, memory=None)
    res = k8s.resources(dataclasses.replace(d, task_definition=td))
    assert res == {"requests": {"cpu": "500m", "memory": "768Mi"},
                   "limits": {"memory": "1024Mi"}}


def test_latest_tag_pulls_always() -> None:
    d = example()
    c: Container = dataclasses.replace(d.task_definition.container, image="repo/fraud:latest")
    td = dataclasses.replace(d.task_definition, container=c)
    assert _container(dataclasses.replace(d, task_definition=td))["imagePullPolicy"] == "Always"


def test_placement_spread_and_binpack() -> None:
    spread = k8s.deployment(example())["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["topology.kubernetes.io/zone",
                                                  "kubernetes.io/hostname"]
    assert {s["whenUnsatisfiable"] for s in spread} == {"ScheduleAnyway"}
    binpack = k8s.deployment(example(placement="binpack"))
    assert "topologySpreadConstraints" not in binpack["spec"]["template"]["spec"]
    assert "MostAllocated" in binpack["metadata"]["annotations"]["fraudlab/placement"]


def test_service_is_a_load_balancer_from_the_listener_port_to_the_container() -> None:
    svc = k8s.service(example())
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080,
                                     "protocol": "TCP"}]
    assert svc["spec"]["selector"] == k8s.deployment(example())["spec"]["selector"][
        "matchLabels"]
    assert "round_robin" in svc["metadata"]["annotations"]["fraudlab/alb-target-group"]


def test_hpa_from_cpu_maps_directly() -> None:
    hpa = k8s.hpa(example(metric="ECSServiceAverageCPUUtilization", target_value=60))
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "fraud-svc"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 10)
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}


def test_hpa_from_alb_requests_is_a_pods_metric_and_says_it_needs_an_adapter() -> None:
    hpa = k8s.hpa(example(target_value=600))
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "10000m"}
    note = hpa["metadata"]["annotations"]["fraudlab/metrics"]
    assert "no built-in" in note and "custom metrics adapter" in note
    assert any("ALBRequestCountPerTarget" in n for n in k8s.notes(example()))


def test_hpa_min_zero_and_disabled_scale_in() -> None:
    hpa = k8s.hpa(VARIANTS["two policies, no scale-in"])
    assert hpa["spec"]["minReplicas"] == 1
    assert len(hpa["spec"]["metrics"]) == 2
    assert hpa["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
    assert k8s.hpa(example(metric=None)) is None
    assert [m["kind"] for m in k8s.manifests(example(metric=None))] == ["Deployment", "Service"]


def test_an_unknown_metric_is_refused_clearly() -> None:
    d = dataclasses.replace(example(), scaling=Scaling(1, 4, (ScalingPolicy("x", "custom", 1),)))
    with pytest.raises(ValueError, match="no HPA mapping"):
        k8s.hpa(d)
