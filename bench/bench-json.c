/*
 * bench-json.c -- the JSON libraries Debian packages for C, on the
 * messages timerd's HTTP API sends and takes: jansson (the one timerd
 * uses), json-c and cJSON, side by side in one run.
 *
 * Messages: an arm request body, a Timer (GET /v1/timers/{key}), a Fire
 * (one SSE event) and a StatsReply (GET /v1/stats: four objects, ~110
 * numbers). Each is described once as a field table; every library builds
 * the same tree from it and prints it compactly (encode), or parses the
 * text and reads every field back by name (decode).
 *
 * Output: a meta line, then one JSON line per (message, op, library) with
 * the median ns per message of --reps repetitions of --ms milliseconds.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * jansson and json-c both define json_object_get and more: they cannot
 * share a program. This file builds twice: bench-json (jansson and cJSON,
 * BJ_JSONC undefined), which then runs bench-json-c (json-c, BJ_JSONC) for
 * the third column of the same run.
 */
#ifdef BJ_JSONC
#include <json-c/json.h>
#else
#include <cjson/cJSON.h>
#include <jansson.h>
#include <libgen.h>
#include <unistd.h>
#endif

enum bj_type { BJ_INT, BJ_STR, BJ_BOOL, BJ_OBJ };

struct bj_field {
	const char *name;
	enum bj_type type;
	int64_t i;
	const char *s;
	const struct bj_field *sub;	/* BJ_OBJ: fields, ended by a NULL name */
};

#define I(n, v) { n, BJ_INT, v, NULL, NULL }
#define S(n, v) { n, BJ_STR, 0, v, NULL }
#define B(n, v) { n, BJ_BOOL, v, NULL, NULL }
#define END { NULL, BJ_INT, 0, NULL, NULL }

static const struct bj_field bj_arm[] = {
	S("in", "250ms"), S("topic", "jobs"), S("payload", "order 1234 is ready to ship"), S("misfire", "skip"),
	B("ephemeral", 0), END,
};
static const struct bj_field bj_timer[] = {
	I("timer_id", 17592186044416), S("key", "job-7"), S("topic", "jobs"), S("payload", "order 1234 is ready"),
	I("payload_len", 19), I("deadline_mono_ns", 11766957755913), I("deadline_unix_ns", 1796126422850545116),
	I("period_ns", 0), B("realtime", 0), B("notify", 0), B("ephemeral", 0), S("misfire", "MISFIRE_FIRE"), END,
};
static const struct bj_field bj_fire[] = {
	I("timer_id", 17592186044416), S("key", "job-7"), S("topic", "jobs"), S("payload", "order 1234 is ready"),
	I("deadline_mono_ns", 11866416333150), I("fired_mono_ns", 11866416341010),
	I("deadline_unix_ns", 1796126522309122424), I("period_ns", 0), I("seq", 1), I("missed", 0), B("final", 1),
	B("recovered", 0), END,
};
/* StatsReply's shape: the field counts of EngineStats, ServerStats, ProbeStats and StoreStats. */
static struct bj_field bj_engine[25], bj_server[46], bj_probes[10], bj_store[26];
static char bj_names[4][46][24];
static const struct bj_field bj_stats[] = {
	{ "engine", BJ_OBJ, 0, NULL, bj_engine }, { "server", BJ_OBJ, 0, NULL, bj_server },
	{ "probes", BJ_OBJ, 0, NULL, bj_probes }, S("version", "timerd 0.1.0"), S("stats_db", "/var/lib/timerd/stats.db"),
	I("now_mono_ns", 11866416341010), I("now_unix_ns", 1796126522309122424),
	{ "store", BJ_OBJ, 0, NULL, bj_store }, END,
};

/* Fills a stats group of n numeric fields named like counters. */
static void bj_stats_group(struct bj_field *f, int n, int g)
{
	for (int i = 0; i < n - 1; i++) {
		snprintf(bj_names[g][i], sizeof(bj_names[g][i]), "counter_%02d", i);
		f[i] = (struct bj_field)I(bj_names[g][i], (int64_t)(i + 1) * 1234567);
	}
	f[n - 1] = (struct bj_field)END;
}

