"""One run, all the service's performance figures, as a plain table with targets.

    .venv/bin/python bench/bench_service.py            # ~1.5 minutes on 2 cores
    .venv/bin/python bench/bench_service.py --http-seconds 5 --client python

1. Decision latency, p50/p99, for one row and a batch of 64: Keras ``model.predict``,
   eager ``model(x)``, ``tf.function(model)`` (TensorFlow, from the .keras file) and the LiteRT
   ``Interpreter`` (the .tflite export, num_threads=1), plus the service's
   ``FraudModel.scores``; and the ratio ``model.predict`` / LiteRT (target >= 1000x).
2. One replica over HTTP: a real gunicorn replica, started with the image's command
   (``gunicorn -c python:service.gunicorn_conf service.wsgi:app``) and pinned to core 0, loaded
   from core 1 by wrk (closed loop, keep-alive; installed from Debian when missing) or a small
   Python client, at concurrency 1 and 16: requests/s (target >= 4,000 at c=16), p50/p99.
3. The replica's memory: VmRSS summed over its process tree (master + worker) after warm-up
   and after the load (target <= 100 MiB).

bench/README.md says what each figure means. Exit status 0 when every target is met, 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cloud.core.ports import free_port  # noqa: E402
from cloud.runtime.replica import APP, Replica, start_replica  # noqa: E402
from service.contract import example_transaction, to_model_row  # noqa: E402
from service.model import ARTIFACTS, ModelCard, load_model  # noqa: E402
from service.validation import validate_body  # noqa: E402

TARGET_RATIO = 1000.0
TARGET_RPS = 4000.0
TARGET_RSS_MIB = 100.0
SERVER_CORE = 0
CLIENT_CORE = 1
MiB = 1024 * 1024


# ---- the report ---------------------------------------------------------------------------

@dataclass
class Row:
    section: str
    figure: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def add(self, section: str, figure: str, value: str, target: str = "",
            ok: bool | None = None) -> None:
        self.rows.append(Row(section, figure, value, target, ok))
        print(f"  {figure}: {value}" + (f"  [{target}: {self.rows[-1].verdict}]" if target
                                       else ""), file=sys.stderr, flush=True)

    def render(self) -> str:
        heads = ("section", "figure", "value", "target", "result")
        cells = [(r.section, r.figure, r.value, r.target, r.verdict) for r in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
        line = "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
        out = [line, "  ".join("-" * w for w in widths)]
        out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
        out += [f"note: {n}" for n in self.notes]
        passed = [r for r in self.rows if r.ok is not None]
        out.append(f"targets: {sum(r.ok for r in passed)} of {len(passed)} met")
        return "\n".join(out)

    @property
    def all_met(self) -> bool:
        return all(r.ok for r in self.rows if r.ok is not None)


def fmt_us(us: float) -> str:
    if us < 10:
        return f"{us:.2f} µs"
    if us < 1000:
        return f"{us:.1f} µs"
    return f"{us / 1000:.2f} ms"


# ---- 1. decision latency ------------------------------------------------------------------

def feature_rows(n: int) -> np.ndarray:
    """n model rows: the contract's example, with amounts and risks varied."""
    base = np.asarray(to_model_row(validate_body(example_transaction()).transactions[0]),
                      dtype=np.float32)
    rows = np.tile(base, (n, 1))
    rows[:, 0] = np.linspace(5.0, 2500.0, n, dtype=np.float32)
    rows[:, -1] = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return rows


