#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole system on a private
# bus: aura-progressd, aura-sse-bridge (on 127.0.0.1:8080, or
# $AURA_BRIDGE_LISTEN) and aura-demo ($AURA_DEMO_JOBS jobs at a time, default
# 3, at $AURA_DEMO_SPEED, default 1: about a minute each). Ctrl-C stops
# everything.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh demo
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

run_dir=$(mktemp -d /tmp/aura-demo-XXXXXX)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run_dir"
  echo; echo "Stopped."
}
trap cleanup INT TERM EXIT

dbus-daemon --session --nofork --print-address=3 3>"$run_dir/address" 2>/dev/null &
pids+=($!)
while [ ! -s "$run_dir/address" ]; do sleep 0.05; done
address=$(head -1 "$run_dir/address")

build/src/daemon/aura-progressd --address="$address" --state-dir="$run_dir/state" &
pids+=($!)
busctl --address="$address" --timeout=10 wait org.aura.Progress >/dev/null 2>&1 ||
  until busctl --address="$address" status org.aura.Progress >/dev/null 2>&1; do sleep 0.05; done

listen="${AURA_BRIDGE_LISTEN:-127.0.0.1:8080}"
build/src/bridge/aura-sse-bridge --address="$address" --listen="$listen" >"$run_dir/bridge" &
pids+=($!)
while [ ! -s "$run_dir/bridge" ]; do sleep 0.05; done
url=$(sed -n 's/^Listening on //p' "$run_dir/bridge" | head -1)

echo
echo "aura-progressd runs on a private bus, aura-sse-bridge at $url. Open $url in a"
echo "browser to watch the jobs and cancel them, or try, in another terminal:"
echo "  curl -N ${url}api/events"
echo "  curl ${url}api/jobs"
echo "  busctl --address='$address' monitor org.aura.Progress"
echo

# The demo pipeline: a few jobs at a time, a new one whenever one ends
# (completed, failed or cancelled from the page), until Ctrl-C.
jobs="${AURA_DEMO_JOBS:-3}"
speed="${AURA_DEMO_SPEED:-1}"
echo "aura-demo runs $jobs jobs at a time at speed $speed (Ctrl-C stops everything):"
build/src/demo/aura-demo --address="$address" --jobs="$jobs" --speed="$speed" --loop &
pids+=($!)
wait
