"""Chaos in the local cloud (process runtime): a real OOM kill, a bad deployment that the
circuit breaker fails and rolls back while the load balancer keeps answering, and a good
rolling update — each read back through the AWS API."""

from __future__ import annotations

import os
import time

import pytest

from cloud.core.ports import free_port
from cloud.ecs.scheduler import OOM_REASON
from cloud.server.launcher import connect
from cloud.server.localcloud import LocalCloud

CLUSTER, SERVICE = "fraud-cluster", "fraud-svc"
DESIRED = 4


def _healthy(lc: LocalCloud) -> set[str]:
    return {t["id"] for t in lc.lb.snapshot(trace_limit=0)["targets"] if t["state"] == "healthy"}


def _running(lc: LocalCloud) -> dict[str, dict]:
    return {t["task_id"]: t for t in lc.snapshot()["tasks"] if t["last_status"] == "RUNNING"}


def _service(lc: LocalCloud) -> dict:
    return lc.endpoint.client("ecs").describe_services(cluster=CLUSTER,
                                                      services=[SERVICE])["services"][0]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, wait_for):
    from cloud.aws.steps.plan import deploy_all

    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    # A lab minute lasts 1 s: health checks every 0.5 s, the throttle's first wait 0.5 s.
    lc = LocalCloud("process", time_scale=60.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=DESIRED, placement="spread", hosts=2)
        wait_for(lambda: len(_healthy(lc)) == DESIRED, 60, f"{DESIRED} healthy targets")
        yield lc
    finally:
        lc.stop()


@pytest.fixture
def steady(wait_for, cloud):
    """Each test starts from the desired tasks RUNNING, healthy, one COMPLETED deployment."""
    def ready():
        svc = _service(cloud)
        return (len(_healthy(cloud)) == DESIRED and len(_running(cloud)) == DESIRED
                and svc["deployments"][0]["rolloutState"] == "COMPLETED" and svc)

    return wait_for(ready, 30, "a steady service")


def test_oom_is_a_real_kill_read_back_and_replaced(wait_for, cloud, steady) -> None:
    before = set(_running(cloud))
    victim = connect().post("/v1/oom", {})["oom"]  # the control API, as `fraudlab oom` does
    assert victim in before
    ecs = cloud.endpoint.client("ecs")

    def stopped():
        task = ecs.describe_tasks(cluster=CLUSTER, tasks=[victim])["tasks"][0]
        return task if task["lastStatus"] == "STOPPED" else None

    task = wait_for(stopped, 20, "the OOM-killed task STOPPED")
    assert task["stoppedReason"] == OOM_REASON == (
        "OutOfMemoryError: Container killed due to memory usage")
    assert task["containers"][0]["exitCode"] == 137

    def replaced():
        running = set(_running(cloud))
        return len(running) == DESIRED and victim not in running and running - before

    new = wait_for(replaced, 30, "a replacement RUNNING")
    assert len(new) == 1
    [new_id] = new
    new_task = ecs.describe_tasks(cluster=CLUSTER, tasks=[new_id])["tasks"][0]
    assert new_task["lastStatus"] == "RUNNING"

    # The kill was the runtime's (its simulated cgroup), seen as real in the timeline.
    log = cloud.runtime.log_path(victim).read_text()
    assert "simulated cgroup" in log and "SIGKILL" in log
    timeline = cloud.snapshot()["timeline"]
    exits = [e for e in timeline if e["kind"] == "exit" and e.get("task") == victim]
    assert exits and exits[0]["badge"] == "real" and OOM_REASON in exits[0]["text"]
    assert any(e["kind"] == "chaos" and e.get("task") == victim for e in timeline)


