#!/usr/bin/env bash
# man.sh -- the built man pages are lint-clean (mandoc -T lint, warnings and
# worse) and agree with the programs: every flag of `timerd --help`,
# `timerctl --help` and `timerctl CMD --help` is in its page and every flag
# a page names exists; every timerd.conf key is a setting and every setting
# a key; every function and error code of client/timerd.h is in
# libtimerd(3).
. "$(dirname "$0")/lib.sh"

man=$top_builddir/man
command -v mandoc >/dev/null || skip "mandoc not found (apt-get install mandoc)"
for p in timerd.8 timerctl.1 timerd.conf.5 libtimerd.3; do
	[ -s "$man/$p" ] || fail "$man/$p was not built"
	out=$(mandoc -T lint -W warning "$man/$p" 2>&1) || fail "mandoc -T lint $p: $out"
	[ -z "$out" ] || fail "mandoc -T lint $p: $out"
done

# The --flags of the term column of a --help block (after the line starting with $1).
help_flags() {
	awk -v h="$1" 'on && /^[ \t]*$/ { exit }
		on && /^  -/ { t = substr($0, 3); if (match(t, /  /)) t = substr(t, 1, RSTART - 1)
			n = split(t, w, " "); for (i = 1; i <= n; i++) if (w[i] ~ /^--/) { sub(/,$/, "", w[i]); print w[i] } }
		index($0, h) == 1 { on = 1 }' | sort -u
}

# The flags a page names (Fl \-name), as --name.
page_flags() {
	grep -o 'Fl \\-[a-z][a-z0-9-]*' "$1" | sed 's/^Fl \\-/--/' | sort -u
}

# Fails unless every line of $2 is in $3 ($1 says what is compared).
subset() {
	local missing
	missing=$(comm -23 <(printf '%s\n' "$2" | sed '/^$/d' | sort -u) <(printf '%s\n' "$3" | sort -u))
	[ -z "$missing" ] || fail "$1: $(echo $missing)"
}

# timerd(8): the flags of timerd --help, both ways (--no-NAME stands for a boolean NAME).
hflags=$("$TIMERD" --help | help_flags "Flags")
[ -n "$hflags" ] || fail "timerd --help lists no flags"
pflags=$(page_flags "$man/timerd.8")
subset "timerd --help flags missing from timerd.8" "$hflags" "$pflags"
subset "timerd.8 names flags timerd --help does not have" "$(printf '%s\n' "$pflags" | sed 's/^--no-/--/')" "$hflags"

# timerd.conf(5): the keys are the settings (flags but the command-line-only ones).
keys=$(sed -n 's/^\.It Cm \([a-z0-9-]*\) No = .*/\1/p' "$man/timerd.conf.5" | sort -u)
settings=$(printf '%s\n' "$hflags" | sed 's/^--//' | grep -Ev '^(config|help|version|check-config|check-store)$')
subset "settings missing from timerd.conf.5" "$settings" "$keys"
subset "timerd.conf.5 keys that are not settings" "$keys" "$settings"
for k in socket max-payload fsync probe; do
	grep -q "^\.It Cm $k No = " "$man/timerd.conf.5" || fail "timerd.conf.5 has no key $k"
done

# timerctl(1): the global options, every command and its options.
ctlhelp=$("$TIMERCTL" --help)
all=$(help_flags "Global options" <<<"$ctlhelp")
[ -n "$all" ] || fail "timerctl --help lists no global options"
cmds=$(awk 'on && /^[ \t]*$/ { exit } on && /^  [a-z]/ { print $1 } /^Commands:/ { on = 1 }' <<<"$ctlhelp")
[ "$(echo $cmds | wc -w)" -ge 8 ] || fail "timerctl --help lists too few commands: $cmds"
for c in $cmds; do
	grep -q "^\.It Cm $c\( \|$\)" "$man/timerctl.1" || fail "timerctl.1 has no command $c"
	all=$(printf '%s\n%s\n' "$all" "$("$TIMERCTL" "$c" --help | help_flags "Options:")")
	# The command's usage line names flags too.
	all=$(printf '%s\n%s\n' "$all" "$("$TIMERCTL" "$c" --help | sed -n 1p | grep -o -- '--[a-z][a-z0-9-]*')")
done
pflags=$(page_flags "$man/timerctl.1")
subset "timerctl flags missing from timerctl.1" "$all" "$pflags"
subset "timerctl.1 names flags timerctl does not have" "$pflags" "$(printf '%s\n--help\n--version\n' "$all")"

# The exit codes timerctl --help lists are in EXIT STATUS.
exits=$(sed -n '/^Exit codes:/,/^$/p' <<<"$ctlhelp" | grep -o '\b[0-9]\b' | sort -u)
[ "$(echo $exits | wc -w)" -ge 6 ] || fail "timerctl --help lists too few exit codes: $exits"
pexits=$(sed -n '/^\.Sh EXIT STATUS/,/^\.Sh /s/^\.It \([0-9]*\)$/\1/p' "$man/timerctl.1" | sort -u)
[ "$exits" = "$pexits" ] || fail "exit codes: timerctl --help has $(echo $exits), timerctl.1 $(echo $pexits)"

# libtimerd(3): every function and every error code of the header.
h=$top_srcdir/client/timerd.h
fns=$(grep -o '^[a-z][^(]*timerd_[a-z_]*(' "$h" | grep -o 'timerd_[a-z_]*($' | tr -d '(' | sort -u)
[ "$(echo $fns | wc -w)" -ge 30 ] || fail "found too few functions in timerd.h: $fns"
subset "timerd.h functions missing from libtimerd.3" "$fns" "$(sed -n 's/^\.Fn \(timerd_[a-z_]*\).*/\1/p' "$man/libtimerd.3")"
codes=$(sed -n '/^enum timerd_code/,/^};/s/^[[:space:]]*\(TIMERD_[A-Z]*\) = .*/\1/p' "$h")
subset "timerd.h error codes missing from libtimerd.3" "$codes" "$(sed -n 's/^\.It Dv \(TIMERD_[A-Z]*\).*/\1/p' "$man/libtimerd.3")"

# The example configuration is what timerd accepts: uncomment every value
# that is not a placeholder (an upper-case word, or a choice a|b|c) and check it.
conf=$top_builddir/data/timerd.conf
[ -s "$conf" ] || fail "$conf was not built"
subset "settings missing from data/timerd.conf" "$settings" "$(sed -n 's/^#\([a-z0-9-]*\) = .*/\1/p' "$conf")"
sed -n 's/^#\([a-z0-9-]* = [^A-Z|]*\)$/\1/p' "$conf" > "$tmp/all.conf"
[ "$(wc -l < "$tmp/all.conf")" -ge 20 ] || fail "data/timerd.conf has too few defaults: $(cat "$tmp/all.conf")"
out=$("$TIMERD" --check-config -c "$tmp/all.conf" --socket "$sock" --state-dir "$tmp/state" 2>&1) ||
	fail "timerd --check-config rejects the example's defaults: $out"
echo "man pages lint-clean; $(echo $hflags | wc -w) timerd flags, $(echo $keys | wc -w) keys, $(echo $cmds | wc -w) commands, $(echo $fns | wc -w) functions match"
