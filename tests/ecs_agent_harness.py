"""A stand-in for AWS to observe: the embedded emulator alone, filled as ECS would fill it.

moto is started by itself on a loopback port (no guards, no local cloud, no controllers: it
stands in for AWS). The harness then does what the ECS agent and the service scheduler do on
a real cluster: EC2 instances register as container instances with their instance identity
document, a service is created behind a target group, its tasks are run on the instances
(``run-task`` with the service's group), the agent reports them RUNNING with their network
bindings and the scheduler writes service events (moto has no SubmitTaskStateChange: those
two are written into its in-process backend, as ``cloud.ecs.writeback`` does), the targets
are registered, the ALB's CloudWatch metrics are put, and the service gets target tracking
(its two alarms given AWS's definition: moto makes them with a wrong threshold).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloud.aws.endpoint import Endpoint
from cloud.ecs.writeback import reset_moto

CLUSTER = "obs-cluster"
SERVICE = "obs-svc"
INSTANCE_TYPE = "t3.medium"
TASK_CPU, TASK_MEMORY = 512, 1024
HOST_PORTS = (32768, 32769)


def loopback_only(monkeypatch: Any) -> list[Any]:
    """Make any TCP/UDP connection to a non-loopback address fail (the test's assertion)."""
    tried: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if (self.family in (socket.AF_INET, socket.AF_INET6) and host is not None
                and not str(host).startswith("127.") and host not in ("::1", "localhost")):
            tried.append(address)
            raise AssertionError(f"a test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


def start_plain_emulator(port: int) -> Endpoint:
    """moto alone on 127.0.0.1:``port``: nothing installed on it, nothing running tasks."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return Endpoint(url=f"http://127.0.0.1:{port}", kind="moto", _server=server)


@dataclass
class Cluster:
    """What the harness made: instance ids, task ids (by instance), the ALB and target group."""

    instances: list[str] = field(default_factory=list)
    tasks: dict[str, str] = field(default_factory=dict)  # task id → instance id
    load_balancer_arn: str = ""
    target_group_arn: str = ""
    dns_name: str = ""
    alarms: list[str] = field(default_factory=list)  # target tracking's, AlarmHigh first


def identity_document(instance: dict[str, Any]) -> str:
    """The EC2 instance identity document the agent sends with RegisterContainerInstance."""
    return json.dumps({"instanceId": instance["InstanceId"], "instanceType": INSTANCE_TYPE,
                       "availabilityZone": instance["Placement"]["AvailabilityZone"],
                       "privateIp": instance.get("PrivateIpAddress"), "region": "us-east-1",
                       "accountId": "123456789012", "imageId": instance["ImageId"]})


def register_instances(endpoint: Endpoint, count: int) -> list[str]:
    ec2, ecs = endpoint.client("ec2"), endpoint.client("ecs")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    subnets = ec2.describe_subnets()["Subnets"]
    ids = []
    for i in range(count):
        subnet = subnets[i % len(subnets)]
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType=INSTANCE_TYPE,
                                     SubnetId=subnet["SubnetId"])["Instances"][0]
        ecs.register_container_instance(
            cluster=CLUSTER, instanceIdentityDocument=identity_document(instance),
            attributes=[{"name": "ecs.availability-zone",
                         "value": instance["Placement"]["AvailabilityZone"]},
                        {"name": "ecs.instance-type", "value": INSTANCE_TYPE}])
        ids.append(instance["InstanceId"])
    return ids


def load_balancer(endpoint: Endpoint) -> tuple[str, str, str]:
    """An internet-facing ALB with an HTTP:80 listener forwarding to an instance target
    group; (ALB ARN, target group ARN, DNS name)."""
    ec2, elb = endpoint.client("ec2"), endpoint.client("elbv2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]
               if s["VpcId"] == vpc["VpcId"]][:2]
    alb = elb.create_load_balancer(Name="obs-alb", Subnets=subnets)["LoadBalancers"][0]
    tg = elb.create_target_group(Name="obs-tg", Protocol="HTTP", Port=8000,
                                 VpcId=vpc["VpcId"], TargetType="instance",
                                 HealthCheckPath="/health")["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward",
                                         "TargetGroupArn": tg["TargetGroupArn"]}])
    return alb["LoadBalancerArn"], tg["TargetGroupArn"], alb["DNSName"]


def run_service(endpoint: Endpoint, tg_arn: str, instances: list[str]) -> dict[str, str]:
    """The service and one task per instance, reported RUNNING with its host port (what the
    agent reports); its targets registered as ECS registers them (instance id + host port)."""
    from cloud.ecs.writeback import MotoWriteBack

    ecs, elb = endpoint.client("ecs"), endpoint.client("elbv2")
    ecs.register_task_definition(family="obs", networkMode="bridge", containerDefinitions=[{
        "name": "app", "image": "fraud-detection:latest", "cpu": TASK_CPU,
        "memory": TASK_MEMORY, "portMappings": [{"containerPort": 8000, "hostPort": 0}]}])
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition="obs",
                       desiredCount=len(instances), launchType="EC2",
                       loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app",
                                       "containerPort": 8000}])
    cis = {ci["ec2InstanceId"]: ci["containerInstanceArn"] for ci in
           ecs.describe_container_instances(cluster=CLUSTER, containerInstances=ecs.
                                            list_container_instances(cluster=CLUSTER)[
                                                "containerInstanceArns"])["containerInstances"]}
    agent = MotoWriteBack()
    tasks: dict[str, str] = {}
    for instance, port in zip(instances, HOST_PORTS, strict=False):
        task = agent.backend.start_task(CLUSTER, "obs", [cis[instance]], {},
                                        "ecs-svc/1234567890", group=f"service:{SERVICE}")[0]
        task_id = task.task_arn.rsplit("/", 1)[-1]
        agent.set_network(CLUSTER, task_id, [{"bindIP": "0.0.0.0", "containerPort": 8000,
                                              "hostPort": port, "protocol": "tcp"}], [], [])
        agent.set_task(CLUSTER, task_id, "RUNNING", "RUNNING", started_at=time.time())
        tasks[task_id] = instance
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": instance, "Port": port}])
    agent.set_service(CLUSTER, SERVICE, running=len(tasks), pending=0, events=[
        (time.time() - 30, f"(service {SERVICE}) has started {len(tasks)} tasks: "
                           + " ".join(f"(task {t})" for t in tasks) + "."),
        (time.time() - 5, f"(service {SERVICE}) has reached a steady state.")][::-1])
    return tasks


def put_alb_metrics(endpoint: Endpoint, alb_arn: str) -> None:
    """One minute of the ALB's metrics, as the ALB publishes them."""
    dims = [{"Name": "LoadBalancer", "Value": alb_arn.split(":loadbalancer/", 1)[-1]}]
    now = datetime.now(UTC)
    endpoint.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
        {"MetricName": "RequestCount", "Dimensions": dims, "Value": 1200.0, "Timestamp": now},
        {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Value": 3.0,
         "Timestamp": now},
        {"MetricName": "TargetResponseTime", "Dimensions": dims, "Values": [0.012, 0.020, 0.250],
         "Counts": [900.0, 290.0, 10.0], "Timestamp": now}])


