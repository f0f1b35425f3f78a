"""``python -m tui``: the FraudLab terminal app (same options as ``fraudlab tui``)."""

from __future__ import annotations

import argparse
import sys

from cloud.server.launcher import running_cloud
from tui.app import FraudLabApp
from tui.backend import Backend, ObserverBackend
from tui.options import add_arguments

OBSERVER_RATE = 2.0  # tx/s of t in observer mode: s (×10) is then 20 tx/s, the observer's cap


def run(args: argparse.Namespace) -> int:
    """The app on the local cloud (started unless ``--attach``), or ``--aws``: observer mode."""
    if args.attach and not running_cloud():
        raise RuntimeError("no local cloud is running to attach to: start it with "
                           "`fraudlab up`, or run `fraudlab tui` without --attach")
    if not sys.stdout.isatty():
        raise RuntimeError("the terminal app needs a terminal (stdout is not one): run it in "
                           "a terminal, or `fraudlab demo` for the same story headless")
    if getattr(args, "aws", False):
        return observe(args)
    backend = Backend(start=not args.attach, runtime=args.runtime, time_scale=args.time_scale)
    FraudLabApp(backend, rate=args.rate, walkthrough=args.walkthrough).run()
    print(goodbye(backend.info if backend.client is not None else None))
    return 0


def observe(args: argparse.Namespace) -> int:
    """``--aws --cluster C --service S``: the dashboard on an ECS service on AWS."""
    if not args.cluster or not args.service:
        raise SystemExit("--aws needs --cluster C and --service S (the ECS service to watch)")
    backend = ObserverBackend(args.cluster, args.service)
    backend.connect()  # before the screen: no credentials or no such service is one line
    try:
        FraudLabApp(backend, rate=min(args.rate, OBSERVER_RATE)).run()
    finally:
        backend.close()  # traffic it sent stops with it
    print(f"FraudLab closed. It observed {args.cluster}/{args.service} on AWS and left "
          "nothing running (any traffic it sent has stopped).")
    return 0


def goodbye(info: dict | None) -> str:
    """What `q` leaves behind: the local cloud keeps running (and how to stop it)."""
    if not info:
        return "FraudLab closed (it was not connected to a local cloud)."
    return (f"FraudLab closed. The local cloud keeps running (runtime "
            f"{info.get('runtime', '?')}, load balancer {info.get('lb_url', '?')}): "
            "`fraudlab tui` attaches to it again, `fraudlab down` stops it.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
