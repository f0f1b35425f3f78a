"""The ``fraudlab`` command."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from cli.aws_options import (
    AWS_DEPLOY_DEFAULTS,
    add_aws_deploy_options,
    add_target_options,
    route,
)
from cli.aws_options import add_parser as add_aws
from tui.options import add_arguments as add_tui_arguments

# Each subcommand's module is imported when it runs (``handler``), the one lazy import of the
# command: `fraudlab status` (no cloud running) takes 0.25 s and 30 MiB; with every subcommand's
# module imported first (Textual, boto3, the Docker SDK, pandas, the local cloud) 1.79 s and
# 111 MiB (median wall, farm-bench -n 10 -- python -m cli.main status, 2026-12-06).


def handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The function ``module:function`` names, its module imported now."""
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function)


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
    demo.set_defaults(handler="cli.demo:command")

    serve = sub.add_parser("serve", help="run one replica of the fraud service (gunicorn)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--runtime", choices=("litert", "tensorflow"), default="litert")
    serve.set_defaults(handler="cli.control:serve")

    report = sub.add_parser("report", help="write the HTML report of a recorded run (the newest, "
                                           "or RUN_A RUN_B side by side); --model: the model's")
    report.add_argument("runs", nargs="*", metavar="RUN",
                        help="recorded runs (names in the state directory's runs/, or files)")
    report.add_argument("--out", help="the HTML file (default: beside the last run)")
    report.add_argument("--model", action="store_true", help="print the model report instead")
    report.set_defaults(handler="cli.report:command")

    up = sub.add_parser("up", help="start the local cloud in the background")
    up.add_argument("--runtime", choices=("auto", "docker", "process"), default="auto")
    up.add_argument("--time-scale", type=float, default=12.0,
                    help="lab seconds per wall second (default 12: a lab minute lasts 5 s)")
    up.add_argument("--foreground", action="store_true",
                    help="run the local cloud in this process until Ctrl-C or SIGTERM "
                         "(docker-compose.yml's kit service does)")
    up.set_defaults(handler="cli.up:command")

    status = sub.add_parser("status", help="hosts, tasks, services and events (--target aws: "
                            "the stack on real AWS and its cost so far)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler="cli.control:status")

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
    add_aws_deploy_options(deploy.add_argument_group("with --target aws only"),
                           dict.fromkeys(AWS_DEPLOY_DEFAULTS))
    deploy.set_defaults(handler="cli.deploy:command")

    scale = sub.add_parser("scale", help="set the service's desired count (update-service)")
    scale.add_argument("desired", type=int, help="tasks to keep running (0-50)")
    scale.add_argument("--service", help="the service (default: the only one)")
    scale.add_argument("--json", action="store_true")
    scale.set_defaults(handler="cli.control:scale")

    crash = sub.add_parser("crash", help="SIGKILL one running task (default: the first)")
    crash.add_argument("--task", help="task id or a prefix of it")
    crash.set_defaults(handler="cli.control:crash")

    oom = sub.add_parser("oom", help="make one running task exceed its memory limit "
                         "(default: the first); its runtime OOM-kills it")
    oom.add_argument("task", nargs="?", help="task id or a prefix of it")
    oom.set_defaults(handler="cli.control:oom")
    slow = sub.add_parser("slow", help="make one running task answer /predict later (a slow "
                          "dependency) — compare the load balancer's algorithms")
    slow.add_argument("task", nargs="?", help="task id or a prefix of it")
    slow.add_argument("--ms", type=int, default=300,
                      help="added latency per request in ms, 0 to undo (default 300)")
    slow.set_defaults(handler="cli.control:slow")

    bad = sub.add_parser("bad-deploy", help="roll out a revision that cannot start, with the "
                         "deployment circuit breaker and rollback on")
    bad.add_argument("--json", action="store_true")
    bad.set_defaults(handler="cli.control:bad_deploy")

    kill_host = sub.add_parser("kill-host", help="terminate one host and all its tasks")
    kill_host.add_argument("--host", help="EC2 instance id (default: the first)")
    kill_host.set_defaults(handler="cli.control:kill_host")

    traffic = sub.add_parser("traffic", help="send transactions to the load balancer")
    traffic.add_argument("--rate", type=float, default=50, help="transactions per second")
    traffic.add_argument("--profile", default="steady",
                         help="steady | spike[:factor] (Black Friday: spike:10) | ramp[:to]")
    traffic.add_argument("--duration", type=float, default=600, help="stop after (s)")
    traffic.add_argument("--stop", action="store_true", help="stop the traffic")
    traffic.add_argument("--json", action="store_true")
    traffic.set_defaults(handler="cli.control:traffic")

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
    export.set_defaults(handler="cli.export:command")

    build = sub.add_parser("build", help="docker build of the service image (slim: LiteRT, "
                           "full: TensorFlow) with its layer table")
    build.add_argument("--target", choices=("slim", "full"), default="slim")
    build.add_argument("--tag", help="default fraudlab/service:TARGET")
    build.add_argument("--quiet", action="store_true", help="no build log")
    build.add_argument("--json", action="store_true")
    build.set_defaults(handler="cli.image:run_build")

    push = sub.add_parser("push", help="docker push to the registry behind ECR (the kit's "
                          "local registry, or LocalStack's), recorded in ECR")
    push.add_argument("--target", choices=("slim", "full"), default="slim")
    push.add_argument("--tag", help="the image tag (default: the target)")
    push.add_argument("--json", action="store_true")
    push.set_defaults(handler="cli.image:run_push")

    registry = sub.add_parser("registry", help="the kit's local registry on 127.0.0.1")
    registry.add_argument("action", choices=("start", "stop", "status"))
    registry.set_defaults(handler="cli.image:run_registry")

    tui = sub.add_parser("tui", help="the terminal app: live dashboard and walkthrough (starts "
                         "the local cloud, or attaches to a running one)")
    add_tui_arguments(tui)
    tui.set_defaults(handler="tui.__main__:run")

    lab = sub.add_parser("lab", help="JupyterLab on 127.0.0.1 with a token, on the eight "
                         "lab notebooks (labs/notebooks)")
    lab.add_argument("--port", type=int, help="default: a free port")
    lab.add_argument("--token", help="default: a generated one (printed in the URL)")
    lab.add_argument("--browser", action="store_true", help="open a browser (default: no)")
    lab.add_argument("--no-browser", dest="browser", action="store_false")
    lab.set_defaults(handler="cli.lab:command")

    down = sub.add_parser("down", help="stop the local cloud and every replica")
    down.set_defaults(handler="cli.control:down")

    destroy = sub.add_parser("destroy", help="--target aws: delete the stack on real AWS and "
                             "the pushed images (= `fraudlab aws destroy`)")
    add_target_options(status, destroy)
    destroy.set_defaults(handler="cli.aws:destroy")

    add_aws(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return handler(route(args, args.handler))(args)
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
