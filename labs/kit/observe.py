"""The labs' live view on any ECS service on AWS: the same LiveDashboard, fed by the observer.

``observe("my-cluster", "my-service")`` returns a started :class:`LiveDashboard` whose stream,
crash and traffic buttons go to an ``ObserverClient`` (cloud.aws.observer_client) instead of the
local cloud's control API: boto3's standard chain (your credentials and region, as ``aws``
uses them). Stopping a task or sending traffic shows what will happen and waits for "Yes".
"""

from __future__ import annotations

from typing import Any

from cloud.aws.observer import POLL_SECONDS
from cloud.aws.observer_client import ObserverClient
from labs.kit.views import LiveDashboard

RATE = 2.0  # tx/s of "Normal traffic"; the ×10 spike is 20 tx/s, the observer's cap
SPIKE = "spike:10:0:36000"
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "crash": ("/v1/crash", {}),
    "spike": ("/v1/traffic", {"rate": RATE, "profile": SPIKE, "phase": "spike"}),
    "normal": ("/v1/traffic", {"rate": RATE, "profile": "steady", "phase": "normal"}),
}


class ObserverSession:
    """What LiveDashboard needs of a session (``client``, ``snapshot``, ``track``), with
    ``confirmation``/``confirmed`` in place of the local cloud's direct actions."""

    def __init__(self, client: ObserverClient) -> None:
        self.client = client
        self._views: list[Any] = []

    def snapshot(self) -> dict[str, Any]:
        return self.client.get("/v1/snapshot")

    def track(self, view: Any) -> Any:
        self._views.append(view)
        return view

    def confirmation(self, what: str) -> tuple[str, dict[str, Any]]:
        """(the question to ask, the body to send on yes) for a button."""
        path, body = REQUESTS[what]
        asked = self.client.confirmation(path, body)
        if asked is None:
            raise ValueError(f"{what} needs no confirmation")
        return asked

    def confirmed(self, what: str, body: dict[str, Any]) -> str:
        """Send the confirmed action; what happened, in a sentence."""
        path, _ = REQUESTS[what]
        reply = self.client.post(path, body)
        if what == "crash":
            return (f"{reply['cli']}: ECS stops task {reply['crashed'][:8]} and the service "
                    "scheduler starts a replacement")
        return (f"{'×10 spike' if what == 'spike' else 'steady traffic'} to {reply['target']} "
                f"for at most {reply['seconds']:.0f} s")

    def close(self) -> str:
        """Stop the views, the traffic and the polling."""
        self.client.close()  # first: the streams end at once, so the views stop promptly
        for view in self._views:
            view.stop()
        self._views.clear()
        return "observer stopped (its traffic too); nothing of yours on AWS was changed by it"


def observe(cluster: str, service: str, seconds: float = 600.0, *,
            poll_seconds: float = POLL_SECONDS, traffic_url: str | None = None
            ) -> LiveDashboard:
    """A started live view of ``cluster``/``service`` on AWS, with the clients ``fraudlab
    aws`` uses (``cloud.aws.real.access``; tests: FRAUDLAB_AWS_ENDPOINT_URL_FOR_TESTS).
    ``traffic_url``: tests' loopback target instead of the ALB's DNS name; never a default."""
    client = ObserverClient(cluster, service, poll_seconds=poll_seconds,
                            traffic_url=traffic_url)
    view = LiveDashboard(ObserverSession(client), seconds=seconds, interval=poll_seconds)
    return view.start()
