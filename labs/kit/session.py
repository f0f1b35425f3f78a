"""A lab's connection to the local cloud: attach to a running one or start one.

``open_session()`` finds the local cloud through the state directory (``cloud.json`` and the
0600 token, as ``fraudlab up`` wrote them) or starts one with ``cloud.server.launcher.up``. Every
AWS call goes through boto3 on the local endpoint; every kit action through the control API.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.plan import deploy_all
from cloud.aws.steps.scaling import REQUESTS, autoscale_target, scaling_steps
from cloud.core import state_dir as state
from cloud.server import launcher
from cloud.server.control import ControlClient

MEASUREMENTS = "labs-measurements.json"
DEFAULT_TIME_SCALE = 30.0  # a lab minute lasts 2 s
DEFAULT_RATE = 20.0  # transactions per second of normal traffic in the labs
SPIKE = "spike:10:0:36000"  # ×10 from now on, for 10 lab hours (until changed)


class Session:
    """The local cloud as a lab sees it: the control API, boto3 clients, measurements."""

    def __init__(self, client: ControlClient, info: dict[str, Any], started: bool) -> None:
        self.client = client
        self.info = info
        self.started = started
        self._endpoint: Any = None
        self._views: list[Any] = []

    # ---- AWS (boto3 on the local endpoint) ---------------------------------------------
    def aws(self, service: str) -> Any:
        """A boto3 client on the local cloud's AWS endpoint (what ``aws --endpoint-url`` uses)."""
        if self._endpoint is None:
            self._endpoint = open_endpoint({"AWS_ENDPOINT_URL": self.info["aws_endpoint"]},
                                           start=False)
        return self._endpoint.client(service)

    @property
    def time_scale(self) -> float:
        return float(self.info.get("time_scale") or DEFAULT_TIME_SCALE)

    def lab_seconds(self, wall: float) -> float:
        return wall * self.time_scale

    # ---- live state ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return self.client.get("/v1/snapshot")

    def wait_until(self, predicate: Callable[[dict[str, Any]], Any], timeout: float,
                   interval: float = 0.25) -> float | None:
        """Seconds until ``predicate(snapshot)`` holds, or None after ``timeout`` seconds."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if predicate(self.snapshot()):
                return time.monotonic() - began
            time.sleep(interval)
        return None

    def service(self, snap: dict[str, Any] | None = None, name: str = "fraud-svc"
                ) -> dict[str, Any]:
        snap = snap or self.snapshot()
        return next((s for s in snap.get("services") or [] if s["name"] == name), {})

    # ---- the kit's actions (control API) ---------------------------------------------------
    def crash(self, task: str | None = None) -> str:
        return self.client.post("/v1/crash", {"task": task} if task else {})["crashed"]

    def slow(self, task: str | None = None, ms: int = 300) -> str:
        """One task answers /predict ``ms`` later (0 undoes it); its id."""
        body: dict[str, Any] = {"ms": ms, **({"task": task} if task else {})}
        return self.client.post("/v1/slow", body)["slow"]

    def kill_host(self, host: str | None = None) -> dict[str, Any]:
        return self.client.post("/v1/kill-host", {"host": host} if host else {})

    def traffic(self, rate: float = DEFAULT_RATE, profile: str = "steady",
                duration: float = 600, phase: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"rate": rate, "profile": profile, "duration": duration}
        if phase:
            body["phase"] = phase
        return self.client.post("/v1/traffic", body)

    def change_traffic(self, rate: float = DEFAULT_RATE, profile: str = "steady",
                       phase: str | None = None) -> dict[str, Any]:
        """New rate/profile for running traffic, or start it when none runs."""
        running = (self.client.get("/v1/traffic") or {}).get("running")
        if not running:
            return self.traffic(rate, profile, phase=phase)
        body: dict[str, Any] = {"rate": rate, "profile": profile}
        if phase:
            body["phase"] = phase
        return self.client.post("/v1/traffic/profile", body)

    def spike(self, rate: float = DEFAULT_RATE) -> dict[str, Any]:
        """The ×10 "Black Friday" spike on top of ``rate``."""
        return self.change_traffic(rate, SPIKE, phase="spike")

    def stop_traffic(self) -> dict[str, Any]:
        return self.client.post("/v1/traffic/stop")

    def set_lb(self, algorithm: str | None = None, retry: bool | None = None
               ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if algorithm is not None:
            body["algorithm"] = algorithm
        if retry is not None:
            body["retry"] = retry
        return self.client.post("/v1/lb", body)

    def scale(self, desired: int) -> dict[str, Any]:
        return self.client.post("/v1/scale", {"desired": desired})

    def scaling(self) -> dict[str, Any]:
        return self.client.get("/v1/scaling")

    # ---- the deployment (the kit's deploy steps through boto3) --------------------------------
    def deploy(self, desired: int = 4, placement: str = "spread", hosts: int = 2,
               algorithm: str = "round_robin", autoscale: bool = False,
               max_tasks: int = 8) -> list[Any]:
        """Every deploy step (idempotent); with ``autoscale``, target tracking on requests."""
        results = deploy_all(self.aws, desired=desired, placement=placement, hosts=hosts,
                             algorithm=algorithm)
        if autoscale:
            results += scaling_steps(self.aws, metric=REQUESTS,
                                     target_value=self.autoscale_target(desired),
                                     min_capacity=min(desired, max_tasks),
                                     max_capacity=max_tasks)
        return results

    def autoscale_target(self, desired: int = 4, rate: float = DEFAULT_RATE) -> float:
        """ALBRequestCountPerTarget target (``cloud.aws.steps.scaling.autoscale_target``) for this
        cloud's time scale."""
        return autoscale_target(rate, self.time_scale, desired)

    def wait_steady(self, desired: int, timeout: float = 90.0) -> float:
        """Seconds until ``desired`` tasks RUNNING and healthy behind the load balancer."""
        def steady(snap: dict[str, Any]) -> bool:
            svc = self.service(snap)
            healthy = [t for t in (snap.get("load_balancer") or {}).get("targets") or []
                       if t["state"] == "healthy"]
            return (svc.get("running") == desired == svc.get("desired")
                    and len(healthy) >= desired)

        seconds = self.wait_until(steady, timeout)
        if seconds is None:
            svc = self.service()
            raise TimeoutError(f"the service did not reach {desired} healthy RUNNING tasks in "
                               f"{timeout:.0f} s (running {svc.get('running')}, desired "
                               f"{svc.get('desired')}); look at the hosts view for reasons")
        return seconds

    def ensure_service(self, desired: int = 4, autoscale: bool = False) -> float:
        """Deploy (or find deployed) and wait until steady; returns the seconds waited."""
        svc = self.service()
        if not svc:
            self.deploy(desired=desired, autoscale=autoscale)
        elif autoscale:
            self.deploy(desired=svc.get("desired") or desired, autoscale=True)
        return self.wait_steady(self.service().get("desired") or desired)

    # ---- measurements shared between labs (lab 08 reads them) ----------------------------
    def record(self, key: str, value: Any) -> None:
        data = self.measurements()
        data[key] = value
        path = state.state_dir() / MEASUREMENTS
        path.write_text(json.dumps(data, indent=2, default=str))

    def measurements(self) -> dict[str, Any]:
        try:
            return json.loads((state.state_dir() / MEASUREMENTS).read_text())
        except (OSError, ValueError):
            return {}

    # ---- views ---------------------------------------------------------------------------
    def track(self, view: Any) -> Any:
        self._views.append(view)
        return view

    def done(self) -> str:
        """The lab's last cell: say what keeps running, stop nothing (after Run All the live
        view must go on updating while the learner reads; ``close()`` stops it)."""
        live = sum(bool(getattr(v, "running", False)) for v in self._views)
        return (f"lab done: {live} live view{'s' if live != 1 else ''} still updating (each "
                "stops by itself after its time, or now with session.close()); the local "
                "cloud keeps running (`fraudlab down` stops it)")

    def close(self, stop_cloud: bool = False) -> str:
        """Stop every live view; with ``stop_cloud``, stop the local cloud if we started it."""
        for view in self._views:
            view.stop()
        self._views.clear()
        stopped = False
        if stop_cloud and self.started:
            stopped = launcher.down()
        return ("views stopped" + ("; local cloud stopped" if stopped else
                                   "; the local cloud keeps running (`fraudlab down` stops it)"))


