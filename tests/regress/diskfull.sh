#!/usr/bin/env bash
# diskfull.sh -- a full disk under state-dir (a small tmpfs): arms and cancels
# get STORAGE with a message saying what to do, nothing acknowledged is
# lost, timers keep firing, and writes resume by themselves once space
# returns (timers.db and stats.db alike). Needs root for the mount.
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$tmp/state"
mount -t tmpfs -o size=1m tmpfs "$tmp/state" 2>/dev/null || skip "cannot mount a tmpfs here"
trap 'umount -l "$tmp/state" 2>/dev/null; cleanup' EXIT

start_timerd --stats-interval 50ms
ctl arm keep --in 1h --topic keep --payload kept >/dev/null || fail "arm keep"
ctl watch ticks --for 30s --json > "$tmp/ticks.json" 2>/dev/null &
ctl arm tick --every 20ms --topic ticks >/dev/null || fail "arm tick"

# Fill the disk: a filler file takes what is left, then arms until the store refuses one.
# The arm whose commit hits the full disk first waits for space (its change is kept
# and retried, so its outcome is not known to the client); the ones after it are refused.
payload=$(head -c 3000 /dev/zero | tr '\0' x)
acked=()
for i in $(seq 1 20); do ctl arm "pre-$i" --in 1h --payload "$payload" >/dev/null || fail "arm pre-$i"; acked+=("pre-$i"); done
dd if=/dev/zero of="$tmp/state/filler" bs=4k 2>/dev/null
refused=
for i in $(seq 1 2000); do
	if out=$(ctl --timeout 500ms arm "fill-$i" --in 1h --payload "$payload" 2>&1); then
		acked+=("fill-$i")
	elif grep -q "cannot be written" <<<"$out"; then
		refused=$out
		break
	fi
done
[ -n "$refused" ] || fail "the store never refused an arm on a full disk"
grep -q "STORAGE\|cannot be written" <<<"$refused" || fail "the refusal does not say the store cannot be written: $refused"
ctl cancel keep 2>&1 | grep -q "cannot be written" || fail "a cancel on a full disk was not refused with STORAGE"
ctl get keep >/dev/null || fail "a refused cancel changed the timer"

# Timers go on firing while the store is full.
n0=$(grep -c '"event":"fire"' "$tmp/ticks.json")
for _ in $(seq 1 250); do
	[ "$(grep -c '"event":"fire"' "$tmp/ticks.json")" -gt $((n0 + 3)) ] && break
	sleep 0.02
done
[ "$(grep -c '"event":"fire"' "$tmp/ticks.json")" -gt $((n0 + 3)) ] || fail "fires stopped on a full disk"

# Space returns: writes resume by themselves.
rm -f "$tmp/state/filler"
ok=
for _ in $(seq 1 250); do
	ctl arm after --in 1h >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.04
done
[ -n "$ok" ] || fail "arms were still refused 10s after space returned"
rows0=$(sqlite3 "$tmp/state/stats.db" 'select count(*) from stats' 2>/dev/null || echo 0)
for _ in $(seq 1 250); do
	rows=$(sqlite3 "$tmp/state/stats.db" 'select count(*) from stats' 2>/dev/null || echo 0)
	[ "$rows" -gt "$rows0" ] && break
	sleep 0.04
done
[ "$rows" -gt "$rows0" ] || fail "stats.db did not resume after space returned ($rows rows)"

# Nothing acknowledged was lost.
kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null; daemon_pid=
start_timerd
ctl get keep >/dev/null || fail "keep lost"
ctl get after >/dev/null || fail "after lost"
[ "${#acked[@]}" -gt 0 ] || fail "no arm was acknowledged before the disk filled"
for k in "${acked[@]}"; do ctl get "$k" >/dev/null || fail "$k (acknowledged) lost"; done
stop_timerd
exit 0
