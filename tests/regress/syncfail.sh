#!/usr/bin/env bash
# syncfail.sh -- with --fsync DURATION the syncer thread's fdatasync fails
# (an LD_PRELOAD shim makes it EIO while a flag file exists): the store is
# failing (stats store.failing 1), arms are refused STORAGE; once syncs work
# again a synchronous commit clears it and arms are taken.
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v cc >/dev/null || skip "needs cc to build the fdatasync shim"
cc -shared -fPIC -o "$tmp/sync-shim.so" "${top_srcdir:-.}/tests/regress/sync-shim.c" -ldl 2>"$tmp/cc.err" ||
	skip "cannot build the shim: $(cat "$tmp/cc.err")"
export SYNC_SHIM_FAIL=$tmp/fail-syncs
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" LD_PRELOAD=$tmp/sync-shim.so start_timerd --fsync 10ms

# Prints store.failing of `stats --json`.
store_failing() {
	ctl --json stats | sed -n 's/.*"failing":\([0-9]*\).*/\1/p'
}

# True once store.failing is $1 (prints what it is otherwise).
failing_is() {
	local f
	f=$(store_failing)
	[ "$f" = "$1" ] || { echo "store.failing is '$f'"; return 1; }
}

ctl arm before --in 1h >/dev/null || fail "arm before the failure"
wait_for failing_is 0
touch "$SYNC_SHIM_FAIL"
# A commit for the syncer to sync, until it has tried (and failed).
n=0
arm_until_failing() {
	n=$((n + 1))
	ctl arm "during-$n" --in 1h >/dev/null 2>&1
	failing_is 1
}
wait_for arm_until_failing
out=$(ctl arm refused --in 1h 2>&1) && fail "an arm was taken while syncs fail: $out"
grep -q "STORAGE\|cannot be written" <<<"$out" || fail "the refusal does not say the store fails: $out"
grep -q "fdatasync\|syncing\|Input/output" "$tmp/timerd.log" || true
rm -f "$SYNC_SHIM_FAIL"
wait_for failing_is 0
ctl arm after --in 1h >/dev/null || fail "an arm after syncs work again was refused"
stop_timerd
