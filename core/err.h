/*
 * err.h -- the error codes core/ returns (negative), one table for all.
 *
 * The daemon boundary turns them into log lines or wire errors. The numbers
 * are core's own: server/errmap.c maps each TD_* to a proto ErrorCode by
 * name (a unit test walks every value), so codes here may be added or
 * renumbered without touching the wire.
 */
#ifndef TIMERD_ERR_H
#define TIMERD_ERR_H

#include <stddef.h>

#define TD_ERRORS(X)								\
	X(TD_OK,            0, "ok")						\
	X(TD_EINVAL,        1, "invalid argument")				\
	X(TD_EDEADLINE,     2, "invalid deadline: negative or out of range") \
	X(TD_EOVERFLOW,     3, "deadline overflows the clock range (more than 292 years)") \
	X(TD_EPERIOD,       4, "invalid period: must be positive and at least 1 microsecond") \
	X(TD_EKEYLEN,       5, "key too long")					\
	X(TD_ETOPICLEN,     6, "topic too long")					\
	X(TD_EPAYLOAD,      7, "payload too large")				\
	X(TD_EFULL,         8, "too many pending timers (max_timers reached)")	\
	X(TD_ENOENT,        9, "no such timer")					\
	X(TD_ENOMEM,       10, "out of memory")					\
	X(TD_ESYS,         11, "system call failed")				\
	X(TD_EBUSY,        12, "resource busy")					\
	X(TD_EKEYID,       13, "give a key or an id, not both")			\
	X(TD_ETOOMANY,     14, "too many: a per-connection limit is reached")	\
	X(TD_ESTORAGE,      15, "the timer store cannot be written")	\
	X(TD_EMEMLIMIT,    16, "the memory budget (max_memory) is used up") \
	X(TD_EQUOTA,       17, "the arming identity's own quota (max_timers or max_bytes of its account) is used up") \
	X(TD_EOWNER,       18, "the timer was armed by another owner (its label is not the writer's)") \
	X(TD_ERANGE_END,   19, "")

#define TD_ERR_ENUM(name, num, msg) name = -(num),
enum td_err { TD_ERRORS(TD_ERR_ENUM) };
#undef TD_ERR_ENUM

/* Human message for a TD_* code (negative or positive); never NULL. */
const char *td_strerror(int err);

/* Symbolic name ("TD_ENOENT") for a TD_* code; never NULL. */
const char *td_errname(int err);

/* Writes a printf-style message into err (if err and errlen); returns -1. */
int td_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* TIMERD_ERR_H */
