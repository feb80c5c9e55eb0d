#!/usr/bin/env bash
# slowconn.sh -- slow and idle connections do not hold slots forever:
# frame-timeout bounds a whole frame (1 byte per 1.5 s against 2 s is
# closed), idle-timeout closes an idle TCP connection, max-connections-
# per-address caps one peer, reserved-connections keep root's timerctl
# working while nobody holds the rest, and max-connections is fitted to
# RLIMIT_NOFILE (prlimit --nofile=64).
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x $PY ] || PY=python3
conns() { $PY "${top_srcdir:-.}/tests/regress/conns.py" "$@"; }

# Starts timerd with a TCP listener on a free port (sets $port) and extra flags.
start_listen() {
	start_tcp --state-dir "$tmp/state" --listen "127.0.0.1:@PORT@" "$@"
}

# 1. Slowloris: the deadline counts from the frame's first byte.
start_listen --frame-timeout 2s --idle-timeout 0
out=$(conns slow "$sock" 1.5 9)
case $out in "closed after "*) ;; *) fail "a 1-byte-per-1.5s sender outlived a 2s frame-timeout: $out" ;; esac
secs=${out#closed after }
[ "${secs%.*}" -lt 6 ] || fail "slowloris closed only after ${secs}s"
# 2. idle-timeout 0: an idle TCP connection stays.
[ "$(conns idle "127.0.0.1:$port" 1.5)" = open ] || fail "idle-timeout 0 closed an idle connection"
stop_timerd

# 3. idle-timeout closes an idle TCP connection, not a Unix one, not a watcher.
start_listen --idle-timeout 1s
"$TIMERCTL" --connect "127.0.0.1:$port" watch t >"$tmp/watch.out" 2>&1 &
watcher=$!
out=$(conns idle "127.0.0.1:$port" 5)
case $out in "closed after "*) ;; *) fail "an idle TCP connection was not closed by idle-timeout 1s: $out" ;; esac
[ "$(conns idle "$sock" 1.5)" = open ] || fail "idle-timeout closed a Unix connection"
kill -0 $watcher 2>/dev/null || fail "idle-timeout closed a watching connection: $(cat "$tmp/watch.out")"
kill $watcher
stop_timerd

# 4. max-connections-per-address, then reserved slots for root on the Unix socket.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && nobody=$(id -u nobody 2>/dev/null); then
	share_programs		# nobody runs conns.py from $tmp/other
	start_listen --socket-mode 0666 --max-connections 24 --max-connections-per-address 5
	out=$(setpriv --reuid "$nobody" --regid "$nobody" --clear-groups $PY "$OTHER_DIR/conns.py" \
		hold "127.0.0.1:$port" 8 0)
	[ "$out" = "accepted 5 refused 3" ] || fail "max-connections-per-address 5: $out"
	stop_timerd
	start_listen --socket-mode 0666 --max-connections 24 --max-connections-per-address 1000
	setpriv --reuid "$nobody" --regid "$nobody" --clear-groups $PY "$OTHER_DIR/conns.py" \
		hold "127.0.0.1:$port" 30 30 >"$tmp/hold.out" &
	holder=$!
	wait_for grep -q accepted "$tmp/hold.out"
	grep -q "accepted 20 refused 10" "$tmp/hold.out" || fail "nobody's 30 connections: $(cat "$tmp/hold.out")"
	ctl ping >/dev/null || fail "root's ping failed while nobody held the unreserved slots"
	kill $holder
	stop_timerd
fi

# 5. RLIMIT_NOFILE 64 (as root, 96: the BPF probe manager alone holds ~25 descriptors): max-connections
# lowered and logged; the extra clients are refused, not hung.
command -v prlimit >/dev/null || skip "no prlimit"
nofile=64
[ "$(id -u)" -eq 0 ] && nofile=96
prlimit --nofile=$nofile:$nofile "$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" \
	--threads 2 &
daemon_pid=$!
wait_for ctl ping
grep -q "max-connections lowered from 4096 to" "$tmp/timerd.log" || fail "no notice of the lowered max-connections at $nofile"
max=$(sed -n 's/.*max-connections lowered from 4096 to \([0-9]*\).*/\1/p' "$tmp/timerd.log")
out=$(conns hold "$sock" $((max + 10)) 0)
[ "$out" = "accepted $max refused 10" ] || fail "at RLIMIT_NOFILE $nofile (max-connections $max): $out"
ctl ping >/dev/null || fail "no ping after the connection burst"
stop_timerd
echo PASS
