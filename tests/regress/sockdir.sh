#!/usr/bin/env bash
# sockdir.sh -- the fallback socket directory /tmp/timerd-UID cannot be
# taken over by another local user (doc/security.md): timerd creates it
# 0700, refuses one another user created, tightens a loose one of its own,
# and never follows a symlinked pid file. The victim is a spare uid, the
# attacker `nobody`; needs root for setpriv.
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root to run as two other users"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
victim=$((40000 + RANDOM % 20000))
dir=/tmp/timerd-$victim
home=$tmp/home
chmod 0711 "$tmp"
mkdir -p "$home"
chown "$victim:$victim" "$home"
echo precious >"$home/precious"
chown "$victim:$victim" "$home/precious"
cleanup_dir() { rm -rf "$dir"; cleanup; }
trap cleanup_dir EXIT
rm -rf "$dir"

share_programs		# the victim and nobody run timerd and timerctl from $tmp/other

# Runs CMD... as uid $1.
as() {
	local u=$1
	shift
	setpriv --reuid "$u" --regid "$u" --clear-groups env -u XDG_RUNTIME_DIR -u TIMERD_SOCKET HOME=/nonexistent "$@"
}

# Runs timerd as the victim, as a daemon, on its default socket.
victim_timerd() {
	as "$victim" "$OTHER_TIMERD" --state-dir "$home/state" --log "$home/timerd.log" "$@"
}

# 1. The attacker made the directory (world-writable) and a symlinked pid file.
as "$nobody" mkdir -m 0777 "$dir"
as "$nobody" ln -s "$home/precious" "$dir/timerd.pid"
out=$(victim_timerd 2>&1) && fail "timerd started in a directory of uid $nobody: $out"
echo "$out" | grep -q "belongs to uid $nobody" || fail "the refusal does not name the owner: $out"
[ "$(cat "$home/precious")" = precious ] || fail "the victim's file was truncated through the symlinked pid file"
[ ! -e "$dir/timerd.sock" ] || fail "a socket was created in the attacker's directory"
rm -rf "$dir"

# 2. The attacker made it 0700 (nothing looks wrong but the owner).
as "$nobody" mkdir -m 0700 "$dir"
out=$(victim_timerd 2>&1) && fail "timerd started in a 0700 directory of uid $nobody: $out"
echo "$out" | grep -q "belongs to uid $nobody" || fail "0700 attacker directory: $out"
rm -rf "$dir"

# 3. The victim's own directory, loose, with a symlinked pid file: made 0700, the symlink refused.
as "$victim" mkdir -m 0777 "$dir"
as "$victim" ln -s "$home/precious" "$dir/timerd.pid"
out=$(victim_timerd 2>&1) && fail "timerd followed a symlinked pid file: $out"
echo "$out" | grep -q "symbolic link" || fail "symlinked pid file: $out"
[ "$(cat "$home/precious")" = precious ] || fail "the victim's file was truncated through its own symlinked pid file"
[ "$(stat -c %a "$dir")" = 700 ] || fail "the victim's loose directory was not made 0700 ($(stat -c %a "$dir"))"
rm -rf "$dir"

# 4. No directory: created 0700, and the daemon serves there.
victim_timerd || fail "timerd did not start with a fresh fallback directory: $(cat "$home/timerd.log" 2>/dev/null)"
[ "$(stat -c '%a %u' "$dir")" = "700 $victim" ] || fail "fallback directory is $(stat -c '%a %u' "$dir")"
as "$victim" "$OTHER_TIMERCTL" ping >/dev/null || fail "the victim's timerctl cannot reach its daemon"
as "$nobody" "$OTHER_TIMERCTL" --socket "$dir/timerd.sock" ping >/dev/null 2>&1 && fail "nobody reached the victim's socket"
daemon_pid=$(cat "$dir/timerd.pid")
kill -TERM "$daemon_pid"
wait_for gone "$daemon_pid"
daemon_pid=
echo "PASS"
