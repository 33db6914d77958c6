#!/bin/sh
# run.sh LOG CMD [ARG...]: runs CMD with its output on the terminal and
# appended to LOG (under a "### CMD" line), and exits with CMD's status.
# `make bench` runs every benchmark through it, then bench/goals.py LOG
# prints each goal line of the run in one place.
set -u
log=$1
shift
echo "### $*" >>"$log"
rcfile=$(mktemp)
{
    "$@" 2>&1
    echo $? >"$rcfile"
} | tee -a "$log"
rc=$(cat "$rcfile")
rm -f "$rcfile"
exit "$rc"
