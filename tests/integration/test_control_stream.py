"""The control API's stream on a live local cloud: a crash and its replacement arrive as
changes, without asking for the snapshot again."""

from __future__ import annotations

import threading

from cloud.server.control import ControlClient
from cloud.server.stream import apply_changes


def test_stream_follows_a_crash_and_its_replacement(wait_for, start_local_cloud) -> None:
    from cloud.aws.steps.plan import deploy_all

    lc = start_local_cloud()
    deploy_all(lc.endpoint.client, desired=2, placement="spread", hosts=2)

    def running() -> set[str]:
        return {t["task_id"] for t in lc.snapshot()["tasks"] if t["last_status"] == "RUNNING"}

    wait_for(lambda: len(running()) == 2, 60, "2 RUNNING tasks")
    seen: dict = {}
    kinds: list[str] = []
    done = threading.Event()

    def follow() -> None:
        client = ControlClient(lc.control.url, lc.token)
        for kind, data in client.stream(interval=0.1, seconds=40):
            kinds.append(kind)
            apply_changes(seen, data) if kind in ("snapshot", "changes") else None
            if done.is_set():
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    wait_for(lambda: "snapshot" in kinds, 10, "the first snapshot")
    assert {t["task_id"] for t in seen["tasks"] if t["last_status"] == "RUNNING"} == running()
    crashed = lc.controller.crash(None)

    def streamed_running() -> set[str]:
        return {t["task_id"] for t in seen.get("tasks", []) if t["last_status"] == "RUNNING"}

    wait_for(lambda: len(streamed_running()) == 2 and crashed not in streamed_running(),
             60, "the replacement RUNNING in the streamed state")
    stopped = [t for t in seen["tasks"] if t["task_id"] == crashed]
    assert stopped and stopped[0]["last_status"] == "STOPPED"
    assert any("crash" in e["text"] for e in seen["timeline"])
    assert kinds.count("snapshot") == 1 and "changes" in kinds
    done.set()
