#!/usr/bin/env bash
# Builds the fuzz targets with clang + libFuzzer (ASan/UBSan) and runs each
# for a while, starting from the committed corpus. A crash, leak or assertion
# fails the run; the input that caused it is left in fuzz-artifacts/.
# Usage: tools/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}

[ -d build-fuzz ] || CC=clang meson setup build-fuzz --werror -Dfuzzing=true -Dtests=false \
  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
# one target per corpus directory
targets=$(for d in fuzz/corpus/*/; do echo "fuzz/$(basename "$d")"; done)
# shellcheck disable=SC2086
ninja -C build-fuzz $targets | grep -v '^\[' || true
for t in $targets; do
  [ -x "build-fuzz/$t" ] || { echo "the fuzz target $t did not build" >&2; exit 1; }
done

work=$(mktemp -d /tmp/aura-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz-artifacts
export G_SLICE=always-malloc
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
# AURA_FUZZ_KEEP=DIR keeps each target's resulting corpus (the committed
# one plus what the run found) in DIR/<target>, e.g. to merge it with
# libFuzzer's -merge=1 into fuzz/corpus/.
for target in fuzz/corpus/*/; do
  name=$(basename "$target")
  mkdir -p "$work/$name"
  cp "$target"* "$work/$name/"
  # json-glib's and libsoup's own leaks are suppressed by a frame deep in
  # the library, which only the slow unwinder sees. fuzz-json runs with
  # it; for fuzz-http it costs 4/5 of the speed, so that one is fuzzed
  # without leak checks and everything it kept is replayed with them.
  asan_options=""
  replay=""
  case "$name" in
    fuzz-json) asan_options="fast_unwind_on_malloc=0" ;;
    fuzz-http) asan_options="detect_leaks=0"; replay=1 ;;
  esac
  if ASAN_OPTIONS="$asan_options" build-fuzz/fuzz/"$name" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
       -artifact_prefix="fuzz-artifacts/$name-" "$work/$name" >"$work/$name.log" 2>&1 &&
     { [ -z "$replay" ] ||
       ASAN_OPTIONS="fast_unwind_on_malloc=0:malloc_context_size=8" build-fuzz/fuzz/"$name" -runs=0 -timeout=10 \
         -artifact_prefix="fuzz-artifacts/$name-" "$work/$name" >"$work/$name.replay.log" 2>&1 \
       || { cat "$work/$name.replay.log" >>"$work/$name.log"; false; }; }; then
    runs=$(grep -o 'Done [0-9]* runs' "$work/$name.log" | tail -1)
    stats=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$work/$name.log" | tail -1)
    echo "$name: $runs in ${seconds}s ($stats), no findings${replay:+, corpus replayed with leak checks}"
  else
    echo "$name: FOUND A PROBLEM"; tail -40 "$work/$name.log"; status=1
  fi
  if [ -n "${AURA_FUZZ_KEEP:-}" ]; then
    mkdir -p "$AURA_FUZZ_KEEP/$name"
    cp "$work/$name/"* "$AURA_FUZZ_KEEP/$name/"
  fi
done
exit $status
