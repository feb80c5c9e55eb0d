# tests/webhook.mk -- consumer groups' HTTP callbacks (server/webhook.c)
# against tests/regress/webhook_server.py (Debian's /usr/bin/python3).

check_PROGRAMS += tests/unit/test-webhook
TESTS += tests/unit/test-webhook
EXTRA_DIST += tests/regress/webhook_server.py

tests_unit_test_webhook_SOURCES = tests/unit/test-webhook.c tests/wait.h
tests_unit_test_webhook_CFLAGS = $(TEST_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(LIBCURL_CFLAGS)
tests_unit_test_webhook_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)

# End to end: groups with --webhook through timerd and timerctl.
WEBHOOK_TESTS = tests/regress/group-webhook.sh
TESTS += $(WEBHOOK_TESTS)
EXTRA_DIST += $(WEBHOOK_TESTS) tests/regress/webhook_log.py
