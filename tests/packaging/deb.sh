#!/usr/bin/env bash
# tests/packaging/deb.sh -- build the Debian packages (scripts/build-deb),
# install them on this machine with dpkg -i, check what they put where
# (binaries, units enabled as Debian policy expects, the user timerd, the
# directories, man pages, completion, the library and its symbols), start
# the packaged /usr/sbin/timerd as timerd.service would (its ExecStart, as
# the user timerd) in a private mount namespace (so /run/timerd and
# /var/lib/timerd are fresh and private: systemd is not PID 1 here), run
# the packaged `timerctl ping` and an arm against it, stop it, then
# dpkg --purge the packages and leave the machine as it was.
#
#   tests/packaging/deb.sh [DEBDIR]   DEBDIR: .debs already built by
#                                     scripts/build-deb (else built here)
# Exit 77 without root, dpkg-buildpackage, debhelper or unshare.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
pkgs="timerd libtimerd0 libtimerd-dev"
tmp=$(mktemp -d /tmp/timerd-deb.XXXXXX)
created_user=
installed=

skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "installs packages: run as root"
for t in dpkg-buildpackage dh fakeroot unshare setpriv; do
	command -v $t >/dev/null || skip "$t not found (apt-get install dpkg-dev debhelper fakeroot util-linux)"
done
for p in $pkgs; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		skip "$p is already installed on this machine: not touching it"
	fi
done
getent passwd timerd >/dev/null || created_user=yes
# Another timerd on this machine may use these: the packages' tmpfiles.d
# entry chowns them to the user timerd, so put back what they were.
had_run=$(stat -c '%u:%g %a' /run/timerd 2>/dev/null)
had_state=$(stat -c '%u:%g %a' /var/lib/timerd 2>/dev/null)

# Removes directory $1 if it did not exist before ($2 empty), else restores its owner and mode ($2).
restore_dir() {
	if [ -z "$2" ]; then
		rm -rf "$1"
	elif [ -d "$1" ]; then
		chown "${2% *}" "$1" && chmod "${2#* }" "$1"
	fi
}

# Purges the packages and removes what the test created; keeps $tmp on failure.
cleanup() {
	local rc=$?
	if [ -n "$installed" ]; then
		dpkg --purge $pkgs > "$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; rc=1; }
	fi
	if [ -n "$created_user" ] && getent passwd timerd >/dev/null; then
		# The user did not exist before the test: its processes are the test's.
		for p in $(pgrep -u timerd); do kill -KILL "$p" 2>/dev/null; done
		userdel timerd 2>/dev/null
		getent group timerd >/dev/null && groupdel timerd 2>/dev/null
	fi
	restore_dir /run/timerd "$had_run"
	restore_dir /var/lib/timerd "$had_state"
	if [ $rc -eq 0 ]; then rm -rf "$tmp"; else echo "logs kept in $tmp" >&2; fi
	exit $rc
}
trap cleanup EXIT

debdir=${1:-}
if [ -z "$debdir" ]; then
	debdir=$tmp/deb
	start=$(date +%s)
	"$top/scripts/build-deb" "$debdir" > "$tmp/build-deb.log" 2>&1 || { tail -40 "$tmp/build-deb.log"; fail "scripts/build-deb failed"; }
	echo "packages built in $(( $(date +%s) - start )) s"
fi
debs=$(ls "$debdir"/timerd_*.deb "$debdir"/libtimerd0_*.deb "$debdir"/libtimerd-dev_*.deb 2>/dev/null)
[ "$(echo "$debs" | wc -w)" -eq 3 ] || fail "expected 3 packages in $debdir, found: $debs"

installed=yes
DEBIAN_FRONTEND=noninteractive dpkg -i $debs > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i failed"; }

# What the packages installed.
for f in /usr/sbin/timerd /usr/bin/timerctl /etc/timerd.conf /usr/share/man/man8/timerd.8.gz \
	/usr/share/man/man1/timerctl.1.gz /usr/share/man/man5/timerd.conf.5.gz /usr/share/man/man3/libtimerd.3.gz \
	/usr/share/bash-completion/completions/timerctl /usr/lib/tmpfiles.d/timerd.conf /usr/lib/sysusers.d/timerd.conf \
	/usr/include/timerd.h; do
	[ -e "$f" ] || fail "the packages did not install $f"
