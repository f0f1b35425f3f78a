"""The local cloud ignores the learner's AWS configuration (issue 16): each variable set to
something broken, a real ``fraudlab up``, and a boto3 call read back on its endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import cli_env, fraudlab

from cloud.aws.endpoint import open_endpoint

BROKEN_CONFIG = "[default\nregion = us-east-1\n[profile work\n"


def broken_settings(tmp: Path) -> dict[str, dict[str, str]]:
    """Variable → the broken value a learner's shell could have."""
    bad = tmp / "broken-aws-config"
    bad.write_text(BROKEN_CONFIG)
    return {
        "AWS_PROFILE": {"AWS_PROFILE": "work"},
        "AWS_PROFILE empty": {"AWS_PROFILE": ""},
        "AWS_DEFAULT_PROFILE": {"AWS_DEFAULT_PROFILE": "work"},
        "AWS_CONFIG_FILE missing": {"AWS_CONFIG_FILE": str(tmp / "missing" / "config"),
                                    "AWS_PROFILE": "work"},
        "AWS_CONFIG_FILE broken": {"AWS_CONFIG_FILE": str(bad)},
        "AWS_SHARED_CREDENTIALS_FILE broken": {"AWS_SHARED_CREDENTIALS_FILE": str(bad)},
        "AWS_DEFAULT_REGION foreign": {"AWS_DEFAULT_REGION": "ap-southeast-7",
                                       "AWS_REGION": "eu-west-3"},
    }


CASES = [
    "AWS_PROFILE", "AWS_PROFILE empty", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE missing",
    "AWS_CONFIG_FILE broken", "AWS_SHARED_CREDENTIALS_FILE broken",
    "AWS_DEFAULT_REGION foreign"]


@pytest.mark.parametrize("case", CASES)
def test_up_and_boto3_ignore_a_broken_aws_setting(case: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = broken_settings(tmp_path)[case]
    env = cli_env(tmp_path / "state") | broken
    for name, value in broken.items():  # this process (the learner's boto3 side) too
        monkeypatch.setenv(name, value)
    up = fraudlab(env, "up", "--runtime", "process", check=False)
    try:
        assert up.returncode == 0, f"fraudlab up with {broken}: {up.stderr}{up.stdout}"
        assert "ProfileNotFound" not in up.stderr + up.stdout
        ecs = open_endpoint(env, start=False).client("ecs")
        ecs.create_cluster(clusterName="config-check")
        arn = ecs.describe_clusters(clusters=["config-check"])["clusters"][0]["clusterArn"]
        assert arn == "arn:aws:ecs:us-east-1:123456789012:cluster/config-check"
        assert fraudlab(env, "status", "--json").stdout.lstrip().startswith("{")
    finally:
        fraudlab(env, "down", check=False)
