#!/usr/bin/env bash
# reload.sh -- SIGHUP re-reads --config under load: max-payload and
# log-level take effect at once; a setting that needs a restart (socket) is
# logged and keeps its value; a file with an error is rejected whole; no
# timer, no arm and no connection (a watcher of a periodic timer) is lost.
. "${top_srcdir:-.}/tests/regress/lib.sh"

conf=$tmp/timerd.conf
# The log target is in the file (start_timerd's --log flag would win over it).
settings() {
	printf 'log = %s\nlog-level = %s\nmax-payload = %s\nthreads = 2\n' "$tmp/timerd.log" "$1" "$2" >"$conf"
}
settings notice 1KiB
"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --config "$conf" --memory-only &
daemon_pid=$!
wait_for ctl ping
big=$(head -c 2000 /dev/zero | tr '\0' x)

# True once the writer below has armed more than N keys.
arms_past() {
	[ "$(cat "$tmp/arms.n" 2>/dev/null || echo 0)" -gt "$1" ]
}

# True once FILE has more than N lines matching PATTERN (wait_for re-runs it).
more_than() {
	[ "$(grep -c -- "$3" "$1")" -gt "$2" ]
}

out=$(ctl arm too-big --in 1h --payload "$big" 2>&1) && fail "a 2000-byte payload was accepted under max-payload 1KiB"
echo "$out" | grep -q "max-payload" || fail "the refusal does not name max-payload: $out"

# Load: a watcher of a 20ms periodic timer (one connection that must survive)
# and a writer arming one new key after another until told to stop.
ctl arm hb --every 20ms --topic hb >/dev/null || fail "arm hb"
ctl watch hb >"$tmp/watch.out" 2>&1 &
watch_pid=$!
wait_for grep -q hb "$tmp/watch.out"
: >"$tmp/arms.bad"
(
	i=0
	while [ ! -e "$tmp/stop" ]; do
		i=$((i + 1))
		ctl arm "load-$i" --in 1h >/dev/null 2>>"$tmp/arms.bad" || echo "arm load-$i failed" >>"$tmp/arms.bad"
		echo "$i" >"$tmp/arms.n"
	done
) &
writer=$!
wait_for arms_past 20
grep -q "connection .* from" "$tmp/timerd.log" && fail "debug lines logged at log-level notice"

# 1. A reloadable limit and the log level.
settings debug 4KiB
kill -HUP "$daemon_pid"
wait_for grep -q "reload: max-payload changed: in effect now" "$tmp/timerd.log"
grep -q "reload: log-level changed: in effect now" "$tmp/timerd.log" || fail "log-level change not logged"
ctl arm big --in 1h --payload "$big" >/dev/null || fail "a 2000-byte payload refused after max-payload = 4KiB was reloaded"
wait_for grep -q "connection .* from" "$tmp/timerd.log"	# a debug line: the new level is in force

# 2. Settings that need a restart: logged, the old values kept. (socket is
# also given on the command line, which wins over the file as at start: no change.)
settings debug 4KiB
printf 'threads = 3\nsocket = %s\n' "$tmp/other.sock" >>"$conf"
kill -HUP "$daemon_pid"
wait_for grep -q "reload: threads changed in $conf but takes effect only at a restart" "$tmp/timerd.log"
grep -q "reload: socket changed" "$tmp/timerd.log" && fail "a socket in the file overrode the --socket flag"
grep -q "reloaded: 0 changed, 1 need a restart" "$tmp/timerd.log" || fail "the reload's summary is not '0 changed, 1 need a restart'"
ctl ping >/dev/null || fail "the socket stopped answering after the reload"
[ ! -e "$tmp/other.sock" ] || fail "the reload bound the socket path of the file"

# 3. A file with an error: rejected as a whole, everything kept.
settings error 1KiB
echo "no-such-setting = 1" >>"$conf"
kill -HUP "$daemon_pid"
wait_for grep -q "reload rejected, every setting keeps its running value" "$tmp/timerd.log"
grep "reload rejected" "$tmp/timerd.log" | grep -q "no-such-setting" || fail "the rejection does not name the bad line"
ctl arm big2 --in 1h --payload "$big" >/dev/null || fail "a rejected file changed max-payload"
n_debug=$(grep -c "connection .* from" "$tmp/timerd.log")
ctl ping >/dev/null
wait_for more_than "$tmp/timerd.log" "$n_debug" "connection .* from"	# still debug

# 4. The log target: a new file takes the lines from the reload on; the old one stops.
settings debug 4KiB
sed -i "s|^log = .*|log = $tmp/timerd2.log|" "$conf"
kill -HUP "$daemon_pid"
wait_for grep -q "reload: log changed: in effect now" "$tmp/timerd2.log"
old_lines=$(grep -c . "$tmp/timerd.log")
ctl ping >/dev/null
wait_for grep -q "connection .* from" "$tmp/timerd2.log"
[ "$(grep -c . "$tmp/timerd.log")" -eq "$old_lines" ] || fail "lines still go to the old log file after the switch"

# Nothing lost: every arm succeeded, every armed key exists, the watcher got fires after the reloads.
seen=$(grep -c . "$tmp/watch.out")
wait_for arms_past "$(($(cat "$tmp/arms.n") + 20))"	# the writer kept going across the reloads
touch "$tmp/stop"
wait "$writer"
[ -s "$tmp/arms.bad" ] && fail "arms failed under the reloads: $(head -5 "$tmp/arms.bad")"
n=$(cat "$tmp/arms.n")
[ "$n" -ge 5 ] || fail "only $n arms ran during the test"
listed=$(ctl list | grep -c ' load-')
[ "$listed" -eq "$n" ] || fail "$n keys armed, $listed listed"
kill -0 "$watch_pid" 2>/dev/null || fail "the watcher's connection was dropped: $(tail -3 "$tmp/watch.out")"
wait_for more_than "$tmp/watch.out" "$((seen + 2))" .
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null
echo "ok: $n arms, $(grep -c . "$tmp/watch.out") fires watched across 4 reloads"
stop_timerd
