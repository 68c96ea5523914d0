#!/bin/sh
# The man pages render without a warning from groff or man, each has the
# sections a reader looks for, and each documents every option (and, for
# aura-progressctl, every command) that its program's --help lists.
# Usage: test-man.sh PAGE PROGRAM [PAGE PROGRAM]...
set -eu
status=0
while [ $# -ge 2 ]; do
  page=$1; program=$2; shift 2
  name=$(basename "$page")
  ok=0
  err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" 2>&1 >/dev/null) || {
    echo "not ok: $name: man failed: $err"; status=1; continue; }
  if [ -n "$err" ]; then
    echo "not ok: $name: warnings:"; echo "$err"; status=1; continue
  fi
  text=$(MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null)
  for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" "SEE ALSO"; do
    printf '%s\n' "$text" | grep -q "^$section" || {
      echo "not ok: $name: no $section section"; ok=1; }
  done
  # every placeholder was filled in
  if printf '%s\n' "$text" | grep -q '@[A-Z]*@'; then
    echo "not ok: $name: unsubstituted @VARIABLE@"; ok=1
  fi
  help=$(LC_ALL=C.UTF-8 "$program" --help)
  for option in $(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    printf '%s\n' "$text" | grep -q -- "$option" || {
      echo "not ok: $name: $option (in --help) is not documented"; ok=1; }
  done
  # aura-progressctl's commands: the first word of the lines under "Commands:"
  for command in $(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
    printf '%s\n' "$text" | grep -q "^       $command\b" || {
      echo "not ok: $name: the command $command (in --help) is not documented"; ok=1; }
  done
  if [ $ok -eq 0 ]; then echo "ok: $name"; else status=1; fi
done
exit $status