#ifndef BJ_JSONC
/* --- jansson --- */

static json_t *ja_build(const struct bj_field *f)
{
	json_t *o = json_object();

	for (; f->name; f++)
		json_object_set_new(o, f->name, f->type == BJ_INT ? json_integer(f->i) : f->type == BJ_STR ?
				    json_string(f->s) : f->type == BJ_BOOL ? json_boolean(f->i) : ja_build(f->sub));
	return o;
}

static size_t ja_encode(const struct bj_field *f)
{
	json_t *o = ja_build(f);
	char *s = json_dumps(o, JSON_COMPACT);
	size_t n = strlen(s);

	free(s);
	json_decref(o);
	return n;
}

static int64_t ja_read(json_t *o, const struct bj_field *f)
{
	int64_t sum = 0;

	for (; f->name; f++) {
		json_t *v = json_object_get(o, f->name);

		sum += f->type == BJ_INT ? json_integer_value(v) : f->type == BJ_STR ? (int64_t)strlen(json_string_value(v)) :
		       f->type == BJ_BOOL ? json_is_true(v) : ja_read(v, f->sub);
	}
	return sum;
}

static int64_t ja_decode(const char *text, size_t n, const struct bj_field *f)
{
	json_t *o = json_loadb(text, n, 0, NULL);
	int64_t sum = ja_read(o, f);

	json_decref(o);
	return sum;
}

#endif

#ifdef BJ_JSONC
/* --- json-c --- */

static struct json_object *jc_build(const struct bj_field *f)
{
	struct json_object *o = json_object_new_object();

	for (; f->name; f++)
		json_object_object_add(o, f->name, f->type == BJ_INT ? json_object_new_int64(f->i) : f->type == BJ_STR ?
				       json_object_new_string(f->s) : f->type == BJ_BOOL ? json_object_new_boolean((int)f->i) :
				       jc_build(f->sub));
	return o;
}

static size_t jc_encode(const struct bj_field *f)
{
	struct json_object *o = jc_build(f);
	size_t n = strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return n;
}

static int64_t jc_read(struct json_object *o, const struct bj_field *f)
{
	int64_t sum = 0;

	for (; f->name; f++) {
		struct json_object *v = NULL;

		json_object_object_get_ex(o, f->name, &v);
		sum += f->type == BJ_INT ? json_object_get_int64(v) : f->type == BJ_STR ?
		       (int64_t)strlen(json_object_get_string(v)) : f->type == BJ_BOOL ? json_object_get_boolean(v) :
		       jc_read(v, f->sub);
	}
	return sum;
}

static int64_t jc_decode(const char *text, size_t n, const struct bj_field *f)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)n);
	int64_t sum = jc_read(o, f);

	json_object_put(o);
	json_tokener_free(tok);
	return sum;
}

#endif

#ifndef BJ_JSONC
/* --- cJSON --- */

static cJSON *cj_build(const struct bj_field *f)
{
	cJSON *o = cJSON_CreateObject();

	for (; f->name; f++)
		cJSON_AddItemToObject(o, f->name, f->type == BJ_INT ? cJSON_CreateNumber((double)f->i) :
				      f->type == BJ_STR ? cJSON_CreateString(f->s) : f->type == BJ_BOOL ?
				      cJSON_CreateBool((int)f->i) : cj_build(f->sub));
	return o;
}

static size_t cj_encode(const struct bj_field *f)
{
	cJSON *o = cj_build(f);
	char *s = cJSON_PrintUnformatted(o);
	size_t n = strlen(s);

	cJSON_free(s);
	cJSON_Delete(o);
	return n;
}

static int64_t cj_read(cJSON *o, const struct bj_field *f)
{
	int64_t sum = 0;

	for (; f->name; f++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);

		sum += f->type == BJ_INT ? (int64_t)cJSON_GetNumberValue(v) : f->type == BJ_STR ?
		       (int64_t)strlen(cJSON_GetStringValue(v)) : f->type == BJ_BOOL ? cJSON_IsTrue(v) : cj_read(v, f->sub);
	}
	return sum;
}

