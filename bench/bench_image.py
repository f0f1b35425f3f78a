"""Image figures: sizes slim/full, the layer table, build time (from the layer cache), push time
to the kit's local registry, and per-host first pull vs cached pull over the Registry API v2.

    .venv/bin/python bench/bench_image.py [--targets slim,full] [--hosts 2] [--runs 3]

Needs a Docker engine and a registry binary (apt-get install -y docker-registry). Uses its own
state directory and registry (fresh storage, so every push uploads every layer); removes the
tags it made and stops the registry afterwards. Build times assume the images were built once
before (``scripts/build_image.sh``): they measure a cached rebuild.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="slim,full")
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="cached pulls timed per host")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="fraudlab-bench-image-"))
    os.environ["FRAUDLAB_STATE_DIR"] = str(workdir)
    import docker

    from cloud.image.build import build
    from cloud.image.distribution import RegistryClient
    from cloud.image.layers import (
        ASSUMED_BANDWIDTH_BYTES_PER_S,
        layer_table,
        mb,
        pull_costs,
        render_table,
        size_difference,
        totals_by_kind,
    )
    from cloud.image.push import push
    from cloud.image.registry import start_registry, stop_registry
    from cloud.runtime.docker import DockerRuntime

    client = docker.from_env(timeout=600)
    registry = start_registry()
    made: list[str] = []
    tables = {}
    try:
        print(f"registry {registry.url} ({registry.binary}), storage {registry.root}")
        for target in targets:
            print(f"\n== {target} ==")
            built = build(client, target)
            print(f"build (cached rebuild): {built.seconds:.1f} s, {built.cached_steps}/"
                  f"{built.steps} steps from cache; image {mb(built.size_bytes)} unpacked")
            name = f"{registry.host}/fraud-detection"
            result = push(client, built.image, name, f"bench-{target}")
            made.append(result.image)
            reg = RegistryClient(registry.url, timeout=600)
            manifest = reg.manifest("fraud-detection", f"bench-{target}")
            config = reg.blob_json("fraud-detection", manifest.config["digest"])
            base = len(client.api.history(built.base_image))
            rows = layer_table(client.api.history(built.image), base, config, manifest.data)
            tables[target] = rows
            print(f"push: {result.seconds:.1f} s, {result.pushed} layers uploaded, "
                  f"{mb(manifest.layer_bytes)} compressed ({manifest.digest[:19]}…)")
            for line in render_table(rows):
                print(f"  {line}")
            for kind, sums in totals_by_kind(rows).items():
                print(f"  {kind:<13} {mb(sums['size_bytes']):>10} unpacked, "
                      f"{mb(sums['compressed_bytes']):>10} compressed")
            store = workdir / f"hosts-{target}"
            rt = DockerRuntime(client, layer_store=store, close_timeout=1)
            try:
                for h in range(args.hosts):
                    host = f"i-bench{h}"
                    first = rt.pull(host, result.image)
                    cached = [rt.pull(host, result.image).seconds for _ in range(args.runs)]
                    rate = first.downloaded_bytes / first.seconds / 1e6 if first.seconds else 0
                    print(f"  {host}: first pull {first.seconds:.2f} s "
                          f"({mb(first.downloaded_bytes)}, {rate:.0f} MB/s on loopback); "
                          f"cached pull median {statistics.median(cached) * 1000:.0f} ms "
                          f"(manifest only)")
            finally:
                rt.close()
            shutil.rmtree(store, ignore_errors=True)
        costs = pull_costs(tables, args.hosts)
        print(f"\nfirst pull per host at {ASSUMED_BANDWIDTH_BYTES_PER_S / 1e6:.0f} MB/s "
              f"(assumed ECR rate, not an AWS figure):")
        for cost in costs:
            print(f"  {cost.image:<5} {mb(cost.download_bytes):>10} → "
                  f"{cost.seconds_per_host:5.1f} s per host, {mb(cost.cluster_bytes)} for "
                  f"{cost.hosts} hosts")
        if len(costs) == 2:
            print("  " + size_difference(costs[0], costs[1]))
    finally:
        for image in made:
            client.api.remove_image(image, force=True)
        stop_registry(registry)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
