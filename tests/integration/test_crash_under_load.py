"""A task killed under load, through the local cloud's load balancer: without the kit-only
retry knob the failed requests are counted (the generator and the load balancer agree); with
it, none fail."""

from __future__ import annotations

import time

import pytest

RATE = 200.0  # ~50 requests/s per target: the dead target gets some before it is removed


@pytest.mark.parametrize("retry", [False, True])
def test_crash_under_load(start_local_cloud, wait_for, retry) -> None:
    from cloud.aws.steps.plan import deploy_all

    lc = start_local_cloud()
    deploy_all(lc.endpoint.client, desired=4, placement="spread", hosts=2)
    wait_for(lambda: sum(t["state"] == "healthy" for t in lc.lb.snapshot(0)["targets"]) == 4,
             60, "4 healthy targets")
    lc.configure_lb({"retry": retry})
    lc.start_traffic({"rate": RATE, "duration": 30, "phase": "before"})
    time.sleep(1.5)
    lc.change_traffic({"rate": RATE, "phase": "crash"})
    time.sleep(0.5)  # the "before" requests still in flight finish first
    # The victim answers 300 ms late first, so the SIGKILL certainly cuts requests in flight
    # (at ~50 req/s per target answered in a few ms, none may meet the dead target before the
    # controller deregisters it on a quiet machine).
    victim = lc.controller.slow(None, ms=300)
    wait_for(lambda: any(t["id"] == victim and t["outstanding"] > 0
                         for t in lc.lb.snapshot(0)["targets"]), 10, "requests held by the victim")
    crashed = lc.controller.crash(victim)
    wait_for(lambda: any(t["task_id"] == crashed and t["last_status"] == "STOPPED"
                         for t in lc.snapshot()["tasks"]), 10, "the crashed task STOPPED")
    time.sleep(1.5)
    traffic = lc.stop_traffic()
    before, crash = traffic["phases"]
    totals = lc.lb.snapshot(0)["totals"]
    # Errors, not drops: a drop is the generator's own in-flight cap on a busy machine.
    assert before["errors"] == {} and before["sent"] > 150, (before, totals)
    assert crash["sent"] > 200
    if retry:
        assert crash["errors"] == {}, (crash, totals)
        assert totals["retries"] >= 1  # requests did reach the dead target, and were re-sent
        assert totals["elb_502"] == 0
    else:
        # Counted, not hidden: every 502 the load balancer gave is a failed request here.
        assert crash["errors"].get("http_5xx", 0) == totals["elb_502"] > 0, (crash, totals)
        assert crash["failed"] >= totals["elb_502"]
