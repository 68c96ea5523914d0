#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: unit,
# integration and browser tests, the same under valgrind (but the browser
# suite), an ASan/UBSan build, and a short libFuzzer run of every fuzz target.
# Warnings are errors. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# meson test, failing when a test was skipped: a skipped test is not a pass
# (the authorization and journal tests skip when not run as root).
run_tests() {
  local out rc=0
  out=$(mktemp)
  meson test "$@" | tee "$out" || rc=$?
  if [ "$rc" -eq 0 ] && grep -Eq '^Skipped: +[1-9]' "$out"; then
    echo "check.sh: skipped, so not tested (run as root for these):" >&2
    grep -E ' SKIP ' "$out" >&2 || true
    rc=1
  fi
  rm -f "$out"
  return "$rc"
}

step "Installing packages"
tools/deps.sh test

step "Installing the browser tests' npm packages (package-lock.json)"
npm ci --no-audit --no-fund

step "Building (warnings are errors)"
# build/ may come from tools/demo.sh, set up before the test tools were
# installed (valgrind, man, node): set it up again so that meson finds them
if [ -f build/build.ninja ]; then
  meson setup --reconfigure --werror build >/dev/null
else
  meson setup build --werror >/dev/null
fi
ninja -C build

step "Tests"
run_tests -C build --print-errorlogs

step "Tests under valgrind"
run_tests -C build --setup=valgrind --print-errorlogs --no-suite web --no-suite browser

step "ASan/UBSan build and tests"
[ -d build-asan ] || meson setup build-asan --werror -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-asan
run_tests -C build-asan --setup=asan --print-errorlogs

step "Fuzzing (20 s per target, from the committed corpus)"
tools/fuzz.sh 20

step "All tests passed"
