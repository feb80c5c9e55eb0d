#!/usr/bin/env bash
# text.sh -- keys, topics and Hello.client refuse DEL, C1 controls and bidi
# overrides (not only bytes below 0x20); timerctl escapes control and bidi
# characters a server sends (keys, topics, Error.message) instead of printing
# them to the terminal; Auth.identity is text too, refused before it is logged,
# and a key is checked as text before a PERMISSION message could echo it.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x $PY ] || PY=python3
start_timerd
for bad in $'del\x7f' $'c1\xc2\x85x' $'rlo\xe2\x80\xaetxt' $'lri\xe2\x81\xa6x' $'pdi\xe2\x81\xa9'; do
	out=$(ctl arm "$bad" --in 1h 2>&1) && fail "key $(printf %q "$bad") was accepted"
	echo "$out" | grep -q "bidi" || fail "key $(printf %q "$bad"): $out"
	ctl arm ok --in 1h --topic "$bad" >/dev/null 2>&1 && fail "topic $(printf %q "$bad") was accepted"
done
ctl arm $'caf\xc3\xa9-\xe2\x80\x8b' --in 1h >/dev/null || fail "ordinary non-ASCII text was refused"
code=$($PY "${top_srcdir:-.}/tests/regress/text.py" hello "$sock")
[ "$code" = 1 ] || fail "Hello.client with a bidi override: error code '$code', not INVALID (1)"
stop_timerd

# A server (fake) sends a key with U+202E and a topic with ESC: timerctl escapes both.
$PY "${top_srcdir:-.}/tests/regress/text.py" fake "$tmp/fake.sock" >"$tmp/fake.out" &
wait_for grep -q ready "$tmp/fake.out"
out=$("$TIMERCTL" --socket "$tmp/fake.sock" get x 2>&1) || fail "timerctl get from the fake server: $out"
printf '%s' "$out" | grep -q $'\xe2\x80\xae' && fail "timerctl printed U+202E raw: $out"
printf '%s' "$out" | grep -q $'\x1b' && fail "timerctl printed ESC raw: $out"
echo "$out" | grep -qF 'evil\u202etxt.exe' || fail "the key is not shown escaped: $out"
echo "$out" | grep -qF 'top\x1b[31mic' || fail "the topic is not shown escaped: $out"
# An Error.message with a newline, ESC and U+202E: timerctl escapes it too.
out=$("$TIMERCTL" --socket "$tmp/fake.sock" get errkey 2>&1) && fail "timerctl get errkey succeeded: $out"
printf '%s' "$out" | grep -q $'\xe2\x80\xae' && fail "timerctl printed the error's U+202E raw: $out"
printf '%s' "$out" | grep -q $'\x1b' && fail "timerctl printed the error's ESC raw: $out"
printf '%s' "$out" | grep -q '^FAKE' && fail "the error's newline started a line of its own: $out"
echo "$out" | grep -qF 'bad\x0aFAKE \x1b[31m \u202eexe' || fail "the error message is not shown escaped: $out"

# With a users file: an Auth.identity with a newline and ESC is refused (INVALID) before it is
# logged, and a key with ESC is refused as text before a PERMISSION message could echo it.
users=$tmp/users
"$TIMERCTL" user add bob --keys billing >"$users" 2>"$tmp/secret" || fail "timerctl user add bob"
chmod 600 "$users"
bob=$(sed -n 's/.*: //p' "$tmp/secret")
start_timerd --memory-only --no-stats --users "$users"
evil=$'ev\nFAKE LOG LINE \033[31m'
out=$(TIMERD_SECRET=$bob ctl --user "$evil" ping 2>&1) && fail "Auth as $(printf %q "$evil") was accepted"
echo "$out" | grep -q "the identity must be UTF-8 text" || fail "Auth with a bad identity said: $out"
grep -q "FAKE LOG LINE" "$tmp/timerd.log" && fail "the identity reached the log raw: $(cat "$tmp/timerd.log")"
grep -q $'\x1b' "$tmp/timerd.log" && fail "an ESC reached the log: $(cat "$tmp/timerd.log")"
TIMERD_SECRET=$bob ctl --user bob ping >/dev/null || fail "bob's ping"
out=$(TIMERD_SECRET=$bob ctl --user bob arm $'pay\x1b[31mroll' --in 1h 2>&1) && fail "bob armed a key with ESC"
echo "$out" | grep -q "key is not valid UTF-8 text" || fail "bob's key with ESC was not refused as text: $out"
out=$(TIMERD_SECRET=$bob ctl --user bob get $'pay\xe2\x80\xaeroll' 2>&1) && fail "bob got a key with U+202E"
echo "$out" | grep -q "key is not valid UTF-8 text" || fail "bob's key with U+202E was not refused as text: $out"
stop_timerd
echo PASS
