"""``fraudlab deploy --autoscale … --min-tasks … --max-tasks …`` and ``fraudlab scale N`` as a
learner types them (process runtime): the steps are printed with their ``aws`` commands, the
scalable target and policy are in the API, and a manual scale moves the service."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from cli_runner import cli_env, fraudlab


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path)


def test_deploy_with_autoscale_then_scale(env) -> None:
    fraudlab(env, "up", "--runtime", "process", "--time-scale", "60")
    try:
        bad = fraudlab(env, "deploy", "--autoscale", "cpu:60", "--min-tasks", "3",
                       "--desired", "2", check=False)
        assert bad.returncode == 2 and "--desired (2) must be within" in bad.stderr
        deploy = fraudlab(env, "deploy", "--desired", "2", "--hosts", "1", "--autoscale",
                          "requests:500", "--min-tasks", "1", "--max-tasks", "3")
        assert "$ aws application-autoscaling register-scalable-target" in deploy.stdout
        assert "$ aws application-autoscaling put-scaling-policy" in deploy.stdout
        assert "2 tasks RUNNING and answering" in deploy.stdout
        aas = boto3.client("application-autoscaling", region_name="us-east-1",
                           endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="test",
                           aws_secret_access_key="test")
        [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
        [policy] = aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == 500
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == \
            "ALBRequestCountPerTarget"

        scale = fraudlab(env, "scale", "3")
        assert "aws ecs update-service" in scale.stdout and "--desired-count 3" in scale.stdout
        bad = fraudlab(env, "scale", "99", check=False)
        assert bad.returncode == 2 and "from 0 to 50" in bad.stderr
        deadline = time.monotonic() + 60
        snap: dict = {}
        while time.monotonic() < deadline:
            snap = json.loads(fraudlab(env, "status", "--json").stdout)
            # the scalable target shows from the pass after register-scalable-target
            if (sum(t["last_status"] == "RUNNING" for t in snap["tasks"]) == 3
                    and snap["scaling"]["targets"]):
                break
            time.sleep(0.5)
        assert sum(t["last_status"] == "RUNNING" for t in snap["tasks"]) == 3
        assert snap["scaling"]["targets"][0]["MaxCapacity"] == 3
        assert "service_metrics" in snap
    finally:
        fraudlab(env, "down")
