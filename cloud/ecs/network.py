"""A task's network as ECS shows it, per network mode — and what AWS refuses (fact sheet §2).

Pure functions: from a task's network mode, its container port, the port its process really
listens on (on 127.0.0.1: every "instance" of the kit shares one loopback) and its instance's
subnet, they give what ``describe-tasks`` shows (``networkBindings`` for bridge and host,
``attachments`` and ``containers[].networkInterfaces`` for awsvpc) and the target ECS registers
in the service's target group. Real traffic always goes to 127.0.0.1:<local port>; what is
shown is what AWS would show.

- ``bridge`` with ``hostPort`` 0: a dynamic host port from the ephemeral range; the agent's
  ``ECS_DYNAMIC_HOST_PORT_RANGE`` defaults on Linux to the kernel's ``ip_local_port_range``
  (§2, [AGENT] README). The kit's host port IS the local port: the kernel picked it from that
  same range when the task's process was given a free port.
- ``host``: the static ``hostPort`` (= ``containerPort``) is shown; the local process listens
  on a port of its own, since all the kit's instances share one loopback.
- ``awsvpc``: each task its own ENI with a private IP from its instance's subnet; no host port.

Target group targets (ALB user guide, load-balancer-target-groups "Target type"): type
``instance`` → (EC2 instance id, host port); type ``ip`` → (the task's private IP,
containerPort). ECS refuses the mismatches at CreateService/UpdateService (wording as AWS
returns it: hashicorp/terraform#24266 for ip + bridge, riboseinc/terraform-aws-ecs-gitlab#5 for
instance + awsvpc) and RegisterTaskDefinition refuses host ports that differ from container
ports in awsvpc (aws/amazon-ecs-cli#1014, pulumi/pulumi-awsx#935) and host mode (the agent's
design note aws/amazon-ecs-agent#185: "The task definition will require all host ports to
match container ports in the host networking mode").
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloud.ecs.placement import AWSVPC, BRIDGE, HOST, NETWORK_MODES

INSTANCE, IP = "instance", "ip"
TARGET_TYPES = (INSTANCE, IP)
LOOPBACK = "127.0.0.1"
# Linux's default ip_local_port_range (the agent's ECS_DYNAMIC_HOST_PORT_RANGE default, §2).
LINUX_EPHEMERAL = (32768, 60999)
PORT_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
# The first four addresses and the last of a subnet are AWS's (VPC user guide, "Subnet CIDR
# blocks": network, VPC router, DNS, future use; broadcast).
RESERVED_HEAD, RESERVED_TAIL = 4, 1

TARGET_TYPE_REFUSED = ("The provided target group {arn} has target type {target_type}, which is "
                       "incompatible with the {mode} network mode specified in the task "
                       "definition.")
PORTS_MUST_MATCH = ("When networkMode={mode}, the host ports and container ports in port "
                    "mappings must match.")
# CreateService/UpdateService (as returned: aws-actions/amazon-ecs-deploy-task-definition#802,
# fabfuel/ecs-deploy#133; DataDog/test-infra-definitions#57, boltops-tools/ufo#112).
NETWORK_CONFIGURATION_MISSING = ("Network Configuration must be provided when networkMode "
                                 "'awsvpc' is specified.")
NETWORK_CONFIGURATION_INVALID = ("Network Configuration is not valid for the given networkMode "
                                 "of this task definition.")
SHOWN_NOT_ROUTED = ("shown as AWS would show it; the kit's traffic goes to 127.0.0.1:{port}, "
                    "where the task's process listens")


@dataclass(frozen=True)
class TaskNetwork:
    """One task's network: what AWS would show and where the kit really reaches it."""

    task_id: str
    mode: str
    container_port: int
    local_port: int  # the process listens on 127.0.0.1:local_port
    instance_id: str = ""
    host_port: int | None = None  # bridge: the dynamic port; host: the static one; awsvpc: None
    eni_id: str | None = None
    private_ip: str | None = None
    subnet_id: str | None = None
    mac_address: str | None = None
    attachment_id: str | None = None


