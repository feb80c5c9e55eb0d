/*
 * errmap.c -- where an error crosses the daemon boundary: each TD_* code
 * (core/err.h) to its wire ErrorCode, by an explicit switch with no
 * default over the full enum, so -Wswitch names a new code that has no
 * mapping.
 */
#include "config.h"

#include "server/srv.h"

/* The wire code for a TD_* code (TD_OK: OK); SYSTEM for a value outside the table. */
Timerd__ErrorCode errmap_wire(int td)
{
	switch ((enum td_err)td) {
	case TD_OK: return TIMERD__ERROR_CODE__OK;
	case TD_EINVAL: return TIMERD__ERROR_CODE__INVALID;
	case TD_EDEADLINE: return TIMERD__ERROR_CODE__DEADLINE;
	case TD_EOVERFLOW: return TIMERD__ERROR_CODE__OVERFLOW;
	case TD_EPERIOD: return TIMERD__ERROR_CODE__PERIOD;
	case TD_EKEYLEN: return TIMERD__ERROR_CODE__KEY_TOO_LONG;
	case TD_ETOPICLEN: return TIMERD__ERROR_CODE__TOPIC_TOO_LONG;
	case TD_EPAYLOAD: return TIMERD__ERROR_CODE__PAYLOAD_TOO_LARGE;
	case TD_EFULL: return TIMERD__ERROR_CODE__FULL;
	case TD_ENOENT: return TIMERD__ERROR_CODE__NOT_FOUND;
	case TD_ENOMEM: return TIMERD__ERROR_CODE__NO_MEMORY;
	case TD_ESYS: return TIMERD__ERROR_CODE__SYSTEM;
	case TD_EBUSY: return TIMERD__ERROR_CODE__BUSY;
	case TD_EKEYID: return TIMERD__ERROR_CODE__KEY_AND_ID;
	case TD_ETOOMANY: return TIMERD__ERROR_CODE__TOO_MANY_WATCHES;
	case TD_ERANGE_END: break;	/* the table's end, not a code */
	}
	return TIMERD__ERROR_CODE__SYSTEM;
}
