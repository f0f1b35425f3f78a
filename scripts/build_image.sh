#!/usr/bin/env bash
# Build the service's images and print their sizes.
#
#   scripts/build_image.sh            both targets: fraudlab/service:slim and fraudlab/service:full
#   scripts/build_image.sh slim       one target (slim or full)
#
# Environment (all optional):
#   BASE_IMAGE      base image; default: local/python:3.11-bookworm when that image exists
#                   (machines without a registry, see shared/ci/docker-engine.sh), else the
#                   Dockerfile's python:3.11-slim-bookworm
#   IMAGE           repository to tag, default fraudlab/service (tags :slim and :full)
#   EXTRA_CA_DIR    PEM files (*.crt, *.pem) of extra CAs pip must trust in the build, default
#                   /usr/local/share/ca-certificates (where Debian/Ubuntu keep local CAs)
# Builds use --network host (engines without a bridge network need it; elsewhere it is harmless).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-fraudlab/service}
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(slim full)

args=(--network host)
if [ -z "${BASE_IMAGE:-}" ] && docker image inspect local/python:3.11-bookworm >/dev/null 2>&1; then
  BASE_IMAGE=local/python:3.11-bookworm
fi
[ -n "${BASE_IMAGE:-}" ] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")

extra_ca=""
if [ -d "$EXTRA_CA_DIR" ]; then
  while IFS= read -r -d '' pem; do
    extra_ca+="$(cat "$pem")"$'\n'
  done < <(find "$EXTRA_CA_DIR" -type f \( -name '*.crt' -o -name '*.pem' \) -print0 | sort -z)
fi
[ -n "$extra_ca" ] && args+=(--build-arg "EXTRA_CA_CERTS=$extra_ca")

for target in "${targets[@]}"; do
  case "$target" in slim|full) ;; *) echo "build_image: unknown target $target (slim|full)" >&2; exit 2;; esac
  echo "build_image: $IMAGE:$target (base ${BASE_IMAGE:-python:3.11-slim-bookworm})"
  start=$(date +%s)
  docker build "${args[@]}" --target "$target" -t "$IMAGE:$target" .
  echo "build_image: $IMAGE:$target built in $(( $(date +%s) - start )) s"
done

echo
printf '%-28s %10s\n' IMAGE SIZE
for target in "${targets[@]}"; do
  bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE:$target")
  printf '%-28s %7d MB  (%d MiB)\n' "$IMAGE:$target" $(( bytes / 1000000 )) $(( bytes / 1048576 ))
done