def test_bad_deployment_fails_rolls_back_and_the_load_balancer_keeps_answering(
        wait_for, cloud, steady) -> None:
    old_td = steady["taskDefinition"]
    cloud.start_traffic({"rate": 25, "profile": "steady", "duration": 60})
    time.sleep(0.5)
    result = connect().post("/v1/bad-deployment", {})
    assert result["previous_task_definition"] == old_td
    assert result["deployment_configuration"]["deploymentCircuitBreaker"] == {
        "enable": True, "rollback": True}
    bad_td = result["task_definition"]
    assert bad_td != old_td and result["circuit_breaker_threshold"] == 3

    def failed_one() -> dict | None:  # the kit's snapshot keeps it once ECS lists it no more
        return next((d for s in cloud.snapshot()["services"] for d in s["deployments"]
                     if d["rollout_state"] == "FAILED"), None)

    def rolled_back():
        svc = _service(cloud)
        primary = svc["deployments"][0]
        return (failed_one() and len(svc["deployments"]) == 1
                and primary["rolloutState"] == "COMPLETED"
                and svc["runningCount"] == DESIRED and svc)

    svc = wait_for(rolled_back, 45, "the deployment FAILED and rolled back")
    answered = cloud.stop_traffic()

    # describe-services: back on the old task definition, the rollback told (the failed
    # deployment is gone from the list once its tasks are, so `wait services-stable` holds).
    assert svc["taskDefinition"] == old_td
    assert (svc["desiredCount"], svc["runningCount"], svc["pendingCount"]) == (DESIRED, DESIRED, 0)
    [primary] = svc["deployments"]
    kept = failed_one()
    assert kept is not None
    failed = {"id": kept["id"], "taskDefinition": kept["task_definition"],
              "failedTasks": kept["failed_tasks"],
              "rolloutStateReason": kept["rollout_state_reason"]}
    assert (primary["status"], primary["taskDefinition"], primary["runningCount"]) == (
        "PRIMARY", old_td, DESIRED)
    assert primary["rolloutStateReason"].startswith(
        "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/")
    assert failed["taskDefinition"] == bad_td and failed["failedTasks"] >= 3
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    messages = [e["message"] for e in svc["events"]]
    assert f"(service {SERVICE}) (deployment {failed['id']}) deployment failed: tasks failed " \
           "to start." in messages
    assert any(m.startswith(f"(service {SERVICE}) rolling back to deployment ") for m in messages)
    assert f"(service {SERVICE}) (deployment {primary['id']}) deployment completed." in messages

    # The tasks of the bad revision really exited before they were ever ready.
    ecs = cloud.endpoint.client("ecs")
    arns = ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    bad = [t for t in ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
           if t["taskDefinitionArn"] == bad_td]
    exited = [t for t in bad if t["stoppedReason"] == "Essential container in task exited"]
    assert len(exited) >= 3
    assert all(t["containers"][0]["exitCode"] == 3 for t in exited)
    # A bad task still starting when the rollback began is stopped by it (on a loaded
    # machine the process may not have exited yet): ECS's scale-in reason, never started.
    rolled = [t for t in bad if t not in exited]
    assert all(t["stoppedReason"].startswith("Scaling activity initiated by (deployment ")
               for t in rolled), [t["stoppedReason"] for t in rolled]
    assert all("startedAt" not in t for t in bad)
    running = _running(cloud)
    assert len(running) == DESIRED
    assert {t["task_definition"] for t in running.values()} == {old_td}

    # Through the load balancer, every request during the bad deployment was answered.
    assert answered["completed"] >= 20
    assert answered["ok"] == answered["completed"] and not answered["errors"], answered
    badges = {e["badge"] for e in cloud.snapshot()["timeline"]
              if e["kind"] == "deployment" and "circuit breaker" in e["text"]}
    assert badges == {"simulated"}


def test_a_good_rolling_update_replaces_every_task_with_zero_failed_requests(
        wait_for, cloud, steady) -> None:
    from cloud.ecs.controller import registration

    ecs = cloud.endpoint.client("ecs")
    old_td = steady["taskDefinition"]
    td = ecs.describe_task_definition(taskDefinition=old_td)["taskDefinition"]
    new_td = ecs.register_task_definition(**registration(td, {"LOG_LEVEL": "warning"}))[
        "taskDefinition"]["taskDefinitionArn"]
    before = set(_running(cloud))
    cloud.start_traffic({"rate": 25, "profile": "steady", "duration": 60})
    time.sleep(0.5)
    cloud.controller.deploy(new_td)
    fewest = DESIRED

    def done():
        nonlocal fewest
        fewest = min(fewest, len(_healthy(cloud)))
        svc = _service(cloud)
        return (svc["taskDefinition"] == new_td and len(svc["deployments"]) == 1
                and svc["deployments"][0]["rolloutState"] == "COMPLETED" and svc)

    svc = wait_for(done, 50, "the rolling update COMPLETED")
    answered = cloud.stop_traffic()
    running = _running(cloud)
    assert len(running) == DESIRED and not set(running) & before
    assert {t["task_definition"] for t in running.values()} == {new_td}
    assert svc["deployments"][0]["runningCount"] == DESIRED
    assert fewest >= DESIRED  # minimumHealthyPercent 100: never fewer healthy targets
    assert answered["ok"] == answered["completed"] and not answered["errors"], answered


