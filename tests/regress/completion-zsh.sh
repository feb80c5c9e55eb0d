#!/usr/bin/env bash
# completion-zsh.sh -- the zsh completion of timerctl (completion/_timerctl)
# in a real zsh (tests/regress/completion-zsh.zsh types the line and a Tab
# under zpty): commands, flags, durations, calendar examples, and keys and
# topics from a running daemon at the --socket of the command line.
# Skips (77) without zsh (apt-get install zsh).
. "$(dirname "$0")/lib.sh"

command -v zsh >/dev/null || skip "zsh not found (apt-get install zsh)"
start_timerd --memory-only
ctl arm job-7 --in 1h --topic jobs >/dev/null || fail "arm job-7"
ctl arm job-8 --in 1h --topic beats >/dev/null || fail "arm job-8"

# Fails unless completing the line $2 offers exactly $1 (space-separated, any order).
expect() {
	local got want
	got=$(timeout 20 zsh -f "$top_srcdir/tests/regress/completion-zsh.zsh" "$top_srcdir/completion" \
		"$(dirname "$TIMERCTL")" "$2" | sort -u | tr '\n' ' ' | sed 's/ $//')
	want=$(tr ' ' '\n' <<<"$1" | sort -u | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] || fail "zsh completing '$2': got '$got', want '$want'"
}

cmds=$("$TIMERCTL" --help 2>&1 | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
[ "$(wc -w <<<"$cmds")" -ge 9 ] || fail "timerctl --help lists only: $cmds"
expect "$(echo $cmds)" "timerctl "
expect "--socket" "timerctl --so"
expect "--on-calendar" "timerctl arm x --on"
expect "hourly" "timerctl arm x --on-calendar ho"
expect "5ms 5s 5m 5h 5d 5us 5ns" "timerctl arm x --in 5"
expect "fire skip" "timerctl arm x --misfire "
expect "attach list detach" "timerctl probe "
expect "create list show delete" "timerctl group "
expect "list retry purge" "timerctl dlq "
expect "--ack-timeout" "timerctl group create g --ack"
expect "--iterations" "timerctl calendar daily --it"
expect "--interval" "timerctl top --int"
expect "job-7 job-8" "timerctl --socket $sock cancel job"
expect "jobs beats" "timerctl --socket $sock watch "
expect "jobs" "timerctl --socket $sock arm new --topic jo"
expect "" "timerctl --socket $tmp/none.sock cancel "
stop_timerd
echo "completion-zsh: ok"
