#!/usr/bin/env bash
# cli.sh -- command lines: help, versions, usage errors (exit 2), an absent
# daemon (exit 3, says how to start it), the config file and its errors.
. "${top_srcdir:-.}/tests/regress/lib.sh"

"$TIMERCTL" --help | grep -q "Exit codes" || fail "timerctl --help"
"$TIMERCTL" --version | grep -q "^timerctl " || fail "timerctl --version"
"$TIMERCTL" arm --help | grep -q -- "--payload-file" || fail "timerctl arm --help"
"$TIMERD" --help | grep -q -- "--max-inflight" || fail "timerd --help"
"$TIMERD" --version | grep -q "protocol version 1" || fail "timerd --version"

expect() {	# expect CODE PATTERN COMMAND...
	local code=$1 pat=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	[ $rc -eq "$code" ] || fail "'$*' exited $rc, want $code: $out"
	echo "$out" | grep -q -- "$pat" || fail "'$*' said: $out (want: $pat)"
}
expect 3 "timerd is not running at $sock" ctl ping
expect 3 "start it with .timerd." ctl list
expect 2 "unknown command 'frob'" "$TIMERCTL" frob
expect 2 "say when" ctl arm k
expect 2 "needs a unit" ctl arm k --in 5
expect 2 "RFC 3339" ctl arm k --at tomorrow
expect 2 "give one KEY or --id" ctl cancel
expect 2 "not a number" ctl get --id twelve
expect 2 "unexpected argument" ctl list extra
expect 2 "unknown flag '--bogus'" "$TIMERD" --bogus
expect 2 "refusing to listen on 0.0.0.0:7070" "$TIMERD" --listen 0.0.0.0:7070 --check-config
expect 0 "configuration OK" "$TIMERD" --check-config

printf 'socket = %s\nstate-dir = %s/state\nthreads = 1\nlog = %s/timerd.log\n' "$sock" "$tmp" "$tmp" > "$tmp/timerd.conf"
"$TIMERD" -f -c "$tmp/timerd.conf" &
daemon_pid=$!
wait_for ctl ping
ctl --json stats | grep -q '"threads":1' || fail "config file settings not applied"
stop_timerd
printf 'threads = 2\nmax-frame = huge\n' > "$tmp/bad.conf"
expect 2 "bad.conf:2: max-frame: 'huge' is not a size" "$TIMERD" -c "$tmp/bad.conf"
