#!/bin/sh
# sd-compare.sh -- cal/ against systemd-analyze calendar on generated (expression,
# base time) pairs (tests/cal/sd-compare.py): 4000 with the local zone UTC, 1000
# with the local zone Europe/Dublin (negative DST); 77 without systemd-analyze.
command -v systemd-analyze >/dev/null 2>&1 || { echo "sd-compare: systemd-analyze missing, skipped"; exit 77; }
py="/usr/bin/python3 ${top_srcdir:-.}/tests/cal/sd-compare.py ${top_builddir:-.}/tests/cal/cal-tool"
$py --pairs 4000 --iterations 4 || exit 1
exec $py --pairs 1000 --iterations 4 --seed 16 --local Europe/Dublin
