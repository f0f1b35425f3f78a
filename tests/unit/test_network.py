"""A task's network per mode (cloud.ecs.network), the targets ECS registers and the refusals."""

from __future__ import annotations

import ipaddress

import pytest

from cloud.ecs.network import (
    api_target,
    attachments,
    describe,
    eni_id,
    network_bindings,
    network_configuration_error,
    network_interfaces,
    port_mapping_error,
    private_ip,
    read_ephemeral_range,
    static_host_port,
    target_type_error,
    task_network,
)
from cloud.lb.sync import api_rows

TID = "0123456789abcdef0123456789abcdef"


def test_bridge_shows_the_local_port_as_its_dynamic_host_port() -> None:
    net = task_network("bridge", TID, 41234, 8080, instance_id="i-1")
    assert net.host_port == 41234
    assert network_bindings(net) == [{"bindIP": "0.0.0.0", "containerPort": 8080,
                                      "hostPort": 41234, "protocol": "tcp"}]
    assert attachments(net) == [] and network_interfaces(net) == []
    assert api_target("instance", net) == ("i-1", 41234)
    with pytest.raises(ValueError, match="awsvpc"):
        api_target("ip", net)


def test_host_mode_shows_the_static_port_not_the_local_one() -> None:
    net = task_network("host", TID, 41234, 8080, instance_id="i-1", host_port=8080)
    assert network_bindings(net)[0]["hostPort"] == 8080
    assert api_target("instance", net) == ("i-1", 8080)
    assert "127.0.0.1:41234" in describe(net) and "one loopback" in describe(net)


def test_awsvpc_gets_an_eni_and_an_address_of_the_subnet() -> None:
    net = task_network("awsvpc", TID, 41234, 8080, instance_id="i-1", subnet_id="subnet-1",
                       cidr="172.31.0.0/20")
    assert net.host_port is None and network_bindings(net) == []
    [att] = attachments(net)
    details = {d["name"]: d["value"] for d in att["details"]}
    assert att["type"] == "ElasticNetworkInterface"
    assert details["networkInterfaceId"] == eni_id(TID) and len(eni_id(TID)) == 21
    assert details["subnetId"] == "subnet-1"
    assert ipaddress.ip_address(details["privateIPv4Address"]) in ipaddress.ip_network(
        "172.31.0.0/20")
    assert network_interfaces(net) == [{"attachmentId": att["id"],
                                        "privateIpv4Address": net.private_ip}]
    assert api_target("ip", net) == (net.private_ip, 8080)
    with pytest.raises(ValueError, match="bridge or host"):
        api_target("instance", net)


def test_private_ips_skip_aws_reserved_addresses_and_taken_ones() -> None:
    cidr = "10.0.0.0/29"  # 8 addresses: .0-.3 and .7 are AWS's, .4-.6 usable
    taken: list[str] = []
    for k in range(3):
        taken.append(private_ip(cidr, f"task-{k}", taken))
    assert sorted(taken) == ["10.0.0.4", "10.0.0.5", "10.0.0.6"]
    with pytest.raises(ValueError, match="no free address"):
        private_ip(cidr, "task-3", taken)


@pytest.mark.parametrize(("target_type", "mode", "refused"), [
    ("ip", "bridge", True), ("ip", "host", True), ("ip", "awsvpc", False),
    ("instance", "awsvpc", True), ("instance", "bridge", False), ("instance", "host", False),
    ("ip", None, True),  # no networkMode: bridge
])
def test_target_type_must_fit_the_network_mode(target_type, mode, refused) -> None:
    message = target_type_error(target_type, mode, "arn:tg")
    assert bool(message) == refused
    if refused:
        assert message == (f"The provided target group arn:tg has target type {target_type}, "
                           f"which is incompatible with the {mode or 'bridge'} network mode "
                           "specified in the task definition.")


@pytest.mark.parametrize(("mode", "host_port", "refused"), [
    ("awsvpc", 9090, True), ("awsvpc", 8080, False), ("awsvpc", 0, False),
    ("awsvpc", None, False), ("host", 9090, True), ("host", 0, True), ("host", 8080, False),
    ("host", None, False), ("bridge", 0, False), ("bridge", 9090, False),
])
def test_host_ports_must_match_container_ports_in_awsvpc_and_host(mode, host_port,
                                                                   refused) -> None:
    mapping = {"containerPort": 8080} | ({} if host_port is None else {"hostPort": host_port})
    message = port_mapping_error(mode, [{"portMappings": [mapping]}])
    assert bool(message) == refused
    if refused:
        assert message == (f"When networkMode={mode}, the host ports and container ports in "
                           "port mappings must match.")


def test_static_host_port_is_what_placement_reserves() -> None:
    def td(mode: str, host_port: int | None) -> dict:
        pm = {"containerPort": 8080} | ({} if host_port is None else {"hostPort": host_port})
        return {"networkMode": mode, "containerDefinitions": [{"portMappings": [pm]}]}

    assert static_host_port(td("bridge", 0)) is None
    assert static_host_port(td("bridge", 9000)) == 9000
    assert static_host_port(td("host", None)) == 8080
    assert static_host_port(td("awsvpc", 8080)) is None


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path) -> None:
    f = tmp_path / "range"
    f.write_text("32768\t60999\n")
    assert read_ephemeral_range(str(f)) == (32768, 60999)
    assert read_ephemeral_range(str(tmp_path / "missing")) == (32768, 60999)


def test_sync_registers_targets_as_ecs_would_and_keeps_unknown_ones() -> None:
    rows = [{"id": "t1", "host": "127.0.0.1", "port": 41000, "state": "healthy"},
            {"id": "other", "host": "127.0.0.1", "port": 41001, "state": "initial"}]
    mapped = api_rows(rows, "instance",
                      lambda tid, kind: ("i-1", 41000) if tid == "t1" else None)
    assert [(r["host"], r["port"]) for r in mapped] == [("i-1", 41000), ("127.0.0.1", 41001)]
    assert api_rows(rows, None, lambda tid, kind: ("x", 1)) == rows



def test_awsvpc_services_need_a_network_configuration_and_only_they_take_one() -> None:
    config = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
    assert network_configuration_error("awsvpc", None) == (
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    assert network_configuration_error("awsvpc", config) is None
    assert network_configuration_error("bridge", config) == (
        "Network Configuration is not valid for the given networkMode of this task "
        "definition.")
    assert network_configuration_error("host", None) is None
