#!/bin/sh
# sd-compare.sh -- cal/ against systemd-analyze calendar on 4000 generated
# (expression, base time) pairs (tests/cal/sd-compare.py); 77 without systemd-analyze.
command -v systemd-analyze >/dev/null 2>&1 || { echo "sd-compare: systemd-analyze missing, skipped"; exit 77; }
exec /usr/bin/python3 "${top_srcdir:-.}/tests/cal/sd-compare.py" "${top_builddir:-.}/tests/cal/cal-tool" --pairs 4000 --iterations 4
