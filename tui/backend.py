"""The app's one way to the local cloud: start or attach, then the control API client.

Everything here blocks (HTTP, starting a process); the app calls it from thread workers only.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from cloud.aws.endpoint import open_endpoint
from cloud.aws.observer_client import ObserverClient
from cloud.aws.real.plan import RealAwsRefused
from cloud.server import launcher


class Control(Protocol):
    """What the app needs of ``cloud.server.control.ControlClient`` (a fake in tests)."""

    def get(self, path: str) -> Any: ...

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any: ...

    def stream(self, path: str = ..., interval: float = ..., seconds: float = ...) -> Any: ...


class Backend:
    """Starts or attaches to the local cloud; hands out its control client and AWS clients."""

    observer = False  # ObserverBackend: an ECS service on AWS, watched

    def __init__(self, client: Control | None = None, *, start: bool = True,
                 runtime: str = "auto", time_scale: float = 12.0,
                 info: dict[str, Any] | None = None) -> None:
        self.client: Control | None = client
        self.start = start
        self.runtime = runtime
        self.time_scale = time_scale
        self.info: dict[str, Any] = info or {}
        self._endpoint: Any = None

    def connect(self) -> tuple[dict[str, Any], bool, float]:
        """(cloud info, started by us, seconds); raises with a message for the user."""
        if self.client is not None:
            return self.info, False, 0.0
        began = time.monotonic()
        info = launcher.running_cloud()
        started = False
        if info is None:
            if not self.start:
                raise RuntimeError("no local cloud is running: start it with `fraudlab up` "
                                   "(or run `fraudlab tui` without --attach)")
            info, _, already = launcher.up(self.runtime, self.time_scale)
            started = not already
        self.info = info
        self.client = launcher.connect()
        return info, started, time.monotonic() - began

    def aws(self, service: str) -> Any:
        """A boto3 client on the local cloud's AWS endpoint (what a learner's `aws` talks to)."""
        if self._endpoint is None:
            url = self.info.get("aws_endpoint")
            if not url:
                raise RuntimeError("the local cloud's AWS endpoint is unknown")
            self._endpoint = open_endpoint({"AWS_ENDPOINT_URL": url}, start=False)
        return self._endpoint.client(service)


class ObserverBackend(Backend):
    """Observer mode: the control client is an ``ObserverClient`` on one ECS service on AWS
    (``cloud.aws.real.access``: boto3's standard chain, the learner's credentials and region;
    tests: FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS); nothing is started."""

    observer = True

    def __init__(self, cluster: str, service: str, client: Control | None = None) -> None:
        super().__init__(client, start=False, runtime="aws")
        self.cluster = cluster
        self.service = service

    def connect(self) -> tuple[dict[str, Any], bool, float]:
        """Make the observer and read once: no credentials or no such service is said now."""
        began = time.monotonic()
        try:
            client = self.client or ObserverClient(self.cluster, self.service)
        except RealAwsRefused as exc:  # no credentials: said before any call
            reason = str(exc).split(" — ")[0]
            raise RuntimeError(f"cannot observe {self.cluster}/{self.service}: {reason}") from exc
        snap = client.get("/v1/snapshot")
        if not snap.get("services"):
            errors = snap.get("tick_errors") or ["describe-services found none"]
            raise RuntimeError(f"cannot observe {self.cluster}/{self.service}: {errors[0]}")
        self.client = client
        source = snap.get("source") or {}
        self.info = {"runtime": "AWS", "observer": True, "cluster": self.cluster,
                     "service": self.service, "region": source.get("region")}
        return self.info, False, time.monotonic() - began

    def aws(self, service: str) -> Any:
        raise RuntimeError("observer mode only watches: the walkthrough and practice deploy to "
                           "the local cloud (run `fraudlab tui` without --aws)")

    def close(self) -> None:
        """Stop what the observer sent (traffic) and its streams."""
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
