#!/usr/bin/env bash
# memory.sh -- the global memory budget: arms with 64 KiB payloads hit
# max-memory and get NO_MEMORY naming it, nothing armed before is dropped
# and it still fires, RSS stays near the budget; a 1 MiB frame of unknown
# fields is refused MALFORMED once decoding it would take more than 8 x the
# frame (it used to be decoded, 38 MB of peak memory) and does not raise
# the daemon's peak memory by tens of MB.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x $PY ] || PY=python3
rss_kb() { sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$daemon_pid/status"; }
hwm_kb() { sed -n 's/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$daemon_pid/status"; }

start_timerd --memory-only --max-memory 4MiB
payload=$(head -c 65536 /dev/zero | tr '\0' x)
"$TIMERCTL" --socket "$sock" watch early >"$tmp/watch.out" 2>&1 &
wait_for watching 1
ctl arm first --in 1500ms --topic early --payload small >/dev/null || fail "arm first"
rss0=$(rss_kb)
armed=0
for i in $(seq 1 200); do
	if ! out=$(ctl arm "big-$i" --in 1h --payload "$payload" 2>&1); then
		echo "$out" | grep -q "max-memory" || fail "arm $i refused without naming max-memory: $out"
		break
	fi
	armed=$i
done
[ "$armed" -lt 200 ] || fail "200 arms of 64 KiB passed a 4 MiB max-memory"
[ "$armed" -ge 40 ] || fail "only $armed arms of 64 KiB fit a 4 MiB budget"
n=$(ctl --json list | grep -c '"key":"big-')
[ "$n" -eq "$armed" ] || fail "$armed timers armed before the budget, $n listed"
rss1=$(rss_kb)
# (not under AddressSanitizer: its quarantine keeps freed request buffers resident)
if ! ldd "$TIMERD" 2>/dev/null | grep -q libasan; then
	[ $((rss1 - rss0)) -lt 16384 ] || fail "RSS grew by $((rss1 - rss0)) KiB under a 4 MiB budget"
fi
wait_for grep -q "key=first" "$tmp/watch.out"
stop_timerd

start_timerd --memory-only --max-frame 2MiB --max-output 2MiB
hwm0=$(hwm_kb)
out=$($PY "${top_srcdir:-.}/tests/regress/conns.py" unknown "$sock" 1048576) || fail "unknown-fields frame"
# 349,525 unknown fields need ~14 MB decoded: over 8 x the frame, so the decoder gives up (MALFORMED)
echo "$out" | grep -q "cannot decode a 1048575-byte frame" || fail "a 1 MiB frame of unknown fields was decoded: $out"
ctl ping >/dev/null || fail "no ping after the unknown-fields frame"
hwm1=$(hwm_kb)
ldd "$TIMERD" 2>/dev/null | grep -q libasan || [ $((hwm1 - hwm0)) -lt 20480 ] || fail "a 1 MiB frame of unknown fields raised peak memory by $((hwm1 - hwm0)) KiB"
stop_timerd
echo PASS