done
unitdir=$(dirname "$(dpkg -L timerd | grep '/timerd.service$')")
[ -f "$unitdir/timerd.service" ] && [ -f "$unitdir/timerd.socket" ] || fail "timerd.service/timerd.socket not installed"
for u in timerd.service timerd.socket; do
	state=$(systemctl is-enabled "$u" 2>&1)
	[ "$state" = enabled ] || fail "$u is not enabled after install (dh_installsystemd): $state"
done
[ -L /etc/systemd/system/multi-user.target.wants/timerd.service ] || fail "timerd.service not wanted by multi-user.target"
[ -L /etc/systemd/system/sockets.target.wants/timerd.socket ] || fail "timerd.socket not wanted by sockets.target"
getent passwd timerd >/dev/null || fail "the user timerd was not created (sysusers.d)"
[ "$(stat -c '%U %a' /run/timerd 2>/dev/null)" = "timerd 755" ] || fail "/run/timerd (tmpfiles.d): $(stat -c '%U %a' /run/timerd 2>&1)"
libso=$(dpkg -L libtimerd0 | grep 'libtimerd\.so\.0$')
[ -n "$libso" ] || fail "libtimerd0 has no libtimerd.so.0"
dpkg -L libtimerd-dev | grep -q '/pkgconfig/libtimerd.pc$' || fail "libtimerd-dev has no libtimerd.pc"
pkg-config --exists libtimerd || fail "pkg-config does not find the packaged libtimerd"
used=$(ldd /usr/bin/timerctl | awk '$1 == "libtimerd.so.0" { print $3 }')
[ "$(readlink -f "$used")" = "$(readlink -f "$libso")" ] || fail "timerctl does not use the packaged $libso: $(ldd /usr/bin/timerctl)"
/usr/sbin/timerd --check-config -c /etc/timerd.conf > "$tmp/check.log" 2>&1 || fail "packaged /etc/timerd.conf: $(cat "$tmp/check.log")"

# The unit's command line, run as its user in a private mount namespace.
exec_start=$(sed -n 's/^ExecStart=//p' "$unitdir/timerd.service")
case $exec_start in /usr/sbin/timerd\ *) ;; *) fail "unexpected ExecStart: $exec_start" ;; esac
cat > "$tmp/run.sh" <<EOF
set -u
mount -t tmpfs -o mode=0755 tmpfs /run/timerd || exit 10
mount -t tmpfs -o mode=0700 tmpfs /var/lib/timerd || exit 10
chown timerd:timerd /run/timerd /var/lib/timerd
setpriv --reuid=timerd --regid=timerd --init-groups $exec_start > "$tmp/timerd.log" 2>&1 &
pid=\$!
trap 'kill -KILL \$pid 2>/dev/null' EXIT
for _ in \$(seq 1 500); do
	/usr/bin/timerctl ping > "$tmp/ping.out" 2>&1 && break
	kill -0 \$pid 2>/dev/null || { echo "timerd exited during start-up"; exit 11; }
	sleep 0.02
done
/usr/bin/timerctl ping || exit 12
/usr/bin/timerctl arm pkg-test --in 1h --topic deb || exit 13
/usr/bin/timerctl --json list | grep -q '"key":"pkg-test"' || exit 14
/usr/sbin/timerd --version > "$tmp/version.out" || exit 15
ls -l /var/lib/timerd/timers.db > /dev/null || exit 16
kill -TERM \$pid
wait \$pid
echo "timerd exited with \$?"
EOF
out=$(unshare -m --propagation private bash "$tmp/run.sh" 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { sed 's/^/  timerd: /' "$tmp/timerd.log" >&2; fail "the packaged daemon test failed at step $rc"; }
grep -q "^timerd exited with 0$" <<<"$out" || { sed 's/^/  timerd: /' "$tmp/timerd.log" >&2; fail "timerd did not stop cleanly"; }
grep -q '^pong\|rtt\|ms' "$tmp/ping.out" || true

# Purge: nothing of the packages is left.
dpkg --purge $pkgs > "$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg --purge failed"; }
installed=
for f in /usr/sbin/timerd /usr/bin/timerctl /etc/timerd.conf "$libso" /etc/systemd/system/multi-user.target.wants/timerd.service; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there after dpkg --purge"
done
echo "deb: built, installed, ran the packaged timerd (ping, arm), purged: ok"