def _requests_per_target(lc: LocalCloud, seconds: float) -> dict[str, int]:
    before = {t["id"]: t["requests"] for t in lc.lb.snapshot(trace_limit=0)["targets"]}
    time.sleep(seconds)
    return {t["id"]: t["requests"] - before.get(t["id"], 0)
            for t in lc.lb.snapshot(trace_limit=0)["targets"]}


def test_a_slow_task_gets_its_turn_under_round_robin_and_fewer_under_lor(
        wait_for, cloud, steady) -> None:
    # Its busy threads make the slow task's /health late too: at 60x a health check times out
    # after 83 ms, and ECS would replace the task (ELB health). A long grace period keeps it.
    ecs = cloud.endpoint.client("ecs")
    ecs.update_service(cluster=CLUSTER, service=SERVICE, healthCheckGracePeriodSeconds=36000)
    slow = cloud.controller.slow(None, 300)
    shares = {}
    try:
        # 45 tx/s: under least outstanding, ties (all free) go round the targets, so the slow
        # one gets a request only when its turn comes after its 300 ms: about 1 in 15 (at
        # 30 tx/s about 1 in 9, too near round robin's half of 1 in 4). Its 4 threads hold
        # round robin's 11 tx/s x 0.3 s.
        cloud.start_traffic({"rate": 45, "profile": "steady", "duration": 60})
        for algorithm in ("round_robin", "least_outstanding_requests"):
            cloud.configure_lb({"algorithm": algorithm})
            wait_for(lambda a=algorithm: cloud.lb.snapshot(trace_limit=0)["algorithm"] == a,
                     10, f"the proxy routing with {algorithm}")
            counts = _requests_per_target(cloud, 4.0)
            shares[algorithm] = counts.get(slow, 0) / max(1, sum(counts.values()))
        answered = cloud.stop_traffic()
    finally:
        cloud.stop_traffic()
        cloud.configure_lb({"algorithm": "round_robin"})
        cloud.controller.slow(slow, 0)
        ecs.update_service(cluster=CLUSTER, service=SERVICE, healthCheckGracePeriodSeconds=0)
    assert not answered["errors"], answered
    assert shares["round_robin"] > 0.18, shares  # its turn: about a quarter of 4 targets
    assert shares["least_outstanding_requests"] < shares["round_robin"] / 2, shares
    timeline = [e["text"] for e in cloud.snapshot()["timeline"]]
    assert any(f"slow: task {slow[:8]} answers /predict 300 ms later" in m for m in timeline)


# Last in this module: its own LocalCloud resets the in-process emulator the module's cloud uses.
@pytest.mark.docker
def test_docker_oom_is_the_kernels_cgroup_kill(wait_for, tmp_path, docker_client,
                                               slim_image) -> None:
    """In a container the kernel's OOM killer ends the task: State.OOMKilled, 137, replaced."""
    from cloud.aws.steps.plan import deploy_all

    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path)
    lc = LocalCloud("docker", time_scale=60.0, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=2, placement="spread", hosts=2)
        wait_for(lambda: len(_running(lc)) == 2, 90, "2 RUNNING containers")
        victim = lc.controller.oom()
        container = docker_client.containers.get(f"fraudlab-{victim[:12]}")
        ecs = lc.endpoint.client("ecs")
        task = wait_for(lambda: (t := ecs.describe_tasks(cluster=CLUSTER, tasks=[victim])[
            "tasks"][0])["lastStatus"] == "STOPPED" and t, 30, "the OOM-killed task STOPPED")
        assert task["stoppedReason"] == OOM_REASON
        assert task["containers"][0]["exitCode"] == 137
        container.reload()
        assert container.attrs["State"]["OOMKilled"] is True
        assert container.attrs["State"]["ExitCode"] == 137
        wait_for(lambda: len(_running(lc)) == 2 and victim not in _running(lc), 60,
                 "a replacement RUNNING")
    finally:
        lc.stop()

