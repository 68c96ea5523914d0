#!/usr/bin/env bash
# Installs the Debian 12 packages aura-progress needs to build, test and run.
# Usage: tools/deps.sh [build|test|demo]   (default: build)
set -euo pipefail

build_pkgs=(gcc libc6-dev meson ninja-build pkg-config gettext
            libsystemd-dev libglib2.0-dev libjson-glib-dev libsoup-3.0-dev
            dbus-daemon dbus-bin curl)
test_pkgs=(valgrind systemd util-linux libglib2.0-bin locales libclang-rt-14-dev clang chromium man-db)
demo_pkgs=()

case "${1:-build}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test)  pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  demo)  pkgs=("${build_pkgs[@]}" "${demo_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|demo]" >&2; exit 2 ;;
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
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
