/*
 * topic-metrics.h -- per-topic fire counters for the topics an operator
 * lists in metrics-topics (GET /metrics: timerd_topic_fires_total{topic}),
 * every other topic counted as "other". Empty list: no counting at all.
 */
#ifndef TIMERD_SERVER_TOPIC_METRICS_H
#define TIMERD_SERVER_TOPIC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TOPIC_METRICS_MAX 64	/* topics metrics-topics may list: the series stay bounded */

struct topic_metrics {
	unsigned n;				/* topics listed; 0: off */
	char *buf;				/* the list's copy; name[] point into it */
	const char *name[TOPIC_METRICS_MAX];
	size_t len[TOPIC_METRICS_MAX];
	_Atomic uint64_t fires[TOPIC_METRICS_MAX + 1];	/* fires[n]: every other topic */
};

/* Parses list (comma-separated topics; NULL or "": off) into tm; 0, or -1 with err. */
int topic_metrics_parse(struct topic_metrics *tm, const char *list, size_t max_topic, char *err, size_t errlen);

/* Frees what topic_metrics_parse allocated. */
void topic_metrics_free(struct topic_metrics *tm);

/* Counts one fire of topic (engine threads); nothing when no topic is listed. */
static inline void topic_metrics_count(struct topic_metrics *tm, const char *topic, size_t len)
{
	unsigned i;

	if (!tm->n)
		return;
	for (i = 0; i < tm->n; i++)
		if (tm->len[i] == len && !memcmp(tm->name[i], topic, len))
			break;
	/* relaxed: a counter, read alone by a scrape */
	atomic_fetch_add_explicit(&tm->fires[i], 1, memory_order_relaxed);
}

#endif
