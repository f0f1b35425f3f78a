"""Lab 01 — the image: layers, slim vs full, size → pull time."""

from __future__ import annotations

from typing import Any

from cloud.aws.steps.ecr import content_tag, service_layers, service_manifest
from cloud.image.inspect import engine_layers
from labs.kit import checks
from labs.kit.template import Lab, Step

IMAGES = ("fraudlab/service:slim", "fraudlab/service:full")
BANDWIDTHS_MBPS = (100, 500, 1000)  # network to the registry, megabits per second


def image_layers(image: str = IMAGES[0]) -> dict[str, Any]:
    """The image's layers: the layer table of ``docker history`` (``cloud.image``: the
    instruction, what the layer holds, its size) when an engine has ``image``, else the
    service's file layers (``cloud.aws.steps.ecr.service_layers``)."""
    found = engine_layers(image)
    if found is not None:
        table, source = found
        rows = [{"layer": r.instruction, "kind": r.kind, "bytes": r.size_bytes}
                for r in table if not r.empty]
        return {"source": source, "badge": "real", "layers": rows,
                "total": sum(r["bytes"] for r in rows)}

    rows = [{"layer": name, "bytes": size, "digest": digest}
            for name, digest, size in service_layers()]
    return {"source": f"the service's files (no {image} in a Docker engine here)",
            "badge": "real", "layers": rows, "total": sum(r["bytes"] for r in rows)}


def pull_seconds(size_bytes: int, mbps: float) -> float:
    """Seconds to download ``size_bytes`` at ``mbps`` megabits per second (no cache)."""
    if mbps <= 0:
        raise ValueError(f"bandwidth must be > 0 Mbit/s, got {mbps}")
    return size_bytes * 8 / (mbps * 1_000_000)


def compare_images() -> str:
    """Slim vs full: sizes from the engine when both are built, and their pull times."""
    lines = []
    for image in IMAGES:
        info = image_layers(image)
        if not info["source"].startswith("docker"):
            lines.append(f"{image}: not built here ({info['source']}); "
                         "`scripts/build_image.sh slim|full` builds it")
            continue
        times = ", ".join(f"{pull_seconds(info['total'], m):.1f} s at {m} Mbit/s"
                          for m in BANDWIDTHS_MBPS)
        lines.append(f"{image}: {info['total'] / 1e6:.0f} MB in {len(info['layers'])} layers "
                     f"→ first pull {times}")
    return "\n".join(lines)


def _layers(session: Any) -> str:
    info = image_layers()
    session.record("image_bytes", info["total"])
    session.record("image_source", info["source"])
    rows = [f"{r['bytes'] / 1e6:10.2f} MB  {r.get('kind', 'files'):<12} {r['layer']}"
            for r in info["layers"]]
    times = ", ".join(f"{pull_seconds(info['total'], m):.2f} s at {m} Mbit/s"
                      for m in BANDWIDTHS_MBPS)
    return (f"source: {info['source']}\n" + "\n".join(rows)
            + f"\ntotal {info['total'] / 1e6:.2f} MB → a first pull takes {times}")


def _tag(session: Any) -> str:
    first, second = service_manifest(), service_manifest()
    return (f"tag {content_tag(first)} (the manifest hashed twice: "
            f"{'identical' if first == second else 'DIFFERENT'}); change a file in service/ "
            "and the tag and digest change")


def grade(session: Any) -> list[checks.CheckResult]:
    got = session.measurements().get("image_bytes") or 0
    return [checks.CheckResult("the image's size was measured", got > 0, f"{got} bytes",
                               "run the layers step above"),
            checks.measured(session, "image_source", "the layer source is recorded",
                            "run the layers step above")]


LAB = Lab(
    1, "image", "The image",
    do="List the image's layers and sizes and work out how long a first pull takes.",
    learn="An image is a stack of cached layers; size drives pull time on a cold host.",
    need="Nothing running: the service's files (or a built image and a Docker engine).",
    myth="ECS pulls a fresh image on every restart.",
    steps=[
        Step("layers", "Layers and sizes", "Read the image's layers (docker history), or the "
             "service's file layers when no image is built.", "docker history "
             "fraudlab/service:slim", "On EC2 the agent caches images per instance: only a "
             "cold host pulls every layer; Fargate pulls the whole image for every task.",
             "ecs-facts.md §5", "real", _layers),
        Step("slim-full", "Slim vs full", "Compare the slim and full images and their pull "
             "times.", "docker image ls fraudlab/service", "Smaller images start faster "
             "on cold hosts and on Fargate (no cache); AWS suggests smaller images and SOCI "
             "lazy loading above 250 MB.", "ecs-facts.md §5", "real",
             lambda s: compare_images()),
        Step("tag", "Tag and digest", "Hash the manifest: same files → same tag and digest.",
             "docker inspect --format '{{.RepoDigests}}' fraudlab/service:slim",
             "A service is pinned to the digest resolved at deployment: a replacement task "
             "gets the same image even if the tag moved.", "ecs-facts.md §4, §11c", "real",
             _tag),
    ],
    exercises=["Work out the pull time of the full image at 50 Mbit/s with "
               "lab.pull_seconds(size, 50).",
               "Which layer changes when only the model changes? Which layers stay cached?"],
    checks=grade,
)
