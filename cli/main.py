"""The ``fraudlab`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TextIO

from cloud.core.ports import port_is_free
from cloud.runtime.replica import GUNICORN


def _serve(args: argparse.Namespace) -> int:
    """Run one replica in the foreground, as the container image does."""
    os.environ.update({"PORT": str(args.port), "HOST": "127.0.0.1",
                       "MODEL_RUNTIME": args.runtime})
    os.execv(GUNICORN[0], GUNICORN)
    return 0  # not reached


def _demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo
    from cli.demo_summary import render

    summary, decisions = run_demo(
        desired=args.desired, count=args.count, runtime=args.runtime, seed=args.seed,
        out=sys.stdout, rate=args.rate, spike=args.spike, max_tasks=args.max_tasks,
        target=args.target, time_scale=args.time_scale)
    render(summary, sys.stdout)
    if args.json:  # the last line, for scripts
        print(json.dumps(summary.as_dict() | {"decisions": decisions}, separators=(",", ":")))
    if not summary.lessons_shown:
        print("the demo did not show every lesson (see the summary above)", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    """The run report (HTML) of recorded runs; with --model, the model report as before."""
    if args.model:
        from service.model import ARTIFACTS

        print((ARTIFACTS / "report.md").read_text())
        return 0
    from cloud.export.run_report import write
    from cloud.export.runs import find_run

    try:
        paths = [find_run(name) for name in args.runs] if args.runs else [find_run(None)]
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else paths[-1].with_suffix(".html")
    write(paths, out)
    print(f"run report ({' vs '.join(p.stem for p in paths)}): {out}")
    return 0


def _docker_ready(out: TextIO) -> None:
    """``up --runtime docker``: the engine must answer; a missing image is built first, with
    the build's log (what ``fraudlab build`` prints)."""
    from cloud.runtime.choose import DEFAULT_IMAGE, probe_engine

    found = probe_engine()
    if found.client is not None:
        found.client.close()
    if not found.answered:
        raise RuntimeError(f"--runtime docker: no Docker engine answered at {found.address} "
                           f"({found.detail}): start the engine, or use `--runtime process`")
    if found.has_image:
        return
    from cli.image import build_cli

    print(f"{DEFAULT_IMAGE} is not built yet: building it first (what `fraudlab build` does)",
          file=out, flush=True)
    try:
        build_cli("slim", None, out)
    except RuntimeError as exc:  # BuildFailed carries the log's tail on further lines
        raise RuntimeError(f"building {DEFAULT_IMAGE} failed ({str(exc).splitlines()[0]}): "
                           "fix the build (`fraudlab build` shows its log), or use "
                           "`--runtime process`") from exc


def _up(args: argparse.Namespace) -> int:
    from cloud.server.launcher import running_cloud, up

    if args.runtime == "docker" and not running_cloud():
        _docker_ready(sys.stdout)
    if args.foreground:  # e.g. docker-compose.yml's kit service; Ctrl-C / SIGTERM stops it
        from cloud.server.localcloud import main as run_local_cloud

        running = running_cloud()
        if running:
            raise RuntimeError(f"a local cloud is already running (pid {running['pid']}); "
                               "`fraudlab down` stops it")
        return run_local_cloud(["--runtime", args.runtime, "--time-scale",
                                str(args.time_scale)])
    info, seconds, already = up(args.runtime, args.time_scale)
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


