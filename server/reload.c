/*
 * reload.c -- SIGHUP (systemctl reload timerd): re-read the config file,
 * with the command line re-applied over it as at start, and apply what can
 * change at run time; everything else that changed is logged as needing a
 * restart and keeps its old value. A file with any error is rejected as a
 * whole. Timers and connections are never touched.
 *
 * Runs on the main thread. New limits reach the loop threads as a copy in
 * a LOOP_MSG_LIMITS message (srv.h, struct srv_limits); the log level and
 * target are the log's own atomics (log.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/log.h"
#include "server/srv.h"

/* What one reload found: the old and new settings and what it did. */
struct reload_run {
	struct srv *s;
	struct srv_config *n;		/* the file and flags as they are now */
	bool limits;			/* a loop limit changed: post them */
	bool tls_failed;		/* a tls-* setting could not be taken */
	unsigned applied, restart;	/* settings changed at once; changes that need a restart */
};

/* Applies one changed setting to s->cfg (and wherever it lives); false if it could not. */
typedef bool (*reload_apply_fn)(struct reload_run *r);

/* The log target a config means: log, else stderr in the foreground and syslog as a daemon (main.c). */
static const char *reload_log_target(const struct srv_config *c)
{
	return c->log ? c->log : c->foreground ? "stderr" : "syslog";
}

/* log: switches the log to the new target (the old one stays if it cannot be opened). */
static bool reload_log(struct reload_run *r)
{
	char err[512];
	char *v = r->n->log ? strdup(r->n->log) : NULL;

	if ((r->n->log && !v) || log_retarget(reload_log_target(r->n), err, sizeof(err)) < 0) {
		log_err("reload: %s; the log stays at %s", v ? err : "out of memory", reload_log_target(r->s->cfg));
		free(v);
		return false;
	}
	free(r->s->cfg->log);
	r->s->cfg->log = v;
	return true;
}

/* log-level. */
static bool reload_log_level(struct reload_run *r)
{
	r->s->cfg->log_level = r->n->log_level;
	log_set_level(r->n->log_level);
	return true;
}

/* max-connections: read by the acceptor, which is this (the main) thread. */
static bool reload_max_connections(struct reload_run *r)
{
	r->s->cfg->max_connections = r->n->max_connections;
	return true;
}

/* max-inflight, max-output, max-payload: the loops get a new struct srv_limits. */
static bool reload_limit(struct reload_run *r)
{
	r->s->cfg->max_inflight = r->n->max_inflight;
	r->s->cfg->max_output = r->n->max_output;
	r->s->cfg->max_payload = r->n->max_payload;
	r->limits = true;
	return true;
}

/* Replaces string setting *dst with a copy of v; false when out of memory. */
static bool reload_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;

	if (v && !c)
		return false;
	free(*dst);
	*dst = c;
	return true;
}

/*
 * tls-cert, tls-key, tls-ca, tls-verify-client: taken into s->cfg; the
 * context is rebuilt from them after the diff (reload_apply), for new
 * connections. Turning TLS off needs a restart: a reload never downgrades
 * the listener to plaintext.
 */
static bool reload_tls(struct reload_run *r)
{
	struct srv_config *c = r->s->cfg;

	if (c->tls_cert && !r->n->tls_cert) {
		log_warn("reload: tls-cert was removed: TLS stays on until a restart (systemctl restart timerd)");
		r->tls_failed = true;
		return false;
	}
	if (!reload_str(&c->tls_cert, r->n->tls_cert) || !reload_str(&c->tls_key, r->n->tls_key) ||
	    !reload_str(&c->tls_ca, r->n->tls_ca) || !reload_str(&c->tls_verify_client, r->n->tls_verify_client)) {
		log_err("reload: out of memory taking the tls settings");
		r->tls_failed = true;
		return false;
	}
	return true;
}

/* users: the new path is taken; the file is (re-)read after the diff (reload_apply: auth_reload). */
static bool reload_users(struct reload_run *r)
{
	if (!r->n->users) {
		log_warn("reload: users was removed: identities stay in force until a restart (systemctl restart timerd)");
		return false;
	}
	if (!reload_str(&r->s->cfg->users, r->n->users)) {
		log_err("reload: out of memory taking the users setting");
		return false;
	}
	return true;
}

/*
 * metrics-topics: the new list's table replaces the old one under the
 * counting engine threads (topic_metrics_swap: counts of the topics both
 * lists have carry over); the next scrape shows it.
 */
static bool reload_metrics_topics(struct reload_run *r)
{
	char err[512];
	char *v = r->n->metrics_topics ? strdup(r->n->metrics_topics) : NULL;

	if ((r->n->metrics_topics && !v) ||
	    topic_metrics_swap(&r->s->topic_metrics, v, r->s->cfg->max_topic, err, sizeof(err)) < 0) {
		log_err("reload: %s; metrics-topics keeps its running value", v ? err : "out of memory");
		free(v);
		return false;
	}
	free(r->s->cfg->metrics_topics);
	r->s->cfg->metrics_topics = v;
	return true;
}

/*
 * The settings a reload changes at run time; any other setting that
 * changed needs a restart. A later setting (users, TLS certificates, group
 * settings) joins with its apply function; one that the loops read rides in
 * struct srv_limits (or a message of its own) like the limits.
 */
