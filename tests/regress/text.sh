#!/usr/bin/env bash
# text.sh -- keys, topics and Hello.client refuse DEL, C1 controls and bidi
# overrides (not only bytes below 0x20); timerctl escapes control and bidi
# characters a server sends instead of printing them to the terminal.
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
echo PASS
