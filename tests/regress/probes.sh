#!/usr/bin/env bash
# probes.sh -- probe operations from timerctl: root over the Unix socket;
# a bad spec is refused precisely and nothing is attached; `timerd --probe`
# with a bad spec does not start. Needs root (exit 77 otherwise).
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "probe operations need root"
start_timerd
if ! ctl probe list > "$tmp/list.txt" 2>&1; then
	grep -q "BPF probes are not available" "$tmp/list.txt" || fail "probe list: $(cat "$tmp/list.txt")"
	ctl --json stats | grep -q '"available":0' || fail "stats should say probes are unavailable"
	stop_timerd
	skip "BPF probes are not available here: $(cat "$tmp/list.txt")"
fi
grep -q "0 probes attached" "$tmp/list.txt" || fail "probe list: $(cat "$tmp/list.txt")"
out=$(ctl probe attach 'uprobe:/nonexistent/binary:main arm=50ms key=tid' 2>&1)
[ $? -eq 1 ] || fail "attaching to a missing binary should fail: $out"
echo "$out" | grep -q "/nonexistent/binary" || fail "the error should name the binary: $out"
out=$(ctl probe attach 'garbage spec' 2>&1)
[ $? -eq 1 ] || fail "a bad spec should fail: $out"
ctl probe list | grep -q "0 probes attached" || fail "a failed attach left a probe behind"
ctl probe detach 4242 >/dev/null 2>&1
[ $? -eq 4 ] || fail "detaching an unknown probe should exit 4"
# a real probe: arm a timer on every exit of a process, then detach
id=$(ctl --json probe attach 'tracepoint:sched:sched_process_exit arm=1h key=pid topic=exits' | json_int probe_id)
[ -n "$id" ] || fail "attaching a tracepoint probe failed"
probe_armed() { ctl --json list --topic exits | grep '"key":"probe:exits:'; }
/bin/true
wait_for probe_armed	# the probe armed a timer for the exit
ctl --json probe list | grep -q "\"probe_id\":$id" || fail "probe $id not listed"
ctl probe detach "$id" >/dev/null || fail "detach failed"
stop_timerd
out=$("$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --probe 'nonsense' 2>&1)
[ $? -eq 1 ] || fail "timerd --probe with a bad spec should exit 1: $out"
echo "$out" | grep -q -- "--probe 'nonsense'" || fail "timerd --probe error: $out"
