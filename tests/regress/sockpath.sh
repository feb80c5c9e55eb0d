#!/usr/bin/env bash
# sockpath.sh -- timerd removes only a stale socket at --socket (never a
# regular file), two daemons never share a path (PATH.lock, the holder's pid
# in the error), and daemon mode creates a missing socket directory before
# its pid file (first boot with /run on tmpfs).
. "${top_srcdir:-.}/tests/regress/lib.sh"

# A regular file at the socket path is left alone, with a clear refusal.
echo keep >"$sock"
"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/x.log" &&
	fail "timerd started over a regular file"
out=$(cat "$tmp/x.log")
echo "$out" | grep -q "is not a socket" || fail "refusal over a regular file said: $out"
[ "$(cat "$sock")" = keep ] || fail "the regular file at --socket was removed or changed"
rm -f "$sock"

# A stale socket (nobody listening) is replaced.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock" ||
	/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
[ -S "$sock" ] || fail "could not make a stale socket"
start_timerd
ctl ping >/dev/null || fail "no answer after replacing a stale socket"

# A second daemon on the same path: refused by the lock, naming the first's pid.
[ "$(cat "$sock.lock")" = "$daemon_pid" ] || fail "$sock.lock holds '$(cat "$sock.lock")', not pid $daemon_pid"
"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state2" --log "$tmp/second.log" &&
	fail "a second timerd started on the same socket"
out=$(cat "$tmp/second.log")
echo "$out" | grep -q "another timerd (pid $daemon_pid) is already listening on $sock" ||
	fail "second daemon said: $out"
ctl ping >/dev/null || fail "the first daemon lost its socket to the second"
stop_timerd
[ ! -e "$sock.lock" ] || fail "lock file left behind"

# Daemon mode, socket directory missing: created before the pid file beside the socket.
deep=$tmp/run/timerd/timerd.sock
"$TIMERD" --socket "$deep" --state-dir "$tmp/state" --log "$tmp/timerd.log" ||
	fail "daemon mode failed with a missing socket directory"
[ -f "$tmp/run/timerd/timerd.pid" ] || fail "no pid file beside the socket"
daemon_pid=$(cat "$tmp/run/timerd/timerd.pid")
"$TIMERCTL" --socket "$deep" ping >/dev/null || fail "no answer on $deep"
kill -TERM "$daemon_pid"
wait_for gone "$daemon_pid"
daemon_pid=
echo PASS
