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
start_tcp --state-dir "$tmp/state" --listen "127.0.0.1:@PORT@"
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
