#!/usr/bin/env bash
# group-crash.sh -- consumer groups under SIGKILL (issue 11): timerd is killed
# at random moments (seeded; the seed is printed) GROUP_CRASH_KILLS times
# (default 20) while 4 consumers ack deliveries as fast as they can and a
# producer arms uniquely keyed one-shot timers on the group's topic
# (tests/stress/group-crash-client; each consumer logs every delivery it
# receives and every Ack it sends and has answered). After the last restart
# it waits (with a deadline) until every key whose arm timerd acknowledged
# has been acked by a consumer and the group has nothing in its backlog or in
# flight, then checks:
#   - armed-and-acknowledged keys are a subset of the keys acked by consumers
#     (fails loudly with the missing keys). An Ack sent just before a kill
#     may be journaled with its reply lost: it counts (timerd rightly does
#     not redeliver it); one not journaled is redelivered and acked again;
#   - every duplicate delivery (a key received more than once) had attempt > 1
#     or came after a kill that followed the first receipt;
# and reports the kills, the deliveries acked, the rate reached and the
# duplicates. Environment: GROUP_CRASH_SEED, GROUP_CRASH_KILLS,
# GROUP_CRASH_RATE (arms/s asked of the producer, default 10000),
# GROUP_CRASH_FSYNC (default 10ms), GROUP_CRASH_KEEP=1 keeps the directory.
set -u
. "${top_srcdir:-.}/tests/regress/lib.sh"

CLIENT=$top_builddir/tests/stress/group-crash-client
[ -x "$CLIENT" ] || skip "$CLIENT not built"
"$CLIENT" probe >/dev/null 2>&1
[ $? -eq 77 ] && skip "this build's libtimerd lacks the consumer-group functions"

seed=${GROUP_CRASH_SEED:-$(( $(date +%s) % 100000 ))}
kills=${GROUP_CRASH_KILLS:-20}
rate=${GROUP_CRASH_RATE:-10000}
fsync=${GROUP_CRASH_FSYNC:-10ms}
echo "group-crash: seed $seed (GROUP_CRASH_SEED=$seed reproduces the kill times), $kills kills, rate $rate/s, --fsync $fsync"
[ "${GROUP_CRASH_KEEP:-0}" = 1 ] && trap 'echo "group-crash: kept $tmp"; jobs -p | xargs -r kill 2>/dev/null' EXIT

log=$tmp/log
mkdir -p "$log"

# Every failure keeps the clients' logs, timerd.log and the state for a look.
eval "$(declare -f fail | sed '1s/^fail/lib_fail/')"
fail() {
	local keep=/tmp/group-crash-failed.$seed
	rm -rf "$keep" && mkdir -p "$keep" && cp -r "$log"/. "$keep"/ && cp "$tmp/timerd.log" "$keep"/ 2>/dev/null
	[ -d "$tmp/state" ] && cp -r "$tmp/state" "$keep"/
	echo "group-crash: logs, timerd.log and the state kept in $keep" >&2
	lib_fail "$@"
}
: > "$log/kills"

