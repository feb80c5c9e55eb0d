#!/bin/sh
# tz-zdump.sh -- cal/'s zone reader against zdump -v -c 1970,2100 for every zone
# in /usr/share/zoneinfo (not the posix/ and right/ copies): every transition
# instant, offset and isdst identical, and no other transitions. 77 without zdump.
set -u
tool=$(cd "${top_builddir:-.}" && pwd)/tests/cal/cal-tool
command -v zdump >/dev/null 2>&1 || { echo "tz-zdump: zdump missing, skipped"; exit 77; }
[ -d /usr/share/zoneinfo ] || { echo "tz-zdump: no /usr/share/zoneinfo, skipped"; exit 77; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd /usr/share/zoneinfo || exit 1
find . -type f ! -path './posix/*' ! -path './right/*' | sed 's|^\./||' | sort |
while read -r z; do
	[ "$(head -c4 "$z" 2>/dev/null)" = TZif ] && printf '%s\n' "$z"
done > "$out.zones"
n=$(wc -l < "$out.zones")
xargs -P2 -I{} sh -c 'zdump -v -c 1970,2100 "$1" | "$2" zdump "$1" || echo "FAIL $1"' _ {} "$tool" < "$out.zones" > "$out" 2>&1
rm -f "$out.zones"
if grep -q . "$out"; then
	head -50 "$out"
	echo "tz-zdump: $(grep -c '^FAIL' "$out") of $n zones differ from zdump"
	exit 1
fi
echo "tz-zdump: $n zones, every transition 1970..2100 as zdump shows it"
