/*
 * webhook.h -- HTTP(S) callbacks: POST a group's deliveries to a URL
 * (libcurl's multi interface, driven by the caller's libevent event_base).
 *
 * Usage, on the thread that runs base:
 *
 *	webhook_global_init(err, sizeof(err));          once, before any thread starts
 *	struct webhook_config c = { .url = "https://example.com/hook", .group = "billing",
 *				    .concurrency = 8, .timeout_ns = 30 * NSEC };
 *	struct webhook *w = webhook_new(base, &c, done_cb, arg, err, sizeof(err));
 *	while (webhook_free_slots(w) > 0 && (d = next_delivery()) != NULL)
 *		webhook_post(w, d, cookie);            copies what it needs from d
 *	...
 *	done_cb(arg, cookie, ok, error, retry_after)    later, from base: ok = a 2xx answer;
 *							else error says why for a person
 *							("HTTP 500 Internal Server Error",
 *							"timeout after 2s", "connection refused"),
 *							retry_after: the answer's Retry-After (0: none)
 *	webhook_free(w);                                in-flight requests are dropped, done is not called
 *	webhook_global_cleanup();                       at exit, after every webhook is freed
 *
 * Bounds: at most config.concurrency requests in flight (webhook_post fails
 * with TD_ETOOMANY beyond it), one reusable curl easy handle per slot; the
 * response body is read and discarded, only the status line is kept;
 * redirects are not followed (a 3xx is a failure that says so).
 *
 * Threads: a webhook belongs to the thread that runs its event_base; none
 * of these functions may be called from another thread. done is called from
 * that base's callbacks, never from inside webhook_post; it may call
 * webhook_post again and may call webhook_free (the free is then finished
 * when the callback returns).
 */
#ifndef TIMERD_WEBHOOK_H
#define TIMERD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct webhook;

/* The requests in flight per webhook when the group says 0. */
#define WEBHOOK_CONCURRENCY_DEFAULT 8u
/* The most a group may ask for (each is an easy handle and a connection). */
#define WEBHOOK_CONCURRENCY_MAX 1000u
/* The longest error text handed to done, with its NUL. */
#define WEBHOOK_ERROR_MAX 256

/* One group's webhook: where and how to POST. */
struct webhook_config {
	const char *url;		/* http:// or https:// (webhook_check_url) */
	const char *group;		/* the group's name: in the body and the idempotency key */
	uint32_t concurrency;		/* requests in flight at most; 0: WEBHOOK_CONCURRENCY_DEFAULT */
	int64_t timeout_ns;		/* per request, connecting included; > 0 */
	bool insecure;			/* do not verify the server's TLS certificate and name */
};

/* One delivery to POST; webhook_post copies what it needs. */
struct webhook_delivery {
	uint64_t delivery_id;
	uint32_t attempt;		/* 1, 2, 3... */
	const char *key;		/* may be NULL (a timer without a key) */
	size_t key_len;
	const char *topic;		/* may be NULL */
	size_t topic_len;
	const uint8_t *payload;
	size_t payload_len;
	uint64_t timer_id;
	int64_t deadline_unix_ns;	/* when the fire was due */
	int64_t fired_unix_ns;		/* when it fired */
};

/*
 * The outcome of one POST: ok (a 2xx answer), or not with error, a line
 * for a person (also kept as a dead letter's last_error), and
 * retry_after_ns > 0 if the answer had a Retry-After in seconds (at most
 * WEBHOOK_RETRY_AFTER_MAX_NS). error is only valid during the call.
 */
typedef void (*webhook_done_fn)(void *arg, void *cookie, bool ok, const char *error, int64_t retry_after_ns);

/* The longest Retry-After taken from an answer (1 day); longer ones are cut to it. */
#define WEBHOOK_RETRY_AFTER_MAX_NS (86400LL * 1000000000LL)

/* Initialises libcurl once for the process (not thread-safe: call it before threads start); 0 or -1 with err. */
int webhook_global_init(char *err, size_t errlen);

/* Releases libcurl's global state; after every webhook is freed. */
void webhook_global_cleanup(void);

/* Checks a URL for a webhook (http or https, a host, no user:password); 0 or -1 with err saying what to give. */
int webhook_check_url(const char *url, char *err, size_t errlen);

/* A webhook on base calling done(arg, ...) for each answer; NULL with err if the config is invalid. */
struct webhook *webhook_new(struct event_base *base, const struct webhook_config *cfg, webhook_done_fn done,
			    void *arg, char *err, size_t errlen);

/*
 * Starts a POST of d; its answer comes to done with cookie. TD_OK, or
 * TD_ETOOMANY with concurrency requests in flight, TD_ENOMEM, TD_ESYS (curl
 * refused the handle).
 */
int webhook_post(struct webhook *w, const struct webhook_delivery *d, void *cookie);

/* Requests in flight now. */
uint32_t webhook_in_flight(const struct webhook *w);

/* Requests that webhook_post would start now (concurrency - in flight). */
uint32_t webhook_free_slots(const struct webhook *w);

/* Requests started and answers that were not a 2xx, since webhook_new. */
void webhook_counts(const struct webhook *w, uint64_t *requests, uint64_t *failures);

/*
 * Frees w: requests in flight are aborted without calling done (the caller
 * owns their cookies and makes them due again). Safe inside done.
 */
void webhook_free(struct webhook *w);

/*
 * The JSON body webhook_post sends for d (exposed for tests and docs): a
 * malloc'd NUL-terminated string, or NULL if out of memory.
 */
char *webhook_body(const char *group, const struct webhook_delivery *d, size_t *len);

#endif /* TIMERD_WEBHOOK_H */
