"""Cluster auto scaling's I/O edge: what ECS does for an ASG capacity provider (§3, §11b).

Each controller pass calls :meth:`CapacityAutoscaler.step` with the cluster's hosts (their
tasks' reservations applied) and the tasks the scheduler could not place. When the cluster
has a capacity provider with managed scaling ENABLED (read through the API, re-read every few
wall seconds), the pure ``cloud.ecs.managed_scaling.decide`` says what to do and this module does it
through the API: raise the Auto Scaling group's desired capacity (moto then launches the EC2
instances) and register each new instance as its ECS agent would; or terminate empty
instances through the group and deregister them. Every datapoint of
``CapacityProviderReservation`` goes to the emulator's CloudWatch.

Tasks waiting for capacity: in AWS they sit in PROVISIONING until an instance joins. The
kit's scheduler (``cloud.ecs.scheduler``) reports them as unplaced, with ECS's "unable to place a
task" event, and places them on its next pass once the new instance has registered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from cloud.aws.steps.hosts import deregister_host, register_instance
from cloud.core.clock import Clock, lab_to_epoch
from cloud.ecs.managed_scaling import (
    METRIC_NAME,
    METRIC_NAMESPACE,
    CapacityDecision,
    CapacityState,
    Datapoint,
    ManagedScaling,
    decide,
)
from cloud.ecs.placement import Host, TaskRequest

SETTINGS_TTL = 3.0  # wall seconds between re-reads of the capacity provider and its group
STAMPED_TTL = 30.0  # at least this often with the emulator's write stamp
STAMPED_SERVICES = ("ecs", "autoscaling", "ec2")  # whose writes can change what is read


@dataclass(frozen=True)
class Provider:
    """The cluster's managed-scaling capacity provider and its Auto Scaling group, as read."""

    name: str
    group: str
    settings: ManagedScaling
    members: frozenset[str]  # the group's instance ids
    desired: int  # the group's desired capacity


