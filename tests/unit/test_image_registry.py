"""The kit's registry: its generated config and where a repository's pushes go (pure parts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cloud.image.registry import (
    RegistryInfo,
    RegistryUnavailable,
    find_binary,
    registry_config,
    registry_for_repository,
)

LOCAL = RegistryInfo("127.0.0.1:5000", "http://127.0.0.1:5000", "local", False, 1, "/s")


def test_config_binds_loopback_without_auth(tmp_path: Path) -> None:
    text = registry_config(tmp_path / "a dir", 5123)
    assert "  addr: 127.0.0.1:5123" in text.splitlines()
    assert f"    rootdirectory: {json.dumps(str(tmp_path / 'a dir'))}" in text.splitlines()
    assert "auth" not in text and "htpasswd" not in text
    assert text.startswith("version: 0.1\n")
    with pytest.raises(ValueError, match="port"):
        registry_config(tmp_path, 70000)


def test_moto_repository_goes_to_the_local_registry() -> None:
    name, why = registry_for_repository(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection", LOCAL)
    assert name == "127.0.0.1:5000/fraud-detection"
    assert "stands in" in why
    with pytest.raises(RegistryUnavailable, match="not running"):
        registry_for_repository("123456789012.dkr.ecr.us-east-1.amazonaws.com/x", None)


def test_localstack_repository_is_its_own_registry() -> None:
    uri = "000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566/fraud-detection"
    name, _ = registry_for_repository(uri, LOCAL)
    assert name == uri
    name, _ = registry_for_repository("localhost.localstack.cloud:4510/fraud-detection", None)
    assert name == "localhost.localstack.cloud:4510/fraud-detection"


def test_binary_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "registry"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("FRAUDLAB_REGISTRY_BIN", str(fake))
    assert find_binary() is None  # not executable
    os.chmod(fake, 0o755)
    assert find_binary() == str(fake)
