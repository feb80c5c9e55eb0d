# cal/ -- calendar schedules (systemd OnCalendar= and cron expressions) with
# time zones read from the tz database. libcal.la links only core/liberr.la.
noinst_LTLIBRARIES += cal/libcal.la
cal_libcal_la_LIBADD = core/liberr.la
cal_libcal_la_SOURCES = \
	cal/cal-int.h \
	cal/cal.c \
	cal/cal.h \
	cal/cron.c \
	cal/sdcal.c \
	cal/tz.c
