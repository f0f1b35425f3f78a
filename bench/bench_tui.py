"""First paint of the terminal app: from start to the first dashboard drawn from a snapshot.

Starts a local cloud (process runtime, its own state directory and ports), deploys the
service (4 tasks), then, in a fresh Python process each time, imports the app and runs it
headless attached to that cloud until the dashboard shows the first snapshot. Prints the
import time, the first paint after import (connect + stream + render) and their sum, over a
few runs; target: total ≤ 1.5 s (issue 7). A measurement, not a test: CI does not run it.

    .venv/bin/python bench/bench_tui.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.5

CHILD = r"""
import asyncio, json, time
t0 = time.monotonic()
from tui.app import FraudLabApp
from tui.backend import Backend
imported = time.monotonic() - t0

async def main():
    app = FraudLabApp(Backend(start=False), progress_path=None)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.first_paint is None:
            await pilot.pause(0.01)
    return app.first_paint

paint = asyncio.run(main())
print(json.dumps({"import_s": imported, "paint_s": paint}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from cloud.core.ports import free_port

    state = tempfile.mkdtemp(prefix="fraudlab-bench-tui-")
    env = {**os.environ, "FRAUDLAB_STATE_DIR": state, "FRAUDLAB_LB_PORT": "0",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
           "PYTHONPATH": str(ROOT)}
    os.environ.update(env)
    from cli.deploy import deploy
    from cloud.server.launcher import down, up

    up("process", 12.0)
    try:
        deploy(desired=4, out=None)
        rows = []
        for i in range(args.runs):
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(f"run {i + 1}: import {row['import_s']:.3f} s, first paint "
                  f"{row['paint_s']:.3f} s", file=sys.stderr)
    finally:
        down()
    total = [r["import_s"] + r["paint_s"] for r in rows]
    for name, values in (("import tui.app", [r["import_s"] for r in rows]),
                         ("first paint after import", [r["paint_s"] for r in rows]),
                         ("total", total)):
        print(f"{name:<26} median {statistics.median(values):.3f} s  max {max(values):.3f} s")
    ok = statistics.median(total) <= TARGET
    print(f"target: total ≤ {TARGET} s → {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
