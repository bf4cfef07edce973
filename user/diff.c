// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy diff A.jsonl B.jsonl: two recordings of the same load side by side (a VM guest and
 * bare metal, before and after a change).  Per cause and origin: how many RSTs, how many per
 * second over each recording's own time span (first to last event), and the ratio A/B.
 * Causes that only one side has are flagged: those are the interesting ones.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonl.h"
#include "subcmd.h"
#include "util.h"

#define EXIT_DATA EXIT_ENV

struct side {
	struct jev_file f;
	int64_t first, last;
	double span;		/* seconds; 0 when fewer than two distinct times */
	bool span_given;	/* --span */
};

struct row {
	const char *cause, *origin;
	long n[2];
};

struct table {
	struct row *r;
	size_t n, cap;
};

static struct row *row_get(struct table *t, const char *cause, const char *origin)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->r[i].cause, cause) && !strcmp(t->r[i].origin, origin))
			return &t->r[i];
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 32;
		struct row *nr = realloc(t->r, ncap * sizeof(*nr));

		if (!nr)
			return NULL;
		t->r = nr;
		t->cap = ncap;
	}
	t->r[t->n] = (struct row){ .cause = cause, .origin = origin };
	return &t->r[t->n++];
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	long tx = x->n[0] + x->n[1], ty = y->n[0] + y->n[1];
	int c;

	if (tx != ty)
		return tx < ty ? 1 : -1;
	c = strcmp(x->cause, y->cause);
	return c ? c : strcmp(x->origin, y->origin);
}

static void span_of(struct side *s)
{
	double given = s->span;

	s->span = 0;
	for (size_t i = 0; i < s->f.n; i++) {
		int64_t t = s->f.ev[i].time_ns;

		if (!i || t < s->first)
			s->first = t;
		if (!i || t > s->last)
			s->last = t;
	}
	if (s->f.n > 1)
		s->span = (s->last - s->first) / 1e9;
	if (s->span_given)
		s->span = given;
}

/* --span SECS or --span A_SECS,B_SECS */
static bool parse_span(const char *arg, struct side *s)
{
	const char *p = arg;
	char *end;

	for (int k = 0; k < 2; k++) {
		errno = 0;
		s[k].span = strtod(p, &end);
		if (errno || end == p || !(s[k].span > 0) || s[k].span > 1e9)
			return false;
		s[k].span_given = true;
		if (k == 0 && !*end) {
			s[1].span = s[0].span;
			s[1].span_given = true;
			return true;
		}
		if (k == 0 && *end != ',')
			return false;
		p = end + 1;
	}
	return !*end;
}

/* rate in events/s, or a negative number when the span does not allow one */
static double rate(const struct side *s, long n)
{
	return s->span > 0 ? n / s->span : -1;
}

/* the ratio A/B: of rates when both sides have a span, else of counts */
static bool ratio(const struct side *s, const long *n, bool by_rate, double *out)
{
	if (!n[0] || !n[1])
		return false;
	*out = by_rate ? rate(&s[0], n[0]) / rate(&s[1], n[1]) : (double)n[0] / n[1];
	return true;
}

static void fmt_rate(double r, char *buf, size_t len)
{
	if (r < 0)
		snprintf(buf, len, "-");
	else if (r >= 100)
		snprintf(buf, len, "%.0f", r);
	else if (r >= 10)
		snprintf(buf, len, "%.1f", r);
	else
		snprintf(buf, len, "%.3f", r);
}

static void fmt_ratio(const struct side *s, const long *n, bool by_rate, char *buf, size_t len)
{
	double q;

	if (!n[0] && !n[1])
		snprintf(buf, len, "-");
	else if (!n[1])
		snprintf(buf, len, "only in A");
	else if (!n[0])
		snprintf(buf, len, "only in B");
	else if (ratio(s, n, by_rate, &q))
		snprintf(buf, len, q >= 100 ? "%.0fx" : "%.2fx", q);
}

static void text_side(const char *name, const struct side *s)
{
	char a[48], b[48];

	printf("%s: %s: %zu events", name, s->f.path, s->f.n);
	if (s->span_given || s->f.n)
		printf(" over %.3f s%s", s->span, s->span_given ? " (--span)" : "");
	if (s->f.n) {
		jsonl_format_time(s->first, a, sizeof(a));
		jsonl_format_time(s->last, b, sizeof(b));
		printf("; first %s, last %s", a, b);
	}
	putchar('\n');
}

static void text_line(const char *cause, const char *origin, const struct side *s,
		      const long *n, bool by_rate)
{
	char ra[24], rb[24], q[24];

	fmt_rate(rate(&s[0], n[0]), ra, sizeof(ra));
	fmt_rate(rate(&s[1], n[1]), rb, sizeof(rb));
	fmt_ratio(s, n, by_rate, q, sizeof(q));
	printf("%-18s %-12s %9ld %9s %9ld %9s  %s\n", cause, origin, n[0], ra, n[1], rb, q);
}

static json_object *jcount(const struct side *s, long n)
{
	json_object *o = json_object_new_object();
	double r = rate(s, n);

	json_object_object_add(o, "count", json_object_new_int64(n));
	json_object_object_add(o, "rate", r >= 0 ? jsonl_double(r) : NULL);
	return o;
}

