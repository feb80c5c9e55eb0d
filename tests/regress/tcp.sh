#!/usr/bin/env bash
# tcp.sh -- the optional TCP listener: timerctl --connect works; probes are
# refused over TCP; the Unix socket keeps working beside it.
. "${top_srcdir:-.}/tests/regress/lib.sh"

for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" \
		--listen "127.0.0.1:$port" &
	daemon_pid=$!
	for _ in $(seq 1 250); do
		"$TIMERCTL" --connect "127.0.0.1:$port" ping >/dev/null 2>&1 && break 2
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.02
	done
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
done
[ -n "$daemon_pid" ] || fail "could not start timerd on a free TCP port"
tcp() { "$TIMERCTL" --connect "127.0.0.1:$port" "$@"; }
tcp arm over-tcp --in 1h >/dev/null || fail "arm over TCP"
ctl get over-tcp >/dev/null || fail "timer armed over TCP not visible over the Unix socket"
out=$(tcp probe list 2>&1)
[ $? -eq 1 ] || fail "probe list over TCP should be refused (exit 1): $out"
echo "$out" | grep -q "not over TCP" || fail "probe refusal said: $out"
stop_timerd
