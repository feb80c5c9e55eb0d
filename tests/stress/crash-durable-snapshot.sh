#!/bin/sh
# crash-durable-snapshot.sh -- the crash test with snapshots forced often
# (--snapshot-min-rows 500) and a live set of several slices, so that
# SIGKILL interrupts snapshot passes (see tests/stress/crash-durable.c).
exec "${top_builddir:-.}/tests/stress/crash-durable" --fsync 10ms --snapshot-min-rows 500 --keys 8000 "$@"
