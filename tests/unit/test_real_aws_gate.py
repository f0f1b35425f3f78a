"""``fraudlab deploy --real-aws`` (= ``fraudlab aws deploy``): never a default, needs a
confirmation, prints the plan and the cost first; its refusals (no opt-in, no credentials)
are one line each and come before any AWS call.

boto3's client factories are replaced by a trap that fails the test if anything builds a
client, so "no AWS call" is checked, not assumed. Nothing here reaches AWS.
"""

from __future__ import annotations

import os

import boto3
import pytest

from cli.main import main
from cloud.aws.endpoint import Endpoint, EndpointError
from cloud.aws.real_aws import CONFIRM_ENV, RealAwsRequest, confirmed, plan


@pytest.fixture
def no_aws(monkeypatch, tmp_path) -> list[str]:
    """Every boto3 client creation is recorded and refused; no local cloud is running."""
    made: list[str] = []

    def trap(*args, **kwargs):
        made.append(str(args[1] if len(args) > 1 else kwargs.get("service_name", args)))
        raise AssertionError("an AWS client was created")

    monkeypatch.setattr(boto3, "client", trap)
    monkeypatch.setattr(boto3.session.Session, "client", trap)
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(CONFIRM_ENV, raising=False)
    return made


def test_without_the_flag_deploy_never_goes_to_aws(no_aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv(CONFIRM_ENV, "1")  # even confirmed: no flag means the local cloud only
    assert main(["deploy"]) == 2
    err = capsys.readouterr().err
    assert "no local cloud is running" in err and "REAL AWS" not in err
    assert no_aws == []


def test_the_flag_alone_is_not_a_confirmation(no_aws, capsys) -> None:
    assert main(["deploy", "--real-aws"]) == 2
    captured = capsys.readouterr()
    assert "REAL AWS" in captured.out and "total (estimate)" in captured.out
    assert "an Auto Scaling group of 2 t3.medium instances" in captured.out
    assert captured.err.strip().splitlines() == [
        f"fraudlab deploy: real AWS needs your opt-in: set {CONFIRM_ENV}=1 or type yes at "
        "the prompt — nothing was created"]
    assert no_aws == []


def test_no_credentials_is_one_line_before_any_call(no_aws, monkeypatch, capsys) -> None:
    """The standard chain finds nothing (no keys, no profile, no files, no instance role —
    the metadata service is switched off so nothing is asked on the network)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv(CONFIRM_ENV, "1")
    for command in (["aws", "deploy", "--image", "x"], ["aws", "status"], ["aws", "destroy"]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no AWS credentials found (botocore NoCredentialsError)" \
            in err[0], err
    assert no_aws == []


def test_a_missing_profile_is_one_line(no_aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-fraudlab")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    assert main(["aws", "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such-profile-fraudlab" in err[0] and "AWS_PROFILE" in err[0]
    assert no_aws == []


def test_the_test_endpoint_must_be_loopback(no_aws, monkeypatch, capsys) -> None:
    from cloud.aws.real.access import TEST_ENDPOINT_ENV

    monkeypatch.setenv(TEST_ENDPOINT_ENV, "https://cloudformation.us-east-1.amazonaws.com")
    assert main(["aws", "status"]) == 2
    assert "is not on the loopback" in capsys.readouterr().err
    assert no_aws == []


def test_bad_arguments_are_refused_before_the_gate(no_aws, monkeypatch, capsys) -> None:
    monkeypatch.setenv(CONFIRM_ENV, "1")
    assert main(["deploy", "--real-aws", "--desired", "99"]) == 2
    assert "--desired must be 0-50" in capsys.readouterr().err
    assert main(["deploy", "--real-aws", "--min-tasks", "2"]) == 2
    assert "go with --autoscale" in capsys.readouterr().err
    assert main(["aws", "deploy", "--instance-type", "x9.huge"]) == 2
    assert "no list price for x9.huge" in capsys.readouterr().err
    assert no_aws == []


@pytest.mark.parametrize(("env", "answer", "ok"), [
    ({CONFIRM_ENV: "1"}, None, True),
    ({CONFIRM_ENV: "yes"}, None, False),  # only the documented value
    ({}, "yes", True),
    ({}, "y", False),
    ({}, "YES please", False),
    ({}, None, False),
])
def test_confirmation_is_explicit(env, answer, ok) -> None:
    ask = None if answer is None else (lambda prompt: answer)
    assert confirmed(env, ask) is ok


def test_no_terminal_is_no_confirmation() -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    assert confirmed({}, eof) is False


def test_the_plan_lists_autoscaling_when_asked() -> None:
    lines = plan(RealAwsRequest(autoscale="requests:500", desired=6))
    assert any("target-tracking policy (requests:500)" in line for line in lines)
    assert any("ECS service fraud-svc with 6 tasks" in line for line in lines)
    assert not any("capacity provider" in line for line in plan(RealAwsRequest()))


def test_the_local_cloud_never_drives_real_aws(no_aws, monkeypatch) -> None:
    from cloud.server import localcloud

    monkeypatch.setattr(localcloud, "open_endpoint",
                        lambda env: Endpoint(url="https://amazonaws.com", kind="aws"))
    with pytest.raises(EndpointError, match="only runs against an emulator"):
        localcloud.LocalCloud("process")
    assert no_aws == []

