#!/usr/bin/env bash
# completion.sh -- the bash completion of timerctl (completion/timerctl.bash),
# sourced into bash and driven as bash does (COMP_WORDS, COMP_CWORD, then
# the function; COMPREPLY checked): commands, global and per-command flags,
# durations, misfire policies, and keys, topics and ids fetched from a
# running daemon; without a daemon it offers nothing, prints nothing and
# returns at once.
. "$(dirname "$0")/lib.sh"

comp=$top_srcdir/completion/timerctl.bash
start_timerd --memory-only
ctl arm job-7 --in 1h --topic jobs >/dev/null || fail "arm job-7"
ctl arm 'two words' --in 1h --topic beats >/dev/null || fail "arm 'two words'"
ctl arm job-8 --in 1h --topic jobs >/dev/null || fail "arm job-8"
id=$(ctl --json get job-8 | json_int timer_id)

# Prints COMPREPLY (one per line) for the words given: the last is the one completed.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _timerctl
		printf "%s\n" "${COMPREPLY[@]}"' complete "$comp" "$@" 2> "$tmp/comp.err"
	[ ! -s "$tmp/comp.err" ] || fail "completion printed on stderr: $(cat "$tmp/comp.err")"
}

# Fails unless completing words $2... offers exactly $1 (space-separated, any order).
expect() {
	local want=$1 got
	shift
	got=$(complete_words "$@" | sort | tr '\n' ' ' | sed 's/ $//')
	want=$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ' | sed 's/ $//')
	[ "$got" = "$want" ] || fail "completing '$*': got '$got', want '$want'"
}

# Fails unless completing words $2... offers $1 among others.
offers() {
	local want=$1
	shift
	complete_words "$@" | grep -qxF -- "$want" || fail "completing '$*' does not offer $want: $(complete_words "$@" | tr '\n' ' ')"
}

T=$TIMERCTL
S=(--socket "$sock")
# Every command timerctl --help lists (the script reads the same help).
cmds=$("$T" --help 2>&1 | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
[ "$(wc -w <<<"$cmds")" -ge 9 ] || fail "timerctl --help lists only: $cmds"
expect "$(echo $cmds)" "$T" ""
expect "stats" "$T" st
# Every global option timerctl --help lists.
opts=$("$T" --help 2>&1 | sed -n 's/^  \(--[a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
[ "$(wc -w <<<"$opts")" -ge 4 ] || fail "timerctl --help lists only the options: $opts"
expect "$(echo $opts)" "$T" --json --
expect "--socket" "$T" --so
for f in --in --at --every --key --id --topic --payload --payload-file --ephemeral --misfire --wait --count --wait-timeout --json --timeout; do
	offers "$f" "$T" arm job-9 --
done
expect "--topic" "$T" list --to
expect "--history" "$T" stats --hi
expect "5ms 5s 5m 5h 5d 5us 5ns" "$T" arm x --in 5
offers 1h30m "$T" arm x --every ""
offers 250ms "$T" --timeout ""
expect "fire skip" "$T" arm x --misfire ""
expect "attach list detach" "$T" probe ""
# Consumer groups: the subcommands, the durations and the program after consume's --.
expect "create list show delete" "$T" group ""
expect "list retry purge" "$T" dlq ""
for f in --topic --ack-timeout --max-attempts --backoff-min --backoff-max --max-backlog --unordered --webhook --update; do
	offers "$f" "$T" group create g --
done
for f in --concurrency --timeout --kill-after --retry-after; do
	offers "$f" "$T" consume g --
done
offers 30s "$T" group create g --ack-timeout ""
offers 5s "$T" consume --timeout ""
offers bash "$T" consume g -- ba
# Calendar schedules: arm --on-calendar, timerctl calendar and top's flags.
offers --on-calendar "$T" arm job-9 --
expect "--on-calendar" "$T" arm x --on
offers daily "$T" arm x --on-calendar ""
expect "hourly" "$T" arm x --on-calendar ho
offers 'Mon..Fri\ \*-\*-\*\ 09:00' "$T" calendar Mon
offers '\*:0/15' "$T" arm x --on-calendar '*'
offers daily "$T" calendar ""
expect "--iterations" "$T" calendar daily --it
expect "--base-time" "$T" calendar daily --ba
expect "" "$T" calendar daily --iterations ""
for f in --once --interval --next --json; do
	offers "$f" "$T" top --
done
offers 5s "$T" top --interval ""

# From the daemon, at the address of the command line.
expect "job-7 job-8" "$T" "${S[@]}" cancel job
expect 'two\ words' "$T" "${S[@]}" get tw
expect "jobs beats" "$T" "${S[@]}" watch ""
expect "jobs" "$T" "${S[@]}" arm new --topic jo
offers "$id" "$T" "${S[@]}" get --id ""
expect "job-7 job-8" "$T" --socket="$sock" arm job

# Without a daemon: nothing, silently, fast.
start=$(now_ms)
expect "" "$T" --socket "$tmp/none.sock" cancel ""
expect "" "$T" --socket "$tmp/none.sock" watch ""
[ $(( $(now_ms) - start )) -lt 3000 ] || fail "completion without a daemon took $(( $(now_ms) - start )) ms"
stop_timerd
echo "completion: ok"
