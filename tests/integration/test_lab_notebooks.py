"""Every lab notebook runs headless, top to bottom, against one real local cloud.

One process-runtime local cloud (free ports, its own state directory, a high time scale so
scaling happens in seconds) is started once and shared by the eight notebooks in order, as a
learner's would be; each notebook attaches to it through the state directory. The kernel is
this venv's python (ipykernel). Each lab's run time is printed and written to
``lab-times.json`` in the state directory.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from optional import lazy, needs

from cloud.core.ports import free_port

pytestmark = needs("nbformat", "nbclient", "ipykernel", "ipywidgets")
nbformat, nbclient = lazy("nbformat"), lazy("nbclient")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "labs" / "notebooks").glob("*.ipynb"))
TIME_SCALE = 60.0  # a lab minute lasts 1 s
CELL_TIMEOUT = 240


@pytest.fixture(scope="module")
def shared_cloud(tmp_path_factory):
    """A local cloud started like `fraudlab up` (launcher.up) in a private state dir."""
    from cloud.server import launcher

    state = tmp_path_factory.mktemp("lab-state")
    env = {"FRAUDLAB_STATE_DIR": str(state), "FRAUDLAB_LB_PORT": str(free_port()),
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
           "FRAUDLAB_LAB_TIME_SCALE": str(TIME_SCALE), "FRAUDLAB_LAB_RUNTIME": "process",
           "FRAUDLAB_LAB_STRICT": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        info, seconds, _ = launcher.up("process", TIME_SCALE)
        yield {"info": info, "state": state, "up_seconds": seconds}
    finally:
        launcher.down()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dashboard_updates(nb) -> int:
    """How often the live view updated in the kernel (the widget state nbclient saved)."""
    import re

    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    found = [int(m.group(1)) for model in state.values()
             if (m := re.search(r"(?:stopped after|live: update) (\d+)",
                                str(model.get("state", {}).get("value", ""))))]
    return max(found, default=0)


def _widget_html(nb) -> str:
    """Every HTML widget's value the kernel left (the widget state nbclient saved)."""
    state = nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return "".join(str(model.get("state", {}).get("value", "")) for model in state.values())


def test_every_notebook_is_there():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{n:02d}" for n in range(1, 9)]


def test_notebooks_run_top_to_bottom(shared_cloud):
    times: dict[str, float] = {}
    summaries: dict[str, str] = {}
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            nb, timeout=CELL_TIMEOUT, kernel_name="python3",
            resources={"metadata": {"path": str(ROOT)}})
        began = time.monotonic()
        client.execute()
        times[path.stem] = round(time.monotonic() - began, 1)
        nbformat.write(nb, shared_cloud["state"] / path.name)  # executed, for a look
        print(f"{path.name}: {times[path.stem]} s", file=sys.stderr)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{path.name}: {errors}"
        # The last cell leaves the live views updating (Run All must not freeze them).
        last = "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                       for o in nb.cells[-1].get("outputs", []))
        assert "lab done" in last, f"{path.name}: last cell said {last!r}"
        summaries[path.stem] = last.split("'lab done")[0].strip()
        if "LiveDashboard" in "".join(c.source for c in nb.cells):
            assert _dashboard_updates(nb) >= 2, f"{path.name}: the live view never updated"
        if path.stem.startswith("07"):  # the run report's plots, inline, from a saved run
            shown = _widget_html(nb)
            assert "iframe title='run report'" in shown and "fraudlab-run-plots" in shown
            [run] = (shared_cloud["state"] / "runs").glob("*-lab07.json")
            recorded = json.loads(run.read_text())
            assert len(recorded["samples"]) >= 5 and max(
                p["desired"] for p in recorded["samples"]) > recorded["samples"][0]["desired"]
        print(summaries[path.stem], file=sys.stderr)
    (shared_cloud["state"] / "lab-times.json").write_text(json.dumps(times, indent=2))
    print("lab run times (s): " + json.dumps(times), file=sys.stderr)
    measured = json.loads((shared_cloud["state"] / "labs-measurements.json").read_text())
    assert measured["crash"]["recovery_seconds"] is not None
    assert measured["roi"]["saved_usd_per_day"] > 0
    assert sum(times.values()) < 420, times
    # The checks, graded on the cluster's state, pass when every lab ran in order.
    failed = {k: v for k, v in summaries.items() if "✗" in v}
    assert not failed, failed
