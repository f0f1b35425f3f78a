"""Who the real-AWS commands talk to: your account through boto3's standard credential chain.

Unlike the local cloud (``cloud.aws.endpoint``, dummy credentials, never your configuration),
these commands use the learner's AWS configuration on purpose: ``AWS_PROFILE``, the
environment's keys, ``~/.aws``, SSO, an instance role — whatever ``aws sts
get-caller-identity`` would use — and the region from the same chain.

Tests only: ``FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS`` points every client at an emulator on the
loopback (anything else is refused) with dummy credentials; it is never a default and nothing
else in the kit sets it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud.aws.endpoint import (
    DUMMY_KEY,
    EndpointError,
    isolated_botocore_session,
    require_loopback,
)
from cloud.aws.real.plan import RealAwsRefused

TEST_ENDPOINT_ENV = "FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS"
DEFAULT_REGION = "us-east-1"


def emulator_config() -> Any:
    """No retries against the emulator: it never throttles, and retrying an API it answers
    with HTTP 500 (moto's DescribeScalingActivities) only slows the tests."""
    from botocore.config import Config

    return Config(retries={"max_attempts": 1, "mode": "standard"})


@dataclass
class AwsAccess:
    """Makes boto3 clients for one region; ``endpoint`` is set only by tests (an emulator)."""

    region: str
    endpoint: str | None = None
    _session: Any = field(default=None, repr=False)
    _made: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def emulated(self) -> bool:
        return self.endpoint is not None

    def client(self, service: str) -> Any:
        """One client per service (creating one costs ~0.3 s)."""
        if service not in self._made:
            self._made[service] = self._new(service)
        return self._made[service]

    def _new(self, service: str) -> Any:
        if self.endpoint is not None:  # dummy credentials; nothing of the learner's is read
            import boto3

            session = boto3.session.Session(
                aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY,
                region_name=self.region, botocore_session=isolated_botocore_session())
            return session.client(service, endpoint_url=self.endpoint, config=emulator_config())
        return self._session.client(service, region_name=self.region)


def test_endpoint(env: Mapping[str, str]) -> str | None:
    """The emulator URL tests set, checked to be on the loopback; None when unset."""
    url = env.get(TEST_ENDPOINT_ENV, "").strip().rstrip("/")
    if not url:
        return None
    try:
        require_loopback(url)
    except EndpointError as exc:
        raise RealAwsRefused(f"{TEST_ENDPOINT_ENV}={url} is not on the loopback: it is for "
                             "tests with an emulator only") from exc
    return url


def chain_session(region: str | None = None,
                  session_factory: Callable[..., Any] | None = None) -> Any:
    """A boto3 session on the standard chain; a profile that does not exist is one line."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    factory = session_factory or boto3.session.Session
    try:
        return factory(region_name=region) if region else factory()
    except ProfileNotFound as exc:
        raise RealAwsRefused(f"{exc}: fix AWS_PROFILE (`aws configure list-profiles`) — "
                             "nothing was created") from exc


def open_access(env: Mapping[str, str] = os.environ, region: str | None = None,
                session_factory: Callable[..., Any] | None = None) -> AwsAccess:
    """Your credentials and region through the standard chain, checked before any call.

    RealAwsRefused (one line) when the chain finds no credentials (what botocore's
    NoCredentialsError would say at the first call).
    """
    endpoint = test_endpoint(env)
    if endpoint is not None:
        return AwsAccess(region or DEFAULT_REGION, endpoint)
    session = chain_session(region, session_factory)
    if session.get_credentials() is None:
        raise RealAwsRefused(
            "no AWS credentials found (botocore NoCredentialsError): configure them with "
            "`aws configure` or `aws sso login`, or set AWS_PROFILE — nothing was created")
    chosen = region or session.region_name or DEFAULT_REGION
    return AwsAccess(chosen, None, session)


def caller(access: AwsAccess) -> str:
    """The account and identity the commands act as (``aws sts get-caller-identity``)."""
    from botocore.exceptions import ClientError, NoCredentialsError

    try:
        who = access.client("sts").get_caller_identity()
    except NoCredentialsError as exc:
        raise RealAwsRefused("no AWS credentials found (botocore NoCredentialsError): "
                             "`aws configure`, `aws sso login` or AWS_PROFILE") from exc
    except ClientError as exc:
        raise RealAwsRefused(f"AWS refused your credentials: {exc}") from exc
    return f"account {who.get('Account')} as {who.get('Arn')}"
