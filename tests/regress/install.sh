#!/usr/bin/env bash
# install.sh -- `make install DESTDIR=...` installs what an operator and a
# developer need, with the right modes: the programs, libtimerd with its
# soname exporting only the API of timerd.h, the header, libtimerd.pc (a
# tiny client compiles and links with pkg-config against DESTDIR), the man
# pages, the example timerd.conf, the systemd units, tmpfiles.d and
# sysusers.d entries and the bash completion; `make uninstall` removes them.
. "$(dirname "$0")/lib.sh"

for t in nm objdump pkg-config cc; do
	command -v $t >/dev/null || skip "$t not found"
done
dest=$tmp/dest
make=${MAKE:-make}
out=$($make -C "$top_builddir" install DESTDIR="$dest" 2>&1) || fail "make install: $(tail -20 <<<"$out")"
eval "$($make -s -C "$top_builddir" print-install-dirs | grep -E '^[a-z_]+=')"	# not make's own notices

# Fails unless file $1 exists with mode $2.
has() {
	[ -f "$dest$1" ] || fail "make install did not install $1 (installed: $(cd "$dest" && find . -type f | sort | tr '\n' ' '))"
	[ "$(stat -c %a "$dest$1")" = "$2" ] || fail "$1 has mode $(stat -c %a "$dest$1"), not $2"
}
has "$sbindir/timerd" 755
has "$bindir/timerctl" 755
has "$includedir/timerd.h" 644
has "$libdir/pkgconfig/libtimerd.pc" 644
has "$mandir/man8/timerd.8" 644
has "$mandir/man1/timerctl.1" 644
has "$mandir/man5/timerd.conf.5" 644
has "$mandir/man3/libtimerd.3" 644
has "$sysconfdir/timerd.conf" 644
has "$docdir/examples/timerd.conf" 644
[ -z "${systemdsystemunitdir:-}" ] || { has "$systemdsystemunitdir/timerd.service" 644; has "$systemdsystemunitdir/timerd.socket" 644; }
[ -z "${tmpfilesdir:-}" ] || has "$tmpfilesdir/timerd.conf" 644
[ -z "${sysusersdir:-}" ] || has "$sysusersdir/timerd.conf" 644
[ -z "${bashcompletiondir:-}" ] || has "$bashcompletiondir/timerctl" 644
[ -z "${zshcompletiondir:-}" ] || has "$zshcompletiondir/_timerctl" 644
[ ! -e "$dest$sbindir/timerctl" ] && [ ! -e "$dest$bindir/timerd" ] || fail "timerd belongs in sbindir, timerctl in bindir"
if [ -n "${systemdsystemunitdir:-}" ]; then
	grep -q "^ExecStart=$sbindir/timerd .*--config $sysconfdir/timerd.conf" "$dest$systemdsystemunitdir/timerd.service" ||
		fail "timerd.service does not start $sbindir/timerd with $sysconfdir/timerd.conf: $(grep ExecStart "$dest$systemdsystemunitdir/timerd.service")"
	! grep -n '@[a-z]*@' "$dest$systemdsystemunitdir/timerd.service" || fail "timerd.service has unsubstituted @...@"
fi
cmp -s "$dest$sysconfdir/timerd.conf" "$top_builddir/data/timerd.conf" || fail "the installed timerd.conf is not data/timerd.conf"
"$dest$sbindir/timerd" --check-config -c "$dest$sysconfdir/timerd.conf" --socket "$sock" --state-dir "$tmp/st" >/dev/null ||
	fail "the installed timerd.conf does not pass --check-config"

# The library: one real file with the soname, links to it, only the API exported.
lib=$dest$libdir/libtimerd.so
[ -L "$lib" ] && [ -L "$lib.0" ] || fail "libtimerd.so and libtimerd.so.0 should be symlinks"
real=$(readlink -f "$lib")
[ -f "$real" ] && [ "$(stat -c %a "$real")" = 755 ] || fail "$real: not an executable file"
soname=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libtimerd.so.0 ] || fail "soname is '$soname', not libtimerd.so.0"
exports=$(nm -D --defined-only "$real" | awk '$2 ~ /^[TDBRVWi]$/ { print $3 }' | sed 's/@.*//' | sort -u)
api=$(grep -o '^[a-z][^(]*timerd_[a-z_]*(' "$top_srcdir/client/timerd.h" | grep -o 'timerd_[a-z_]*($' | tr -d '(' | sort -u)
extra=$(comm -23 <(echo "$exports") <(echo "$api"))
[ -z "$extra" ] || fail "libtimerd exports symbols that are not in timerd.h: $(echo $extra)"
missing=$(comm -13 <(echo "$exports") <(echo "$api"))
[ -z "$missing" ] || fail "libtimerd does not export: $(echo $missing)"

# A client built with pkg-config against the installed files.
cat > "$tmp/client.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <timerd.h>

int main(void)
{
	struct timerd *t;
	struct timerd_error e;

	if (timerd_connect("unix:/nonexistent/timerd.sock", NULL, &t, &e) == TIMERD_OK)
		return 1;
	printf("%s %s\n", timerd_errname(e.code), strstr(e.message, "not running") ? "ok" : e.message);
	return 0;
}
C
export PKG_CONFIG_PATH=$dest$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
flags=$(pkg-config --cflags --libs libtimerd) || fail "pkg-config libtimerd failed"
case $flags in *-ltimerd*) ;; *) fail "pkg-config --libs libtimerd: no -ltimerd in '$flags'" ;; esac
# A sanitizer build's libtimerd needs the sanitizer's runtime in the client too.
san=$(sed -n 's/^SAN_CFLAGS = //p' "$top_builddir/Makefile")
cc -o "$tmp/client" "$tmp/client.c" $san $flags 2> "$tmp/cc.log" || fail "the client does not build: $(cat "$tmp/cc.log")"
out=$(LD_LIBRARY_PATH=$dest$libdir "$tmp/client") || fail "the client failed: $out"
ldd_lib=$(LD_LIBRARY_PATH=$dest$libdir ldd "$tmp/client" | awk '/libtimerd/ { print $3 }')
[ "$ldd_lib" = "$dest$libdir/libtimerd.so.0" ] || fail "the client loads '$ldd_lib', not the installed libtimerd.so.0"
echo "client: $out"

# The installed pages render, and uninstall leaves nothing but directories.
if command -v mandoc >/dev/null; then
	mandoc -T lint -W warning "$dest$mandir"/man*/* || fail "installed man pages do not lint"
fi
out=$($make -C "$top_builddir" uninstall DESTDIR="$dest" 2>&1) || fail "make uninstall: $(tail -20 <<<"$out")"
left=$(cd "$dest" && find . ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: $(echo $exports | wc -w) symbols exported, soname $soname"
