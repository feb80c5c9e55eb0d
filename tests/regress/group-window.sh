#!/usr/bin/env bash
# group-window.sh -- a consumer with a large credit while commits are slow
# (an LD_PRELOAD shim adds 30 ms to each fdatasync): deliveries go out ahead
# of the AckReplies waiting for their commit only while those plus the
# credit stay under max-inflight, so the consumer's acks never pass its
# client's window (libtimerd's TIMERD_EINFLIGHT, which `timerctl consume`
# reports as "cannot answer delivery").
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v cc >/dev/null || skip "needs cc to build the fdatasync shim"
cc -shared -fPIC -o "$tmp/sync-shim.so" "${top_srcdir:-.}/tests/regress/sync-shim.c" -ldl 2>"$tmp/cc.err" ||
	skip "cannot build the shim: $(cat "$tmp/cc.err")"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" SYNC_SHIM_SLOW_MS=30 LD_PRELOAD=$tmp/sync-shim.so start_timerd --max-inflight 100
ctl group create g --topic t --ack-timeout 30s >/dev/null || fail "group create"
for i in $(seq 1 80); do
	ctl arm "k$i" --every 20ms --topic t >/dev/null || fail "arm k$i"
done
"$TIMERCTL" --socket "$sock" consume g --concurrency 64 -- true 2>"$tmp/consume.log" &
consumer=$!

# True once group g has acked at least $1 deliveries.
acked_atleast() {
	local out
	out=$(ctl --json group show g) || return 1
	[ "$(echo "$out" | json_int acked)" -ge "$1" ] 2>/dev/null || { echo "$out"; return 1; }
}
wait_for acked_atleast 1000
kill "$consumer"
wait "$consumer" 2>/dev/null
if grep -q "cannot answer" "$tmp/consume.log"; then
	grep "cannot answer" "$tmp/consume.log" | head -5 | sed 's/^/  consume: /' >&2
	fail "the consumer could not answer deliveries (its acks passed the client's window)"
fi
stop_timerd