class CapacityAutoscaler:
    """Evaluates and applies cluster auto scaling for one cluster (does nothing without a
    managed-scaling capacity provider)."""

    def __init__(self, endpoint: Any, clock: Clock, cluster: str, timeline: Any,
                 ttl: float = SETTINGS_TTL,
                 api_generation: Callable[[str], int] | None = None) -> None:
        self.endpoint = endpoint
        self.ecs = endpoint.client("ecs")
        self.clock = clock
        self.cluster = cluster
        self.timeline = timeline
        self.ttl = ttl
        self.state = CapacityState()
        self.provider: Provider | None = None
        self.last: CapacityDecision | None = None
        self.last_action: CapacityDecision | None = None
        self._read_at = float("-inf")
        # With the emulator in this process (cloud.core.api_writes.generation): read again
        # when ECS, Auto Scaling or EC2 served a write call since the last read.
        self.api_generation = api_generation
        self._read_stamp: tuple[int, ...] | None = None

    # -- reading the capacity provider --------------------------------------------------------
    def read_provider(self, force: bool = False) -> Provider | None:
        """The cluster's first capacity provider with managed scaling ENABLED (cached: for
        ``ttl`` wall seconds, or with the write stamp until a write, at most STAMPED_TTL)."""
        stamp = (tuple(self.api_generation(s) for s in STAMPED_SERVICES)
                 if self.api_generation else None)
        age = time.monotonic() - self._read_at
        fresh = stamp == self._read_stamp if stamp is not None else age < self.ttl
        if not force and fresh and age < STAMPED_TTL:
            return self.provider
        self._read_at, self._read_stamp = time.monotonic(), stamp  # stamp taken before
        self.provider = self._read()
        return self.provider

    def _read(self) -> Provider | None:
        clusters = self.ecs.describe_clusters(clusters=[self.cluster],
                                              include=["ATTACHMENTS"]).get("clusters", [])
        names = [n for c in clusters if c.get("status") == "ACTIVE"
                 for n in c.get("capacityProviders", [])]
        if not names:
            return None
        for cp in self.ecs.describe_capacity_providers(capacityProviders=names).get(
                "capacityProviders", []):
            asg = cp.get("autoScalingGroupProvider") or {}
            ms = asg.get("managedScaling") or {}
            if cp.get("status") != "ACTIVE" or ms.get("status") != "ENABLED":
                continue
            group_name = asg["autoScalingGroupArn"].split("autoScalingGroupName/")[-1]
            groups = self.endpoint.client("autoscaling").describe_auto_scaling_groups(
                AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
            if not groups:
                continue
            group = groups[0]
            settings = ManagedScaling(
                int(ms.get("targetCapacity", 100)), int(ms.get("minimumScalingStepSize", 1)),
                int(ms.get("maximumScalingStepSize", 10_000)),
                int(ms.get("instanceWarmupPeriod", 300)), int(group["MinSize"]),
                int(group["MaxSize"]), self._instance_type(group))
            return Provider(cp["name"], group_name, settings,
                            frozenset(i["InstanceId"] for i in group.get("Instances", [])),
                            int(group["DesiredCapacity"]))
        return None

    def _instance_type(self, group: dict[str, Any]) -> str:
        """The instance type the group launches (its launch template's, or configuration's)."""
        template = group.get("LaunchTemplate") or {}
        if template:
            key = ({"LaunchTemplateId": template["LaunchTemplateId"]}
                   if template.get("LaunchTemplateId")
                   else {"LaunchTemplateName": template["LaunchTemplateName"]})
            versions = self.endpoint.client("ec2").describe_launch_template_versions(
                **key, Versions=[template.get("Version") or "$Latest"])["LaunchTemplateVersions"]
            if versions:
                return str(versions[0]["LaunchTemplateData"].get("InstanceType", "t3.medium"))
        if group.get("LaunchConfigurationName"):
            configs = self.endpoint.client("autoscaling").describe_launch_configurations(
                LaunchConfigurationNames=[group["LaunchConfigurationName"]])
            for config in configs["LaunchConfigurations"]:
                return str(config["InstanceType"])
        return "t3.medium"

    # -- one evaluation -----------------------------------------------------------------------
    def step(self, hosts: list[Host], waiting: list[TaskRequest]) -> CapacityDecision | None:
        """Evaluate (at most one datapoint per lab minute) and act; None without a provider."""
        provider = self.read_provider()
        if provider is None:
            return None
        if self._register_joiners(provider, hosts):
            return None  # the new instances count from the next pass
        members = [h for h in hosts if h.instance_id in provider.members]
        state = replace(self.state, desired_capacity=provider.desired)
        decision = decide(state, members, waiting, self.clock.now(), provider.settings)
        self.state, self.last = decision.state, decision
        if decision.datapoint is not None:
            self._publish(provider, decision.datapoint)
        if decision.action == "none":
            return decision
        self.last_action = decision
        dp = decision.datapoint
        self.timeline.add(self.clock, "capacity", decision.reason, "simulated",
                          action=decision.action, launch=decision.launch,
                          retire=list(decision.retire), needed=decision.needed_why,
                          value=dp.value if dp else None)
        if decision.launch:
            self._launch(provider, decision.state.desired_capacity)
        for instance_id in decision.retire:
            self._retire(provider, instance_id)
        self.read_provider(force=True)
        return decision

    def _register_joiners(self, provider: Provider, hosts: list[Host]) -> list[str]:
        """Register running group members that are not container instances yet — e.g. the
        instance the group launched to replace a terminated one — as their agents would."""
        known = {h.instance_id for h in hosts}
        unknown = sorted(provider.members - known)
        if not unknown:
            return []
        reservations = self.endpoint.client("ec2").describe_instances(InstanceIds=unknown)
        running = sorted(i["InstanceId"] for r in reservations["Reservations"]
                         for i in r["Instances"] if i["State"]["Name"] == "running")
        for instance_id in running:
            register_instance(self.endpoint.client("ec2"), self.ecs, self.cluster, instance_id,
                              provider.settings.instance_type)
            self.timeline.add(self.clock, "capacity",
                              f"{instance_id} joined Auto Scaling group {provider.group}; its "
                              f"ECS agent registered it with {self.cluster}", "emulated",
                              host=instance_id)
        return running

    def replace(self, instance_id: str) -> bool:
        """Terminate a group member WITHOUT lowering desired capacity: the group launches a
        replacement (EC2 Auto Scaling keeps its desired count). False if not a member."""
        provider = self.read_provider(force=True)
        if provider is None or instance_id not in provider.members:
            return False
        self.endpoint.client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=False)
        self.read_provider(force=True)
        return True

    def _launch(self, provider: Provider, desired: int) -> None:
        """Raise the group's desired capacity; register what it launched, as the agent would.

        kit: an instance registers at once; in AWS it boots and its agent registers it a
        minute or two later (instanceWarmupPeriod covers that).
        """
        autoscaling = self.endpoint.client("autoscaling")
        autoscaling.set_desired_capacity(AutoScalingGroupName=provider.group,
                                         DesiredCapacity=desired, HonorCooldown=False)
        group = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[provider.group])["AutoScalingGroups"][0]
        new = sorted(i["InstanceId"] for i in group["Instances"]
                     if i["InstanceId"] not in provider.members)
        for instance_id in new:
            ci, _ = register_instance(self.endpoint.client("ec2"), self.ecs, self.cluster,
                                      instance_id, provider.settings.instance_type)
            az = next((a.get("value") for a in ci.get("attributes", [])
                       if a["name"] == "ecs.availability-zone"), "?")
            itype = provider.settings.instance_type
            self.timeline.add(
                self.clock, "capacity",
                f"Auto Scaling group {provider.group} launched {instance_id} ({itype}, {az}); "
                f"its ECS agent registered it with {self.cluster} (the kit did, with the "
                "agent's CPU and memory)", "emulated", host=instance_id)

    def _retire(self, provider: Provider, instance_id: str) -> None:
        """Terminate through the group (desired capacity − 1); ECS deregisters the instance."""
        self.endpoint.client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)
        deregister_host(self.endpoint.client("ec2"), self.ecs, self.cluster, instance_id)
        self.timeline.add(self.clock, "capacity",
                          f"Auto Scaling group {provider.group} terminated {instance_id} "
                          f"(empty); ECS deregistered it from {self.cluster}", "emulated",
                          host=instance_id)

    def _publish(self, provider: Provider, dp: Datapoint) -> None:
        """The minute's CapacityProviderReservation datapoint, into CloudWatch."""
        at = lab_to_epoch(self.clock, dp.at)  # the lab minute, in epoch s
        cloudwatch = self.endpoint.client("cloudwatch")
        cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=[{
            "MetricName": METRIC_NAME, "Timestamp": at, "Value": dp.value, "Unit": "Percent",
            "Dimensions": [{"Name": "ClusterName", "Value": self.cluster},
                           {"Name": "CapacityProviderName", "Value": provider.name}]}])

    def snapshot(self) -> dict[str, Any] | None:
        """The provider, its settings and the latest datapoints, for the UIs."""
        p = self.provider
        if p is None:
            return None
        s = p.settings
        return {"capacity_provider": p.name, "auto_scaling_group": p.group,
                "desired_capacity": p.desired, "min_size": s.min_size, "max_size": s.max_size,
                "target_capacity": s.target_capacity,
                "instance_warmup_period": s.instance_warmup_period,
                "instance_type": s.instance_type,
                "datapoints": [{"lab": d.at, "value": d.value, "needed": d.needed,
                                "running": d.running} for d in self.state.datapoints[-15:]],
                "last_reason": self.last.reason if self.last else None,
                "last_action": self.last_action.reason if self.last_action else None}
