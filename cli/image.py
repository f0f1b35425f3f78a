"""``fraudlab build``, ``fraudlab push`` and ``fraudlab registry``: the real Docker path, told.

Each prints what it runs (the ``docker``/``aws`` command line), what happens in AWS and its
badge, and returns a dict (``--json``) with the same data the TUI or a notebook can render.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from cli.narrate import say, step
from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.ecr import create_repository, push_image, registry_login
from cloud.image.build import build, build_command, choose_base
from cloud.image.layers import (
    ASSUMED_BANDWIDTH_BYTES_PER_S,
    mb,
    pull_costs,
    render_table,
    totals_by_kind,
)
from cloud.image.push import render_bars
from cloud.image.registry import ensure_registry, running_registry, stop_registry
from cloud.server.launcher import running_cloud


def _docker() -> Any:
    try:
        import docker
    except ImportError as exc:
        raise RuntimeError("the Docker SDK is not installed: pip install -e \".[dev]\" (or "
                           "pip install docker)") from exc
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # no SDK, no engine: say so plainly
        raise RuntimeError(f"no Docker engine answers ({type(exc).__name__}: {exc}); the "
                           f"real Docker path needs one (the process runtime needs none)") from exc
    return client


def build_cli(target: str, tag: str | None, out: TextIO | None, quiet: bool = False,
              hosts: int = 2) -> dict[str, Any]:
    """Build ``target``, streaming the log unless ``quiet``; then the layer table and the
    first-pull cost per host."""
    client = _docker()
    base = choose_base(client)
    tag = tag or f"fraudlab/service:{target}"
    if out:
        print(f"REAL        $ {build_command(target, tag, base)}", file=out)
    result = build(client, target, tag, base,
                   on_line=None if quiet or out is None else (lambda line: print(
                       f"  {line}", file=out, flush=True)))
    cost = pull_costs({tag: result.layers}, hosts)[0]
    if out:
        print(f"\nbuilt {tag} in {result.seconds:.1f} s ({result.cached_steps} of "
              f"{result.steps} steps from the layer cache); {mb(result.size_bytes)} unpacked",
              file=out)
        for line in render_table(result.layers):
            print(f"  {line}", file=out)
        for kind, sums in totals_by_kind(result.layers).items():
            print(f"  {kind:<13} {mb(sums['size_bytes']):>10} in {sums['layers']} layer(s)",
                  file=out)
        print(f"\nfirst pull on each host: ~{mb(cost.download_bytes)} compressed "
              f"({'measured' if cost.measured else 'estimated before a push'}) ≈ "
              f"{cost.seconds_per_host:.1f} s at {ASSUMED_BANDWIDTH_BYTES_PER_S / 1e6:.0f} MB/s "
              f"(an assumption); later tasks on that host reuse the cached layers "
              f"(ecs-facts.md §5)", file=out)
        print("next: `fraudlab push` (to the registry behind ECR)", file=out)
    return result.as_dict() | {"pull_cost": cost.as_dict()}


class BarPrinter:
    """Per-layer progress bars: redrawn in place on a terminal, one line per finished layer
    elsewhere (a log, CI)."""

    def __init__(self, out: TextIO, interval: float = 0.1) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.interval = interval
        self.drawn = 0
        self.last = 0.0
        self.reported: set[str] = set()

    def __call__(self, progress: Any) -> None:
        if not self.tty:
            for layer in progress.layers.values():
                if layer.done and layer.id not in self.reported:
                    self.reported.add(layer.id)
                    print(f"  layer {layer.id}: {layer.status}", file=self.out, flush=True)
            return
        now = time.monotonic()
        if now - self.last < self.interval and not progress.done:
            return
        self.last = now
        lines = render_bars(progress)
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}F")
        for line in lines:
            self.out.write(f"\x1b[2K  {line}\n")
        self.out.flush()
        self.drawn = len(lines)


def push_cli(target: str, tag: str | None, out: TextIO | None) -> dict[str, Any]:
    """Push ``fraudlab/service:<target>`` to the registry behind the running local cloud's ECR
    repository (starting the kit's registry when needed) and record it in ECR."""
    info = running_cloud()
    if not info:
        raise RuntimeError("no local cloud is running: `fraudlab up` first (its ECR records "
                           "the pushed image)")
    client = _docker()
    source = f"fraudlab/service:{target}"
    from docker.errors import ImageNotFound

    try:
        client.images.get(source)
    except ImageNotFound as exc:
        raise RuntimeError(f"{source} is not built: `fraudlab build --target {target}`") from exc
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    ecr = endpoint.client("ecr")
    registry = None
    if info.get("endpoint_kind") != "localstack":
        registry, started = ensure_registry()
        if out:
            say(out, "real", f"the kit's registry (CNCF distribution) "
                f"{'started' if started else 'runs'} at {registry.url}",
                f"$ {registry.binary} serve {registry.config}\n"
                f"storage {registry.root}; no authentication; `fraudlab registry stop` ends it")
    steps = [create_repository(ecr)]
    login = registry_login(ecr, client, registry=registry)
    steps.append(login)
    if out:
        for s in steps:
            step(out, s)
        say(out, "real", f"docker push {source} …")
    bars = BarPrinter(out) if out else None
    pushed = push_image(ecr, client, source, tag=tag or target, registry=registry,
                        auth_config=login.result["auth_config"], on_progress=bars)
    steps.append(pushed)
    if out:
        step(out, pushed)
        r = pushed.result
        say(out, "emulated", f"describe-images: {r['describeImages']['imageDigest']}, "
            f"{mb(r['describeImages']['imageSizeInBytes'])} "
            f"({r['layersPushed']} layers pushed, {r['layersExisting']} already there, "
            f"{r['seconds']:.1f} s)")
        print(f"\nnext: `fraudlab deploy --image {r['ecrImage']}` — the task definition names "
              f"the ECR image, as in AWS; each host's first task pulls it from the registry "
              f"behind ECR ({r['image']}), later tasks on that host hit the host's cache",
              file=out)
    return {"steps": [s.as_dict() for s in steps], "image": pushed.result["image"],
            "ecrImage": pushed.result["ecrImage"]}


def registry_cli(action: str, out: TextIO = sys.stdout) -> dict[str, Any]:
    """start | stop | status of the kit's local registry."""
    if action == "start":
        info, started = ensure_registry()
        print(f"registry {'started' if started else 'already running'} at {info.url} "
              f"(pid {info.pid}, storage {info.root}, no authentication)", file=out)
        return info.as_dict()
    if action == "stop":
        stopped = stop_registry()
        print("registry stopped" if stopped else "no registry was running", file=out)
        return {"stopped": stopped}
    if action == "status":
        info = running_registry()
        print(f"registry at {info.url} (pid {info.pid}, storage {info.root})" if info
              else "no registry runs (`fraudlab registry start`, or `fraudlab push` starts one)",
              file=out)
        return info.as_dict() if info else {}
    raise ValueError(f"unknown registry action {action!r}: start, stop or status")


def run_build(args: argparse.Namespace) -> int:
    """``fraudlab build``."""
    result = build_cli(args.target, args.tag, None if args.json else sys.stdout, args.quiet)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def run_push(args: argparse.Namespace) -> int:
    """``fraudlab push``."""
    result = push_cli(args.target, args.tag, None if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def run_registry(args: argparse.Namespace) -> int:
    """``fraudlab registry start|stop|status``."""
    registry_cli(args.action)
    return 0
