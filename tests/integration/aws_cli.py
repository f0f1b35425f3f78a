"""Run the real AWS CLI (awscli, the dev extra) against a local cloud's endpoint, as a learner
types it (a helper module of the conformance tests, as cli_runner.py is of the CLI's)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

AWS = Path(sys.executable).with_name("aws")


def aws_binary() -> str:
    """The venv's ``aws`` (else one on PATH); the test is skipped with the reason when none."""
    found = str(AWS) if AWS.exists() else shutil.which("aws")
    if not found:
        pytest.skip("the AWS CLI is not installed: pip install awscli (the dev extra)")
    return found


def aws_env(tmp: Path) -> dict[str, str]:
    """Dummy credentials, us-east-1, no profile or config file of the user's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") or k == "AWS_ENDPOINT_URL"}
    return {**env, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "credentials"), "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}


class Aws:
    """``aws --endpoint-url URL ...`` in a subprocess."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.env, self.binary = url, aws_env(tmp), aws_binary()

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "--endpoint-url", self.url, "--output", "json",
                               *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def __call__(self, *args: str, timeout: float = 120) -> Any:
        """The call's JSON answer; the call must succeed (its output is shown when not)."""
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}{done.stdout}"
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def fails(self, code: str, *args: str, timeout: float = 120) -> str:
        """The call must be refused with the service's error ``code`` (a client error: awscli
        1.x prints "An error occurred (CODE) when calling ..." and exits 255; an HTTP 500
        would read "(500)" or "InternalError"); its stderr is returned."""
        done = self.run(*args, timeout=timeout)
        assert done.returncode != 0, f"aws {' '.join(args)} succeeded: {done.stdout}"
        assert f"An error occurred ({code})" in done.stderr, (
            f"aws {' '.join(args)}: expected {code}, got:\n{done.stderr}")
        return done.stderr