def read_ephemeral_range(path: str = PORT_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default when it cannot be read)."""
    try:
        with open(path, encoding="ascii") as f:
            low, high = (int(x) for x in f.read().split()[:2])
        return low, high
    except (OSError, ValueError):
        return LINUX_EPHEMERAL


def _digest(task_id: str, salt: str) -> bytes:
    return hashlib.sha256(f"{salt}:{task_id}".encode()).digest()


def eni_id(task_id: str) -> str:
    """An ENI id like EC2's (``eni-`` and 17 hex digits), fixed by the task id."""
    return "eni-" + _digest(task_id, "eni").hex()[:17]


def mac_address(task_id: str) -> str:
    raw = _digest(task_id, "mac")[:6]
    return ":".join(f"{b:02x}" for b in (0x02, *raw[1:]))  # locally administered, unicast


def private_ip(cidr: str, task_id: str, taken: Iterable[str] = ()) -> str:
    """A free private IPv4 address of ``cidr`` for the task (fixed by its id; the next free one
    when taken), never one of the five addresses AWS reserves in every subnet."""
    net = ipaddress.ip_network(cidr, strict=False)
    usable = net.num_addresses - RESERVED_HEAD - RESERVED_TAIL
    if usable <= 0:
        raise ValueError(f"subnet {cidr} has no address left for a task ENI")
    used = set(taken)
    start = int.from_bytes(_digest(task_id, "ip")[:8], "big") % usable
    for k in range(usable):
        ip = str(net.network_address + RESERVED_HEAD + (start + k) % usable)
        if ip not in used:
            return ip
    raise ValueError(f"subnet {cidr} has no free address left")


def task_network(mode: str, task_id: str, local_port: int, container_port: int, *,
                 instance_id: str = "", host_port: int | None = None,
                 subnet_id: str | None = None, cidr: str | None = None,
                 taken_ips: Iterable[str] = ()) -> TaskNetwork:
    """The network of a task about to start. ``host_port``: the task definition's (host mode's
    static port); ``cidr``: its instance's subnet (awsvpc)."""
    if mode not in NETWORK_MODES:
        raise ValueError(f"network mode must be one of {NETWORK_MODES}; got {mode!r}")
    base = TaskNetwork(task_id, mode, container_port, local_port, instance_id)
    if mode == BRIDGE:
        return replace(base, host_port=host_port or local_port)
    if mode == HOST:
        return replace(base, host_port=host_port or container_port)
    ip = private_ip(cidr or "10.0.0.0/24", task_id, taken_ips)
    return replace(base, eni_id=eni_id(task_id), private_ip=ip, subnet_id=subnet_id,
                    mac_address=mac_address(task_id),
                    attachment_id=str(uuid.UUID(bytes=_digest(task_id, "attachment")[:16])))


def network_bindings(net: TaskNetwork) -> list[dict[str, Any]]:
    """describe-tasks' ``containers[].networkBindings`` (bridge and host; awsvpc has none)."""
    if net.mode == AWSVPC or net.host_port is None:
        return []
    return [{"bindIP": "0.0.0.0", "containerPort": net.container_port,
             "hostPort": net.host_port, "protocol": "tcp"}]


def attachments(net: TaskNetwork) -> list[dict[str, Any]]:
    """describe-tasks' ``attachments``: an awsvpc task's ElasticNetworkInterface."""
    if net.mode != AWSVPC:
        return []
    return [{"id": net.attachment_id, "type": "ElasticNetworkInterface", "status": "ATTACHED",
             "details": [{"name": "subnetId", "value": net.subnet_id or ""},
                         {"name": "networkInterfaceId", "value": net.eni_id},
                         {"name": "macAddress", "value": net.mac_address},
                         {"name": "privateIPv4Address", "value": net.private_ip}]}]


def network_interfaces(net: TaskNetwork) -> list[dict[str, Any]]:
    """describe-tasks' ``containers[].networkInterfaces`` (awsvpc)."""
    if net.mode != AWSVPC:
        return []
    return [{"attachmentId": net.attachment_id, "privateIpv4Address": net.private_ip}]


