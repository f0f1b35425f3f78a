"""Lab 04's network-mode section against a real local cloud (process runtime): a host-mode
revision refills the two t3.medium hosts with one task each, awsvpc is refused for the
instance target group, and the service rolls back to bridge."""

from __future__ import annotations

import pytest


@pytest.fixture
def session(start_local_cloud):
    from labs.kit import session as lab_session

    start_local_cloud(time_scale=60.0)
    s = lab_session.open_session(start=False)
    yield s
    s.close()


def test_three_network_modes_three_answers(session) -> None:
    from labs.lessons.lab04_service import network_modes

    out = network_modes(session)
    assert sum(out["bridge (hostPort 0, dynamic)"].values()) == 4
    host = out["host (static hostPort 8080)"]
    assert host["seconds"] is not None and sorted(host["per_host"].values()) == [1, 1]
    refused = out["awsvpc with a target group of type instance"]
    assert refused.startswith("InvalidParameterException: The provided target group ")
    assert "incompatible with the awsvpc network mode" in refused
    back = out["back to bridge"]
    assert back["seconds"] is not None and sum(back["per_host"].values()) == 4
