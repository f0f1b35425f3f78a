"""The AWS API endpoint: LocalStack when it answers, otherwise moto's server in-process.

Every client the kit makes goes through ``Endpoint.client`` — localstack-client's endpoint
mapping, its own botocore session (no profile, no credential chain), dummy credentials
(``test``/``test``), region us-east-1 — so real AWS credentials or profiles in the
environment are never used and nothing leaves 127.0.0.1. Talking to real AWS needs the
explicit ``real_aws=True`` (``--real-aws``) and is never a default.

Where the endpoint is: ``$AWS_ENDPOINT_URL`` (wins), else ``$LOCALSTACK_HOST`` (host:port),
else 127.0.0.1:4566 — the same rules as localstack-client.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from localstack_client.config import get_service_endpoints

REGION = "us-east-1"
DUMMY_KEY = "test"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
MOTO_VERSION = "5.2.5"
"""The moto release the kit is tested with (pinned in pyproject.toml)."""

Kind = Literal["localstack", "moto", "aws"]


class EndpointError(RuntimeError):
    """The endpoint cannot be used; the message says why and what to do."""


def endpoint_url(env: Mapping[str, str] = os.environ) -> str:
    """The URL the kit's AWS clients use, from the environment (see module docstring)."""
    explicit = env.get("AWS_ENDPOINT_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    host = env.get("LOCALSTACK_HOST", "").strip() or f"{DEFAULT_HOST}:{DEFAULT_PORT}"
    if ":" not in host:
        host = f"{host}:{DEFAULT_PORT}"
    scheme = "https" if env.get("USE_SSL", "").lower() in ("1", "true") else "http"
    return f"{scheme}://{host}"


def require_loopback(url: str) -> None:
    """Refuse any endpoint that is not on this machine's loopback."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    localstack_name = (host == "localhost.localstack.cloud"
                       or host.endswith(".localhost.localstack.cloud"))
    if localstack_name and all(ipaddress.ip_address(a[4][0]).is_loopback
                               for a in _resolve(host)):
        return
    raise EndpointError(
        f"refusing AWS endpoint {url}: the kit only talks to 127.0.0.1 "
        "(unset AWS_ENDPOINT_URL / LOCALSTACK_HOST, or pass --real-aws on purpose)")


def _resolve(host: str) -> list[Any]:
    try:
        return socket.getaddrinfo(host, None)
    except OSError:
        return [(None, None, None, None, ("0.0.0.0", 0))]


def localstack_health(url: str, timeout: float = 0.5) -> dict[str, str] | None:
    """LocalStack's services and their states, or None when LocalStack does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=timeout) as reply:
            data = json.loads(reply.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    services = data.get("services") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in services.items()} if isinstance(services, dict) else None


def moto_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a moto server answers at ``url`` (its dashboard page, ~10 KB)."""
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=timeout) as reply:
            return reply.status == 200 and b"moto" in reply.read(20_000).lower()
    except (OSError, ValueError, urllib.error.URLError):
        return False


def port_is_open(url: str, timeout: float = 0.3) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Endpoint:
    """Where AWS API calls go, what answers there, and how to make clients for it."""

    url: str
    kind: Kind
    services: dict[str, str] = field(default_factory=dict)
    _server: Any = field(default=None, repr=False)

    @property
    def badge(self) -> str:
        return "real" if self.kind == "aws" else "emulated"

    def describe(self) -> str:
        if self.kind == "localstack":
            wanted = ("ecs", "ecr", "elbv2", "application-autoscaling", "cloudwatch", "ec2")
            have = ", ".join(f"{s} ({self.services.get(s, 'missing')})" for s in wanted)
            return f"LocalStack at {self.url}: {have}"
        if self.kind == "moto":
            return f"moto {MOTO_VERSION} in-process at {self.url} (stores resources, runs nothing)"
        return "real AWS (your credentials, real costs)"

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this endpoint, with dummy credentials."""
        if self.kind == "aws":
            import boto3

            return boto3.client(service, region_name=os.environ.get("AWS_REGION", REGION))
        import boto3
        import botocore.session

        # localstack-client's service → URL mapping, with AWS_ENDPOINT_URL pinned to ours.
        url = get_service_endpoints(urlsplit(self.url).netloc).get(service) or self.url
        if os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/") != self.url:
            url = self.url
        # A stray AWS_PROFILE / AWS_DEFAULT_PROFILE must not matter: no profile lookup at all.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        session = boto3.session.Session(aws_access_key_id=DUMMY_KEY,
                                        aws_secret_access_key=DUMMY_KEY, region_name=REGION,
                                        botocore_session=core)
        return session.client(service, endpoint_url=url)

    def stop(self) -> None:
        """Stop the in-process moto server, if this endpoint started one."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_moto(url: str) -> Any:
    """moto's server (a Werkzeug app of its own) in a thread of this process."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per API call
    parts = urlsplit(url)
    server = ThreadedMotoServer(ip_address=parts.hostname or DEFAULT_HOST,
                                port=parts.port or DEFAULT_PORT, verbose=False)
    server.start()
    return server


def open_endpoint(env: Mapping[str, str] = os.environ, real_aws: bool = False,
                  start: bool = True) -> Endpoint:
    """LocalStack or moto if one answers at the endpoint URL, else moto started there."""
    if real_aws:
        return Endpoint(url="https://amazonaws.com", kind="aws")
    url = endpoint_url(env)
    require_loopback(url)
    services = localstack_health(url)
    if services is not None:
        return Endpoint(url=url, kind="localstack", services=services)
    if moto_answers(url):
        return Endpoint(url=url, kind="moto")  # another process owns it; we only call it
    if port_is_open(url):
        raise EndpointError(
            f"something that is not LocalStack already listens at {url}: stop it "
            "(`fraudlab down` if it is another local cloud), or point AWS_ENDPOINT_URL "
            "at a free port")
    if not start:
        raise EndpointError(f"no AWS endpoint answers at {url}")
    return Endpoint(url=url, kind="moto", services={}, _server=start_moto(url))