static const struct {
	const char *name;
	reload_apply_fn apply;
} reload_settings[] = {
	{ "log", reload_log },
	{ "log-level", reload_log_level },
	{ "max-connections", reload_max_connections },
	{ "max-inflight", reload_limit },
	{ "max-output", reload_limit },
	{ "max-payload", reload_limit },
	{ "metrics-topics", reload_metrics_topics },
	{ "tls-cert", reload_tls },	/* and every SIGHUP re-reads the files (renewed in place) */
	{ "tls-key", reload_tls },
	{ "tls-ca", reload_tls },
	{ "tls-verify-client", reload_tls },
	{ "users", reload_users },	/* and every SIGHUP re-reads the file */
};

/* The apply function of a reloadable setting, or NULL. */
static reload_apply_fn reload_find(const char *name)
{
	for (size_t i = 0; i < sizeof(reload_settings) / sizeof(reload_settings[0]); i++)
		if (strcmp(reload_settings[i].name, name) == 0)
			return reload_settings[i].apply;
	return NULL;
}

/* settings_diff's callback: applies a reloadable change, logs the others. */
static void reload_changed(const char *name, void *arg)
{
	struct reload_run *r = arg;
	reload_apply_fn apply = reload_find(name);

	if (!apply) {
		r->restart++;
		log_warn("reload: %s changed in %s but takes effect only at a restart (systemctl restart timerd); "
			 "keeping the running value", name, r->s->cfg->config_file);
	} else if (apply(r)) {
		r->applied++;
		log_notice("reload: %s changed: in effect now", name);
	}
}

/* The limits of s->cfg; the payload high-water mark only grows. */
void reload_limits(const struct srv *s, struct srv_limits *lim)
{
	uint32_t hwm = lim->max_payload_hwm;

	lim->max_inflight = s->cfg->max_inflight;
	lim->max_payload = s->cfg->max_payload;
	lim->max_payload_hwm = hwm > s->cfg->max_payload ? hwm : s->cfg->max_payload;
	lim->max_output = s->cfg->max_output;
}

/* Hands the new limits to every loop thread (one that cannot get them is logged). */
static void reload_post_limits(struct srv *s)
{
	struct srv_limits lim = s->lim_sent;	/* main thread's: keeps the payload high-water mark */

	reload_limits(s, &lim);
	s->lim_sent = lim;
	for (unsigned i = 0; i < s->nloops; i++) {
		struct loop_msg *m = calloc(1, sizeof(*m));

		if (!m) {
			log_err("reload: out of memory: loop %u keeps its old limits", i);
			continue;
		}
		m->type = LOOP_MSG_LIMITS;
		m->fd = -1;
		m->lim = lim;
		loop_post(&s->loops[i], m);
	}
}

/* Checks the running settings with the reloadable ones taken from n; 0 or -1 with err. */
static int reload_check(const struct srv *s, const struct srv_config *n, char *err, size_t errlen)
{
	struct srv_config merged = *s->cfg;	/* shallow: read only, for settings_check */

	merged.log_level = n->log_level;
	merged.max_connections = n->max_connections;
	merged.max_inflight = n->max_inflight;
	merged.max_output = n->max_output;
	merged.max_payload = n->max_payload;
	merged.metrics_topics = n->metrics_topics;
	merged.tls_cert = n->tls_cert ? n->tls_cert : s->cfg->tls_cert;	/* removing it is refused (reload_tls) */
	merged.tls_key = n->tls_cert ? n->tls_key : s->cfg->tls_key;
	merged.tls_ca = n->tls_cert ? n->tls_ca : s->cfg->tls_ca;
	merged.tls_verify_client = n->tls_cert ? n->tls_verify_client : s->cfg->tls_verify_client;
	return settings_check(&merged, err, errlen);
}

/* Re-reads the config file; applies what changed or rejects it whole. */
static const char *reload_apply(struct srv *s, char *err, size_t errlen)
{
	struct reload_run r = { .s = s };
	struct srv_config n;
	static char how[128];

	settings_init(&n);
	if (settings_parse(&n, s->cfg->argc, s->cfg->argv, err, errlen) != SETTINGS_RUN ||
	    reload_check(s, &n, err, errlen) < 0) {
		settings_free(&n);
		log_err("reload rejected, every setting keeps its running value: %s", err);
		return "reload rejected (see the log)";
	}
	r.n = &n;
	settings_diff(s->cfg, &n, reload_changed, &r);
	if (r.limits)
		reload_post_limits(s);
	if (!r.tls_failed)
		tls_reload(s);	/* certificate files are re-read even when their names did not change */
	auth_reload(s);		/* so is the users file */
	settings_free(&n);
	snprintf(how, sizeof(how), "reloaded: %u changed, %u need a restart", r.applied, r.restart);
	log_notice("%s %s", s->cfg->config_file, how);
	return how;
}

/* SIGHUP: re-reads the config file. */
void reload_config(struct srv *s)
{
	char err[1024];

	notify_reloading(s);
	if (!s->cfg->config_file) {
		log_notice("SIGHUP: no --config file to re-read (the log was reopened)");
		tls_reload(s);
		auth_reload(s);
		notify_reloaded(s, "reloaded: no config file");
		return;
	}
	notify_reloaded(s, reload_apply(s, err, sizeof(err)));
}