def _status(args: argparse.Namespace) -> int:
    from cli.aws import target_status
    from cli.narrate import status

    code = target_status(args)
    if code is not None:
        return code
    from cloud.server.launcher import connect

    snap = connect().get("/v1/snapshot")
    if args.json:
        print(json.dumps(snap, indent=2))
    else:
        status(sys.stdout, snap)
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from cli.aws import target_deploy  # --target aws: never a default (cli/aws.py)

    code = target_deploy(args)
    if code is not None:
        return code
    from cli.deploy import deploy

    desired = 4 if args.desired is None else args.desired
    result = deploy(desired=desired, placement=args.placement, hosts=args.hosts,
                    out=None if args.json else sys.stdout, wait=not args.no_wait,
                    capacity_provider=args.capacity_provider, max_hosts=args.max_hosts,
                    algorithm=args.algorithm, autoscale=args.autoscale,
                    min_tasks=args.min_tasks, max_tasks=args.max_tasks, image=args.image,
                    network_mode=args.network_mode)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _scale(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    body: dict[str, object] = {"desired": args.desired}
    if args.service:
        body["service"] = args.service
    step = connect().post("/v1/scale", body)
    if args.json:
        print(json.dumps(step, indent=2))
        return 0
    print(f"{step['cli']}\n{step['title']}" + ("" if step["changed"] else " (already so)"))
    for warning in step.get("warnings", [])[1:]:  # [0] is the case study's myth
        print(f"note: {warning}")
    print("watch `fraudlab status`: the service scheduler starts or stops tasks to match")
    return 0


def _crash(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    crashed = connect().post("/v1/crash", {"task": args.task})["crashed"]
    print(f"sent SIGKILL to task {crashed}: watch `fraudlab status` — ECS marks it STOPPED "
          "and the service scheduler starts a new task to replace it")
    return 0


def _oom(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    task = connect().post("/v1/oom", {"task": args.task})["oom"]
    print(f"task {task} is allocating more memory than its limit: its runtime's OOM killer "
          "ends it (stoppedReason \"OutOfMemoryError: Container killed due to memory usage\", "
          "exit code 137) and the service scheduler starts a new task — watch `fraudlab status`")
    return 0


def _slow(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    task = connect().post("/v1/slow", {"task": args.task, "ms": args.ms})["slow"]
    if args.ms:
        print(f"task {task} now answers /predict {args.ms} ms later (a slow dependency): round "
              "robin still sends it its share, least_outstanding_requests sends it fewer "
              "(`fraudlab deploy --algorithm least_outstanding_requests`); undo with "
              "`fraudlab slow --ms 0 " + task[:8] + "`")
    else:
        print(f"task {task} answers at its own speed again")
    return 0


def _bad_deploy(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    result = connect().post("/v1/bad-deployment", {})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"registered {result['task_definition'].rsplit('/', 1)[-1]} ({result['why']})")
    print(f"  {result['cli']}")
    print(f"the old tasks keep serving while the new ones fail; at "
          f"{result['circuit_breaker_threshold']} failed tasks the circuit breaker marks the "
          "deployment FAILED and rolls back to "
          f"{result['previous_task_definition'].rsplit('/', 1)[-1]} — watch `fraudlab status` "
          "or `aws ecs describe-services`")
    return 0


def _kill_host(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    killed = connect().post("/v1/kill-host", {"host": args.host})["killed_host"]
    print(f"terminated {killed}: its tasks stop with it; the scheduler places replacements "
          "on the hosts that are left (if they fit)")
    return 0


def _traffic(args: argparse.Namespace) -> int:
    from cloud.server.launcher import connect

    client = connect()
    if args.stop:
        snap = client.post("/v1/traffic/stop")
        print(json.dumps(snap, indent=2) if args.json else
              f"traffic stopped: {snap.get('completed', 0)} answered, errors "
              f"{snap.get('errors', {})}")
        return 0
    started = client.post("/v1/traffic", {"rate": args.rate, "profile": args.profile,
                                          "duration": args.duration})
    print(f"sending {args.profile} traffic at {args.rate} tx/s to the load balancer "
          f"{started['target']} (open loop, Poisson arrivals) for at most {args.duration} s; "
          "`fraudlab status` shows it, `fraudlab traffic --stop` stops it")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cli.export import run

    return run("mapping" if args.mapping else args.format, args.output, sys.stdout, sys.stderr,
               args.cluster, args.service)


def _build(args: argparse.Namespace) -> int:
    from cli.image import build_cli

    result = build_cli(args.target, args.tag, None if args.json else sys.stdout, args.quiet)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _push(args: argparse.Namespace) -> int:
    from cli.image import push_cli

    result = push_cli(args.target, args.tag, None if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return 0


def _registry(args: argparse.Namespace) -> int:
    from cli.image import registry_cli

    registry_cli(args.action)
    return 0


def _tui(args: argparse.Namespace) -> int:
    from cloud.server.launcher import running_cloud
    from tui.__main__ import run  # Textual is imported here only, never by cloud/ itself

    if args.attach and not running_cloud():
        raise RuntimeError("no local cloud is running to attach to: start it with "
                           "`fraudlab up`, or run `fraudlab tui` without --attach")
    if not sys.stdout.isatty():
        raise RuntimeError("the terminal app needs a terminal (stdout is not one): run it in "
                           "a terminal, or `fraudlab demo` for the same story headless")

    return run(args)


def _lab(args: argparse.Namespace) -> int:
    import signal
    import subprocess

    from cloud.core.state_dir import state_dir
    from labs.server import LOG_NAME, start_lab, wait_until_answering  # its kernel has the kit

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


def _down(args: argparse.Namespace) -> int:
    from cloud.server.launcher import down

    print("the local cloud stopped; every replica with it" if down()
          else "no local cloud was running")
    return 0


def _destroy(args: argparse.Namespace) -> int:
    from cli.aws import target_destroy

    return target_destroy(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraudlab",
        description="Deploy a fraud-detection model the way a bank would, on a laptop.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the walkthrough: local cloud up, deploy, "
                          "transactions, a crash and its recovery, the AWS API's truth, down")
    demo.add_argument("--desired", type=int, default=4, help="tasks in the service (1-20)")
    demo.add_argument("--count", type=int, default=12, help="transactions to send (1-10000)")
    demo.add_argument("--seed", type=int, default=7, help="which transactions (default 7)")
    demo.add_argument("--runtime", choices=("auto", "docker", "process"), default="auto")
    demo.add_argument("--rate", type=float, default=100.0,
                      help="normal traffic in transactions/s (default 100)")
    demo.add_argument("--spike", type=float, default=10.0,
                      help="the Black Friday multiplier (default ×10)")
    demo.add_argument("--max-tasks", type=int, default=8,
                      help="auto scaling's maximum capacity (default 8)")
    demo.add_argument("--target", type=float, default=None,
                      help="ALBRequestCountPerTarget target (default: twice the normal load)")
    demo.add_argument("--time-scale", type=float, default=30.0,
                      help="lab seconds per wall second (default 30: a lab minute in 2 s)")
    demo.add_argument("--json", action="store_true",
                      help="also print the summary as JSON on the last line")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run one replica of the fraud service (gunicorn)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert")
    serve.set_defaults(func=_serve)

    report = sub.add_parser("report", help="write the HTML report of a recorded run (the newest, "
                                           "or RUN_A RUN_B side by side); --model: the model's")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="recorded runs (names in the state directory's runs/, or files)")
    report.add_argument("--out", help="the HTML file (default: beside the last run)")
    report.add_argument("--model", action="store_true", help="print the model report instead")
    report.set_defaults(func=_report)

    up = sub.add_parser("up", help="start the local cloud in the background")
    up.add_argument("--runtime", choices=("auto", "docker", "process"), default="auto")
    up.add_argument("--time-scale", type=float, default=12.0,
                    help="lab seconds per wall second (default 12: a lab minute lasts 5 s)")
    up.add_argument("--foreground", action="store_true",
                    help="run the local cloud in this process until Ctrl-C or SIGTERM "
                         "(docker-compose.yml's kit service does)")
    up.set_defaults(func=_up)

    status = sub.add_parser("status", help="hosts, tasks, services and events (--target aws: "
                            "the stack on real AWS and its cost so far)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    deploy = sub.add_parser("deploy", help="ECR → task definition → cluster → hosts → ALB → "
                                           "service (--target aws: the same on real AWS)")
    deploy.add_argument("--target", choices=("local", "aws"), default="local",
                        help="local: the local cloud (default); aws: real AWS with your "
                             "credentials (= `fraudlab aws deploy`; costs money, needs "
                             "FRAUDLAB_REAL_AWS=1 or a typed yes)")
    deploy.add_argument("--desired", type=int, default=None,
                        help="tasks in the service (default 4; 2 with --target aws)")
    deploy.add_argument("--placement", choices=("spread", "binpack"), default="spread")
    deploy.add_argument("--hosts", type=int, default=2)
    deploy.add_argument("--capacity-provider", action="store_true",
                        help="add cluster auto scaling: an Auto Scaling group capacity provider "
                             "with managed scaling (ECS then launches and retires hosts)")
    deploy.add_argument("--max-hosts", type=int, default=4,
                        help="the Auto Scaling group's max size (with --capacity-provider)")
    deploy.add_argument("--network-mode", choices=("bridge", "host", "awsvpc"), default="bridge",
                        help="the task definition's network mode: bridge (dynamic host ports, "
                             "~7 tasks per t3.medium), host (one per instance: a static port) "
                             "or awsvpc (an ENI per task: 2 per t3.medium)")
    deploy.add_argument("--algorithm", choices=("round_robin", "least_outstanding_requests"),
                        default="round_robin",
                        help="the target group's routing algorithm (ALB's default: round_robin)")
    deploy.add_argument("--autoscale", metavar="requests:TARGET|cpu:TARGET",
                        help="add service auto scaling (Application Auto Scaling target "
                             "tracking): ALB requests per target per lab minute, or the "
                             "service's average CPU (memory:TARGET also works) in percent")
    deploy.add_argument("--min-tasks", type=int, default=None,
                        help="the scalable target's MinCapacity (with --autoscale; default 1)")
    deploy.add_argument("--max-tasks", type=int, default=None,
                        help="the scalable target's MaxCapacity (with --autoscale; default 10)")
    deploy.add_argument("--image", help="a pushed image to run (`fraudlab push` prints it); "
                        "default: the local build, recorded in ECR by its content (--target "
                        "aws: an image already in ECR, no push)")
    deploy.add_argument("--json", action="store_true")
    deploy.add_argument("--no-wait", action="store_true",
                        help="return after the API calls, before the tasks run")
    deploy.add_argument("--real-aws", action="store_true", help="= --target aws")
    from cli.aws import AWS_DEPLOY_DEFAULTS, add_aws_deploy_options, add_target_options

    add_aws_deploy_options(deploy.add_argument_group("with --target aws only"),
                           dict.fromkeys(AWS_DEPLOY_DEFAULTS))
    deploy.set_defaults(func=_deploy)

    scale = sub.add_parser("scale", help="set the service's desired count (update-service)")
    scale.add_argument("desired", type=int, help="tasks to keep running (0-50)")
    scale.add_argument("--service", help="the service (default: the only one)")
    scale.add_argument("--json", action="store_true")
    scale.set_defaults(func=_scale)

    crash = sub.add_parser("crash", help="SIGKILL one running task (default: the first)")
    crash.add_argument("--task", help="task id or a prefix of it")
    crash.set_defaults(func=_crash)

    oom = sub.add_parser("oom", help="make one running task exceed its memory limit "
                         "(default: the first); its runtime OOM-kills it")
    oom.add_argument("task", nargs="?", help="task id or a prefix of it")
    oom.set_defaults(func=_oom)
    slow = sub.add_parser("slow", help="make one running task answer /predict later (a slow "
                          "dependency) — compare the load balancer's algorithms")
    slow.add_argument("task", nargs="?", help="task id or a prefix of it")
    slow.add_argument("--ms", type=int, default=300,
                      help="added latency per request in ms, 0 to undo (default 300)")
    slow.set_defaults(func=_slow)

    bad = sub.add_parser("bad-deploy", help="roll out a revision that cannot start, with the "
                         "deployment circuit breaker and rollback on")
    bad.add_argument("--json", action="store_true")
    bad.set_defaults(func=_bad_deploy)

    kill_host = sub.add_parser("kill-host", help="terminate one host and all its tasks")
    kill_host.add_argument("--host", help="EC2 instance id (default: the first)")
    kill_host.set_defaults(func=_kill_host)

    traffic = sub.add_parser("traffic", help="send transactions to the load balancer")
    traffic.add_argument("--rate", type=float, default=50, help="transactions per second")
    traffic.add_argument("--profile", default="steady",
                         help="steady | spike[:factor] (Black Friday: spike:10) | ramp[:to]")
    traffic.add_argument("--duration", type=float, default=600, help="stop after (s)")
    traffic.add_argument("--stop", action="store_true", help="stop the traffic")
    traffic.add_argument("--json", action="store_true")
    traffic.set_defaults(func=_traffic)

    export = sub.add_parser("export", help="the way out: the running deployment as a "
                            "CloudFormation template or Kubernetes manifests (or the ECS ↔ "
                            "Kubernetes mapping)")
    export.add_argument("--format", choices=("cloudformation", "kubernetes", "mapping"),
                        default="cloudformation")
    export.add_argument("--output", metavar="FILE|DIR",
                        help="write here (a directory: one file per Kubernetes manifest); "
                             "default stdout")
    export.add_argument("--mapping", action="store_true",
                        help="print the ECS ↔ Kubernetes side-by-side table (= --format "
                             "mapping)")
    export.add_argument("--cluster", help="the cluster (default: the local cloud's)")
    export.add_argument("--service", help="the service (default fraud-svc)")
    export.set_defaults(func=_export)

    build = sub.add_parser("build", help="docker build of the service image (slim: LiteRT, "
                           "full: TensorFlow) with its layer table")
    build.add_argument("--target", choices=("slim", "full"), default="slim")
    build.add_argument("--tag", help="default fraudlab/service:TARGET")
    build.add_argument("--quiet", action="store_true", help="no build log")
    build.add_argument("--json", action="store_true")
    build.set_defaults(func=_build)

    push = sub.add_parser("push", help="docker push to the registry behind ECR (the kit's "
                          "local registry, or LocalStack's), recorded in ECR")
    push.add_argument("--target", choices=("slim", "full"), default="slim")
    push.add_argument("--tag", help="the image tag (default: the target)")
    push.add_argument("--json", action="store_true")
    push.set_defaults(func=_push)

    registry = sub.add_parser("registry", help="the kit's local registry on 127.0.0.1")
    registry.add_argument("action", choices=("start", "stop", "status"))
    registry.set_defaults(func=_registry)

    tui = sub.add_parser("tui", help="the terminal app: live dashboard and walkthrough (starts "
                         "the local cloud, or attaches to a running one)")
    from tui.__main__ import add_arguments

    add_arguments(tui)
    tui.set_defaults(func=_tui)

    lab = sub.add_parser("lab", help="JupyterLab on 127.0.0.1 with a token, on the eight "
                         "lab notebooks (labs/notebooks)")
    lab.add_argument("--port", type=int, help="default: a free port")
    lab.add_argument("--token", help="default: a generated one (printed in the URL)")
    lab.add_argument("--browser", action="store_true", help="open a browser (default: no)")
    lab.add_argument("--no-browser", dest="browser", action="store_false")
    lab.set_defaults(func=_lab)

    down = sub.add_parser("down", help="stop the local cloud and every replica")
    down.set_defaults(func=_down)

    destroy = sub.add_parser("destroy", help="--target aws: delete the stack on real AWS and "
                             "the pushed images (= `fraudlab aws destroy`)")
    add_target_options(status, destroy)
    destroy.set_defaults(func=_destroy)

    from cli.aws import add_parser as add_aws

    add_aws(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `fraudlab status | head`
        return 0
    except KeyboardInterrupt:
        return 130
    except (ValueError, RuntimeError, TimeoutError, LookupError) as exc:
        print(f"fraudlab {args.command}: {exc}", file=sys.stderr)  # the kit's own: says what to do
        return 2
    except Exception as exc:  # a bug or an unforeseen failure: one line, the detail on demand
        if os.environ.get("FRAUDLAB_DEBUG"):
            raise
        print(f"fraudlab {args.command}: {type(exc).__name__}: {one_line(exc)} "
              "(FRAUDLAB_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """An error's message on one line (a multi-line message keeps its first line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__



if __name__ == "__main__":
    sys.exit(main())
