#!/bin/sh
# crash-durable-always.sh -- the crash test of durable timers with --fsync always
# (CRASH_KILLS and CRASH_BUDGET tune it; see tests/stress/crash-durable.c).
exec "${top_builddir:-.}/tests/stress/crash-durable" --fsync always "$@"
