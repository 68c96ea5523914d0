#!/usr/bin/env bash
# Installs the Debian 12 packages aura-progress needs. Does nothing (and
# needs no network) when they are all installed.
# Usage: tools/deps.sh [build|demo|test|bench]   (default: build)
#   build  compile the programs
#   demo   build, and run tools/demo.sh and the README's examples
#   test   all of that, and run every test (tools/check.sh)
#   bench  build the release build and run the benchmarks (tools/bench.sh)
set -euo pipefail

build_pkgs=(gcc libc6-dev meson ninja-build pkg-config gettext
            libsystemd-dev libglib2.0-dev libjson-glib-dev libsoup-3.0-dev)
# dbus-daemon: the private bus; libglib2.0-bin: gdbus (the demo waits for the
# daemon with it); systemd: busctl; curl: the web API from a shell
demo_pkgs=(dbus-daemon libglib2.0-bin systemd curl)
# valgrind and clang (libFuzzer, ASan); systemd-analyze (units), locales
# (i18n), chromium (browser), man-db (man pages), python3 (units)
test_pkgs=(valgrind util-linux locales libclang-rt-14-dev clang chromium man-db python3)
# the benchmarks: nginx + nchan, the SSE baseline
bench_pkgs=(nginx libnginx-mod-nchan util-linux)

case "${1:-build}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  demo)  pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
  test)  pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|demo|test|bench]" >&2; exit 2 ;;
esac

# Node.js may come from elsewhere than Debian (and then conflicts with
# Debian's npm): install Debian's only when there is none.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "deps.sh: these packages are missing: ${missing[*]}" >&2
    echo "deps.sh: run this as root, or install sudo, or install them yourself" >&2
    exit 1
  }
  sudo="sudo"
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
