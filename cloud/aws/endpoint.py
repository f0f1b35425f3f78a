"""The AWS API endpoint: LocalStack when it answers, otherwise moto's server in-process.

Every client the kit makes goes through ``Endpoint.client`` — localstack-client's endpoint
mapping, its own botocore session (no profile, no credential chain), dummy credentials
(``test``/``test``), region us-east-1 — so real AWS credentials or profiles in the
environment are never used and nothing leaves 127.0.0.1. Talking to real AWS needs the
explicit ``real_aws=True`` (``--real-aws``) and is never a default.

Where the endpoint is: ``$AWS_ENDPOINT_URL`` (wins), else ``$LOCALSTACK_HOST`` (host:port),
else 127.0.0.1:4566 — the same rules as localstack-client.

Honest fallback: LocalStack is used only when it has what the kit needs (ECS, ECR, ELBv2 and
Application Auto Scaling — Base-plan services, emulator-notes.md). When it answers without
them (no ``LOCALSTACK_AUTH_TOKEN``, or a plan without them), ``open_endpoint`` says so in one
line (``Endpoint.note``) and starts the embedded emulator (moto) on another loopback port
(``$FRAUDLAB_FALLBACK_PORT``, default 4567), leaving 4566 to LocalStack.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from localstack_client.config import get_service_endpoints

from cloud.aws.network_guard import install_network_checks

REGION = "us-east-1"
DUMMY_KEY = "test"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
FALLBACK_PORT = 4567
"""Where the embedded emulator listens when LocalStack keeps 4566 but cannot serve the kit."""
REQUIRED_SERVICES = ("ecs", "ecr", "elbv2", "application-autoscaling")
"""What the kit's deploy needs from LocalStack (all Base-plan services since 2026)."""
READY_STATES = ("available", "running")
LICENSE_MARK = "not included in your current license plan"
MOTO_VERSION = "5.2.5"
"""The moto release the kit is tested with (pinned in pyproject.toml)."""

Kind = Literal["localstack", "moto", "aws"]

KEPT_AWS_VARIABLES = ("AWS_ENDPOINT_URL",)
"""The one ``AWS_*`` variable the local cloud reads: where its AWS API answers."""
LOCAL_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": DUMMY_KEY,
    "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,  # not a regular file: botocore reads it as empty
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
"""The AWS settings of a process that hosts the local cloud, whatever the learner's are."""


class EndpointError(RuntimeError):
    """The endpoint cannot be used; the message says why and what to do."""


