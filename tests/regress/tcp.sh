#!/usr/bin/env bash
# tcp.sh -- the optional TCP listener: timerctl --connect works; probes are
# refused over TCP; the Unix socket keeps working beside it.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_tcp --state-dir "$tmp/state" --listen "127.0.0.1:@PORT@"
tcp() { "$TIMERCTL" --connect "127.0.0.1:$port" "$@"; }
tcp arm over-tcp --in 1h >/dev/null || fail "arm over TCP"
ctl get over-tcp >/dev/null || fail "timer armed over TCP not visible over the Unix socket"
out=$(tcp probe list 2>&1)
[ $? -eq 1 ] || fail "probe list over TCP should be refused (exit 1): $out"
echo "$out" | grep -q "not over TCP" || fail "probe refusal said: $out"
stop_timerd
