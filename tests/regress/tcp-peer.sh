#!/usr/bin/env bash
# tcp-peer.sh -- loopback TCP is no way around the Unix socket's mode: with
# the socket at 0600 (root's), `nobody` connecting to 127.0.0.1 can neither
# list root's payloads nor cancel root's timers (the kernel's sock_diag
# names the peer's uid; doc/security.md); root still can.
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as nobody"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
chmod 0711 "$tmp"
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
share_programs		# nobody runs timerctl from $tmp/other
as_nobody() { setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$OTHER_TIMERCTL" --connect "127.0.0.1:$port" "$@"; }

ctl arm secret --in 1h --payload root-only-payload --topic t >/dev/null || fail "root's arm"
out=$(as_nobody --json list 2>&1) && fail "nobody listed root's timers over 127.0.0.1: $out"
echo "$out" | grep -q "root-only-payload" && fail "nobody saw root's payload: $out"
echo "$out" | grep -q "uid $nobody may not use timerd" || fail "nobody's refusal said: $out"
as_nobody cancel secret >/dev/null 2>&1 && fail "nobody cancelled root's timer over 127.0.0.1"
ctl get secret >/dev/null || fail "root's timer is gone after nobody's cancel"
"$TIMERCTL" --connect "127.0.0.1:$port" --json list | grep -q secret || fail "root cannot list over 127.0.0.1"
grep -q "uid $nobody may not use timerd" "$tmp/timerd.log" || fail "the refusal is not logged"
stop_timerd
echo PASS
