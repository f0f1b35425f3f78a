"""``fraudlab report``: the HTML report of recorded runs, or (``--model``) the model's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloud.export.run_report import write
from cloud.export.runs import find_run
from service.model import ARTIFACTS


def command(args: argparse.Namespace) -> int:
    """The run report (HTML) of recorded runs; with --model, the model report as before."""
    if args.model:
        print((ARTIFACTS / "report.md").read_text())
        return 0
    try:
        paths = [find_run(name) for name in args.runs] if args.runs else [find_run(None)]
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else paths[-1].with_suffix(".html")
    write(paths, out)
    print(f"run report ({' vs '.join(p.stem for p in paths)}): {out}")
    return 0