static int64_t cj_decode(const char *text, size_t n, const struct bj_field *f)
{
	cJSON *o = cJSON_ParseWithLength(text, n);
	int64_t sum = cj_read(o, f);

	cJSON_Delete(o);
	return sum;
}

#endif

/* --- driver --- */

struct bj_lib {
	const char *name, *version;
	size_t (*encode)(const struct bj_field *f);
	int64_t (*decode)(const char *text, size_t n, const struct bj_field *f);
};

static double bj_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bj_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static volatile int64_t bj_sink;

/* ns per message of one op, median of reps runs of ms milliseconds each. */
static void bj_run(const struct bj_lib *lib, const char *msg, const struct bj_field *f, const char *text, int dec,
		   int reps, int ms)
{
	double v[16];
	size_t n = strlen(text);

	for (int r = 0; r < reps; r++) {
		double t0 = bj_now(), t;
		uint64_t k = 0;

		do {
			for (int i = 0; i < 64; i++)
				bj_sink += dec ? lib->decode(text, n, f) : (int64_t)lib->encode(f);
			k += 64;
			t = bj_now();
		} while (t - t0 < ms * 1e6);
		v[r] = (t - t0) / (double)k;
	}
	qsort(v, (size_t)reps, sizeof(v[0]), bj_cmp);
	printf("{\"bench\":\"json.%s.%s\",\"impl\":\"%s\",\"version\":\"%s\",\"bytes\":%zu,\"ns_per_op\":%.1f,"
	       "\"min\":%.1f,\"max\":%.1f,\"reps\":%d}\n", msg, dec ? "decode" : "encode", lib->name, lib->version, n,
	       v[reps / 2], v[0], v[reps - 1], reps);
	fflush(stdout);
}

#ifdef BJ_JSONC
/* The message as compact text, built by the library under test. */
static char *bj_text(const struct bj_field *f)
{
	struct json_object *o = jc_build(f);
	char *t = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return t;
}
#else
static char *bj_text(const struct bj_field *f)
{
	json_t *o = ja_build(f);
	char *t = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return t;
}
#endif

int main(int argc, char **argv)
{
#ifdef BJ_JSONC
	static char jcv[16];
	const struct bj_lib libs[] = { { "json-c", jcv, jc_encode, jc_decode } };
#else
	const struct bj_lib libs[] = {
		{ "jansson", JANSSON_VERSION, ja_encode, ja_decode },
		{ "cjson", cJSON_Version(), cj_encode, cj_decode },
	};
#endif
	const struct { const char *name; const struct bj_field *f; } msgs[] = {
		{ "arm", bj_arm }, { "timer", bj_timer }, { "fire", bj_fire }, { "stats", bj_stats },
	};
	int reps = 5, ms = 200;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			reps = 3, ms = 50;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
			ms = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench-json [--quick] [--reps N] [--ms MS]\n");
			return 2;
		}
	}
	reps = reps < 1 ? 1 : reps > 15 ? 15 : reps;
#ifdef BJ_JSONC
	snprintf(jcv, sizeof(jcv), "%s", json_c_version());
#else
	printf("{\"bench\":\"meta\",\"program\":\"bench-json\",\"reps\":%d,\"ms\":%d}\n", reps, ms);
#endif
	bj_stats_group(bj_engine, 25, 0);
	bj_stats_group(bj_server, 46, 1);
	bj_stats_group(bj_probes, 10, 2);
	bj_stats_group(bj_store, 26, 3);
	for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		char *text = bj_text(msgs[m].f);

		for (int dec = 0; dec < 2; dec++)
			for (size_t l = 0; l < sizeof(libs) / sizeof(libs[0]); l++)
				bj_run(&libs[l], msgs[m].name, msgs[m].f, text, dec, reps, ms);
		free(text);
	}
#ifndef BJ_JSONC
	{
		char self[4096], cmd[8192];

		snprintf(self, sizeof(self), "%s", argv[0]);
		snprintf(cmd, sizeof(cmd), "'%s/bench-json-c' --reps %d --ms %d", dirname(self), reps, ms);
		fflush(stdout);
		if (system(cmd) != 0)
			fprintf(stderr, "bench-json: %s failed (json-c figures missing)\n", cmd);
	}
#endif
	return 0;
}
