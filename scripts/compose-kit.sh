#!/bin/sh
# The `kit` service of docker-compose.yml: run the lab server (`fraudlab up --foreground`) from
# the repository mounted read-only at /src. The kit's dependencies go into /venv (a named
# volume) on the first start, and again whenever pyproject.toml changes; the code itself is
# read from /src, so edits need no rebuild. Extra CA certificates (a TLS-inspecting proxy)
# mounted at /extra-ca are added to the bundle pip uses.
set -eu
SRC=${SRC:-/src}
VENV=${VENV:-/venv}
stamp="$VENV/.fraudlab-pyproject.sha256"
want=$(sha256sum "$SRC/pyproject.toml" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "compose-kit: installing the kit's dependencies into $VENV (first start only)…"
  python3 -m venv "$VENV"
  cat /etc/ssl/certs/ca-certificates.crt > "$VENV/ca.pem"
  for pem in /extra-ca/*.crt /extra-ca/*.pem; do
    [ -f "$pem" ] && cat "$pem" >> "$VENV/ca.pem"
  done
  work=$(mktemp -d)
  # A copy without .venv/.git, so the build writes nothing into the read-only checkout.
  tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude='*/__pycache__' -cf - . \
    | tar -C "$work" -xf -
  PIP_CERT="$VENV/ca.pem" PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$VENV/bin/pip" install -q "$work" "docker>=7.1"
  rm -rf "$work"
  echo "$want" > "$stamp"
fi
export PYTHONPATH="$SRC" PYTHONDONTWRITEBYTECODE=1 PATH="$VENV/bin:$PATH"
cd "$SRC"
exec python -m cli.main up --foreground "$@"
