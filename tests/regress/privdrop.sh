#!/usr/bin/env bash
# privdrop.sh -- --user/--group: started as root, timerd becomes nobody once
# its sockets, state files and probes are open: /proc shows the uid on every
# thread and no capability left (CAP_BPF, CAP_PERFMON, CAP_DAC_READ_SEARCH
# only with --probe, and runtime attaches still work); timers stay durable
# across a restart; what it made before the drop stays usable; bad
# --user/--group are refused with the reason.
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "dropping root needs root"
id nobody >/dev/null 2>&1 || skip "no user nobody"
nobody_uid=$(id -u nobody)
# the daemon is exec'd as root (so it can read the build tree); nobody must reach its socket and state dir
chmod 0711 "$tmp"
# LeakSanitizer ptraces the process at exit, which a process that dropped root may not do
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
sock=$tmp/run/timerd.sock	# a directory timerd makes: it gives it to nobody, who removes its socket at exit

# Prints "FIELD" of /proc/PID/status (or of a thread's: PID/task/TID).
status_field() {
	sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"
}

# Fails unless every thread of the daemon runs as nobody with capabilities CAPS (hex, CapEff and CapPrm).
check_threads() {
	local caps=$1 t n=0
	for t in /proc/"$daemon_pid"/task/*; do
		n=$((n + 1))
		[ "$(status_field "$daemon_pid/task/${t##*/}" Uid)" = "$nobody_uid	$nobody_uid	$nobody_uid	$nobody_uid" ] ||
			fail "thread ${t##*/}: Uid $(status_field "$daemon_pid/task/${t##*/}" Uid), not nobody's"
		[ "$(status_field "$daemon_pid/task/${t##*/}" CapEff)" = "$caps" ] ||
			fail "thread ${t##*/}: CapEff $(status_field "$daemon_pid/task/${t##*/}" CapEff), want $caps"
		[ "$(status_field "$daemon_pid/task/${t##*/}" CapPrm)" = "$caps" ] ||
			fail "thread ${t##*/}: CapPrm $(status_field "$daemon_pid/task/${t##*/}" CapPrm), want $caps"
	done
	[ "$n" -gt 2 ] || fail "only $n threads seen"
}

start_timerd --user nobody
[ "$(status_field "$daemon_pid" Uid)" = "$nobody_uid	$nobody_uid	$nobody_uid	$nobody_uid" ] ||
	fail "Uid: $(status_field "$daemon_pid" Uid)"
[ "$(status_field "$daemon_pid" Gid | cut -f1)" = "$(id -g nobody)" ] || fail "Gid: $(status_field "$daemon_pid" Gid)"
[ "$(status_field "$daemon_pid" Groups | tr -d ' ')" = "$(id -g nobody)" ] || fail "Groups: $(status_field "$daemon_pid" Groups)"
[ "$(status_field "$daemon_pid" CapBnd)" = 0000000000000000 ] || fail "CapBnd: $(status_field "$daemon_pid" CapBnd)"
[ "$(status_field "$daemon_pid" NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(status_field "$daemon_pid" NoNewPrivs)"
check_threads 0000000000000000
ctl probe list >"$tmp/probes0.txt" 2>&1
if ! grep -q "not available" "$tmp/probes0.txt"; then
	# without --probe nothing is kept: a runtime attach is refused, saying so
	out=$(ctl probe attach 'tracepoint:sched:sched_process_fork arm=1h key=pid topic=forks' 2>&1) &&
		fail "a probe attached after dropping every capability"
	echo "$out" | grep -q "dropped root (--user) without --probe" || fail "attach without capabilities: $out"
fi
grep -q "dropped root: running as uid $nobody_uid (nobody)" "$tmp/timerd.log" || fail "the drop was not logged"
grep -q "a reload can no longer" "$tmp/timerd.log" || fail "what a reload can no longer do was not logged"
[ "$(stat -c %U "$tmp/state")" = nobody ] || fail "state dir belongs to $(stat -c %U "$tmp/state")"
[ "$(stat -c %U "$tmp/state/timers.db")" = nobody ] || fail "timers.db belongs to $(stat -c %U "$tmp/state/timers.db")"
[ "$(stat -c %U "$sock")" = nobody ] || fail "the socket belongs to $(stat -c %U "$sock")"

# files made before the drop stay usable: arms are journaled, stats rows written
ctl arm durable --in 1h --topic keep >/dev/null || fail "arm after the drop failed"
wait_for test -s "$tmp/state/stats.db-wal"
kill -HUP "$daemon_pid"	# a reload as nobody: the log reopened, timerd goes on
ctl ping >/dev/null || fail "ping after a SIGHUP failed"
stop_timerd
start_timerd --user nobody
ctl list --topic keep | grep -q durable || fail "the timer armed as nobody did not survive a restart: $(ctl list)"
stop_timerd

# refusals, each with its reason
out=$("$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --user no-such-user-xyz 2>&1) &&
	fail "an unknown --user was accepted"
echo "$out" | grep -q "no user named 'no-such-user-xyz'" || fail "unknown user: $out"
out=$("$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --group nogroup 2>&1) &&
	fail "--group without --user was accepted"
echo "$out" | grep -q -- "--group needs --user" || fail "--group alone: $out"
out=$("$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --user root 2>&1) && fail "--user root accepted"
echo "$out" | grep -q "nothing would be dropped" || fail "--user root: $out"
if command -v setpriv >/dev/null; then
	share_programs
	out=$(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$OTHER_TIMERD" --foreground \
		--socket "$tmp/other/s.sock" --state-dir "$tmp/other/st" --user nobody 2>&1) &&
		fail "--user was accepted by a timerd not started as root"
	echo "$out" | grep -q "not root: there is no root to drop" || fail "--user as nobody: $out"
fi

# probes: the kept capabilities, and a runtime attach after the drop
if grep -q "not available" "$tmp/probes0.txt"; then
	echo "BPF probes are not available here: their part is skipped ($(cat "$tmp/probes0.txt"))"
	exit 0
fi
start_timerd --user nobody --probe 'tracepoint:sched:sched_process_exit arm=1h key=pid topic=exits'
# CAP_DAC_READ_SEARCH (2), CAP_PERFMON (38), CAP_BPF (39)
check_threads_main() {
	[ "$(status_field "$daemon_pid" CapEff)" = 000000c000000004 ] || fail "CapEff with probes: $(status_field "$daemon_pid" CapEff)"
	[ "$(status_field "$daemon_pid" CapPrm)" = 000000c000000004 ] || fail "CapPrm with probes: $(status_field "$daemon_pid" CapPrm)"
}
check_threads_main
grep -q "capabilities kept: CAP_BPF, CAP_PERFMON" "$tmp/timerd.log" || fail "kept capabilities not logged"
exited() { ctl list --topic exits | grep -q 'probe:exits:'; }
/bin/true
wait_for exited
id=$(ctl --json probe attach 'tracepoint:sched:sched_process_fork arm=1h key=pid topic=forks' | json_int probe_id)
[ -n "$id" ] || fail "attaching a probe after the drop failed: $(ctl probe attach 'tracepoint:sched:sched_process_fork arm=1h key=pid topic=forks' 2>&1)"
forked() { /bin/true; ctl list --topic forks | grep -q 'probe:forks:'; }
wait_for forked
ctl probe detach "$id" >/dev/null || fail "detach after the drop failed"
stop_timerd
exit 0
