"""The labs' widgets against a real local cloud: buttons clicked, views fed by the stream,
checks graded on the cluster's state (failing with a hint, then passing)."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture
def session(start_local_cloud):
    from labs.kit import session as lab_session

    start_local_cloud(time_scale=60.0)  # writes cloud.json and the token in its state dir
    s = lab_session.open_session(start=False)
    yield s
    s.close()


def test_checks_fail_with_a_hint_then_pass(session, wait_for) -> None:
    from labs.lessons import lab04_service

    view = lab04_service.LAB.grade(session)
    assert not view.passed
    assert "Hint:" in view.table.value and "create-service" in view.table.value
    step = lab04_service.LAB.run_step(session, "service", auto=False)
    step.button.click()  # the Run button deploys and waits for 4 RUNNING tasks
    assert step.error is None, step.error
    assert "Create the ECS service" in step.output.value or "service" in step.output.value
    view.button.click()  # Check again
    assert view.passed, view.table.value
    assert "4 RUNNING tasks on 2 hosts" in view.table.value


def test_dashboard_updates_and_its_buttons_act(session, wait_for) -> None:
    from labs.kit.views import LiveDashboard

    session.deploy(desired=2)
    session.wait_steady(2)
    session.traffic(rate=10, duration=30)
    dash = LiveDashboard(session, seconds=30, interval=0.2).start()
    try:
        wait_for(lambda: dash.updates >= 3, 10, "three updates from the stream")
        assert "t3.medium" in dash.hosts.value and "RUNNING" in dash.hosts.value
        wait_for(lambda: "req" in dash.routing.value and dash.snapshot["traffic"].get("sent"),
                 10, "routing bars with requests")
        running = {t["task_id"] for t in session.snapshot()["tasks"]
                   if t["last_status"] == "RUNNING"}
        dash.crash_button.click()
        assert "SIGKILL to task" in dash.action.value, dash.action.value
        wait_for(lambda: any(t["last_status"] == "STOPPED" and t["task_id"] in running
                             for t in session.snapshot()["tasks"]), 15, "the crashed task")
        wait_for(lambda: "STOPPED" in dash.hosts.value, 10, "the view showing it")
        dash.spike_button.click()
        assert "×10" in dash.action.value
        profile = session.client.get("/v1/traffic")["profile"]
        assert profile["name"].startswith("spike"), profile
        dash.normal_button.click()
        assert session.client.get("/v1/traffic")["profile"]["name"] == "steady"
    finally:
        began = time.monotonic()
        dash.stop_button.click()
    assert not dash.running and time.monotonic() - began < 5
    assert "stopped after" in dash.status.value


def test_dashboard_ends_by_itself(session, wait_for) -> None:
    from labs.kit.views import LiveDashboard

    began = time.monotonic()
    dash = LiveDashboard(session, seconds=3.0, interval=0.2).start()
    wait_for(lambda: dash.updates >= 2, 3, "an update from the stream")
    wait_for(lambda: not dash.running, 10, "the view to end after its lifetime")
    assert 3.0 <= time.monotonic() - began < 8 and dash.error is None
    assert "stopped after" in dash.status.value


def test_a_failing_step_says_why(session) -> None:
    from labs.lessons import lab03_taskdef

    view = lab03_taskdef.LAB.run_step(session, "capacity", auto=False)
    view.button.click()  # no cluster yet: the API's error, shown on the step
    assert view.error and "failed:" in view.status.value
    assert not view.button.disabled
