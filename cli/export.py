"""``fraudlab export``: read the running deployment, write the files, say what they are.

The export itself is REAL files; the state it comes from is EMULATED (the AWS API of the local
cloud). With no ``--output`` the document goes to stdout and the teaching frame to stderr, so
``fraudlab export --format kubernetes | kubectl apply -f -`` works.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cloud.aws.endpoint import open_endpoint
from cloud.aws.steps.ecs import CLUSTER, SERVICE
from cloud.export import cloudformation, kubernetes, mapping
from cloud.export.state import Deployment, read_deployment
from cloud.server.launcher import running_cloud

FORMATS = ("cloudformation", "kubernetes", "mapping")
CFN_FILE = "fraudlab.cfn.yaml"
K8S_FILE = "fraudlab-k8s.yaml"


@dataclass(frozen=True)
class Written:
    """What an export produced: the paths written (none for stdout) and the frame to show."""

    paths: tuple[Path, ...]
    frame: str


def frame(d: Deployment, fmt: str, target: str | None) -> str:
    """The teaching frame: badges, the equivalent command, what differs. ``target`` None:
    the document went to stdout (the commands then name the default file)."""
    where = "to stdout (save it with --output FILE)" if target is None else f"to {target}"
    target = target or (CFN_FILE if fmt == "cloudformation" else K8S_FILE)
    if fmt == "cloudformation":
        command = cloudformation.deploy_command(target)
        validate = f"cfn-lint {target}"
        notes = cloudformation.notes(d)
    else:
        command = kubernetes.apply_command(target)
        validate = (f"kubernetes-validate --strict -k {kubernetes.K8S_VERSION} {target}")
        notes = kubernetes.notes(d)
    lines = [f"[REAL] export: {fmt} written {where}",
             f"[EMULATED] source: ECS service {d.service} in {d.cluster} as the AWS API at "
             f"{d.endpoint or '?'} describes it ({d.desired_count} tasks, "
             f"{d.task_definition.family}:{d.task_definition.revision})",
             f"  equivalent: {command}",
             f"  validate offline: {validate}",
             "  what differs:"]
    lines += [f"  - {n}" for n in notes]
    lines.append("  side by side: `fraudlab export --format mapping` (docs/aws-vs-kubernetes.md)")
    return "\n".join(lines) + "\n"


def write(d: Deployment, fmt: str, output: str | None, out: TextIO) -> Written:
    """Render ``d`` as ``fmt`` to ``output`` (a file, or a directory: one file per Kubernetes
    manifest) or, when None, to ``out``."""
    if fmt not in ("cloudformation", "kubernetes"):
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    text = cloudformation.render(d) if fmt == "cloudformation" else kubernetes.render(d)
    if output is None:
        out.write(text)
        return Written((), frame(d, fmt, None))
    path = Path(output)
    if path.is_dir() or output.endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        if fmt == "cloudformation":
            target = path / CFN_FILE
            target.write_text(text)
            return Written((target,), frame(d, fmt, str(target)))
        import yaml

        paths = []
        for name, manifest in zip(kubernetes.file_names(d), kubernetes.manifests(d),
                                  strict=True):
            target = path / name
            target.write_text(yaml.safe_dump(manifest, sort_keys=False, width=100,
                                             allow_unicode=True))
            paths.append(target)
        return Written(tuple(paths), frame(d, fmt, f"{path}/"))
    if not path.parent.exists():
        raise ValueError(f"--output {output}: the directory {path.parent} does not exist")
    path.write_text(text)
    return Written((path,), frame(d, fmt, str(path)))


def run(fmt: str, output: str | None, out: TextIO, err: TextIO, cluster: str | None = None,
        service: str | None = None) -> int:
    """The command: 0 on success, 1 when there is nothing to export, 2 on bad arguments."""
    if fmt == "mapping":
        out.write(mapping.table())
        return 0
    if fmt not in FORMATS:
        err.write(f"fraudlab export: --format must be one of {', '.join(FORMATS)}; "
                  f"got {fmt!r}\n")
        return 2
    info = running_cloud()
    if not info:
        err.write("fraudlab export: no local cloud is running, so there is no deployment to "
                  "export: `fraudlab up` then `fraudlab deploy` (the ECS ↔ Kubernetes "
                  "mapping needs none: `fraudlab export --format mapping`)\n")
        return 1
    endpoint = open_endpoint({"AWS_ENDPOINT_URL": info["aws_endpoint"]}, start=False)
    try:
        d = read_deployment(endpoint.client, cluster or info.get("cluster") or CLUSTER,
                            service or SERVICE, endpoint=info["aws_endpoint"])
    except LookupError as exc:
        err.write(f"fraudlab export: {exc}\n")
        return 1
    try:
        written = write(d, fmt, output, out)
    except (ValueError, OSError) as exc:
        err.write(f"fraudlab export: {exc}\n")
        return 2
    (err if output is None else out).write(written.frame)
    return 0


def command(args: argparse.Namespace) -> int:
    """``fraudlab export`` with its flags."""
    return run("mapping" if args.mapping else args.format, args.output, sys.stdout, sys.stderr,
               args.cluster, args.service)
