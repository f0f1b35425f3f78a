"""``fraudlab lab``: JupyterLab on 127.0.0.1 with a token, on the lab notebooks."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from cloud.core.ports import port_is_free
from cloud.core.state_dir import state_dir
from labs.server import LOG_NAME, start_lab, wait_until_answering  # its kernel has the kit


def command(args: argparse.Namespace) -> int:
    if args.port is not None and not port_is_free(args.port):
        raise RuntimeError(f"port {args.port} on 127.0.0.1 is in use: pick another with "
                           "--port, or leave it out for a free one")
    log = state_dir() / LOG_NAME
    process, url = start_lab(args.port, args.token, args.browser, log_path=log)
    print(f"starting JupyterLab (its log: {log})…", flush=True)
    try:
        seconds = wait_until_answering(url, process)
    except RuntimeError as exc:
        process.terminate()
        print(f"{exc}; see {log}", file=sys.stderr)
        return 1
    print(f"JupyterLab answers after {seconds:.1f} s: {url}\n(the notebooks attach to the "
          f"running local cloud or start one; Ctrl-C stops JupyterLab; its log: {log})",
          flush=True)

    def stop(signum: int, _frame: object) -> None:  # SIGTERM: stop JupyterLab with us
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
