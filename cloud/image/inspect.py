"""The layer table of an image the local Docker engine already has (``docker history``).

The one place the TUI walkthrough and the labs read a built image's layers from; ``None``
when no engine answers or the image is not built, so callers can fall back to the service's
file layers (``cloud.aws.steps.ecr.service_layers``).
"""

from __future__ import annotations

from cloud.image.build import base_entries, choose_base
from cloud.image.layers import LayerRow, layer_table


def engine_layers(image: str, timeout: float = 5.0) -> tuple[list[LayerRow], str] | None:
    """(layer table oldest layer first, where it came from) of ``image`` in the local engine;
    None with no engine, no Docker SDK or no such image."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
        from requests.exceptions import RequestException
    except ImportError:
        return None
    try:
        client = docker.from_env(timeout=timeout)
    except DockerException:
        return None
    try:
        history = client.api.history(image)
        return layer_table(history, base_entries(client, choose_base(client))), \
            f"docker history {image}"
    except (ImageNotFound, DockerException, RequestException):
        return None
    finally:
        client.close()
