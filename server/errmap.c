/*
 * errmap.c -- where an error crosses the daemon boundary: each TD_* code
 * (core/err.h) to its wire ErrorCode, and each wire ErrorCode to the loop
 * counter that counts it (ServerStats err_*). Both are explicit switches
 * with no default over the full enum, so -Wswitch names a new code that
 * has no mapping; tests/unit/test-server-errors.c walks every value.
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
	case TD_ESTORAGE: return TIMERD__ERROR_CODE__STORAGE;
	case TD_EMEMLIMIT: return TIMERD__ERROR_CODE__NO_MEMORY;
	case TD_EQUOTA: return TIMERD__ERROR_CODE__FULL;	/* rpc.c names the identity's quota */
	case TD_EOWNER: return TIMERD__ERROR_CODE__PERMISSION;	/* rpc.c names the identity and the operation */
	case TD_ERANGE_END: break;	/* the table's end, not a code */
	}
	return TIMERD__ERROR_CODE__SYSTEM;
}

/* The counter of ctr that counts an error reply with this wire code. */
_Atomic uint64_t *errmap_counter(struct loop_counters *ctr, Timerd__ErrorCode code)
{
	switch (code) {
	case TIMERD__ERROR_CODE__INVALID:
	case TIMERD__ERROR_CODE__DEADLINE:
	case TIMERD__ERROR_CODE__OVERFLOW:
	case TIMERD__ERROR_CODE__PERIOD:
	case TIMERD__ERROR_CODE__KEY_TOO_LONG:
	case TIMERD__ERROR_CODE__TOPIC_TOO_LONG:
	case TIMERD__ERROR_CODE__KEY_AND_ID: return &ctr->err_invalid;
	case TIMERD__ERROR_CODE__PAYLOAD_TOO_LARGE: return &ctr->err_payload_too_large;
	case TIMERD__ERROR_CODE__FULL: return &ctr->err_full;
	case TIMERD__ERROR_CODE__NOT_FOUND: return &ctr->err_not_found;
	case TIMERD__ERROR_CODE__NO_MEMORY: return &ctr->err_no_memory;
	case TIMERD__ERROR_CODE__SYSTEM: return &ctr->err_system;
	case TIMERD__ERROR_CODE__BUSY: return &ctr->err_busy;
	case TIMERD__ERROR_CODE__MALFORMED: return &ctr->err_malformed;
	case TIMERD__ERROR_CODE__UNKNOWN_OP: return &ctr->err_unknown_op;
	case TIMERD__ERROR_CODE__FRAME_TOO_LARGE: return &ctr->err_frame_too_large;
	case TIMERD__ERROR_CODE__TOO_MANY_INFLIGHT: return &ctr->err_too_many_inflight;
	case TIMERD__ERROR_CODE__PERMISSION: return &ctr->err_permission;
	case TIMERD__ERROR_CODE__STORAGE: return &ctr->err_storage;
	case TIMERD__ERROR_CODE__UNAUTHENTICATED: return &ctr->err_unauthenticated;
	case TIMERD__ERROR_CODE__RATE_LIMITED: return &ctr->err_rate_limited;
	case TIMERD__ERROR_CODE__OK:
	case TIMERD__ERROR_CODE__VERSION:
	case TIMERD__ERROR_CODE__TOO_MANY_CONNECTIONS:
	case TIMERD__ERROR_CODE__UNAVAILABLE:
	case TIMERD__ERROR_CODE__SHUTTING_DOWN:
	case TIMERD__ERROR_CODE__TOO_MANY_WATCHES:
	case TIMERD__ERROR_CODE__TIMEOUT:
	case TIMERD__ERROR_CODE__CONFLICT:
	case _TIMERD__ERROR_CODE_IS_INT_SIZE: break;
	}
	return &ctr->err_other;
}