# The kill intervals, ms: seeded, 300..1500 each.
intervals=$(awk -v s="$seed" -v n="$kills" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%d ", 300 + int(rand() * 1200) }')

start_timerd --fsync "$fsync"
"$CLIENT" group --socket "$sock" --group crash --topic crash || fail "cannot declare the group"

pids=
for i in 1 2 3 4; do
	"$CLIENT" consume --socket "$sock" --group crash --log "$log/consumer.$i" --counter "$log/counter" \
		2> "$log/consumer.$i.err" &
	pids="$pids $!"
done
"$CLIENT" produce --socket "$sock" --topic crash --rate "$rate" --log "$log/armed" --counter "$log/counter" \
	2> "$log/producer.err" &
producer=$!
t0=$(now_ms)

# A client that exits during the run breaks the test's premise: say so.
clients_alive() {
	local p
	for p in $pids $producer; do
		kill -0 "$p" 2>/dev/null || fail "a client (pid $p) exited during the run: $(cat "$log"/*.err)"
	done
}
n=0
for ms in $intervals; do
	clients_alive
	sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	date +%s%N >> "$log/kills"
	daemon_pid=
	n=$((n + 1))
	start_timerd --fsync "$fsync"
done
sleep 1
kill -TERM "$producer"
wait "$producer"
t1=$(now_ms)
armed=$(wc -l < "$log/armed")
echo "group-crash: $n kills; $armed arms acknowledged by timerd in $(( (t1 - t0) / 1000 )) s"

# Every key armed and acknowledged, acked by a consumer, and nothing left
# in the group: wait for it (60 s).
missing_now() {
	sort -u "$log/armed" > "$log/armed.sorted"
	cat "$log"/consumer.[0-9] | awk '$1 == "A" { print $2 }' | sort -u > "$log/acked.sorted"
	comm -23 "$log/armed.sorted" "$log/acked.sorted" > "$log/missing"
	[ ! -s "$log/missing" ]
}
group_idle() {
	local g
	g=$("$TIMERCTL" --socket "$sock" group show crash --json 2>&1) || return 1
	[ "$(echo "$g" | json_int backlog)" = 0 ] && [ "$(echo "$g" | json_int in_flight)" = 0 ]
}
deadline=$(( $(now_ms) + 60000 ))
until missing_now && group_idle; do
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || fail "consumer $p exited: $(cat "$log"/consumer.*.err)"
	done
	if [ "$(now_ms)" -gt "$deadline" ]; then
		kill -TERM $pids 2>/dev/null
		wait $pids 2>/dev/null
		missing_now
		echo "group-crash: FAIL: within 60 s after the last restart, $(wc -l < "$log/missing") keys armed and acknowledged by timerd were never acked by a consumer, or the group still holds deliveries (seed $seed):" >&2
		head -n 50 "$log/missing" | tr '\n' ' ' >&2
		echo >&2
		echo "group-crash: the group now:" >&2
		"$TIMERCTL" --socket "$sock" group show crash --json >&2
		for k in $(head -n 3 "$log/missing"); do
			echo "group-crash: timerctl get $k:" >&2
			"$TIMERCTL" --socket "$sock" get "$k" >&2
		done
		fail "keys lost (see above)"
	fi
	sleep 0.2
done
t2=$(now_ms)
kill -TERM $pids
for p in $pids; do
	wait "$p" || fail "a consumer exited with status $? (see $log/consumer.*.err)"
done
echo "group-crash: every acknowledged arm acked by a consumer $(( t2 - t1 )) ms after the load stopped"

# Duplicates: a key received more than once. Each later receipt must have
# attempt > 1 or follow a kill after the key's first receipt.
/usr/bin/python3 - "$log" <<'EOF' || fail "duplicates without a redelivery mark (see above)"
import glob, sys
d = sys.argv[1]
kills = sorted(int(l) for l in open(d + "/kills") if l.strip())
recvs, acks, confirmed, acked_keys = [], 0, 0, {}
for f in sorted(glob.glob(d + "/consumer.[0-9]")):
    for line in open(f):
        p = line.split()
        if len(p) != 5:
            continue
        kind, key, did, att, t = p[0], p[1], int(p[2]), int(p[3]), int(p[4])
        if kind == "C":
            confirmed += 1
        elif kind == "A":
            acks += 1
            acked_keys[key] = acked_keys.get(key, 0) + 1
        else:
            recvs.append((t, key, f[-1], did, att))
recvs.sort()        # in time order across the consumers (one clock: CLOCK_REALTIME)
first, bad, dup, dup_attempt, dup_crash = {}, [], 0, 0, 0
for t, key, c, did, att in recvs:
    if key not in first:
        first[key] = (t, c, did, att)
        continue
    dup += 1
    t0, c0, d0, a0 = first[key]
    if att > 1:
        dup_attempt += 1
    elif any(t0 <= k <= t for k in kills):
        dup_crash += 1
    else:
        bad.append("%s (consumer %s delivery %d attempt %d, then %.3f s later consumer %s delivery %d attempt %d)"
                   % (key, c0, d0, a0, (t - t0) / 1e9, c, did, att))
twice = sum(1 for v in acked_keys.values() if v > 1)
print("group-crash: %d deliveries received, %d acks sent, %d answered OK (%d lost their reply to a kill); "
      "%d duplicate receipts (%d with attempt > 1, %d attempt 1 after a kill), %d keys acked more than once" % (
          len(recvs), acks, confirmed, acks - confirmed, dup, dup_attempt, dup_crash, twice))
if bad:
    print("group-crash: FAIL: %d duplicates with attempt 1 and no kill in between: %s" % (len(bad), "; ".join(bad[:10])))
    sys.exit(1)
EOF
acks=$(cat "$log"/consumer.[0-9] | awk '$1 == "A"' | wc -l)
echo "group-crash: rate reached: $(( armed * 1000 / (t1 - t0 + 1) )) acknowledged arms/s, $(( acks * 1000 / (t2 - t0 + 1) )) acked deliveries/s from the start to the last ack, kills and restarts included (asked: $rate arms/s)"
echo "group-crash: PASS"
