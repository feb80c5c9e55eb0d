/*
 * topic-metrics.c -- parsing metrics-topics (topic-metrics.h): at most
 * TOPIC_METRICS_MAX distinct non-empty topics, none of them "other" (the
 * label of the rest); spaces around a comma are dropped.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