def isolate_aws_environment(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Make ``environ`` (the local cloud's process) blind to the learner's AWS configuration.

    moto calls ``boto3.Session()`` when it is imported: a profile that does not exist
    (``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``), a broken ``AWS_CONFIG_FILE`` or
    ``AWS_SHARED_CREDENTIALS_FILE`` or a foreign region would stop the local cloud or leak
    into it. Every ``AWS_*`` variable but ``AWS_ENDPOINT_URL`` is removed, then
    ``LOCAL_AWS_ENVIRONMENT`` is set; the names removed or changed are returned.
    """
    changed = [name for name in environ
               if name.startswith("AWS_") and name not in KEPT_AWS_VARIABLES
               and environ[name] != LOCAL_AWS_ENVIRONMENT.get(name)]
    for name in changed:
        del environ[name]
    for name, value in LOCAL_AWS_ENVIRONMENT.items():
        if environ.get(name) != value:
            environ[name] = value
            if name not in changed:
                changed.append(name)
    return changed


def isolated_botocore_session() -> Any:
    """A botocore session that reads nothing of the learner's: no profile, no config or
    credentials file, no ``AWS_*`` setting from the environment; region us-east-1."""
    import botocore.session
    from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES

    session_vars = {name: (None, None, default, conversion)
                    for name, (_, _, default, conversion)
                    in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()}
    session_vars |= {"profile": (None, None, None, None),
                     "region": (None, None, REGION, None),
                     "config_file": (None, None, os.devnull, None),
                     "credentials_file": (None, None, os.devnull, None)}
    return botocore.session.Session(session_vars=session_vars)


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


def is_localstack_name(host: str) -> bool:
    """LocalStack's own host names (``localhost.localstack.cloud`` and its subdomains, which
    its public DNS points at 127.0.0.1)."""
    return host == "localhost.localstack.cloud" or host.endswith(".localhost.localstack.cloud")


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
    if is_localstack_name(host) and all(ipaddress.ip_address(a[4][0]).is_loopback
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


def _localstack_page(url: str, path: str, timeout: float) -> dict[str, Any] | None:
    """One of LocalStack's JSON pages, or None when nothing (or no JSON object) answers."""
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=timeout) as reply:
            data = json.loads(reply.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def localstack_status(url: str, timeout: float = 0.5) -> tuple[dict[str, str], str] | None:
    """LocalStack's services with their states, and its edition ("community", "pro", … or ""
    — from the health page, else the info page); None when LocalStack does not answer."""
    health = _localstack_page(url, "/_localstack/health", timeout)
    services = health.get("services") if health else None
    if not isinstance(services, dict):
        return None
    edition = health.get("edition") or \
        (_localstack_page(url, "/_localstack/info", timeout) or {}).get("edition") or ""
    return {str(k): str(v) for k, v in services.items()}, str(edition)


@dataclass(frozen=True)
class Verdict:
    """Whether LocalStack can serve the kit, and the one line that says why not."""

    usable: bool
    missing: tuple[str, ...] = ()
    reason: str = ""


def localstack_verdict(services: Mapping[str, str], edition: str = "",
                       failures: Mapping[str, str] | None = None,
                       token_set: bool = False, url: str = "") -> Verdict:
    """Decide from LocalStack's health (service → state), its edition, and the errors of
    probe calls (service → message) whether the kit can use it; pure.

    A service is missing when health does not list it as available/running, or when a call
    to it answered LocalStack's "not included in your current license plan".
    """
    failures = failures or {}
    missing = tuple(s for s in REQUIRED_SERVICES
                    if services.get(s, "missing") not in READY_STATES
                    or LICENSE_MARK in failures.get(s, ""))
    if not missing:
        return Verdict(True)
    states = ", ".join(f"{s} ({_state(s, services, failures)})" for s in missing)
    where = f" at {url}" if url else ""
    return Verdict(False, missing, f"LocalStack{where} lacks {states}: "
                   f"{_why(edition, failures, token_set)}; ECS, ECR, ELBv2 and Application "
                   "Auto Scaling need LocalStack's Base plan — using the embedded emulator")


def _state(service: str, services: Mapping[str, str], failures: Mapping[str, str]) -> str:
    if LICENSE_MARK in failures.get(service, ""):
        return "not in the license plan"
    return services.get(service, "missing")


def _why(edition: str, failures: Mapping[str, str], token_set: bool) -> str:
    """The likely cause, from the edition LocalStack reports and the probes' refusals."""
    ed = edition.strip().lower()
    if ed == "community":
        return "LocalStack runs without LOCALSTACK_AUTH_TOKEN (community edition)"
    if not token_set and not any(LICENSE_MARK in m for m in failures.values()):
        return "no LOCALSTACK_AUTH_TOKEN here, or a plan without them (e.g. the free Hobby plan)"
    return (f"the token's plan{f' ({edition})' if ed else ''} does not include them "
            "(the free Hobby plan does not)")


def moto_answers(url: str, timeout: float = 3.0) -> bool:
    """True when a moto server answers at ``url`` (its dashboard page, ~10 KB; a loaded
    machine can take seconds to render it)."""
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
    note: str = ""
    """One line on how this endpoint was chosen when it is not the obvious one (a fallback)."""
    _clients: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                          compare=False)

    @property
    def badge(self) -> str:
        return "real" if self.kind == "aws" else "emulated"

    def describe(self) -> str:
        if self.kind == "localstack":
            wanted = ("ecs", "ecr", "elbv2", "application-autoscaling", "cloudwatch", "ec2")
            have = ", ".join(f"{s} ({self.services.get(s, 'missing')})" for s in wanted)
            return f"LocalStack at {self.url}: {have}"
        if self.kind == "moto":
            text = f"moto {MOTO_VERSION} in-process at {self.url} (stores resources, runs nothing)"
            return f"{text} — {self.note}" if self.note else text
        return "real AWS (your credentials, real costs)"

    def client(self, service: str, config: Any = None) -> Any:
        """A boto3 client for ``service`` on this endpoint, with dummy credentials
        (``config``: an optional ``botocore.config.Config``). Without ``config``, one client
        per service, made on first use and shared (boto3's clients are thread-safe): making
        one loads the service's model, ~0.1–1 s of CPU under the GIL the proxy waits on."""
        if config is not None:
            return self._new_client(service, config)
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = self._new_client(service, None)
        return client

    def _new_client(self, service: str, config: Any) -> Any:
        if self.kind == "aws":
            import boto3

            return boto3.client(service, region_name=os.environ.get("AWS_REGION", REGION),
                                config=config)
        import boto3

        # localstack-client's service → URL mapping, with AWS_ENDPOINT_URL pinned to ours.
        url = get_service_endpoints(urlsplit(self.url).netloc).get(service) or self.url
        if os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/") != self.url:
            url = self.url
        # The learner's AWS_PROFILE, config files or region must not matter: nothing is read.
        session = boto3.session.Session(aws_access_key_id=DUMMY_KEY,
                                        aws_secret_access_key=DUMMY_KEY, region_name=REGION,
                                        botocore_session=isolated_botocore_session())
        return session.client(service, endpoint_url=url, config=config)

    def stop(self) -> None:
        """Stop the in-process moto server, if this endpoint started one."""
        if self._server is not None:
            self._server.stop()
            self._server = None


