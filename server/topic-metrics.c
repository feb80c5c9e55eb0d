/*
 * topic-metrics.c -- parsing metrics-topics (topic-metrics.h): at most
 * TOPIC_METRICS_MAX distinct non-empty topics, none of them "other" (the
 * label of the rest); spaces around a comma are dropped.
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "server/topic-metrics.h"

/* Parses list into tm (topic-metrics.h); 0, or -1 with err. */
int topic_metrics_parse(struct topic_metrics *tm, const char *list, size_t max_topic, char *err, size_t errlen)
{
	char *tok, *save = NULL;

	memset(tm, 0, sizeof(*tm));
	if (!list || !*list)
		return 0;
	if (!(tm->buf = strdup(list)))
		return td_errf(err, errlen, "metrics-topics: out of memory");
	for (tok = strtok_r(tm->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		n = strlen(tok);
		while (n && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			tok[--n] = '\0';
		if (!n)
			continue;
		if (n > max_topic)
			goto bad_len;
		if (!strcmp(tok, "other")) {
			td_errf(err, errlen, "metrics-topics: 'other' is the label of the unlisted topics: leave it out");
			goto fail;
		}
		for (unsigned i = 0; i < tm->n; i++)
			if (!strcmp(tm->name[i], tok)) {
				td_errf(err, errlen, "metrics-topics: '%.100s' is listed twice", tok);
				goto fail;
			}
		if (tm->n == TOPIC_METRICS_MAX) {
			td_errf(err, errlen, "metrics-topics: more than %d topics: list fewer (each is a metric series)",
				TOPIC_METRICS_MAX);
			goto fail;
		}
		tm->name[tm->n] = tok;
		tm->len[tm->n++] = n;
	}
	if (!tm->n) {
		free(tm->buf);
		tm->buf = NULL;
	}
	return 0;
bad_len:
	td_errf(err, errlen, "metrics-topics: '%.100s...' is longer than max-topic (%zu bytes)", tok, max_topic);
fail:
	topic_metrics_free(tm);
	return -1;
}

/* Frees tm's copy of the list and turns counting off. */
void topic_metrics_free(struct topic_metrics *tm)
{
	free(tm->buf);
	memset(tm, 0, sizeof(*tm));
}

/* A new table for list: NULL with nothing listed (*err empty) or on an error (*err set). */
static struct topic_metrics *topic_metrics_new(const char *list, size_t max_topic, char *err, size_t errlen)
{
	struct topic_metrics *tm = calloc(1, sizeof(*tm));

	*err = '\0';
	if (!tm) {
		td_errf(err, errlen, "metrics-topics: out of memory");
		return NULL;
	}
	if (topic_metrics_parse(tm, list, max_topic, err, errlen) < 0 || !tm->n) {
		free(tm);
		return NULL;
	}
	return tm;
}

/* Frees a table topic_metrics_new made (NULL: nothing). */
static void topic_metrics_release(struct topic_metrics *tm)
{
	if (!tm)
		return;
	topic_metrics_free(tm);
	free(tm);
}

int topic_metrics_init(struct topic_metrics_ref *ref, const char *list, size_t max_topic, char *err, size_t errlen)
{
	struct topic_metrics *tm = topic_metrics_new(list, max_topic, err, errlen);

	memset(ref, 0, sizeof(*ref));
	if (!tm && *err)
		return -1;
	if (pthread_mutex_init(&ref->scrape, NULL)) {
		topic_metrics_release(tm);
		return td_errf(err, errlen, "metrics-topics: cannot create its lock (out of memory?)");
	}
	atomic_init(&ref->cur, tm);
	return 0;
}

/* Waits until no reader counted in readers[parity] is left (swap's grace period, one half). */
static void topic_metrics_drain(struct topic_metrics_ref *ref, unsigned parity)
{
	/*
	 * seq_cst: the store-buffering shape against topic_metrics_enter (it
	 * adds to readers[p], then loads cur; swap exchanges cur, then loads
	 * readers[p]): with all four seq_cst, a reader whose count this load
	 * misses comes after it in the single total order, so its load of cur
	 * sees the new table. Also the acquire half of topic_metrics_exit's
	 * release, so the readers' loads of the table precede the free.
	 */
	for (unsigned spins = 0, us = 50; atomic_load_explicit(&ref->readers[parity], memory_order_seq_cst); spins++) {
		struct timespec ts = { 0, (long)us * 1000 };

		if (spins < 8) {	/* a reader section is short: a few yields first */
			sched_yield();
			continue;
		}
		nanosleep(&ts, NULL);	/* then back off, 50 us doubling to 1 ms, off the main thread's CPU */
		if (us < 1000)
			us = us * 2 > 1000 ? 1000 : us * 2;
	}
}

/* Adds old's count of each topic nw also lists, and of "other", to nw's. */
static void topic_metrics_carry(struct topic_metrics *nw, const struct topic_metrics *old)
{
	if (!nw || !old)
		return;
	for (unsigned i = 0; i <= old->n; i++) {
		unsigned j = nw->n;	/* "other" */

		for (unsigned k = 0; i < old->n && k < nw->n; k++)
			if (nw->len[k] == old->len[i] && !memcmp(nw->name[k], old->name[i], old->len[i]))
				j = k;
		if (i < old->n && j == nw->n)
			continue;	/* dropped from the list: its series goes */
		/* relaxed: counters; old has no reader left */
		atomic_fetch_add_explicit(&nw->fires[j], atomic_load_explicit(&old->fires[i], memory_order_relaxed),
					  memory_order_relaxed);
	}
}

int topic_metrics_swap(struct topic_metrics_ref *ref, const char *list, size_t max_topic, char *err, size_t errlen)
{
	struct topic_metrics *nw = topic_metrics_new(list, max_topic, err, errlen), *old;

	if (!nw && *err)
		return -1;
	/*
	 * seq_cst, as the drains' loads of readers[] are: store buffering
	 * against topic_metrics_enter (see topic_metrics_drain); an acquire load
	 * there could miss a reader that still loaded the old table
	 */
	pthread_mutex_lock(&ref->scrape);	/* no scrape sees nw before old's counts are in it */
	old = atomic_exchange_explicit(&ref->cur, nw, memory_order_seq_cst);
	for (int k = 0; k < 2; k++)	/* SRCU: each parity drains once after a flip away from it */
		topic_metrics_drain(ref, atomic_fetch_add_explicit(&ref->epoch, 1, memory_order_seq_cst) & 1);
	topic_metrics_carry(nw, old);
	pthread_mutex_unlock(&ref->scrape);
	topic_metrics_release(old);
	return 0;
}

void topic_metrics_destroy(struct topic_metrics_ref *ref)
{
	/* relaxed: at exit, no thread counts or scrapes any more */
	topic_metrics_release(atomic_exchange_explicit(&ref->cur, NULL, memory_order_relaxed));
	pthread_mutex_destroy(&ref->scrape);
}
