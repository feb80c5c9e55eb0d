# tests/group-client.mk -- consumer groups end to end: timerctl group, dlq
# and consume against a real timerd (tests/regress/group-*.sh; the helpers
# they share are in tests/regress/group-lib.sh).

GROUP_CLIENT_TESTS = \
	tests/regress/group-backlog.sh \
	tests/regress/group-cli.sh \
	tests/regress/group-consume.sh \
	tests/regress/group-diskfull.sh \
	tests/regress/group-nack.sh \
	tests/regress/group-order.sh \
	tests/regress/group-redeliver.sh
TESTS += $(GROUP_CLIENT_TESTS)
EXTRA_DIST += $(GROUP_CLIENT_TESTS) tests/regress/group-lib.sh

# A group's requests follow its topics' rules (doc/security.md, issue 12 section 4).
TESTS += tests/regress/group-perms.sh
EXTRA_DIST += tests/regress/group-perms.sh

# The syncer's failed fdatasync makes the store fail until a synchronous commit works (an LD_PRELOAD shim built with cc).
TESTS += tests/regress/syncfail.sh
EXTRA_DIST += tests/regress/syncfail.sh tests/regress/sync-shim.c

# A consumer's acks stay within its client's window while commits are slow (the same shim slowing fdatasync).
TESTS += tests/regress/group-window.sh
EXTRA_DIST += tests/regress/group-window.sh
