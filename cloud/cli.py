"""The ``fraudlab`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys

from cloud.replica import GUNICORN


def _serve(args: argparse.Namespace) -> int:
    """Run one replica in the foreground, as the container image does."""
    os.environ.update({"PORT": str(args.port), "HOST": "127.0.0.1",
                       "MODEL_RUNTIME": args.runtime})
    os.execv(GUNICORN[0], GUNICORN)
    return 0  # not reached


def _demo(args: argparse.Namespace) -> int:
    from cloud.demo import run_demo

    result = run_demo(count=args.count, seed=args.seed, runtime=args.runtime,
                      out=sys.stdout, quiet=args.json)
    if args.json:
        print(json.dumps({"summary": result.summary(), "decisions": result.decisions},
                         indent=2))
    return 0


def _report(args: argparse.Namespace) -> int:
    from service.model import ARTIFACTS

    print((ARTIFACTS / "report.md").read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraudlab",
        description="Deploy a fraud-detection model the way a bank would, on a laptop.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="serve the model and send it a few transactions")
    demo.add_argument("--count", type=int, default=12, help="transactions to send (1-10000)")
    demo.add_argument("--seed", type=int, default=7, help="which transactions (default 7)")
    demo.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert")
    demo.add_argument("--json", action="store_true", help="print the result as JSON only")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run one replica of the fraud service (gunicorn)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert")
    serve.set_defaults(func=_serve)

    report = sub.add_parser("report", help="print the model report")
    report.set_defaults(func=_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        print(f"fraudlab {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
