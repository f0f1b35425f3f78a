"""Network-mode mismatches refused as ECS refuses them, inside the in-process moto server.

moto 5.2.5 accepts a target group of type ip for bridge tasks, type instance for awsvpc
tasks, and host ports that differ from container ports in awsvpc and host mode; ECS does not
(the decisions and their sources: :mod:`cloud.ecs.network`). Installed once per process by
:func:`cloud.aws.endpoint.start_moto`, so a learner's boto3 or ``aws`` call gets AWS's error:

- RegisterTaskDefinition → ``ClientException`` "When networkMode=awsvpc, the host ports and
  container ports in port mappings must match." (and the same for host mode);
- CreateService / UpdateService → ``InvalidParameterException`` "The provided target group …
  has target type ip, which is incompatible with the bridge network mode specified in the task
  definition." (and instance with awsvpc); an awsvpc service without a networkConfiguration
  ("Network Configuration must be provided when networkMode 'awsvpc' is specified.") and a
  bridge/host one with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cloud.ecs.network import (
    network_configuration_error,
    port_mapping_error,
    target_type_error,
)

_INSTALLED = "_fraudlab_network_guard"


def _target_type(arn: str) -> str | None:
    """The TargetType of the in-process moto target group ``arn`` (None: unknown)."""
    from moto.elbv2.models import elbv2_backends

    try:
        region, account = arn.split(":")[3:5]
        tg = elbv2_backends[account][region].target_groups.get(arn)
    except (IndexError, KeyError, ValueError):
        return None
    return getattr(tg, "target_type", None) if tg is not None else None


def service_error(network_mode: str | None,
                  load_balancers: Iterable[Mapping[str, Any]] | None) -> str | None:
    """The first target group of ``load_balancers`` whose type the network mode refuses."""
    for lb in load_balancers or []:
        arn = lb.get("targetGroupArn")
        if arn:
            message = target_type_error(_target_type(arn), network_mode, arn)
            if message:
                return message
    return None


def install_network_checks() -> None:
    """Wrap moto's ECS backend: the refusals above, before moto's own handling."""
    from moto.ecs.exceptions import EcsClientException, InvalidParameterException
    from moto.ecs.models import EC2ContainerServiceBackend as Backend

    if getattr(Backend, _INSTALLED, False):
        return
    # create-service's network checks run in cloud.aws.guards, before the kit's own limits.
    register, update = Backend.register_task_definition, Backend.update_service

    def register_task_definition(self: Any, family: str, container_definitions: Any,
                                 *args: Any, **kwargs: Any) -> Any:
        mode = kwargs.get("network_mode") if "network_mode" in kwargs else (
            args[1] if len(args) > 1 else None)
        message = port_mapping_error(mode, container_definitions or [])
        if message:
            raise EcsClientException(message)
        return register(self, family, container_definitions, *args, **kwargs)

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        props = service_properties
        service = self._get_service(props.get("cluster", "default"),
                                    str(props.get("service", "")).split("/")[-1])
        td_str = props.get("task_definition") or service.task_definition
        lbs = props.get("load_balancers") or service.load_balancers
        if td_str:
            mode = self.describe_task_definition(td_str).network_mode
            config = (props.get("network_configuration")
                      or getattr(service, "network_configuration", None))
            message = service_error(mode, lbs) or (
                network_configuration_error(mode, config) if mode == "awsvpc" else None)
            if message:
                raise InvalidParameterException(message)
        return update(self, service_properties)

    Backend.register_task_definition = register_task_definition  # type: ignore[method-assign]
    Backend.update_service = update_service  # type: ignore[method-assign]
    setattr(Backend, _INSTALLED, True)
