# tests/regress/group-lib.sh -- sourced by the consumer-group tests
# (tests/regress/group-*.sh) after lib.sh: a job for `timerctl consume` whose
# behaviour each test sets per key and attempt, its log, and waits on the
# group's counters.
#
# The job ($job) appends "start KEY ATTEMPT DELIVERY_ID PID MS" to $joblog when
# it begins and "end KEY ATTEMPT DELIVERY_ID PID MS STATUS" when it ends; in
# between it runs the shell text of the first of $jobdir/KEY.ATTEMPT,
# $jobdir/KEY, $jobdir/default that exists (none: exit 0), with its stdin
# (the payload) and environment saved as $jobdir/env.DELIVERY_ID and
# $jobdir/payload.DELIVERY_ID. `hold` in that text waits until the file
# $jobdir/release.KEY exists (or $jobdir/release).

jobdir=$tmp/job
joblog=$tmp/job.log
job=$tmp/job.sh
mkdir -p "$jobdir"
# On exit the held jobs end too (the directory goes; they stop holding).
trap 'touch "$jobdir/release" 2>/dev/null; cleanup' EXIT
: >"$joblog"
cat >"$job" <<EOF
#!/bin/sh
jobdir=$jobdir
joblog=$joblog
EOF
cat >>"$job" <<'EOF'
ms() { echo $(( $(date +%s%N) / 1000000 )); }
hold() { while [ -d "$jobdir" ] && [ ! -e "$jobdir/release.$TIMERD_KEY" ] && [ ! -e "$jobdir/release" ]; do sleep 0.02; done; }
cat >"$jobdir/payload.$TIMERD_DELIVERY_ID"
env | grep '^TIMERD_' >"$jobdir/env.$TIMERD_DELIVERY_ID"
echo "start $TIMERD_KEY $TIMERD_ATTEMPT $TIMERD_DELIVERY_ID $$ $(ms)" >>"$joblog"
what=
for f in "$jobdir/$TIMERD_KEY.$TIMERD_ATTEMPT" "$jobdir/$TIMERD_KEY" "$jobdir/default"; do
	if [ -f "$f" ]; then what=$(cat "$f"); break; fi
done
( eval "$what" ) </dev/null
rc=$?
echo "end $TIMERD_KEY $TIMERD_ATTEMPT $TIMERD_DELIVERY_ID $$ $(ms) $rc" >>"$joblog"
exit $rc
EOF
chmod +x "$job"

# Sets what the job does for key $1 (attempt $2 if given as KEY.ATTEMPT, or "default"): shell text $2.
job_does() {
	printf '%s\n' "$2" >"$jobdir/$1"
}

# Starts `timerctl consume GROUP [consume options...]` running the job in the background; sets consumer_pid.
start_consumer() {
	local group=$1
	shift
	"$TIMERCTL" --socket "$sock" consume "$group" "$@" -- "$job" 2>>"$tmp/consume.log" &
	consumer_pid=$!
}

# True once the job log has a line matching the extended regex $1 (prints the log otherwise).
logged() {
	grep -Eq "$1" "$joblog" || { echo "job log:"; cat "$joblog"; return 1; }
}

# Prints the number of lines of the job log matching the extended regex $1.
count_logged() {
	grep -Ec "$1" "$joblog"
}

# Prints integer FIELD ($2) of `group show --json GROUP` ($1).
group_field() {
	ctl --json group show "$1" | json_int "$2"
}

# True when group $1's FIELD $2 is $3 (prints the group otherwise).
group_is() {
	local out
	out=$(ctl --json group show "$1") || return 1
	[ "$(echo "$out" | json_int "$2")" = "$3" ] || { echo "$out"; return 1; }
}

# True when group $1's FIELD $2 is at least $3.
group_atleast() {
	local out
	out=$(ctl --json group show "$1") || return 1
	[ "$(echo "$out" | json_int "$2")" -ge "$3" ] 2>/dev/null || { echo "$out"; return 1; }
}

# Like wait_for, with a deadline of $1 seconds.
wait_long() {
	local secs=$1 out
	shift
	for _ in $(seq 1 $((secs * 50))); do
		out=$("$@" 2>&1) && return 0
		sleep 0.02
	done
	fail "timed out after ${secs}s waiting for: $* (last output: $out)"
}

# Fails with the consume log too.
consume_fail() {
	[ -f "$tmp/consume.log" ] && sed 's/^/  consume: /' "$tmp/consume.log" >&2
	echo "job log:" >&2
	sed 's/^/  job: /' "$joblog" >&2
	fail "$@"
}

# True once the job log has at least $1 lines matching the extended regex $2.
logged_atleast() {
	local n
	n=$(grep -Ec "$2" "$joblog")
	[ "$n" -ge "$1" ] || { echo "$n lines match '$2'"; return 1; }
}
