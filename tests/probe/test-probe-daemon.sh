#!/bin/sh
# test-probe-daemon.sh -- the watchdog end to end through the daemon:
# `timerd --probe` attaches an entry arm and a return cancel on
# probe-target's function, `timerctl watch` receives one fire per slow call
# with the probe's origin (pid, tid, comm, probe id), `timerctl probe
# list/attach/detach` and `timerctl stats` show the probes and their counts.
# Exits 77 when not root or when timerd reports BPF probes unavailable.
set -eu

b=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
timerd=$b/server/timerd
ctl=$b/client/timerctl
target=$b/tests/probe/probe-target

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: BPF probes need root"
	exit 77
fi
dir=$(mktemp -d)
pid=
# A private copy: uprobes attach to a file, and other tests run the original.
cp "$target" "$dir/probe-target"
target=$dir/probe-target

cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	[ -f "$dir/log" ] && sed 's/^/timerd: /' "$dir/log"
	exit 1
}

ctl() {
	"$ctl" --socket "$dir/sock" "$@"
}

# Runs CMD... every 50 ms until it succeeds; fails with WHAT and its last output after 10 s.
wait_for() {
	what=$1
	shift
	i=0
	until out=$("$@" 2>&1); do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "timed out after 10 s waiting for $what: $out"
		sleep 0.05
	done
}

# True once the watch output holds at least N probe fires (prints the count otherwise).
has_fires() {
	n=$(grep -c '"key":"probe:wd:' "$dir/watch" || true)
	[ "$n" -ge "$1" ] || { echo "$n fires: $(cat "$dir/watch")"; return 1; }
}

# True once `timerctl probe list` shows PATTERN.
probe_list_has() {
	ctl --json probe list > "$dir/list" && grep -q "$1" "$dir/list" || { cat "$dir/list"; return 1; }
}

# True once `timerctl stats` matches the extended regex PATTERN.
stats_has() {
	ctl stats > "$dir/stats" && grep -Eq "$1" "$dir/stats" || { grep -A8 probes: "$dir/stats"; return 1; }
}

# Start timerd with the two probes; wait until it answers.
"$timerd" -f --socket "$dir/sock" --state-dir "$dir" --no-stats --log "$dir/log" \
	--probe "uprobe:$target:probe_target_work arm=20ms key=tid topic=wd" \
	--probe "uretprobe:$target:probe_target_work cancel key=tid topic=wd" &
pid=$!
i=0
until ctl ping >/dev/null 2>&1; do
	if ! kill -0 "$pid" 2>/dev/null; then
		grep -q "BPF probes are not available" "$dir/log" && {
			echo "SKIP: $(grep -o 'not available: .*' "$dir/log")"
			exit 77
		}
		fail "timerd exited at start"
	fi
	i=$((i + 1))
	[ $i -lt 100 ] || fail "timerd does not answer"
	sleep 0.05
done

ctl probe list > "$dir/list"
grep -q "^2 probes attached" "$dir/list" || fail "probe list: $(cat "$dir/list")"

# Watch topic wd (at most 30 s); arm a sync timer until the watch sees one.
ctl --json watch wd --for 30s > "$dir/watch" &
watch=$!
i=0
until grep -q '"key":"sync"' "$dir/watch" 2>/dev/null; do
	ctl arm sync --in 1ms --topic wd >/dev/null
	i=$((i + 1))
	[ $i -lt 50 ] || fail "the watch never started"
	sleep 0.1
done

# Two threads, ten calls each, every fifth call 60 ms: four slow calls.
# Each slow call fires 20 ms after its start: wait for the four, then give a
# fast call's timer (had its cancel been lost) 200 ms to fire too.
"$target" work 2 10 5 60 > "$dir/target"
slow=$(grep -c '^slow ' "$dir/target")
[ "$slow" -eq 4 ] || fail "the target made $slow slow calls"
wait_for "$slow fires" has_fires "$slow"
for _ in 1 2 3 4; do
	sleep 0.05
	! has_fires $((slow + 1)) >/dev/null || fail "more fires than slow calls: $(cat "$dir/watch")"
done
kill "$watch" 2>/dev/null || true
wait "$watch" 2>/dev/null || true
fires=$(grep -c '"key":"probe:wd:' "$dir/watch" || true)
[ "$fires" -eq "$slow" ] || fail "$fires fires for $slow slow calls: $(cat "$dir/watch")"
tpid=$(grep -o '"pid":[0-9]*' "$dir/watch" | sort -u)
[ "$(echo "$tpid" | wc -l)" -eq 1 ] || fail "fires from several pids: $tpid"
for tid in $(awk '/^slow /{print $2}' "$dir/target"); do
	n=$(grep -c "\"key\":\"probe:wd:$tid\".*\"origin\":{\"probe_id\":1,.*\"tid\":$tid,.*\"comm\":\"probe-target\"" \
		"$dir/watch" || true)
	[ "$n" -eq 2 ] || fail "tid $tid: $n fires with its origin, expected 2"
done

# Counters: 20 calls hit each probe; the stats carry the totals.
wait_for "20 hits in the probe list" probe_list_has '"hits":20'
wait_for "40 hits in the stats" stats_has '^ +hits +40$'

# A bad spec is refused with the precise error; detach leaves one probe.
if ctl probe attach "uprobe:/nonexistent/app:handle arm=1ms" > "$dir/err" 2>&1; then
	fail "attaching a missing binary succeeded"
fi
grep -q "binary /nonexistent/app does not exist" "$dir/err" || fail "error: $(cat "$dir/err")"
ctl probe detach 1 >/dev/null || fail "detach 1"
ctl probe list | grep -q "^1 probe" || fail "after detach: $(ctl probe list)"
echo "PASS: $fires fires for $slow slow calls, each with its tid"
