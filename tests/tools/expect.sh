#!/bin/sh
# Runs a command and checks both how it ended and what it printed, because CTest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status (a program that prints the right error and
# then exits 0, or crashes after printing the right line, would pass).
#   expect.sh pass|fail REGEX COMMAND [ARGS...]
# pass: the command must exit 0.  fail: it must exit with a status from 1 to 127 (an error it
# reported, not a crash by signal).  REGEX (POSIX extended, matched against the whole output,
# stdout and stderr, '.' spanning lines; empty: no check) must match.
want=$1 re=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
case $want in
  pass) [ "$rc" -eq 0 ] || { echo "expect.sh: exited with status $rc, expected 0"; exit 1; } ;;
  fail) if [ "$rc" -eq 0 ]; then echo "expect.sh: exited 0, expected an error exit"; exit 1; fi
        if [ "$rc" -ge 128 ]; then echo "expect.sh: ended by a signal or crash (status $rc), expected an error exit"; exit 1; fi ;;
  *) echo "expect.sh: first argument must be pass or fail, not '$want'"; exit 2 ;;
esac
if [ -n "$re" ] && ! printf '%s' "$out" | grep -Ezq -- "$re"; then
  echo "expect.sh: the output does not match: $re"
  exit 1
fi
exit 0