def time_calls(fn: Callable[[], object], reps: int, warmup: int) -> np.ndarray:
    """Microseconds of each of ``reps`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    out = np.empty(reps, dtype=np.float64)
    for i in range(reps):
        t0 = clock()
        fn()
        out[i] = clock() - t0
    return out / 1000.0


def bench_latency(report: Report, scale: float) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    card = ModelCard.read(ARTIFACTS)
    x1, x64 = feature_rows(1), feature_rows(64)

    from ai_edge_litert.interpreter import Interpreter

    def litert(x: np.ndarray) -> Callable[[], np.ndarray]:
        interp = Interpreter(model_path=str(ARTIFACTS / card.tflite_file), num_threads=1)
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        interp.resize_tensor_input(inp["index"], list(x.shape))
        interp.allocate_tensors()

        def run() -> np.ndarray:
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            return interp.get_tensor(out["index"])
        return run

    fraud_model = load_model("litert")

    t0 = time.perf_counter()
    import keras
    import tensorflow as tf
    model = keras.models.load_model(ARTIFACTS / card.keras_file)
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    report.notes.append(f"TensorFlow {tf.__version__} import + Keras load "
                        f"{time.perf_counter() - t0:.1f} s; inputs are numpy float32 arrays, "
                        "outputs numpy, for every path")

    def n(reps: int) -> int:
        return max(20, int(reps * scale))

    paths: list[tuple[str, Callable[[np.ndarray], Callable[[], object]], int, int]] = [
        ("model.predict(x)", lambda x: lambda: model.predict(x, verbose=0), n(150), 10),
        ("model(x) eager", lambda x: lambda: model(x, training=False).numpy(), n(2000), 50),
        ("tf.function(model)", lambda x: lambda: fn(x).numpy(), n(10000), 200),
        ("LiteRT Interpreter", litert, n(50000), 1000),
        ("FraudModel.scores (LiteRT)", lambda x: lambda: fraud_model.scores(x), n(50000), 1000),
    ]
    p50: dict[tuple[str, int], float] = {}
    for name, make, reps, warmup in paths:
        for x in (x1, x64):
            us = time_calls(make(x), reps, warmup)
            q50, q99 = np.percentile(us, [50, 99])
            p50[(name, len(x))] = q50
            report.add("1 latency", f"{name}, batch {len(x)}",
                       f"p50 {fmt_us(q50)}  p99 {fmt_us(q99)}  (n={reps})")

    # Same answers from both runtimes, so the comparison is between equals.
    diff = float(np.max(np.abs(model.predict(x64, verbose=0).reshape(-1)
                               - litert(x64)().reshape(-1))))
    report.add("1 latency", "max |Keras - LiteRT| score, batch 64", f"{diff:.1e}", "<= 1e-4",
               diff <= 1e-4)
    for batch in (1, 64):
        ratio = p50[("model.predict(x)", batch)] / p50[("LiteRT Interpreter", batch)]
        report.add("1 latency", f"model.predict / LiteRT p50, batch {batch}", f"{ratio:,.0f}x",
                   f">= {TARGET_RATIO:,.0f}x" if batch == 1 else "", ratio >= TARGET_RATIO
                   if batch == 1 else None)


# ---- 2. one replica over HTTP -------------------------------------------------------------

def pinned(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of pid's process tree so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat, less idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def tree_rss(pid: int) -> tuple[float, list[float]]:
    per = [vm_rss_kib(p) / 1024 for p in process_tree(pid)]
    return sum(per), per


def start_bench_replica(log: IO[bytes], app: str = APP, path: str = "") -> Replica:
    """One gunicorn replica (``cloud.runtime.replica``), the image's command, pinned to
    SERVER_CORE; ``path``: a directory to import ``app`` from; output to ``log``."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), path))),
           "LOG_LEVEL": "warning"}
    return start_replica("bench-task", "bench-host", free_port(), prefix=pinned(SERVER_CORE),
                         app=app, env=env, output=log)


def wait_ready(replica: Replica, log: IO[bytes], timeout: float = 30.0) -> float:
    """Seconds from start until ``/ready`` answers 200; the replica's log tail if never."""
    try:
        return replica.wait_ready(timeout)
    except (RuntimeError, TimeoutError) as exc:
        log.seek(0)
        raise RuntimeError(f"{exc}: {log.read()[-2000:]!r}") from None


