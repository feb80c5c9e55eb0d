/*
 * err.c -- messages and names for the TD_* error codes.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "err.h"

#define TD_ERR_MSG(name, num, msg) [num] = msg,
static const char *const td_messages[] = { TD_ERRORS(TD_ERR_MSG) };
#undef TD_ERR_MSG

#define TD_ERR_NAME(name, num, msg) [num] = #name,
static const char *const td_names[] = { TD_ERRORS(TD_ERR_NAME) };
#undef TD_ERR_NAME

/* Index into the tables for a code of either sign, or -1. */
static int td_err_index(int err)
{
	int i = err < 0 ? -err : err;

	if (i >= (int)(sizeof(td_messages) / sizeof(td_messages[0])) - 1 || !td_messages[i])
		return -1;
	return i;
}

const char *td_strerror(int err)
{
	int i = td_err_index(err);

	return i < 0 ? "unknown error" : td_messages[i];
}

const char *td_errname(int err)
{
	int i = td_err_index(err);

	return i < 0 ? "TD_EUNKNOWN" : td_names[i];
}

/* Writes a printf-style message into err (if err and errlen); returns -1. */
int td_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}
