#!/bin/sh
# The man pages render without a warning from groff or man, and each has the
# sections a reader looks for.
# Usage: test-man.sh PAGE...
set -eu
status=0
for page in "$@"; do
  name=$(basename "$page")
  err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null) || {
    echo "not ok: $name: man failed: $err"; status=1; continue; }
  if [ -n "$err" ]; then
    echo "not ok: $name: warnings:"; echo "$err"; status=1; continue
  fi
  text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null)
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO"; do
    printf '%s\n' "$text" | grep -q "^$section" || {
      echo "not ok: $name: no $section section"; status=1; }
  done
  # every placeholder was filled in
  if printf '%s\n' "$text" | grep -q '@[A-Z]*@'; then
    echo "not ok: $name: unsubstituted @VARIABLE@"; status=1
  fi
  [ $status -ne 0 ] || echo "ok: $name"
done
exit $status
