"""Container health probe: exit 0 when ``GET /ready`` answers 200 within 2 s, else 1.

Docker's ``HEALTHCHECK`` runs it inside the container (the serving image has no curl):

    python /app/service/healthcheck.py

Standard library only, and it imports nothing from the service, so it starts in ~20 ms and
does not load the model. The port is ``$PORT`` (default 8080), the host 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


def probe(port: int | str | None = None, path: str = "/ready", timeout: float = TIMEOUT_S) -> bool:
    """True when ``http://127.0.0.1:<port><path>`` answers 200 within ``timeout`` seconds."""
    port = port or os.environ.get("PORT") or "8080"
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False


def main() -> int:
    return 0 if probe() else 1


if __name__ == "__main__":
    sys.exit(main())
