/*
 * units.h -- durations ("250ms", "1h30m") and RFC 3339 times, parsed and
 * printed the same way by timerd's configuration and by timerctl.
 *
 * Duration grammar: one or more <number><unit> terms, summed; a number may
 * have a fraction ("1.5s"); units ns, us (or µs), ms, s, m, h, d. "0" alone
 * is zero. No sign, no spaces.
 *
 * Time grammar (RFC 3339, section 5.6): YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM);
 * 't', 'z' and a space in place of 'T' are accepted.
 */
#ifndef TIMERD_UNITS_H
#define TIMERD_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Buffer size that always fits units_duration_format / units_time_format output. */
#define UNITS_BUFSZ 48

/*
 * Parses a duration into *ns; 0 or -1 with a message for the user in err
 * (what is wrong and an example of what works).
 */
int units_duration_parse(const char *s, int64_t *ns, char *err, size_t errlen);

/* Formats ns compactly ("1h30m", "4.25s", "250ms", "-3s"); returns buf. */
char *units_duration_format(int64_t ns, char *buf, size_t len);

/* Parses an RFC 3339 time into unix ns; 0 or -1 with a message in err. */
int units_time_parse(const char *s, int64_t *unix_ns, char *err, size_t errlen);

/* Formats unix ns as RFC 3339 with milliseconds, in UTC or local time; returns buf. */
char *units_time_format(int64_t unix_ns, bool utc, char *buf, size_t len);

#endif /* TIMERD_UNITS_H */