def service_autoscaling(endpoint: Endpoint) -> list[str]:
    """A scalable target (1-4 tasks) and a CPU target-tracking policy (60 %), with the two
    alarms Application Auto Scaling makes as AWS defines them (moto makes them with threshold
    6), AlarmHigh in ALARM as after three busy minutes. The alarm names, high first."""
    aas, cloudwatch = endpoint.client("application-autoscaling"), endpoint.client("cloudwatch")
    resource = f"service/{CLUSTER}/{SERVICE}"
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource,
                                 ScalableDimension="ecs:service:DesiredCount",
                                 MinCapacity=1, MaxCapacity=4)
    aas.put_scaling_policy(
        PolicyName="cpu60", ServiceNamespace="ecs", ResourceId=resource,
        ScalableDimension="ecs:service:DesiredCount", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    policy = aas.describe_scaling_policies(ServiceNamespace="ecs",
                                           ResourceId=resource)["ScalingPolicies"][0]
    names = sorted((a["AlarmName"] for a in policy["Alarms"]), key=lambda n: "-AlarmLow-" in n)
    dims = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": SERVICE}]
    for name, (op, threshold, periods) in zip(names, (("GreaterThanThreshold", 60.0, 3),
                                                      ("LessThanThreshold", 54.0, 15)),
                                                  strict=True):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/ECS", MetricName="CPUUtilization", Dimensions=dims,
            Statistic="Average", Period=60, EvaluationPeriods=periods,
            DatapointsToAlarm=periods, Threshold=threshold, ComparisonOperator=op)
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="ALARM",
                               StateReason="3 datapoints above 60.0")
    cloudwatch.set_alarm_state(AlarmName=names[1], StateValue="OK",
                               StateReason="not 15 datapoints below 54.0")
    return names


def build_cluster(endpoint: Endpoint, hosts: int = 2) -> Cluster:
    """The whole cluster to observe (see the module docstring), in an emptied emulator (moto's
    backends are global to the process: another test file may have left resources)."""
    reset_moto(endpoint.url)
    endpoint.client("ecs").create_cluster(clusterName=CLUSTER)
    made = Cluster(instances=register_instances(endpoint, hosts))
    made.load_balancer_arn, made.target_group_arn, made.dns_name = load_balancer(endpoint)
    made.tasks = run_service(endpoint, made.target_group_arn, made.instances)
    put_alb_metrics(endpoint, made.load_balancer_arn)
    made.alarms = service_autoscaling(endpoint)
    return made


def main() -> None:
    """``python tests/ecs_agent_harness.py``: the terminal app observing the harness's cluster
    (how the observer reads to a learner, without an AWS account)."""
    from cloud.aws.observer_client import ObserverClient
    from cloud.aws.real.access import TEST_ENDPOINT_ENV
    from cloud.core.ports import free_port
    from tui.app import FraudLabApp
    from tui.backend import ObserverBackend

    endpoint = start_plain_emulator(free_port())
    logging.getLogger("werkzeug").disabled = True  # moto's 500s would print over the screen
    try:
        build_cluster(endpoint)
        os.environ[TEST_ENDPOINT_ENV] = endpoint.url  # the kit's one test-only override
        client = ObserverClient(CLUSTER, SERVICE,
                                traffic_url="http://127.0.0.1:9")  # loopback, nothing listens
        backend = ObserverBackend(CLUSTER, SERVICE, client=client)
        began = time.monotonic()
        FraudLabApp(backend, rate=2.0).run()
        backend.close()
        print(f"app closed; it ran {time.monotonic() - began:.1f} s")
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
