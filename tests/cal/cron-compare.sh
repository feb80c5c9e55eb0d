#!/bin/sh
# cron-compare.sh -- cal/'s cron expressions against python3-croniter on 3000
# generated expressions (tests/cal/cron-compare.py); 77 without croniter.
/usr/bin/python3 -c 'import croniter' >/dev/null 2>&1 || { echo "cron-compare: python3-croniter missing, skipped"; exit 77; }
exec /usr/bin/python3 "${top_srcdir:-.}/tests/cal/cron-compare.py" "${top_builddir:-.}/tests/cal/cal-tool" --exprs 3000
