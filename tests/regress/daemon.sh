#!/usr/bin/env bash
# daemon.sh -- without --foreground timerd returns once it listens, writes
# its pid file, refuses a second instance with the reason, stops on SIGTERM.
. "${top_srcdir:-.}/tests/regress/lib.sh"

"$TIMERD" --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" --pid-file "$tmp/timerd.pid" ||
	fail "daemon start exited $?"
ctl ping >/dev/null || fail "the daemon does not answer right after its start returned"
daemon_pid=$(cat "$tmp/timerd.pid")
kill -0 "$daemon_pid" || fail "pid file names no running process"
out=$("$TIMERD" --socket "$sock" --state-dir "$tmp/state2" --log "$tmp/second.log" --pid-file "$tmp/second.pid" 2>&1)
[ $? -eq 1 ] || fail "a second timerd on the same socket should exit 1"
echo "$out" | grep -q "already listening on $sock" || fail "second instance said: $out"
out=$("$TIMERD" --socket "$tmp/other.sock" --state-dir "$tmp/state2" --log "$tmp/second.log" --pid-file "$tmp/timerd.pid" 2>&1)
[ $? -eq 1 ] || fail "a second timerd with the same pid file should exit 1"
echo "$out" | grep -q "another timerd (pid $daemon_pid)" || fail "pid file clash said: $out"
kill -TERM "$daemon_pid"
wait_for gone "$daemon_pid"
daemon_pid=
[ ! -e "$tmp/timerd.pid" ] || fail "pid file left behind"
[ ! -e "$sock" ] || fail "socket left behind"
