/*
 * srv-cal.c -- the daemon's side of calendar schedules (cal/cal.h) beyond
 * the Arm RPC: the tz database reload on SIGHUP.
 */
#include "config.h"

#include "cal/cal.h"
#include "core/err.h"
#include "server/log.h"
#include "server/srv.h"

void srv_cal_reload(struct srv *s)
{
	int rc = cal_tz_reload();

	if (rc != 0) {
		log_warn("SIGHUP: cannot re-read the time zone database (%s): calendar timers keep the rules "
			 "they had; fix /usr/share/zoneinfo and send SIGHUP again", td_strerror(rc));
		return;
	}
	engine_cal_changed(s->engine);	/* the dispatcher re-places every calendar timer */
	log_notice("SIGHUP: time zone database re-read; calendar timers re-placed at their next elapse");
}
