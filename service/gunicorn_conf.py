"""Gunicorn settings, from the environment.

``HOST`` (default 127.0.0.1; the Docker image sets 0.0.0.0) and ``PORT`` (8080) give the bind
address; ``WEB_CONCURRENCY`` workers (1) of ``THREADS`` threads (4) each, gthread class.
No access log: the request path stays lean, and ``/metrics`` counts the requests.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8080')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("THREADS", "4"))
keepalive = int(os.environ.get("KEEPALIVE", "5"))
timeout = int(os.environ.get("TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
backlog = int(os.environ.get("BACKLOG", "2048"))

accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# Heartbeat files in memory when available (a container's /tmp may be an overlay on disk).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Gunicorn >= 25.1 opens a control socket at a fixed per-user path: replicas on one host
# would fight over it, and the service does not use it.
control_socket_disable = True
