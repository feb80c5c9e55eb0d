#!/usr/bin/env bash
# group-diskfull.sh -- a consumer group while the store fails (a full tmpfs
# under state-dir): a consumer that did its job and acked is refused STORAGE,
# yet its delivery stays in flight past many ack timeouts, and once space
# returns it is delivered again, not a dead letter, although max_attempts
# is 1 (doc/delivery.md, "While the store fails"). The same over HTTP: a
# long poll's delivery stays held while the store fails, its ack is 503
# STORAGE, and it comes back afterwards. Needs root for the mount.
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$tmp/state"
mount -t tmpfs -o size=1m tmpfs "$tmp/state" 2>/dev/null || skip "cannot mount a tmpfs here"
. "${top_srcdir:-.}/tests/regress/group-lib.sh"
trap 'touch "$jobdir/release" 2>/dev/null; umount -l "$tmp/state" 2>/dev/null; cleanup' EXIT

command -v curl >/dev/null || skip "needs curl"
start_http
H=http://127.0.0.1:$port
ctl group create h --topic th --ack-timeout 300ms --max-attempts 1 >/dev/null || fail "group create h"
ctl arm kh --in 10ms --topic th >/dev/null || fail "arm kh"
wait_for group_is h backlog 1	# stored; taken over HTTP once the disk is full (a push writes nothing)
ctl group create g --topic t --ack-timeout 300ms --max-attempts 1 --backoff-min 10ms --backoff-max 20ms \
	>/dev/null || fail "group create"
job_does k.1 hold		# attempt 1 waits for release.k, then exits 0: consume acks
ctl arm k --in 10ms --topic t >/dev/null || fail "arm k"
wait_for group_is g backlog 1	# stored; pushed once the disk is full, so its ack timeout
				# starts then (filling the disk may take longer than one)

# Fill the disk: a filler takes what is left, then arms until the store refuses one.
payload=$(head -c 3000 /dev/zero | tr '\0' x)
dd if=/dev/zero of="$tmp/state/filler" bs=4k 2>/dev/null
refused=
for i in $(seq 1 2000); do
	out=$(ctl --timeout 500ms arm "fill-$i" --in 1h --payload "$payload" 2>&1) && continue
	grep -q "cannot be written" <<<"$out" && { refused=1; break; }
done
[ -n "$refused" ] || fail "the store never refused an arm on a full disk"
start_consumer g
wait_for group_is g consumers 1
wait_for logged '^start k 1 '

# The job ends well; its ack is refused STORAGE.
touch "$jobdir/release.k"
wait_for logged '^end k 1 [0-9]+ [0-9]+ [0-9]+ 0$'
wait_for grep -q "refused the answer.*cannot be written" "$tmp/consume.log"
# Five ack timeouts later it is still in flight: no timeout, no dead letter.
sleep 1.5
out=$(ctl --json group show g)
[ "$(json_int in_flight <<<"$out")" = 1 ] || consume_fail "not in flight while the store fails: $out"
[ "$(json_int timeouts <<<"$out")" = 0 ] || consume_fail "an ack timeout ran out while the store failed: $out"
[ "$(json_int dead_letters <<<"$out")" = 0 ] || consume_fail "dead-lettered while the store failed: $out"
out=$(curl -s -X POST "$H/v1/groups/h/next?wait=10s")
hid=$(json_int delivery_id <<<"$out")
[ -n "$hid" ] || fail "no delivery of kh over HTTP while the store fails: $out"
out=$(curl -s -w ' %{http_code}' -X POST "$H/v1/deliveries/$hid/ack")
case $out in *'"code":"STORAGE"'*' 503') ;; *) fail "an HTTP ack while the store fails: $out (want 503 STORAGE)" ;; esac
sleep 1.6	# past the poll's sweep (the ack timeout + 1 s)
out=$(ctl --json group show h)
[ "$(json_int in_flight <<<"$out")" = 1 ] && [ "$(json_int timeouts <<<"$out")" = 0 ] &&
	[ "$(json_int dead_letters <<<"$out")" = 0 ] || fail "HTTP: not held while the store fails: $out"

# Space returns: the delivery comes back (attempt 2, not charged) and is acked; no dead letter.
rm -f "$tmp/state/filler"
wait_long 15 logged '^end k 2 [0-9]+ [0-9]+ [0-9]+ 0$'
wait_for group_is g acked 1
out=$(ctl --json group show g)
[ "$(json_int dead_lettered <<<"$out")" = 0 ] || consume_fail "dead-lettered after the store recovered: $out"
[ "$(json_int in_flight <<<"$out")" = 0 ] || consume_fail "still in flight after the ack: $out"
out=$(curl -s -X POST "$H/v1/groups/h/next?wait=10s")
[ "$(json_int delivery_id <<<"$out")" = "$hid" ] && grep -q '"attempt":2' <<<"$out" ||
	fail "HTTP: delivery $hid did not come back after the store recovered: $out"
out=$(curl -s -w ' %{http_code}' -X POST "$H/v1/deliveries/$hid/ack")
case $out in *' 200') ;; *) fail "HTTP: the ack after the store recovered: $out; group: $(ctl --json group show h)" ;; esac
out=$(ctl --json group show h)
[ "$(json_int acked <<<"$out")" = 1 ] && [ "$(json_int dead_lettered <<<"$out")" = 0 ] || fail "HTTP: after: $out"
kill -TERM "$consumer_pid"; wait "$consumer_pid" 2>/dev/null
stop_timerd
echo "group-diskfull: ok"
exit 0
