"""``fraudlab deploy --autoscale …`` and ``fraudlab scale N``: arguments checked, clear errors,
before anything talks to the local cloud."""

from __future__ import annotations

import pytest

from cli.deploy import autoscale_settings
from cli.main import build_parser, main
from cloud.autoscaling.target_tracking import CPU, REQUESTS


def test_autoscale_settings_defaults_and_bounds() -> None:
    assert autoscale_settings(None, None, None, 4) is None
    assert autoscale_settings("requests:500", None, None, 4) == (REQUESTS, 500.0, 1, 10)
    assert autoscale_settings("cpu:60", 2, 8, 2) == (CPU, 60.0, 2, 8)


@pytest.mark.parametrize("args, why", [
    ((None, 2, None, 4), "go with --autoscale"),
    (("cpu:60", 5, 3, 4), "cannot exceed"),
    (("cpu:60", 2, 3, 4), r"--desired \(4\) must be within"),
    (("cpu:60", -1, 3, 1), "--min-tasks must be between"),
    (("cpu:60", 1, 99, 1), "--max-tasks must be between"),
    (("gpu:60", 1, 3, 1), "requests:TARGET"),
])
def test_autoscale_settings_errors(args, why) -> None:
    with pytest.raises(ValueError, match=why):
        autoscale_settings(*args)


def test_parser_knows_the_new_options() -> None:
    args = build_parser().parse_args(["deploy", "--autoscale", "requests:300", "--min-tasks",
                                      "2", "--max-tasks", "6", "--desired", "2"])
    assert (args.autoscale, args.min_tasks, args.max_tasks) == ("requests:300", 2, 6)
    scale = build_parser().parse_args(["scale", "3", "--service", "fraud-svc"])
    assert (scale.desired, scale.service) == (3, "fraud-svc")


def test_deploy_refuses_bad_autoscale_before_contacting_the_cloud(capsys, monkeypatch,
                                                                  tmp_path) -> None:
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))  # no local cloud there
    assert main(["deploy", "--autoscale", "cpu", "--desired", "2"]) == 2
    assert "--autoscale must be requests:TARGET" in capsys.readouterr().err
    assert main(["deploy", "--max-tasks", "3"]) == 2
    assert "go with --autoscale" in capsys.readouterr().err
