# tests/regress/lib.sh -- sourced by each regress test: a private timerd
# (socket, state dir and log in a fresh temporary directory, removed on
# exit) and helpers to drive it with timerctl.
set -u

top_builddir=${top_builddir:-$(pwd)}
TIMERD=$top_builddir/server/timerd
TIMERCTL=$top_builddir/client/timerctl
tmp=$(mktemp -d /tmp/timerd-regress.XXXXXX)
sock=$tmp/timerd.sock
daemon_pid=

# Kills what is left and removes the directory.
cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -KILL "$daemon_pid" 2>/dev/null
	fi
	jobs -p | xargs -r kill 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Reports a failure with the daemon's log and exits 1.
fail() {
	echo "FAIL: $*" >&2
	if [ -f "$tmp/timerd.log" ]; then
		sed 's/^/  timerd: /' "$tmp/timerd.log" >&2
	fi
	exit 1
}

# Skips the test (automake: exit 77).
skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# timerctl on the private socket.
ctl() {
	"$TIMERCTL" --socket "$sock" "$@"
}

# Starts timerd in the foreground with extra flags; waits until it answers.
start_timerd() {
	"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" "$@" &
	daemon_pid=$!
	for _ in $(seq 1 500); do
		ctl ping >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || fail "timerd exited during start-up"
		sleep 0.02
	done
	fail "timerd did not answer within 10s"
}

# Sends SIGTERM; fails unless timerd exits 0 within 10s and removes its socket.
stop_timerd() {
	local rc
	kill -TERM "$daemon_pid"
	wait_for gone "$daemon_pid"
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	[ "$rc" -eq 0 ] || fail "timerd exited with status $rc after SIGTERM"
	[ ! -e "$sock" ] || fail "timerd left its socket behind"
}

# Runs CMD... every 20ms until it succeeds; fails with its last output if it has not within 10s.
# Tests wait for the event they need with it, never sleep for it.
wait_for() {
	local out
	for _ in $(seq 1 500); do
		out=$("$@" 2>&1) && return 0
		sleep 0.02
	done
	fail "timed out after 10s waiting for: $* (last output: $out)"
}

# True once process PID has exited.
gone() {
	! kill -0 "$1" 2>/dev/null
}

# True when the daemon has exactly N watches in place (prints the stats otherwise).
watching() {
	local stats
	stats=$(ctl --json stats) || return 1
	[ "$(echo "$stats" | json_int watchers)" = "$1" ] || { echo "$stats"; return 1; }
}

# Prints the integer member NAME of a one-line JSON object on stdin.
json_int() {
	sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9]*\).*/\1/p"
}

# Prints the string member NAME of a one-line JSON object on stdin.
json_str() {
	sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

# CLOCK_REALTIME in ms.
now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

# Copies what another uid runs -- timerd, timerctl with its libtimerd, the
# python helpers -- into $tmp/other, readable by all, because the build tree
# may sit in a directory only its owner can enter (a clone made by mktemp -d).
# Sets OTHER_TIMERD, OTHER_TIMERCTL and OTHER_DIR.
share_programs() {
	local real=$top_builddir/client/.libs/timerctl
	OTHER_DIR=$tmp/other
	mkdir -p "$OTHER_DIR"
	chmod 0711 "$tmp"
	cp "$TIMERD" "$OTHER_DIR/timerd"
	if [ -x "$real" ]; then		# $TIMERCTL is libtool's wrapper script
		cp "$real" "$OTHER_DIR/timerctl.bin"
		cp -P "$top_builddir"/client/.libs/libtimerd.so* "$OTHER_DIR/"
		printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$OTHER_DIR" "$OTHER_DIR/timerctl.bin" >"$OTHER_DIR/timerctl"
	else
		cp "$TIMERCTL" "$OTHER_DIR/timerctl"
	fi
	cp "${top_srcdir:-.}"/tests/regress/*.py "$OTHER_DIR/"
	chmod -R a+rX "$OTHER_DIR"
	chmod a+x "$OTHER_DIR/timerctl"
	OTHER_TIMERD=$OTHER_DIR/timerd
	OTHER_TIMERCTL=$OTHER_DIR/timerctl
}


# Starts timerd on its Unix socket with ARGS, each "@PORT@" in them replaced
# by a random TCP port (kept in $port), and waits until it answers a ping;
# tries 5 ports, since another program may hold the first one.
start_tcp() {
	local a args
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		args=()
		for a in "$@"; do args+=("${a//@PORT@/$port}"); done
		"$TIMERD" --foreground --socket "$sock" --log "$tmp/timerd.log" "${args[@]}" &
		daemon_pid=$!
		for _ in $(seq 1 250); do
			ctl ping >/dev/null 2>&1 && return 0
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.02
		done
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	done
	fail "could not start timerd on a free TCP port: $(tail -3 "$tmp/timerd.log" 2>/dev/null)"
}
# Starts timerd with --http on a free loopback port (sets port); extra flags in "$@".
start_http() {
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" \
			--http "127.0.0.1:$port" "$@" &
		daemon_pid=$!
		for _ in $(seq 1 250); do
			curl -sf "http://127.0.0.1:$port/v1/stats" >/dev/null 2>&1 && return 0
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.02
		done
		kill "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	done
	fail "could not start timerd with --http on a free port"
}

# Adds identity NAME with extra line fields to the users file $users; sets its secret in SECRET_NAME.
user_add() {
	local name=$1 extra=$2 line
	line=$("$TIMERCTL" user add "$name" 2>"$tmp/secret.$name") || fail "timerctl user add $name"
	echo "$line $extra" >>"$users"
	eval "SECRET_$name=\$(sed -n 's/.*: //p' \"\$tmp/secret.\$name\")"
}
