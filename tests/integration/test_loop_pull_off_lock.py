"""The control loop never waits on an image pull: a crash during a slow pull is seen, and its
task replaced, while the pull is still running (process runtime, FRAUDLAB_PULL_WALL_SECONDS)."""

from __future__ import annotations

from cloud.aws.steps.ecs import CLUSTER, SERVICE, update_service_desired
from cloud.aws.steps.plan import deploy_all
from cloud.runtime.process import PULL_WALL_ENV

PULL_SECONDS = 8


def test_a_crash_during_a_slow_pull_is_handled_before_the_pull_ends(
        wait_for, start_local_cloud, monkeypatch) -> None:
    monkeypatch.setenv(PULL_WALL_ENV, str(PULL_SECONDS))
    lc = start_local_cloud()
    deploy_all(lc.endpoint.client, desired=2, placement="spread", hosts=3)

    def tasks() -> list[dict]:
        return lc.snapshot()["tasks"]

    wait_for(lambda: sum(t["last_status"] == "RUNNING" for t in tasks()) == 2, 90,
             "2 RUNNING tasks")
    update_service_desired(lc.endpoint.client("ecs"), CLUSTER, SERVICE, 3)
    pulling = wait_for(lambda: [t["task_id"] for t in tasks() if t["port"] is not None
                                and t["pull_seconds"] is None], 30, "a task pulling")[0]
    crashed = lc.controller.crash(None)  # answers at once: nothing waits on the pull

    def replaced() -> dict | None:
        now = {t["task_id"]: t for t in tasks()}
        fresh = [t for t in now.values() if t["desired_status"] == "RUNNING"
                 and t["task_id"] not in (crashed, pulling)]
        return now if now[crashed]["last_status"] == "STOPPED" and len(fresh) >= 2 else None

    seen = wait_for(replaced, 30, "the crash handled and its replacement placed")
    assert seen[pulling]["pull_seconds"] is None, "the loop waited for the pull to end"
    assert any(e["kind"] == "exit" and e.get("task") == crashed
               for e in lc.snapshot()["timeline"])
