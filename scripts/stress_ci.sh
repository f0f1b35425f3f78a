#!/usr/bin/env bash
# The whole suite N times on a fresh clone with a CPU hog on every core: prints the failures of
# each run and a summary; exits 1 if any run failed.
#
#   scripts/stress_ci.sh [N]            # N runs (default 5); N=0 only clones and installs
#
# Environment:
#   REPO=path|url     what to clone (default: this checkout's repository), REF=branch|commit
#   VENV=path         reuse a venv that has the dev extra (default: a new .venv in the clone,
#                     installed as .ci/run does: pip install -e ".[dev]")
#   PYTEST_ARGS=...   default "-q -n 3 --dist loadfile" (.ci/run's); add test paths for a subset
#   HOGS=k            CPU hogs (default: one per core, `nproc`)
#   RUN_TIMEOUT=s     bound on one run, and on its hogs (default 1800)
set -euo pipefail

runs=${1:-5}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo=${REPO:-$here}
hogs=${HOGS:-$(nproc)}
run_timeout=${RUN_TIMEOUT:-1800}
read -r -a pytest_args <<< "${PYTEST_ARGS:--q -n 3 --dist loadfile}"

work="$(mktemp -d "${TMPDIR:-/tmp}/fraudlab-stress.XXXXXX")"
hog_pids=()
stop_hogs() {
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  hog_pids=()
}
trap stop_hogs EXIT

echo "stress: cloning $repo${REF:+ at $REF} into $work/fraudlab"
git clone --quiet "$repo" "$work/fraudlab"
cd "$work/fraudlab"
if [ -n "${REF:-}" ]; then git checkout --quiet "$REF"; fi
echo "stress: commit $(git log -1 --format='%h %s' | cut -c1-100)"

if [ -n "${VENV:-}" ]; then
  python="$VENV/bin/python"
  export PYTHONPATH="$PWD"  # this clone's code, not what the venv was installed from
else
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  python=.venv/bin/python
fi
if [[ " ${pytest_args[*]} " == *" -n "* ]] && ! "$python" -c "import xdist" 2>/dev/null; then
  echo "stress: $python has no pytest-xdist (the dev extra has it): pip install -e \".[dev]\"," \
       "or set PYTEST_ARGS without -n" >&2
  exit 2
fi
unset PYTHONDONTWRITEBYTECODE  # as .ci/run: bytecode and rewritten asserts cached
echo "stress: $runs run(s) of pytest ${pytest_args[*]} with $hogs CPU hog(s); logs in $work"

green=0
for ((i = 1; i <= runs; i++)); do
  for ((h = 0; h < hogs; h++)); do
    timeout "$run_timeout" "$python" -c 'while True: pass' &
    hog_pids+=($!)
  done
  log="$work/run-$i.log"
  started=$SECONDS
  status=0
  timeout "$run_timeout" "$python" -m pytest "${pytest_args[@]}" -p no:cacheprovider -rfE \
    >"$log" 2>&1 || status=$?
  stop_hogs
  summary="$(grep -E '(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | tr -d '=' \
             | xargs || true)"
  echo "run $i: exit $status in $((SECONDS - started)) s — ${summary:-no summary (see $log)}"
  if [ "$status" = 0 ]; then
    green=$((green + 1))
  else
    grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /' || true
    [ "$status" = 124 ] && echo "    (timed out after $run_timeout s)"
  fi
done
echo "stress: $green of $runs run(s) green under $hogs CPU hog(s)"
[ "$green" = "$runs" ]
