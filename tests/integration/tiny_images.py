"""A tiny image for the Docker tests that push to the kit's local registry."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def one_layer_image(docker_client: Any, registry_host: str, prefix: str,
                    pushed_as: str) -> Iterator[str]:
    """A one-layer image of a few kB, ``fraudlab-test/<prefix>-<hex>:v1`` (unique content, so
    every run pushes a new layer); afterwards its tags and those of ``<registry_host>/<pushed_as>``
    are removed."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        payload = os.urandom(4096) + uuid.uuid4().bytes
        info = tarfile.TarInfo("payload.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    name = f"fraudlab-test/{prefix}-{uuid.uuid4().hex[:8]}"
    docker_client.api.import_image_from_data(data.getvalue(), repository=name, tag="v1")
    yield f"{name}:v1"
    for image in docker_client.images.list():
        for tag in image.tags:
            if name in tag or tag.startswith(f"{registry_host}/{pushed_as}:"):
                docker_client.api.remove_image(tag, force=True)
