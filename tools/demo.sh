#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole system on a private
# bus: aura-progressd, aura-sse-bridge (on 127.0.0.1:8080, or
# $AURA_BRIDGE_LISTEN) and a demo job. Ctrl-C stops everything.
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

call() { busctl --address="$address" call org.aura.Progress /org/aura/Progress org.aura.Progress "$@" >/dev/null; }

job="demo-$(date +%s)"
echo
echo "aura-progressd runs on a private bus, aura-sse-bridge at $url. Try, in another terminal:"
echo "  curl -N ${url}api/jobs/$job/events"
echo "  curl ${url}api/jobs"
echo "  busctl --address='$address' monitor org.aura.Progress"
echo "or open $url in a browser."
echo
call StartJob 'sa{sv}' "$job" 1 title s "Demo video"
echo "Job $job started; it runs in 5 s (Ctrl-C to stop)..."
sleep 5
for stage in planning script tts visuals compose render finalize; do
  for pct in 25 50 75 100; do
    call ReportProgress 'ssda{sv}' "$job" "$stage" "$pct" 0
    percent=$(busctl --address="$address" get-property org.aura.Progress \
      "/org/aura/Progress/jobs/$(echo "$job" | sed 's/-/_2d/g')" org.aura.Progress.Job Percent | cut -d' ' -f2)
    printf '\r  %-9s %3s %%' "$stage" "$percent"
    sleep 0.3
  done
  call MarkStageCompleted ss "$job" "$stage"
done
call CompleteJob s "$job"
printf '\r  %-9s %3s %%\n' done 100
echo "The daemon and the bridge keep running; Ctrl-C stops them."
wait