def http_get(port: int, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[-1]


def post_request(body: bytes) -> bytes:
    return (b"POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


@dataclass
class LoadResult:
    client: str
    concurrency: int
    seconds: float
    requests: int
    errors: int
    p50_us: float
    p99_us: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


BARE_APP = """
def app(environ, start_response):
    environ["wsgi.input"].read()
    body = b'{"decision":"APPROVED"}'
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""
"""A WSGI callable with no framework and no model: the gunicorn ceiling of this machine."""

WRK_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50),
    latency:percentile(99)))
end
"""


def find_wrk(install: bool) -> str | None:
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (apt-get install -y wrk)", file=sys.stderr, flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "install", "-y", "-qq", "wrk"],
                    ["sh", "-c", "apt-get update -qq && apt-get install -y -qq wrk"]):
            done = subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False)
            if done.returncode == 0 and shutil.which("wrk"):
                return shutil.which("wrk")
    return None


def load_wrk(wrk: str, port: int, body: bytes, concurrency: int, seconds: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % json.dumps(body.decode()))
    try:
        cmd = [*pinned(CLIENT_CORE), wrk, "-t1", f"-c{concurrency}", f"-d{seconds:g}s",
               "--timeout", "5s", "-s", f.name, f"http://127.0.0.1:{port}/predict"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    requests, duration_us, errors, p50, p99 = (int(v) for v in line.split()[1:])
    return LoadResult("wrk", concurrency, duration_us / 1e6, requests, errors, p50, p99)


def load_python(port: int, body: bytes, concurrency: int, seconds: float) -> LoadResult:
    """Closed loop like wrk: ``concurrency`` keep-alive connections, one request in flight on
    each, one thread and a selector, pinned to CLIENT_CORE. Slower than wrk per request."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {CLIENT_CORE})
    else:
        before = None
    request = post_request(body)
    sel = selectors.DefaultSelector()
    clock = time.perf_counter_ns
    lat: list[int] = []
    errors = 0
    conns = []
    try:
        for _ in range(concurrency):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            state = {"sock": s, "buf": b"", "t0": clock()}
            s.send(request)
            sel.register(s, selectors.EVENT_READ, state)
            conns.append(s)
        end = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < end:
            for key, _ in sel.select(timeout=0.5):
                st = key.data
                chunk = st["sock"].recv(65536)
                if not chunk:
                    raise ConnectionError("server closed a keep-alive connection")
                st["buf"] += chunk
                head, sep, rest = st["buf"].partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = 0
                for h in head.split(b"\r\n")[1:]:
                    name, _, value = h.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    continue
                now = clock()
                lat.append(now - st["t0"])
                if not head.startswith(b"HTTP/1.1 200"):
                    errors += 1
                st["buf"] = rest[length:]
                st["t0"] = now
                st["sock"].send(request)
        elapsed = time.monotonic() - started
    finally:
        for s in conns:
            s.close()
        sel.close()
        if before is not None:
            os.sched_setaffinity(0, before)
    us = np.asarray(lat, dtype=np.float64) / 1000.0
    p50, p99 = np.percentile(us, [50, 99]) if len(us) else (float("nan"), float("nan"))
    return LoadResult("python", concurrency, elapsed, len(lat), errors, p50, p99)


def bench_http(report: Report, seconds: float, client: str) -> None:
    if (os.cpu_count() or 1) < 2:
        report.notes.append("fewer than 2 cores: server and client share one core")
    wrk = find_wrk(install=client in ("auto", "wrk")) if client != "python" else None
    if client == "wrk" and wrk is None:
        raise SystemExit("bench: --client wrk but wrk is not installed and could not be")
    name = f"wrk ({wrk})" if wrk else "python selector client"
    report.notes.append(f"HTTP load client: {name}, closed loop, keep-alive, pinned to core "
                        f"{CLIENT_CORE}; server pinned to core {SERVER_CORE}")

    body = json.dumps(example_transaction(), separators=(",", ":")).encode()
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed after the replica stops)
    replica = start_bench_replica(log)
    try:
        start_s = wait_ready(replica, log)
        report.add("2 http", "replica start to /ready 200", f"{start_s:.2f} s")
        # A real answer, checked, then warm-up (threads, interpreters, allocator).
        import requests
        answer = requests.post(f"{replica.url}/predict", data=body, timeout=5,
                               headers={"Content-Type": "application/json"}).json()
        assert answer["task_id"] == "bench-task" and "decision" in answer, answer

        def run(concurrency: int, secs: float) -> LoadResult:
            if wrk:
                return load_wrk(wrk, replica.port, body, concurrency, secs)
            return load_python(replica.port, body, concurrency, secs)

        run(16, 2.0)
        rss, per = tree_rss(replica.process.pid)
        report.add("3 memory", "replica VmRSS after warm-up (process tree)",
                   f"{rss:.1f} MiB ({' + '.join(f'{p:.1f}' for p in per)})",
                   f"<= {TARGET_RSS_MIB:.0f} MiB", rss <= TARGET_RSS_MIB)
        for concurrency in (1, 16):
            cpu0 = tree_cpu_s(replica.process.pid)
            r = run(concurrency, seconds)
            cpu_us = (tree_cpu_s(replica.process.pid) - cpu0) / max(r.requests, 1) * 1e6
            target = f">= {TARGET_RPS:,.0f} req/s" if concurrency == 16 else ""
            ok = (r.rps >= TARGET_RPS and r.errors == 0) if concurrency == 16 else None
            report.add("2 http", f"POST /predict, c={concurrency} ({r.client})",
                       f"{r.rps:,.0f} req/s  p50 {fmt_us(r.p50_us)}  p99 {fmt_us(r.p99_us)}  "
                       f"server CPU {cpu_us:.0f} µs/req  errors {r.errors}", target, ok)
        rss, per = tree_rss(replica.process.pid)
        report.add("3 memory", "replica VmRSS after the load (process tree)",
                   f"{rss:.1f} MiB ({' + '.join(f'{p:.1f}' for p in per)})",
                   f"<= {TARGET_RSS_MIB:.0f} MiB", rss <= TARGET_RSS_MIB)
    finally:
        replica.stop(15)
        log.close()

    # Reference: the same gunicorn settings around a bare WSGI callable (no Flask, no model).
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_bare_app.py").write_text(BARE_APP)
        bare_log = tempfile.TemporaryFile()  # noqa: SIM115 (closed after the replica stops)
        bare = start_bench_replica(bare_log, app="bench_bare_app:app", path=tmp)
        try:
            wait_ready(bare, bare_log)
            secs = min(seconds, 5.0)
            run_bare = (lambda: load_wrk(wrk, bare.port, body, 16, secs)) if wrk else (
                lambda: load_python(bare.port, body, 16, secs))
            run_bare()
            cpu0 = tree_cpu_s(bare.process.pid)
            r = run_bare()
            cpu_us = (tree_cpu_s(bare.process.pid) - cpu0) / max(r.requests, 1) * 1e6
            report.add("2 http", f"reference: bare WSGI app, same gunicorn, c=16 ({r.client})",
                       f"{r.rps:,.0f} req/s  p50 {fmt_us(r.p50_us)}  p99 {fmt_us(r.p99_us)}  "
                       f"server CPU {cpu_us:.0f} µs/req  errors {r.errors}")
        finally:
            bare.stop(15)
            bare_log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-seconds", type=float, default=10.0,
                        help="load duration per concurrency level (default 10)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="HTTP load client: wrk (installed when missing), python, or auto")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the latency repetitions (default 1)")
    parser.add_argument("--only", choices=("latency", "http"),
                        help="run one part: latency (1) or http (2 and 3)")
    args = parser.parse_args(argv)

    report = Report()
    t0 = time.perf_counter()
    busy0, own0 = machine_busy_s(), own_cpu_s()
    if args.only in (None, "latency"):
        print("bench: 1. decision latency", file=sys.stderr, flush=True)
        bench_latency(report, args.scale)
    if args.only in (None, "http"):
        print("bench: 2-3. one replica over HTTP, memory", file=sys.stderr, flush=True)
        bench_http(report, args.http_seconds, args.client)
    wall = time.perf_counter() - t0
    others = max(0.0, (machine_busy_s() - busy0) - (own_cpu_s() - own0))
    report.notes.append(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
                        f"bench took {wall:.0f} s; other processes kept "
                        f"{others / wall:.2f} cores busy meanwhile (noise: 0 is a quiet machine)")
    print()
    print(report.render())
    return 0 if report.all_met else 1


if __name__ == "__main__":
    sys.exit(main())
