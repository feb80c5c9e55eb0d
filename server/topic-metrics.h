/*
 * topic-metrics.h -- per-topic fire counters for the topics an operator
 * lists in metrics-topics (GET /metrics: timerd_topic_fires_total{topic}),
 * every other topic counted as "other". Empty list: no counting at all.
 *
 * The list in force is a table behind struct topic_metrics_ref, replaced
 * by a SIGHUP reload (topic_metrics_swap) while engine threads count and
 * loop threads scrape. Usage (reader, any thread):
 *
 *	unsigned slot;
 *	struct topic_metrics *tm = topic_metrics_enter(ref, &slot);
 *	if (tm)
 *		use(tm);            tm is not freed until the exit
 *	topic_metrics_exit(ref, slot);
 *
 * Reclamation is SRCU's: a reader counts itself in readers[epoch & 1]
 * before loading the table; the updater publishes the new table, then
 * twice flips the epoch and waits for the readers of the parity it left to
 * drain, so every reader that may hold the old table has exited before it
 * is freed. A reader section is a few memcmps (a scrape: formatting 65
 * lines), so the wait is short; nothing waits when counting is off.
 *
 * A scrape reads under ref->scrape (topic_metrics_scrape_begin/_end),
 * which a swap holds from publishing the new table (its counts still 0)
 * until the old one's are carried in, so no scrape sees a count drop.
 *
 *	                 enter/exit   swap
 *	enter/exit       yes          yes
 *	swap             yes          no (the main thread's reload only)
 */
#ifndef TIMERD_SERVER_TOPIC_METRICS_H
#define TIMERD_SERVER_TOPIC_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

/* The table in force and its readers (srv->topic_metrics). */
struct topic_metrics_ref {
	struct topic_metrics *_Atomic cur;	/* NULL: no topic listed, nothing counted */
	_Atomic unsigned epoch;			/* its low bit: the readers[] a new reader counts in */
	/* written by every counting thread: padded onto a line of their own, away from cur and epoch
	 * (read-mostly); padding, not _Alignas: struct srv is calloc'ed */
	char pad0[64];
	_Atomic uint64_t readers[2];
	char pad1[64 - 2 * sizeof(uint64_t)];
	/* held by a scrape's read (topic_metrics_scrape_begin) and by a swap from its exchange of cur until
	 * old's counts are carried into the new table: a scrape never sees a counter go down (Prometheus
	 * reads a drop as a reset); counting does not take it */
	pthread_mutex_t scrape;
};

/* Parses list (comma-separated topics; NULL or "": off) into tm; 0, or -1 with err. */
int topic_metrics_parse(struct topic_metrics *tm, const char *list, size_t max_topic, char *err, size_t errlen);

/* Frees what topic_metrics_parse allocated. */
void topic_metrics_free(struct topic_metrics *tm);

/* Makes ref's table from list (topic_metrics_parse) at start, before any reader; 0, or -1 with err. */
int topic_metrics_init(struct topic_metrics_ref *ref, const char *list, size_t max_topic, char *err, size_t errlen);

/*
 * Puts the table of list in force (a reload, main thread): the counts of
 * the topics both lists have, and of "other", carry over; a topic left out
 * loses its series. Returns after the old table is freed. 0, or -1 with
 * err (the old list stays).
 */
int topic_metrics_swap(struct topic_metrics_ref *ref, const char *list, size_t max_topic, char *err, size_t errlen);

/* Frees ref's table (at exit: no reader left). */
void topic_metrics_destroy(struct topic_metrics_ref *ref);

/* Enters a reader section; returns the table in force (NULL: off), valid until topic_metrics_exit. */
static inline struct topic_metrics *topic_metrics_enter(struct topic_metrics_ref *ref, unsigned *slot)
{
	/* relaxed: a stale parity is safe, swap waits for both (see the header) */
	*slot = atomic_load_explicit(&ref->epoch, memory_order_relaxed) & 1;
	/* seq_cst: the count is ordered before the load of cur, against swap's exchange and its loads of readers[] */
	atomic_fetch_add_explicit(&ref->readers[*slot], 1, memory_order_seq_cst);
	return atomic_load_explicit(&ref->cur, memory_order_seq_cst);
}

/* Leaves the reader section topic_metrics_enter opened. */
static inline void topic_metrics_exit(struct topic_metrics_ref *ref, unsigned slot)
{
	/* release: the section's reads of the table happen before swap's acquire load sees the count drop */
	atomic_fetch_sub_explicit(&ref->readers[slot], 1, memory_order_release);
}

/* Enters a scrape's read section (a reader section under ref->scrape); returns the table in force (NULL: off). */
static inline struct topic_metrics *topic_metrics_scrape_begin(struct topic_metrics_ref *ref, unsigned *slot)
{
	pthread_mutex_lock(&ref->scrape);
	return topic_metrics_enter(ref, slot);
}

/* Leaves the section topic_metrics_scrape_begin opened. */
static inline void topic_metrics_scrape_end(struct topic_metrics_ref *ref, unsigned slot)
{
	topic_metrics_exit(ref, slot);
	pthread_mutex_unlock(&ref->scrape);
}

/* Counts one fire of topic (engine threads); nothing when no topic is listed. */
static inline void topic_metrics_count(struct topic_metrics_ref *ref, const char *topic, size_t len)
{
	struct topic_metrics *tm;
	unsigned i, slot;

	/* relaxed: off is the common case; a fire racing a reload that turns counting on may go uncounted */
	if (!atomic_load_explicit(&ref->cur, memory_order_relaxed))
		return;
	if ((tm = topic_metrics_enter(ref, &slot))) {
		for (i = 0; i < tm->n; i++)
			if (tm->len[i] == len && !memcmp(tm->name[i], topic, len))
				break;
		/* relaxed: a counter, read alone by a scrape */
		atomic_fetch_add_explicit(&tm->fires[i], 1, memory_order_relaxed);
	}
	topic_metrics_exit(ref, slot);
}

#endif