def api_target(target_type: str, net: TaskNetwork) -> tuple[str, int]:
    """The target ECS registers for the task: (instance id, host port) for type instance,
    (private IP, containerPort) for type ip."""
    if target_type == IP:
        if net.private_ip is None:
            raise ValueError(f"task {net.task_id} ({net.mode}) has no private IP of its own: "
                             "target type ip needs awsvpc")
        return net.private_ip, net.container_port
    if net.host_port is None or not net.instance_id:
        raise ValueError(f"task {net.task_id} ({net.mode}) has no host port on an instance: "
                         "target type instance needs bridge or host")
    return net.instance_id, net.host_port


def describe(net: TaskNetwork) -> str:
    """One line for the UIs: what AWS would show, and where the kit's traffic goes."""
    local = SHOWN_NOT_ROUTED.format(port=net.local_port)
    if net.mode == AWSVPC:
        return (f"awsvpc: ENI {net.eni_id}, {net.private_ip}:{net.container_port} in "
                f"{net.subnet_id} ({local})")
    if net.mode == HOST:
        return (f"host: {net.instance_id}:{net.host_port} (static; {local} — the kit's "
                "instances share one loopback, so each process needs a port of its own)")
    return f"bridge: {net.instance_id}:{net.host_port} → container port {net.container_port} " \
           "(dynamic, the kernel's ephemeral range; the kit's process listens on it)"


# ---- what AWS refuses ---------------------------------------------------------------------
def target_type_error(target_type: str | None, network_mode: str | None,
                      target_group_arn: str) -> str | None:
    """ECS's InvalidParameterException message for a service whose target group's type does
    not fit its task definition's network mode; None when it fits. Type ip needs awsvpc;
    type instance needs bridge or host (ALB: "You can't specify targets for a task [in awsvpc]
    by instance ID")."""
    mode = network_mode or BRIDGE
    if target_type == IP and mode in (BRIDGE, HOST):
        return TARGET_TYPE_REFUSED.format(arn=target_group_arn, target_type=IP, mode=mode)
    if target_type == INSTANCE and mode == AWSVPC:
        return TARGET_TYPE_REFUSED.format(arn=target_group_arn, target_type=INSTANCE,
                                          mode=mode)
    return None


def network_configuration_error(network_mode: str | None,
                                network_configuration: Mapping[str, Any] | None) -> str | None:
    """ECS's InvalidParameterException message: awsvpc services need a networkConfiguration
    (awsvpcConfiguration: subnets, security groups); bridge and host services take none."""
    mode = network_mode or BRIDGE
    if mode == AWSVPC and not network_configuration:
        return NETWORK_CONFIGURATION_MISSING
    if mode != AWSVPC and network_configuration:
        return NETWORK_CONFIGURATION_INVALID
    return None


def port_mapping_error(network_mode: str | None,
                       container_definitions: Sequence[Mapping[str, Any]]) -> str | None:
    """RegisterTaskDefinition's ClientException message, or None. awsvpc: a hostPort, if
    given and not 0, must equal the containerPort; host: a given hostPort must equal it (0,
    a dynamic port, is bridge's alone — §2: host mode "must specify a specific hostPort")."""
    mode = network_mode or BRIDGE
    if mode not in (AWSVPC, HOST):
        return None
    for container in container_definitions:
        for mapping in container.get("portMappings") or []:
            host_port = mapping.get("hostPort")
            if host_port is None:
                continue
            if mode == AWSVPC and int(host_port) == 0:
                continue
            if int(host_port) != int(mapping.get("containerPort") or 0):
                return PORTS_MUST_MATCH.format(mode=mode)
    return None


def first_port(td: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(containerPort, hostPort) of a described task definition's first port mapping."""
    for container in td.get("containerDefinitions") or []:
        for mapping in container.get("portMappings") or []:
            cport = mapping.get("containerPort")
            hport = mapping.get("hostPort")
            return (int(cport) if cport is not None else None,
                    int(hport) if hport is not None else None)
    return None, None


def static_host_port(td: Mapping[str, Any]) -> int | None:
    """The host port a task of ``td`` takes on its instance for placement: host mode's static
    port (hostPort, else containerPort), a static bridge port; None when dynamic or awsvpc."""
    mode = td.get("networkMode") or BRIDGE
    cport, hport = first_port(td)
    if mode == HOST:
        return hport or cport
    if mode == BRIDGE:
        return hport or None
    return None
