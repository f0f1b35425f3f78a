"""The observer as a control client: what the TUI and the labs call, answered from AWS.

``ControlClient`` (cloud.server.control) talks to the local cloud; :class:`ObserverClient` has
the same three calls — ``get``, ``post``, ``stream`` — so the front ends attach to any ECS
service by being handed this client instead (like swapping an httpx transport):

- ``GET /v1/snapshot``: one poll of the :class:`~cloud.aws.observer.Observer` (a poll younger
  than ``poll_seconds`` is reused); ``GET /v1/traffic``: the traffic this client sends.
- ``stream()``: a whole ``snapshot`` event per poll (at most every ``poll_seconds``), then
  ``end``.
- ``POST /v1/crash``: ``ecs stop-task`` on one running task of the service.
- ``POST /v1/traffic`` (``/profile``, ``/stop``): open-loop traffic to the ALB's DNS name,
  at most ``MAX_RATE`` tx/s for at most ``MAX_SECONDS`` s.
- Anything else (kill a host, slow a task, the kit's load-balancer knobs…) is refused with
  what to use instead: the observer changes nothing it does not say.

Actions on real resources need ``"confirm": true`` in the body. ``confirmation(path, body)``
gives the sentence to show the learner and the body to send once they agree (None: no
confirmation needed, as for a stop of the traffic).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from cloud.aws.observer import POLL_SECONDS, AwsFactory, Observer
from cloud.traffic.generator import TrafficGenerator
from cloud.traffic.profiles import parse_profile

MAX_RATE = 20.0  # tx/s: observer traffic is a probe, not a load test
MAX_SECONDS = 120.0  # a traffic run ends by itself after two minutes at most
REFUSED = {
    "/v1/kill-host": "terminate the instance yourself (aws ec2 terminate-instances): the "
                     "observer only stops tasks",
    "/v1/slow": "slowing one task needs the local cloud's runtime; on AWS there is none",
    "/v1/lb": "the ALB has no retry knob and its algorithm is yours to change "
              "(aws elbv2 modify-target-group-attributes)",
    "/v1/scale": "change the desired count with aws ecs update-service --desired-count",
}


class ObserverError(RuntimeError):
    """An action the observer refuses or that AWS refused (the message is for the learner)."""


class ObserverClient:
    """``get``/``post``/``stream`` over an :class:`Observer` (see the module docstring)."""

    def __init__(self, cluster: str, service: str, aws: AwsFactory | None = None, *,
                 poll_seconds: float = POLL_SECONDS, traffic_url: str | None = None,
                 observer: Observer | None = None) -> None:
        self.observer = observer or Observer(cluster, service, aws)
        self.poll_seconds = poll_seconds
        self.traffic_url = traffic_url  # tests: a loopback URL instead of the ALB's DNS name
        self.traffic: TrafficGenerator | None = None
        self.closing = threading.Event()
        self._poll_lock = threading.Lock()
        self._last: tuple[float, dict[str, Any]] | None = None

    @property
    def url(self) -> str:
        o = self.observer
        return f"aws://{o.cluster}/{o.service}"

    # ---- reading -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A poll no older than ``poll_seconds`` (one poll at a time; others reuse it)."""
        with self._poll_lock:
            if self._last is None or time.monotonic() - self._last[0] >= self.poll_seconds:
                self._last = (time.monotonic(), self.observer.snapshot())
            snap = dict(self._last[1])
        snap["source"] = {**snap.get("source", {}), "poll_seconds": self.poll_seconds}
        snap["traffic"] = self.traffic_snapshot()
        return snap

    def traffic_snapshot(self) -> dict[str, Any]:
        return self.traffic.snapshot().as_dict() if self.traffic is not None else {}

    def get(self, path: str) -> Any:
        if path == "/v1/snapshot":
            return self.snapshot()
        if path == "/v1/traffic":
            return self.traffic_snapshot()
        if path == "/v1/scaling":
            return self.snapshot().get("scaling") or {}
        raise ObserverError(f"observer mode has no {path}")

    def stream(self, path: str = "/v1/stream", interval: float = 0.5,
               seconds: float = 3600.0) -> Iterator[tuple[str, Any]]:
        """A whole snapshot per poll, for at most ``seconds``; ``close()`` ends it."""
        deadline = time.monotonic() + seconds
        while not self.closing.is_set() and time.monotonic() < deadline:
            yield "snapshot", self.snapshot()
            self.closing.wait(max(interval, self.poll_seconds))
        yield "end", {"reason": "closing" if self.closing.is_set() else "time"}

    def close(self) -> None:
        """End the streams and the traffic."""
        self.closing.set()
        if self.traffic is not None:
            self.traffic.stop()

    # ---- confirmations -------------------------------------------------------------------

    def confirmation(self, path: str, body: dict[str, Any] | None = None
                     ) -> tuple[str, dict[str, Any]] | None:
        """(what will happen, the body to post once confirmed), or None when ``path``
        needs no confirmation. Raises ObserverError when the action cannot be done."""
        body = dict(body or {})
        if path == "/v1/crash":
            task = body.get("task") or self.pick_task()
            o = self.observer
            return (f"Stop task {task} of service {o.service} on REAL AWS? "
                    f"(aws ecs stop-task --cluster {o.cluster} --task {task}): the service "
                    "scheduler starts a replacement", {**body, "task": task, "confirm": True})
        if path in ("/v1/traffic", "/v1/traffic/profile"):
            _, seconds, profile = self.traffic_request(body)
            return (f"Send up to {profile.peak:g} tx/s of POST /predict to "
                    f"{self.target_url()} for at most {seconds:.0f} s? (real requests to "
                    "your ALB: they count in its metrics and its bill)", {**body, "confirm": True})
        return None

    def pick_task(self) -> str:
        """The first RUNNING task of the service (by id), as the observer last saw it."""
        running = sorted(t["task_id"] for t in self.snapshot().get("tasks") or []
                         if t.get("last_status") == "RUNNING")
        if not running:
            raise ObserverError(f"service {self.observer.service} has no RUNNING task to stop")
        return running[0]

    # ---- actions -------------------------------------------------------------------------

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        body = body or {}
        if path in REFUSED:
            raise ObserverError(f"not in observer mode: {REFUSED[path]}")
        if path == "/v1/traffic/stop":
            return self.stop_traffic()
        if path not in ("/v1/crash", "/v1/traffic", "/v1/traffic/profile"):
            raise ObserverError(f"observer mode has no {path}")
        if body.get("confirm") is not True:
            raise ObserverError("this acts on real AWS resources: confirm it first "
                                "(\"confirm\": true)")
        if path == "/v1/crash":
            return self.stop_task(str(body.get("task") or self.pick_task()))
        return self.start_traffic(body)

    def stop_task(self, task: str) -> dict[str, Any]:
        o = self.observer
        reason = "FraudLab observer: stop-task confirmed by the learner"
        try:
            o.aws("ecs").stop_task(cluster=o.cluster, task=task, reason=reason)
        except Exception as exc:
            raise ObserverError(f"stop-task {task} refused: {exc}") from exc
        o.say(f"stop-task {task} sent (confirmed): ECS stops it, the service scheduler "
              "replaces it", "chaos")
        self._last = None  # the next read polls again
        return {"crashed": task, "cli": f"aws ecs stop-task --cluster {o.cluster} "
                                        f"--task {task}"}

    def target_url(self) -> str:
        """The ALB's DNS name over HTTP (or the test's loopback URL)."""
        if self.traffic_url:
            return self.traffic_url
        lb = self.snapshot().get("load_balancer") or {}
        api = lb.get("api") or {}
        dns = api.get("dns_name")
        if not dns:
            raise ObserverError("the service has no load balancer the observer can see")
        ports = [li.get("port") for li in api.get("listeners") or []
                 if li.get("protocol") == "HTTP"]
        if not ports:
            raise ObserverError("the ALB has no HTTP listener (traffic here is plain HTTP)")
        return f"http://{dns}" + (f":{ports[0]}" if ports[0] != 80 else "")

    @staticmethod
    def traffic_request(body: dict[str, Any]) -> tuple[float, float, Any]:
        """(rate, seconds, profile) within the bounds; ObserverError says which is over."""
        rate = body.get("rate", 5.0)
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise ObserverError(f"rate must be a positive number of tx/s, got {rate!r}")
        profile = parse_profile(str(body.get("profile", "steady")), float(rate))
        if profile.peak > MAX_RATE:
            raise ObserverError(f"observer traffic is at most {MAX_RATE:g} tx/s (asked: up to "
                                f"{profile.peak:g}); a load test on AWS is for your own tool")
        seconds = min(float(body.get("duration") or MAX_SECONDS), MAX_SECONDS)
        return float(rate), seconds, profile

    def start_traffic(self, body: dict[str, Any]) -> dict[str, Any]:
        rate, seconds, profile = self.traffic_request(body)
        url = self.target_url()
        self.stop_traffic()
        self.traffic = TrafficGenerator(url, profile, max_duration=seconds, max_in_flight=16,
                                        phase=str(body.get("phase") or "observer")).start()
        self.observer.say(f"traffic: {rate:g} tx/s to {url} for at most {seconds:.0f} s "
                          "(confirmed)", "traffic")
        return {"traffic": "started", "target": url, "rate": rate, "seconds": seconds}

    def stop_traffic(self) -> dict[str, Any]:
        if self.traffic is not None and self.traffic.running:
            self.traffic.stop()
            self.observer.say("traffic stopped", "traffic")
        return self.traffic_snapshot()