_SESSION: Session | None = None


def open_session(runtime: str | None = None, time_scale: float | None = None,
                 start: bool = True) -> Session:
    """The notebook's session: the running local cloud, or one started now.

    ``runtime`` (auto | docker | process) defaults to ``$FRAUDLAB_LAB_RUNTIME`` or auto, as
    ``fraudlab up``; ``time_scale`` to ``$FRAUDLAB_LAB_TIME_SCALE`` or 30 (a lab minute in
    2 s). Both only apply when a cloud is started here.
    """
    runtime = runtime or os.environ.get("FRAUDLAB_LAB_RUNTIME") or "auto"
    global _SESSION
    if _SESSION is not None and launcher.running_cloud() == _SESSION.info:
        return _SESSION
    scale = time_scale or float(os.environ.get("FRAUDLAB_LAB_TIME_SCALE") or DEFAULT_TIME_SCALE)
    info = launcher.running_cloud()
    started = False
    if info is None:
        if not start:
            raise RuntimeError("no local cloud is running: start it with `fraudlab up`")
        info, _, already = launcher.up(runtime, scale)
        started = not already
    token = state.read_token()
    if not token:
        raise RuntimeError(f"no control-API token in {state.state_dir()}: restart with "
                           "`fraudlab down && fraudlab up`")
    _SESSION = Session(ControlClient(info["control_url"], token, timeout=30), info, started)
    return _SESSION
