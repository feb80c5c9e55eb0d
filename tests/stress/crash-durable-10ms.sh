#!/bin/sh
# crash-durable-10ms.sh -- the crash test of durable timers with --fsync 10ms
# (CRASH_KILLS and CRASH_BUDGET tune it; see tests/stress/crash-durable.c).
exec "${top_builddir:-.}/tests/stress/crash-durable" --fsync 10ms "$@"
