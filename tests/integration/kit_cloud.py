"""One deployed local cloud per test module: the fixture body the conformance modules share.

Imported as ``from kit_cloud import deployed_cloud`` (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cloud.aws.steps.plan import deploy_all
from cloud.core.ports import free_port
from cloud.server.localcloud import LocalCloud


@contextmanager
def deployed_cloud(tmp_path_factory, *, time_scale: float, ready: Callable[[LocalCloud], int],
                   desired: int = 2, timeout: float = 90.0) -> Iterator[LocalCloud]:
    """A process-runtime local cloud on free ports with `fraudlab deploy`'s steps run
    (``desired`` tasks spread on two hosts), once ``ready(cloud)`` counts ``desired``
    (e.g. healthy targets); stopped, every replica with it, when the block ends."""
    os.environ["FRAUDLAB_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    lc = LocalCloud("process", time_scale=time_scale, lb_port=0,
                    env={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    lc.start()
    try:
        deploy_all(lc.endpoint.client, desired=desired, placement="spread", hosts=2)
        deadline = time.monotonic() + timeout
        while ready(lc) < desired and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready(lc) == desired, lc.tick_errors[-5:]
        yield lc
    finally:
        lc.stop()
