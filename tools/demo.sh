#!/usr/bin/env bash
# The README's first command: installs what the demo needs (tools/deps.sh
# demo), builds the programs into build/, and runs the whole system on a
# private bus: aura-progressd, aura-sse-bridge on http://127.0.0.1:8080/,
# aura-demo with three concurrent jobs (a new one whenever one ends, about a
# minute each) and a fourth that stalls in tts until it is cancelled. It
# prints the URL to open and what to paste into another terminal, then
# follows one job after another with `aura-progressctl watch`. Ctrl-C stops
# everything and removes the temporary directory; the exit status is 0 when
# everything stopped cleanly.
#
# Environment:
#   AURA_DEMO_PORT      the bridge's port on 127.0.0.1 (default 8080; 0 picks
#                       a free one). When the port is taken, the bridge takes a
#                       free one instead and the script says so.
#   AURA_DEMO_SPEED     how many times faster than a real job (default 1)
#   AURA_DEMO_BUILDDIR  the build directory (default build; set up if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
port=${AURA_DEMO_PORT:-8080}
speed=${AURA_DEMO_SPEED:-1}
builddir=${AURA_DEMO_BUILDDIR:-build}
[[ $port =~ ^[0-9]+$ ]] && [ "$port" -le 65535 ] ||
  { echo "demo.sh: AURA_DEMO_PORT must be a port number (0 to 65535), not '$port'" >&2; exit 2; }

run=$(mktemp -d "${TMPDIR:-/tmp}/aura-demo-XXXXXX")
pids=()          # the services, in the order they started
names=()
readers=()       # the cats that copy the services' output to their logs
watch_pid=""

# The watch in the foreground is ended without the `wait` builtin: after a
# trap has interrupted `wait PID`, bash 5.2 can hang in a second `wait PID`.
stop_watch() {
  local i
  [ -n "$watch_pid" ] || return 0
  kill -TERM "$watch_pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$watch_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$watch_pid" 2>/dev/null || true
  watch_pid=""
}

# Ctrl-C in the terminal reaches this script and the watch in the foreground
# only: the services run in sessions of their own (setsid), so that they stop
# here in order, the demo jobs first (they end their jobs while the daemon
# still runs), the bus last.
on_exit() {
  local status=$? failed=() rc i
  trap '' INT TERM HUP
  stop_watch
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    rc=0; wait "${pids[i]}" 2>/dev/null || rc=$?
    [ "$rc" -eq 0 ] || failed+=("${names[i]}")
  done
  for i in "${readers[@]}"; do wait "$i" 2>/dev/null || true; done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "demo.sh: did not stop cleanly: ${failed[*]}; their logs:" >&2
    for name in "${failed[@]}"; do tail -n 20 "$run/$name.log" >&2 2>/dev/null || true; done
    status=1
  fi
  rm -rf "$run"
  [ "$status" -ne 0 ] || echo "Stopped."
  exit "$status"
}
trap on_exit EXIT
trap 'exit 0' INT TERM HUP

die() {
  echo "demo.sh: $1" >&2
  [ -z "${2:-}" ] || tail -n 20 "$run/$2.log" >&2 2>/dev/null || true
  exit 1
}

tools/deps.sh demo
programs=(src/daemon/aura-progressd src/bridge/aura-sse-bridge src/ctl/aura-progressctl
          src/demo/aura-demo)
if [ ! -f "$builddir/build.ninja" ]; then
  echo "Setting up $builddir/ and building (the first time takes a minute or two)..."
  meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir" "${programs[@]}" >"$run/build.log" 2>&1 || die "the build failed" build
bin=$(cd "$builddir" && pwd)/src

# start NAME COMMAND...: runs COMMAND in its own session, its output to
# $run/NAME.log. start_piped: the same, but its standard output goes through
# the pipe $run/NAME.out, whose first line read_first NAME puts in $line (the
# rest goes to the log).
start() {
  local name=$1; shift
  setsid "$@" >>"$run/$name.log" 2>&1 &
  pids+=($!); names+=("$name")
}
start_piped() {
  local name=$1; shift
  mkfifo "$run/$name.out"
  setsid "$@" >"$run/$name.out" 2>>"$run/$name.log" &
  pids+=($!); names+=("$name")
}
read_first() {
  local fd
  line=""
  exec {fd}<"$run/$1.out"
  IFS= read -r -u "$fd" line || true
  cat <&"$fd" >>"$run/$1.log" &
  readers+=($!)
  exec {fd}<&-
}

