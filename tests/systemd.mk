# tests/systemd.mk -- systemd integration and reload (issue 14, OPS part):
# the units pass systemd-analyze verify/security, a harness playing
# systemd's side (NOTIFY_SOCKET, LISTEN_FDS, WATCHDOG_USEC) drives the real
# daemon, and SIGHUP reloads under load.
SYSTEMD_TESTS = \
	tests/regress/reload.sh \
	tests/regress/systemd-units.sh \
	tests/regress/systemd.sh
TESTS += $(SYSTEMD_TESTS)
EXTRA_DIST += $(SYSTEMD_TESTS) tests/regress/sd-harness.py
# The units the tests read (PKG's install rules may list them too: harmless).
EXTRA_DIST += systemd/timerd.service.in systemd/timerd.socket
