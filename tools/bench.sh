#!/usr/bin/env bash
# Builds the benchmarks (a release build in build-bench/) and runs each one
# side by side with its baseline, then prints one table:
#   figure | ours | baseline | ratio | target | met?
# Usage: tools/bench.sh [--quick] [ingest|coalesce|cancel|memory|sse|recovery ...]
# (default: all). Each benchmark starts its own private dbus-daemon, daemon
# and baseline; bench/README.md says what each measures and how.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
selected=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    ingest|coalesce|cancel|memory|sse|recovery) selected+=("$arg") ;;
    *) echo "usage: $0 [--quick] [ingest|coalesce|cancel|memory|sse|recovery ...]" >&2; exit 2 ;;
  esac
done
[ ${#selected[@]} -gt 0 ] || selected=(ingest coalesce cancel memory)
for name in sse recovery; do
  if [[ " ${selected[*]} " == *" $name "* ]] && [ ! -e bench/bench-$name.c ]; then
    echo "bench-$name is not built yet (it needs aura-sse-bridge)" >&2
    exit 2
  fi
done

tools/deps.sh bench
[ -d build-bench ] || meson setup build-bench --werror -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null

# thousands of connections for the SSE benchmarks
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
printf 'figure\tours\tbaseline\tratio\ttarget\tmet?\n' >"$rows"
for name in "${selected[@]}"; do
  echo "==> bench-$name ${quick[*]}" >&2
  build-bench/bench/bench-"$name" "${quick[@]}" >>"$rows"
done

echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
     "load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
column -t -s $'\t' "$rows"