def start_moto(url: str) -> Any:
    """moto's server (a Werkzeug app of its own) in a thread of this process."""
    # moto only when it is started: at the top, moto.server and the guards added 0.37 s to
    # every import of this module (each `fraudlab deploy|export|push`; farm-bench, 2026-12-06)
    from moto.server import ThreadedMotoServer

    from cloud.aws.guards import install

    install()  # what the local AWS fixes or refuses (cloud/aws/guards.py)
    install_network_checks()  # network-mode mismatches refused as ECS refuses them
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per API call
    parts = urlsplit(url)
    server = ThreadedMotoServer(ip_address=parts.hostname or DEFAULT_HOST,
                                port=parts.port or DEFAULT_PORT, verbose=False)
    server.start()
    return server


PROBES: dict[str, tuple[str, dict[str, Any]]] = {
    "ecs": ("list_clusters", {}),
    "ecr": ("describe_repositories", {}),
    "elbv2": ("describe_load_balancers", {}),
    "application-autoscaling": ("describe_scalable_targets", {"ServiceNamespace": "ecs"}),
}
"""One cheap read call per required service, to catch LocalStack's license refusal."""


def probe_services(endpoint: Endpoint) -> dict[str, str]:
    """Call each required service once (no retries); service → error message for failures."""
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2,
                    read_timeout=10)
    failures: dict[str, str] = {}
    for service, (operation, kwargs) in PROBES.items():
        try:
            getattr(endpoint.client(service, config), operation)(**kwargs)
        except Exception as exc:  # any refusal is reported; the verdict reads the message
            failures[service] = f"{type(exc).__name__}: {exc}"[:300]
    return failures


def fallback_url(env: Mapping[str, str], url: str) -> str:
    """Where the embedded emulator goes when LocalStack holds ``url``."""
    port = env.get("FRAUDLAB_FALLBACK_PORT", "").strip() or str(FALLBACK_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EndpointError(f"FRAUDLAB_FALLBACK_PORT must be a port number, got {port!r}")
    parts = urlsplit(url)
    if int(port) == (parts.port or DEFAULT_PORT):
        raise EndpointError(f"FRAUDLAB_FALLBACK_PORT ({port}) is LocalStack's own port")
    return f"http://{DEFAULT_HOST}:{port}"


def _moto_at(url: str, start: bool, note: str = "") -> Endpoint:
    """moto answering at ``url``, or started there (with ``start``)."""
    if moto_answers(url):
        return Endpoint(url=url, kind="moto", note=note)  # another process owns it
    if port_is_open(url):
        raise EndpointError(
            f"something that is not LocalStack already listens at {url}: stop it "
            "(`fraudlab down` if it is another local cloud), or point "
            f"{'FRAUDLAB_FALLBACK_PORT' if note else 'AWS_ENDPOINT_URL'} at a free port")
    if not start:
        raise EndpointError(f"no AWS endpoint answers at {url}")
    return Endpoint(url=url, kind="moto", services={}, _server=start_moto(url), note=note)


def open_endpoint(env: Mapping[str, str] = os.environ, real_aws: bool = False,
                  start: bool = True, probe: bool = True) -> Endpoint:
    """LocalStack if it answers at the endpoint URL with ECS/ECR/ELBv2/Application Auto
    Scaling; else moto if it answers there; else moto started there. A LocalStack without
    those services gets the one-line ``note`` and moto on the fallback port.

    ``probe`` makes one read call per required service to LocalStack (its license refusals
    only show up on calls) — when ``start`` is set, i.e. when the local cloud chooses; a
    command attaching to it (``start=False``) trusts the URL the local cloud recorded.
    """
    if real_aws:
        return Endpoint(url="https://amazonaws.com", kind="aws")
    url = endpoint_url(env)
    require_loopback(url)
    status = localstack_status(url)
    if status is not None:
        services, edition = status
        endpoint = Endpoint(url=url, kind="localstack", services=services)
        token_set = bool(env.get("LOCALSTACK_AUTH_TOKEN"))
        verdict = localstack_verdict(services, edition, token_set=token_set, url=url)
        if verdict.usable and probe and start:
            verdict = localstack_verdict(services, edition, probe_services(endpoint),
                                         token_set=token_set, url=url)
        if verdict.usable:
            return endpoint
        fallback = fallback_url(env, url)
        require_loopback(fallback)
        return _moto_at(fallback, start, note=f"{verdict.reason} at {fallback}")
    return _moto_at(url, start)
