#!/usr/bin/env bash
# limits.sh -- what one request may ask for: a period below min-period is
# refused with PERIOD naming the setting (a 1 us timer burned both cores);
# min-period itself is a setting.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
out=$(ctl arm fast --every 1us 2>&1) && fail "a 1us period was accepted: $out"
echo "$out" | grep -q "min-period" || fail "the 1us refusal does not name min-period: $out"
ctl --json arm fast --every 1us 2>&1 | grep -qi period || fail "the refusal is not a PERIOD error"
ctl arm ok --every 1ms >/dev/null || fail "a 1ms period (the default min-period) was refused"
ctl cancel ok >/dev/null
stop_timerd
start_timerd --min-period 100ms
out=$(ctl arm fast --every 10ms 2>&1) && fail "10ms accepted under min-period 100ms"
echo "$out" | grep -q "min-period (100000000 ns)" || fail "min-period 100ms refusal: $out"
stop_timerd
echo PASS
