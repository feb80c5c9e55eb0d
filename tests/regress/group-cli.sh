#!/usr/bin/env bash
# group-cli.sh -- timerctl group create|list|show|delete and dlq against a
# real timerd: create is idempotent (same settings: exit 0, created false),
# other settings are a CONFLICT (exit 1, says --update) until --update;
# list/show in human and JSON form (show --json has backlog, in_flight,
# acked, redeliveries, dead_letters); delete; usage errors exit 2; missing
# groups exit 4; bash completion offers the daemon's group names.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

start_timerd

out=$(ctl --json group create billing --topic jobs --topic mail --ack-timeout 5s --max-attempts 3 \
	--backoff-min 100ms --backoff-max 2s --max-backlog 50) || fail "group create: $out"
[ "$(echo "$out" | sed -n 's/.*"created":\([a-z]*\).*/\1/p')" = true ] || fail "first create not created: $out"
# The same settings again: harmless, exit 0.
out=$(ctl --json group create billing --topic jobs --topic mail --ack-timeout 5s --max-attempts 3 \
	--backoff-min 100ms --backoff-max 2s --max-backlog 50) || fail "re-running group create failed: $out"
[ "$(echo "$out" | sed -n 's/.*"created":\([a-z]*\).*/\1/p')" = false ] || fail "re-create said created: $out"
ctl group create billing --topic jobs --topic mail --ack-timeout 5s --max-attempts 3 --backoff-min 100ms \
	--backoff-max 2s --max-backlog 50 >/dev/null || fail "re-running group create (human) failed"
# Other settings: a conflict that says what to do.
ctl group create billing --topic jobs --max-attempts 9 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "conflicting create exited $rc, want 1: $(cat "$tmp/out" "$tmp/err")"
grep -q -- "--update" "$tmp/err" || fail "the conflict does not mention --update: $(cat "$tmp/err")"
# show --json: the settings and the counters.
show=$(ctl --json group show billing) || fail "group show --json"
for f in backlog in_flight acked redeliveries dead_letters consumers; do
	[ -n "$(echo "$show" | json_int $f)" ] || fail "group show --json has no $f: $show"
done
[ "$(echo "$show" | json_int max_attempts)" = 3 ] || fail "max_attempts: $show"
[ "$(echo "$show" | json_int ack_timeout_ns)" = 5000000000 ] || fail "ack_timeout_ns: $show"
[ "$(echo "$show" | json_int max_backlog)" = 50 ] || fail "max_backlog: $show"
echo "$show" | grep -q '"topics":\["jobs","mail"\]' || fail "topics: $show"
# --update changes them.
ctl group create billing --topic jobs --max-attempts 9 --update >/dev/null || fail "create --update"
[ "$(group_max=$(ctl --json group show billing | json_int max_attempts); echo $group_max)" = 9 ] ||
	fail "--update did not change max_attempts: $(ctl --json group show billing)"
ctl group create mail --topic mail --unordered >/dev/null || fail "create mail"
# list: both, human and JSON (one object per line).
[ "$(ctl --json group list | grep -c '^{"name":')" = 2 ] || fail "group list --json: $(ctl --json group list)"
ctl group list >"$tmp/list" || fail "group list"
grep -q '^billing ' "$tmp/list" && grep -q '^mail ' "$tmp/list" || fail "group list: $(cat "$tmp/list")"
ctl --json group show mail | grep -q '"unordered":true' || fail "mail is not unordered: $(ctl --json group show mail)"
# Human show: the counters and acked/s (two samples; --interval makes it quick).
ctl group show billing --interval 100ms >"$tmp/show" || fail "group show"
for w in backlog "in flight" "acked/s" acked redeliveries "dead letters"; do
	grep -q "^$w " "$tmp/show" || fail "group show has no '$w': $(cat "$tmp/show")"
done
# Bash completion names the daemon's groups.
names=$(bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _timerctl
	printf "%s\n" "${COMPREPLY[@]}"' complete "$top_srcdir/completion/timerctl.bash" "$TIMERCTL" --socket "$sock" \
	consume "" | sort | tr '\n' ' ')
[ "$names" = "billing mail " ] || fail "completing consume GROUP: '$names'"
# dlq of an empty group; of a missing one: exit 4.
ctl dlq list billing >"$tmp/dlq" || fail "dlq list billing"
grep -q "^0 dead letters" "$tmp/dlq" || fail "dlq list of a fresh group: $(cat "$tmp/dlq")"
[ "$(ctl --json dlq purge billing | json_int purged)" = 0 ] || fail "dlq purge of a fresh group"
ctl dlq list nosuch >/dev/null 2>&1
[ $? = 4 ] || fail "dlq list of a missing group does not exit 4"
ctl group show nosuch >/dev/null 2>&1
[ $? = 4 ] || fail "group show of a missing group does not exit 4"
# Usage errors: exit 2, nothing sent.
for args in "group" "group create x" "group frob x" "group show" "group list x" "group delete a b" \
	"group show x --topic t" "dlq" "dlq list" "dlq frob g" "consume" "consume g" "consume g --concurrency 0 -- true" \
	"consume -- true" "group create x --topic t --max-attempts many" "group create x --topic t --ack-timeout soon"; do
	# shellcheck disable=SC2086
	ctl $args >/dev/null 2>&1
	rc=$?
	[ "$rc" = 2 ] || fail "timerctl $args exited $rc, want 2"
done
# consume of a missing group: says so and exits 4 (it does not wait forever).
timeout 10 "$TIMERCTL" --socket "$sock" consume nosuch -- true 2>"$tmp/err"
rc=$?
[ "$rc" = 4 ] || fail "consume of a missing group exited $rc, want 4: $(cat "$tmp/err")"
grep -q "group create" "$tmp/err" || fail "consume of a missing group does not say to create it: $(cat "$tmp/err")"
# delete.
ctl group delete mail >/dev/null || fail "group delete mail"
ctl group delete mail >/dev/null 2>&1
[ $? = 4 ] || fail "deleting a deleted group does not exit 4"
[ "$(ctl --json group list | grep -c '^{"name":')" = 1 ] || fail "after delete: $(ctl --json group list)"
# Groups are durable: still there after a restart.
stop_timerd
start_timerd
ctl --json group show billing | grep -q '"max_attempts":9' || fail "billing after a restart: $(ctl --json group show billing 2>&1)"
stop_timerd
echo "group-cli: ok"
