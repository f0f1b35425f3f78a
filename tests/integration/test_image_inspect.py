"""The layer table of a built image read from the engine (what the walkthrough and lab 01
show): the base, the virtualenv and the service's code and model, with their real sizes."""

from __future__ import annotations

import pytest

from cloud.image.inspect import engine_layers

pytestmark = pytest.mark.docker


def test_the_built_slim_image_has_base_dependencies_and_code_layers(docker_client,
                                                                    slim_image) -> None:
    found = engine_layers(slim_image)
    assert found is not None
    rows, source = found
    assert source == f"docker history {slim_image}"
    kinds = {r.kind for r in rows if not r.empty}
    assert {"base", "dependencies", "code+model"} <= kinds
    total = sum(r.size_bytes for r in rows)
    assert total == docker_client.images.get(slim_image).attrs["Size"]
    deps = next(r for r in rows if r.kind == "dependencies")
    assert deps.size_bytes > 20_000_000 and "/opt/venv" in deps.instruction


def test_an_image_the_engine_lacks_is_none(docker_client) -> None:
    assert engine_layers("fraudlab/no-such-image:never") is None
