"""``fraudlab export`` on a real running local cloud: the deployment is read back through the
AWS API, exported in both formats, and both validate offline — cfn-lint run as the command a
learner would type, the Kubernetes manifests against the pinned schema (strict)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from optional import lazy, needs

from cli.main import main
from cloud.export.kubernetes import K8S_VERSION

pytestmark = needs("kubernetes_validate", reason="kubernetes-validate is a dev dependency")
kv = lazy("kubernetes_validate")


def _cfn_lint(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("cfn-lint") or str(Path(__import__("sys").executable).parent / "cfn-lint")
    if not Path(exe).exists():
        pytest.skip("the cfn-lint command is not installed (pip install -e '.[dev]')")
    return subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=120,
                          check=False)


def test_export_a_running_deployment_in_both_formats(start_local_cloud, tmp_path,
                                                     capsys) -> None:
    from cloud.aws.steps.plan import deploy_all
    from cloud.aws.steps.scaling import scaling_steps

    lc = start_local_cloud()
    assert main(["export", "--format", "cloudformation"]) == 1  # nothing deployed yet
    assert "no ACTIVE cluster 'fraud-cluster'" in capsys.readouterr().err

    deploy_all(lc.endpoint.client, desired=3, placement="binpack", hosts=2,
               capacity_provider=True, max_hosts=5, algorithm="least_outstanding_requests")
    scaling_steps(lc.endpoint.client, metric="ALBRequestCountPerTarget", target_value=450,
                  min_capacity=2, max_capacity=7)
    ecs = lc.endpoint.client("ecs")
    [svc] = ecs.describe_services(cluster="fraud-cluster", services=["fraud-svc"])["services"]
    image = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])[
        "taskDefinition"]["containerDefinitions"][0]["image"]

    # CloudFormation: values from the live API, and cfn-lint finds nothing.
    stack = tmp_path / "fraudlab.cfn.yaml"
    assert main(["export", "--format", "cloudformation", "--output", str(stack)]) == 0
    frame = capsys.readouterr().out
    assert "[REAL]" in frame and "[EMULATED]" in frame and "aws cloudformation deploy" in frame
    linted = _cfn_lint(stack)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    template = yaml.safe_load(stack.read_text())
    r = template["Resources"]
    assert r["Service"]["Properties"]["DesiredCount"] == svc["desiredCount"] == 3
    assert r["Service"]["Properties"]["PlacementStrategies"] == [
        {"Type": "binpack", "Field": "memory"}]
    assert template["Parameters"]["ImageUri"]["Default"] == image
    attrs = {a["Key"]: a["Value"] for a in r["TargetGroup"]["Properties"][
        "TargetGroupAttributes"]}
    assert attrs["load_balancing.algorithm.type"] == "least_outstanding_requests"
    assert r["AutoScalingGroup"]["Properties"]["MaxSize"] == "5"
    assert (r["ScalableTarget"]["Properties"]["MinCapacity"],
            r["ScalableTarget"]["Properties"]["MaxCapacity"]) == (2, 7)
    config = r["ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 450
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
        "ALBRequestCountPerTarget"

    # A change made through the API shows in the next export: it reads the live state.
    ecs.update_service(cluster="fraud-cluster", service="fraud-svc", desiredCount=5)
    out_dir = tmp_path / "k8s"
    assert main(["export", "--format", "kubernetes", "--output", f"{out_dir}/"]) == 0
    assert "kubectl apply -f" in capsys.readouterr().out
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(out_dir.glob("*.yaml"))}
    assert set(docs) == {"deployment", "service", "horizontalpodautoscaler"}
    for doc in docs.values():
        kv.validate(doc, K8S_VERSION, strict=True)
    dep = docs["deployment"]
    assert dep["spec"]["replicas"] == 5
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert container["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    hpa = docs["horizontalpodautoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 7)
    assert hpa["metrics"][0]["type"] == "Pods"  # ALBRequestCountPerTarget: no built-in metric
    assert docs["service"]["spec"]["type"] == "LoadBalancer"

    # To stdout: the documents only; the frame goes to stderr.
    assert main(["export", "--format", "kubernetes"]) == 0
    captured = capsys.readouterr()
    assert [d["kind"] for d in yaml.safe_load_all(captured.out) if d] == [
        "Deployment", "Service", "HorizontalPodAutoscaler"]
    assert "[EMULATED]" in captured.err


def test_export_without_capacity_provider_or_scaling_reads_what_is_there(
        free_port_factory) -> None:
    """The other shape: fixed hosts, no auto scaling, names of its own — read from a bare moto
    endpoint (no local cloud) and still valid in both formats."""
    import urllib.request
    import uuid

    import cfnlint.api

    from cloud.aws.endpoint import open_endpoint
    from cloud.aws.steps.plan import deploy_all
    from cloud.export import cloudformation, kubernetes
    from cloud.export.state import read_deployment

    ep = open_endpoint({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port_factory()}"})
    suffix = uuid.uuid4().hex[:6]
    cluster, service = f"exp-cluster-{suffix}", f"exp-svc-{suffix}"
    try:
        deploy_all(ep.client, desired=2, hosts=3, cluster=cluster, service=service,
                   family=f"exp-{suffix}", repository=f"exp-{suffix}",
                   load_balancer=f"exp-alb-{suffix}", target_group=f"exp-tg-{suffix}",
                   cpu=512, memory=1024)
        with pytest.raises(LookupError, match="no ACTIVE service 'nope'"):
            read_deployment(ep.client, cluster, "nope")
        d = read_deployment(ep.client, cluster, service, endpoint=ep.url)
        assert d.capacity_provider is None and d.scaling is None
        assert (d.hosts.count, d.hosts.instance_type) == (3, "t3.medium")
        assert (d.task_definition.cpu, d.task_definition.memory) == (512, 1024)
        assert d.target_group is not None and d.target_group.name == f"exp-tg-{suffix}"
        assert d.target_group.algorithm == "round_robin"

        text = cloudformation.render(d)
        assert [f"{m.rule.id}: {m.message}" for m in cfnlint.api.lint(text)] == []
        resources = yaml.safe_load(text)["Resources"]
        assert "CapacityProvider" not in resources and "ScalableTarget" not in resources
        assert resources["AutoScalingGroup"]["Properties"]["DesiredCapacity"] == "3"

        docs = kubernetes.manifests(d)
        assert [m["kind"] for m in docs] == ["Deployment", "Service"]
        for doc in docs:
            kv.validate(doc, K8S_VERSION, strict=True)
        assert docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "500m", "memory": "1024Mi"},
            "limits": {"cpu": "500m", "memory": "1024Mi"}}
    finally:
        reset = urllib.request.Request(f"{ep.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        ep.stop()
