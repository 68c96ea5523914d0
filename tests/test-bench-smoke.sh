#!/usr/bin/env bash
# Every delivery benchmark runs briefly (--quick) and prints a sane table:
# CI notices a benchmark that no longer builds, runs or measures. This
# checks that the figures make sense, never the performance targets (a
# loaded CI machine is no place for those; tools/bench.sh is).
# Usage: test-bench-smoke.sh BUILD_DIR
set -euo pipefail
bench="$1/bench"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() { echo "not ok: $*" >&2; echo "---- output" >&2; cat "$out" >&2; exit 1; }

# field N of the row whose figure starts with PREFIX
field() { awk -F'\t' -v p="$1" -v n="$2" 'index($1, p) == 1 { print $n; exit }' "$out"; }
# the number at the start of a field ("31808 /s" -> 31808)
number() { field "$1" "$2" | sed 's/^\([0-9.]*\).*/\1/'; }
positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
at_least() { awk -v v="$1" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }'; }

check_rows() {
  [ -s "$out" ] || fail "$1 printed no rows"
  awk -F'\t' 'NF != 6 { exit 1 }' "$out" || fail "$1: a row without 6 fields"
}

"$bench/bench-ingest" --quick >"$out" || fail "bench-ingest failed"
check_rows bench-ingest
for m in ReportFFmpegProgress ReportProgress; do
  positive "$(number "ingest $m (" 2)" || fail "no $m rate for the daemon"
  positive "$(number "ingest $m (" 3)" || fail "no $m rate for the null service"
done
echo "ok 1 bench-ingest"

"$bench/bench-coalesce" --quick >"$out" || fail "bench-coalesce failed"
check_rows bench-coalesce
[ "$(field "coalesce: jobs whose final frame arrived" 2)" = "10/10" ] || fail "final frames lost"
[ "$(field "coalesce: jobs whose final frame arrived" 3)" = "10/10" ] || fail "final frames lost (uncoalesced)"
signals=$(number "coalesce: Progress signals per job/s" 2)
positive "$signals" || fail "no Progress signals counted"
# uncoalesced: a signal per report, so far more than ours
at_least "$(number "coalesce: Progress signals per job/s" 3)" "$(awk -v s="$signals" 'BEGIN { print 2 * s }')" ||
  fail "the uncoalesced daemon did not send a signal per report"
echo "ok 2 bench-coalesce"

"$bench/bench-cancel" --quick >"$out" || fail "bench-cancel failed"
check_rows bench-cancel
for n in "1 provider " "16 providers" "64 providers"; do
  # nobody can answer before the providers have: 10 ms
  at_least "$(number "cancel: CancelJob reply, $n" 2)" 10 || fail "CancelJob with $n faster than its providers"
  at_least "$(number "cancel: CancelJob reply, $n" 3)" 10 || fail "direct Cancel with $n faster than its providers"
done
echo "ok 3 bench-cancel"

"$bench/bench-memory" --quick >"$out" || fail "bench-memory failed"
check_rows bench-memory
positive "$(number "memory: bytes per active job" 2)" || fail "no memory per job"
positive "$(number "memory: VmRSS after" 2)" || fail "no resident memory after the churn"
echo "ok 4 bench-memory"
echo "1..4"