static json_object *jside(const struct side *s)
{
	json_object *o = json_object_new_object();
	char t[48];

	json_object_object_add(o, "file", json_object_new_string(s->f.path));
	json_object_object_add(o, "events", json_object_new_int64(s->f.n));
	if (s->f.n) {
		jsonl_format_time(s->first, t, sizeof(t));
		json_object_object_add(o, "start", json_object_new_string(t));
		jsonl_format_time(s->last, t, sizeof(t));
		json_object_object_add(o, "end", json_object_new_string(t));
	}
	json_object_object_add(o, "span_s", jsonl_double(s->span));
	json_object_object_add(o, "span_from", json_object_new_string(s->span_given ? "option" :
									  "events"));
	return o;
}

static void jrow(json_object *o, const struct side *s, const long *n, bool by_rate)
{
	double q;

	json_object_object_add(o, "a", jcount(&s[0], n[0]));
	json_object_object_add(o, "b", jcount(&s[1], n[1]));
	json_object_object_add(o, "ratio", ratio(s, n, by_rate, &q) ?
			       jsonl_double(q) : NULL);
	json_object_object_add(o, "only", n[0] && !n[1] ? json_object_new_string("a") :
			       !n[0] && n[1] ? json_object_new_string("b") : NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rstwhy diff A.jsonl B.jsonl [--span SECS[,SECS]] [--json]\n"
		"  two `rstwhy --json` recordings of the same load (e.g. VM guest and bare\n"
		"  metal): per cause and origin, counts and rates (events/s over each\n"
		"  recording's span, first to last event) side by side with the ratio A/B;\n"
		"  causes seen on one side only are flagged\n"
		"  --span S[,S]  the recordings' durations instead (e.g. their -d)\n"
		"  -j, --json    one JSON object\n");
}

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "span", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct side s[2] = {};
	struct table t = {};
	long tot[2] = {};
	bool json = false, by_rate;
	char err[512];
	int opt, ret = EXIT_DATA;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 's':
			if (!parse_span(optarg, s)) {
				fprintf(stderr, "rstwhy diff: bad --span '%s': seconds > 0, "
					"one value for both recordings or A,B\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			jsonl_bad_option("diff", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "rstwhy diff: need two events files: rstwhy diff A.jsonl B.jsonl "
			"(see --help)\n");
		return EXIT_USAGE;
	}
	for (int k = 0; k < 2; k++) {
		if (jsonl_load(&s[k].f, argv[optind + k], err, sizeof(err))) {
			fprintf(stderr, "rstwhy diff: %s\n", err);
			goto out;
		}
		span_of(&s[k]);
		for (size_t i = 0; i < s[k].f.n; i++) {
			struct row *r = row_get(&t, s[k].f.ev[i].cause, s[k].f.ev[i].origin);

			if (!r) {
				fprintf(stderr, "rstwhy diff: out of memory\n");
				goto out;
			}
			r->n[k]++;
			tot[k]++;
		}
	}
	qsort(t.r, t.n, sizeof(*t.r), cmp_row);
	by_rate = s[0].span > 0 && s[1].span > 0;

	if (json) {
		json_object *o = json_object_new_object(), *rows = json_object_new_array();
		json_object *total = json_object_new_object();

		json_object_object_add(o, "a", jside(&s[0]));
		json_object_object_add(o, "b", jside(&s[1]));
		json_object_object_add(o, "ratio_of", json_object_new_string(by_rate ? "rate" :
									     "count"));
		for (size_t i = 0; i < t.n; i++) {
			json_object *r = json_object_new_object();

			json_object_object_add(r, "cause", json_object_new_string(t.r[i].cause));
			json_object_object_add(r, "origin", json_object_new_string(t.r[i].origin));
			jrow(r, s, t.r[i].n, by_rate);
			json_object_array_add(rows, r);
		}
		json_object_object_add(o, "rows", rows);
		jrow(total, s, tot, by_rate);
		json_object_object_add(o, "total", total);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		text_side("A", &s[0]);
		text_side("B", &s[1]);
		putchar('\n');
		printf("%-18s %-12s %9s %9s %9s %9s  %s\n", "cause", "origin", "A count", "A /s",
		       "B count", "B /s", by_rate ? "A/B (rate)" : "A/B (count)");
		for (size_t i = 0; i < t.n; i++)
			text_line(t.r[i].cause, t.r[i].origin, s, t.r[i].n, by_rate);
		text_line("total", "", s, tot, by_rate);
		for (int k = 0; k < 2; k++) {
			bool any = false;

			for (size_t i = 0; i < t.n; i++) {
				if (!t.r[i].n[k] || t.r[i].n[!k])
					continue;
				printf("%s %s (%s)", any ? "," : k ? "only in B:" : "only in A:",
				       t.r[i].cause, t.r[i].origin);
				any = true;
			}
			if (any)
				putchar('\n');
		}
		if (!by_rate)
			printf("note: a recording with fewer than two distinct event times has no "
			       "rate; the ratio compares counts\n");
	}
	ret = 0;
out:
	free(t.r);
	jsonl_free(&s[0].f);
	jsonl_free(&s[1].f);
	return ret;
}
