#!/usr/bin/env bash
# Installs the project into a staging root and checks what a system install
# relies on: every file in its place, the units pass `systemd-analyze verify`,
# their exposure scores are within the targets, the sysusers.d file parses
# and the bus policy loads in a real dbus-daemon.
set -euo pipefail

build=${1:?usage: test-units.sh BUILD_DIR (run through meson test)}
root=$(mktemp -d /tmp/aura-units-XXXXXX)
trap 'rm -rf "$root"' EXIT
fail=0
check() { if "$@"; then echo "ok - ${desc}"; else echo "not ok - ${desc}"; fail=1; fi; }

meson install -C "$build" --no-rebuild --destdir "$root" --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
sysconfdir=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="sysconfdir"))')
case "$sysconfdir" in /*) ;; *) sysconfdir="$prefix/$sysconfdir" ;; esac
units="$root$prefix/lib/systemd/system"

for f in "$prefix/share/dbus-1/interfaces/org.aura.Progress.xml" \
         "$prefix/share/dbus-1/system.d/org.aura.Progress.conf" \
         "$prefix/share/dbus-1/system-services/org.aura.Progress.service" \
         "$prefix/lib/sysusers.d/aura-progress.conf" \
         "$prefix/lib/systemd/system/aura-progressd.service" \
         "$prefix/lib/systemd/system/aura-sse-bridge.service" \
         "$prefix/lib/systemd/system/aura-sse-bridge.socket" \
         "$sysconfdir/aura-progress/aura-progressd.conf"; do
  desc="installed $f"; check test -f "$root$f"
done

desc="the activation file names the unit's alias"
check grep -qx "SystemdService=dbus-org.aura.Progress.service" \
  "$root$prefix/share/dbus-1/system-services/org.aura.Progress.service"
desc="the unit's ExecStart is the installed daemon"
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$units/aura-progressd.service")
check test -x "$root$exec_start"

# systemd-analyze needs the units the ours depend on (dbus.socket, targets)
# inside the root: take the host's, without overwriting ours.
cp -rn /usr/lib/systemd/system/. "$units/"
testable_units=(aura-progressd.service aura-sse-bridge.socket)
if [ -x "$root$prefix/bin/aura-sse-bridge" ]; then
  testable_units+=(aura-sse-bridge.service)
fi
desc="systemd-analyze verify ${testable_units[*]}"
check systemd-analyze verify --man=no --root="$root" "${testable_units[@]/#/$units/}"

exposure() {
  systemd-analyze security --offline=true --root="$root" "$units/$1" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'
}
for pair in aura-progressd.service:1.0 aura-sse-bridge.service:2.0; do
  unit=${pair%%:*}; limit=${pair##*:}
  score=$(exposure "$unit")
  desc="$unit exposure $score <= $limit"
  check awk -v s="$score" -v l="$limit" 'BEGIN { exit !(s != "" && s <= l) }'
done

desc="sysusers.d file creates both users"
out=$(systemd-sysusers --dry-run --root="$root" "$root$prefix/lib/sysusers.d/aura-progress.conf" 2>&1 || true)
check bash -c "grep -q \"aura-progress\" <<<'$out' && grep -q \"aura-bridge\" <<<'$out'"

# A system-like bus that includes the installed policy must start.
cat > "$root/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$root/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default"><allow user="*"/></policy>
  <include>$root$prefix/share/dbus-1/system.d/org.aura.Progress.conf</include>
</busconfig>
CONF
desc="the bus policy loads in dbus-daemon"
check bash -c "dbus-daemon --config-file='$root/bus.conf' --print-address=1 --fork --print-pid=1 > '$root/bus.out' 2>'$root/bus.err' && kill \$(sed -n 2p '$root/bus.out')"
[ -s "$root/bus.err" ] && { echo "# dbus-daemon said:"; sed 's/^/# /' "$root/bus.err"; }

exit $fail
