#!/usr/bin/env bash
# statemodes.sh -- the state directory is 0700 and timers.db, stats.db (and
# their -wal/-shm) 0600 whatever the umask; a loose state directory of ours
# is tightened; a symlinked timers.db is refused, its target untouched.
. "${top_srcdir:-.}/tests/regress/lib.sh"

umask 022
start_timerd --stats-interval 100ms
ctl arm k --in 1h >/dev/null || fail "arm failed"
wait_for test -e "$tmp/state/stats.db"
stop_timerd
[ "$(stat -c %a "$tmp/state")" = 700 ] || fail "state dir is $(stat -c %a "$tmp/state")"
for f in "$tmp"/state/*.db*; do
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is $(stat -c %a "$f")"
done

chmod 0755 "$tmp/state"
chmod 0644 "$tmp/state/timers.db"
start_timerd
stop_timerd
[ "$(stat -c %a "$tmp/state")" = 700 ] || fail "loose state dir not tightened: $(stat -c %a "$tmp/state")"
[ "$(stat -c %a "$tmp/state/timers.db")" = 600 ] || fail "loose timers.db not tightened"

mkdir "$tmp/state3" && chmod 700 "$tmp/state3"
echo precious >"$tmp/precious"
ln -s "$tmp/precious" "$tmp/state3/timers.db"
"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state3" --log "$tmp/t3.log" &&
	fail "timerd opened a symlinked timers.db"
grep -q "symbolic link" "$tmp/t3.log" || fail "symlinked timers.db: $(cat "$tmp/t3.log")"
[ "$(cat "$tmp/precious")" = precious ] || fail "the symlink's target changed"
echo PASS