# The bus prints its address once it listens.
start_piped bus dbus-daemon --session --nofork --nosyslog --address="unix:path=$run/bus" \
  --print-address=1
read_first bus
address=${line%%,guid=*}          # clients need no guid
[ -n "$address" ] || die "dbus-daemon did not start" bus

start daemon "$bin/daemon/aura-progressd" --address="$address" --state-dir="$run/state"
gdbus wait --address "$address" --timeout 10 org.aura.Progress ||
  die "aura-progressd did not start" daemon

# The bridge prints "Listening on URL" once it listens, and exits when it
# cannot.
start_bridge() {
  start_piped bridge "$bin/bridge/aura-sse-bridge" --address="$address" --listen="127.0.0.1:$1"
  read_first bridge
  url=${line#Listening on }
  [ "$url" != "$line" ] || url=""
}
start_bridge "$port"
if [ -z "$url" ] && [ "$port" != 0 ] && grep -q "in use" "$run/bridge.log"; then
  unset 'pids[-1]' 'names[-1]'     # it has exited
  rm -f "$run/bridge.out" "$run/bridge.log"
  echo "Port $port on 127.0.0.1 is taken by another program: the bridge listens on a free port instead."
  start_bridge 0
fi
[ -n "$url" ] || die "aura-sse-bridge did not start" bridge

# aura-demo prints a line when it has started a job.
start_piped demo "$bin/demo/aura-demo" --address="$address" --job-id=video --jobs=3 --loop \
  --speed="$speed"
read_first demo
first=${line%%: started*}
[ -n "$line" ] && [ "$first" != "$line" ] || die "aura-demo did not start a job" demo
start_piped stuck "$bin/demo/aura-demo" --address="$address" --job-id=stuck --stall-at=tts \
  --loop --speed="$speed"
read_first stuck
[ -n "$line" ] || die "aura-demo did not start a job" stuck

cat <<EOF

aura-progressd runs on a private bus, with aura-sse-bridge and the demo pipeline:
three jobs at a time (video-1, video-2, ...; a new one whenever one ends) and
stuck-1, which hangs in tts until it is cancelled.

  Open $url in a browser.

  In another terminal, paste:
    export DBUS_SYSTEM_BUS_ADDRESS=$address
    export PATH="$bin/ctl:$bin/demo:\$PATH"
  then try:
    aura-progressctl list
    aura-progressctl cancel stuck-1       # what each provider answered
    busctl call org.aura.Progress /org/aura/Progress org.aura.Progress ListJobs
    curl ${url}api/jobs/video-1
    curl -N ${url}api/events              # every event, live (Ctrl-C ends it)
  and the README's other examples.

Ctrl-C stops everything.

EOF

# Follows a job until it ends, then the newest running one. From here on a
# signal only says "stop": the loop ends and the script exits the normal
# way, never from a trap that interrupted `wait` (bash cannot always wait
# again from there).
stop=0
trap 'stop=1' INT TERM HUP
ctl="$bin/ctl/aura-progressctl"
job=$first
while [ "$stop" -eq 0 ]; do
  echo "aura-progressctl watch $job"
  "$ctl" --address="$address" watch "$job" &
  watch_pid=$!
  rc=0; wait "$watch_pid" || rc=$?
  [ "$stop" -eq 0 ] || break        # Ctrl-C: the trap interrupted wait
  watch_pid=""
  case $rc in
    0|3|4) ;;                       # it completed, failed or was cancelled
    130|143) break ;;               # interrupted
    *) die "aura-progressctl watch $job exited with status $rc" daemon ;;
  esac
  echo
  next=""
  while [ -z "$next" ] && [ "$stop" -eq 0 ]; do
    next=$("$ctl" --address="$address" list |
           awk '$2 == "Running" && $1 ~ /^video-[0-9]+$/ { sub("video-", "", $1); print $1 }' |
           sort -n | tail -n 1)
    # between two jobs, none may run for a moment (a pause of 3 s)
    [ -n "$next" ] || sleep 0.5
  done
  job=video-$next
done
exit 0
