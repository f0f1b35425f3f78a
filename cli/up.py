"""``fraudlab up``: start the local cloud (in the background, or ``--foreground``)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from cli import image
from cloud.runtime import choose
from cloud.server import launcher
from cloud.server.localcloud import main as run_local_cloud


def docker_ready(out: TextIO) -> None:
    """``up --runtime docker``: the engine must answer; a missing image is built first, with
    the build's log (what ``fraudlab build`` prints)."""
    found = choose.probe_engine()
    if found.client is not None:
        found.client.close()
    if not found.answered:
        raise RuntimeError(f"--runtime docker: no Docker engine answered at {found.address} "
                           f"({found.detail}): start the engine, or use `--runtime process`")
    if found.has_image:
        return
    print(f"{choose.DEFAULT_IMAGE} is not built yet: building it first (what `fraudlab build` "
          "does)", file=out, flush=True)
    try:
        image.build_cli("slim", None, out)
    except RuntimeError as exc:  # BuildFailed carries the log's tail on further lines
        raise RuntimeError(f"building {choose.DEFAULT_IMAGE} failed "
                           f"({str(exc).splitlines()[0]}): fix the build (`fraudlab build` "
                           "shows its log), or use `--runtime process`") from exc


def command(args: argparse.Namespace) -> int:
    if args.runtime == "docker" and not launcher.running_cloud():
        docker_ready(sys.stdout)
    if args.foreground:  # e.g. docker-compose.yml's kit service; Ctrl-C / SIGTERM stops it
        running = launcher.running_cloud()
        if running:
            raise RuntimeError(f"a local cloud is already running (pid {running['pid']}); "
                               "`fraudlab down` stops it")
        return run_local_cloud(["--runtime", args.runtime, "--time-scale",
                                str(args.time_scale)])
    info, seconds, already = launcher.up(args.runtime, args.time_scale)
    if already:
        print(f"the local cloud is already running (pid {info['pid']}, runtime "
              f"{info['runtime']}); `fraudlab down` stops it")
        return 0
    print(f"local cloud up in {seconds:.1f} s — runtime {info['runtime']} "
          f"({info.get('runtime_why', '')}); AWS API at {info['aws_endpoint']} "
          f"({info['endpoint_kind']}); a lab minute lasts {60 / info['time_scale']:.1f} s")
    if info.get("endpoint_note"):
        print(info["endpoint_note"])
    print("next: `fraudlab deploy`, `fraudlab status`, `fraudlab crash`, `fraudlab down`")
    return 0
