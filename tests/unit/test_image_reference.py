"""Image references split as Docker splits them, and which registries are on this machine."""

from __future__ import annotations

import pytest

from cloud.image.reference import ecr_host, is_loopback_registry, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("127.0.0.1:5000/fraud-detection:slim", "127.0.0.1:5000", "fraud-detection", "slim", None),
    ("localhost:5000/a/b", "localhost:5000", "a/b", "latest", None),
    ("fraudlab/service:slim", "docker.io", "fraudlab/service", "slim", None),
    ("python", "docker.io", "library/python", "latest", None),
    (f"127.0.0.1:5000/fraud-detection@{DIGEST}", "127.0.0.1:5000", "fraud-detection", None,
     DIGEST),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detection:svc-1",
     "123456789012.dkr.ecr.us-east-1.amazonaws.com", "fraud-detection", "svc-1", None),
])
def test_parse(text, registry, repository, tag, digest) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag,
                                                                   digest)


def test_round_trip_and_ref() -> None:
    ref = parse_reference("127.0.0.1:5000/fraud-detection:slim")
    assert str(ref) == "127.0.0.1:5000/fraud-detection:slim"
    assert ref.ref == "slim"
    pinned = ref.by_digest(DIGEST)
    assert str(pinned) == f"127.0.0.1:5000/fraud-detection@{DIGEST}"
    assert pinned.ref == DIGEST
    assert parse_reference("fraudlab/service:slim").name == "fraudlab/service"


@pytest.mark.parametrize("bad", ["", "  ", "Fraud/Service", "a:b c", "x@sha256:123",
                                 "127.0.0.1:5000/repo:bad tag"])
def test_bad_references_say_why(bad) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_reference(bad)


@pytest.mark.parametrize(("registry", "local"), [
    ("127.0.0.1:5000", True), ("127.8.9.10:80", True), ("localhost:5000", True),
    ("[::1]:5000", True), ("10.0.0.1:5000", False), ("docker.io", False),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com", False),
])
def test_loopback(registry, local) -> None:
    assert is_loopback_registry(registry) is local


def test_ecr_host() -> None:
    assert ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com") == ("123456789012",
                                                                        "eu-west-1")
    assert ecr_host("000000000000.dkr.ecr.us-east-1.localhost.localstack.cloud:4566") is None
