"""The terminal app's options, shared by ``fraudlab tui`` and ``python -m tui`` (no Textual
import: the ``fraudlab`` parser builds on it)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--attach", action="store_true",
                        help="only attach to a running local cloud; never start one")
    parser.add_argument("--runtime", choices=("auto", "docker", "process"), default="auto",
                        help="the task runtime when the app starts the local cloud")
    parser.add_argument("--time-scale", type=float, default=12.0,
                        help="lab seconds per wall second when the app starts the local cloud")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="normal traffic in transactions/s for t and s (the spike is ×10)")
    parser.add_argument("--walkthrough", action="store_true",
                        help="open on the walkthrough instead of the dashboard")
    parser.add_argument("--aws", action="store_true",
                        help="observer mode: watch an ECS service on AWS (your credentials and "
                             "region, as `aws` uses them) instead of the local cloud")
    parser.add_argument("--cluster", help="with --aws: the ECS cluster")
    parser.add_argument("--service", help="with --aws: the ECS service")
