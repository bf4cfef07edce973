// SPDX-License-Identifier: GPL-2.0
/*
 * Counts instead of lines: --summary (a top-like view or JSON lines every SECS), --prometheus
 * (/metrics) and -q. Rows are fed per event, or, when the kernel aggregates (no per-event
 * output), read from its agg map each interval. With the rows comes the health of the
 * listeners on their ports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "rstwhy.skel.h"
#include "agg.h"
#include "listeners.h"
#include "loader.h"
#include "netns.h"
#include "pipeline.h"
#include "prom.h"
#include "summary.h"
#include "util.h"

struct aggregate {
	struct listeners lstn;
	bool lstn_open;
	struct prom *prom;
	char build_labels[300];
	uint32_t self_netns;	/* -P without --netns: the listeners of our own namespace */
	double last;		/* mono_secs() of the last interval */
	FILE *mem;		/* --summary: one interval formatted in memory ... */
	char *text;
	size_t textlen;
	struct wout w;		/* ... then written to stdout */
};

static bool aggregate_wanted(const struct env *env)
{
	return env->aggregating;
}

static int aggregate_open(struct sink *s, struct pipeline *p)
{
	const struct env *env = p->env;
	struct aggregate *a = calloc(1, sizeof(*a));
	struct stat st;

	if (!a) {
		fprintf(stderr, "rstwhy: out of memory\n");
		return -1;
	}
	s->priv = a;
	s->name = env->summary > 0 ? "summary" : env->prometheus ? "prometheus" : "counts";
	p->agg.map_size = bpf_map__max_entries(p->skel->maps.agg);
	a->last = mono_secs();
	if (!stat("/proc/thread-self/ns/net", &st))
		a->self_netns = st.st_ino;
	if (listeners_init(&a->lstn)) {
		fprintf(stderr, "rstwhy: cannot open this thread's network namespace: %s\n",
			strerror(errno));
		return -1;
	}
	a->lstn_open = true;
	if (env->summary > 0) {
		a->mem = open_memstream(&a->text, &a->textlen);
		if (!a->mem) {
			fprintf(stderr, "rstwhy: out of memory\n");
			return -1;
		}
		wout_init(&a->w, STDOUT_FILENO);
	}
	snprintf(a->build_labels, sizeof(a->build_labels), "version=\"%s\",kernel=\"%s\","
		 "tracepoints=\"%s\",passive=\"%s\"", RSTWHY_VERSION, p->ki->release,
		 tp_flavor_name(p->ld->flavor), attach_mode_name(p->ld->passive));
	if (env->prometheus) {
		char perr[300];

		a->prom = prom_start(&env->prom_addr, env->prom_addrlen, env->prom_max_series, perr,
				     sizeof(perr));
		if (!a->prom) {
			fprintf(stderr, "rstwhy: --prometheus %s: %s\n", env->prometheus, perr);
			return -1;
		}
		prom_update(a->prom, &p->agg, &a->lstn, 0, 0, a->build_labels);
	}
	return 0;
}

static void aggregate_report(struct sink *s, struct pipeline *p, const struct rw_report *r)
{
	/* the pipeline counted it in p->agg */
	if (!p->env->summary)
		s->written++;
}

/*
 * The (netns, port) pairs whose listeners the summary shows: the rows', -P with --netns, and
 * --watch-listeners in each watched namespace (port 0: all of them).
 */
#define POLL_MAX 2048
static void poll_listeners(struct aggregate *a, const struct agg *agg, const struct env *env,
			   const struct ns_snapshot *snap)
{
	static uint32_t ns[POLL_MAX];
	static uint16_t ports[POLL_MAX];
	int n = 0;

	for (int i = 0; i < agg->n && n < 256; i++)
		if (!agg->rows[i].remote) {
			ns[n] = agg->rows[i].netns;
			ports[n++] = agg->rows[i].port;
		}
	for (int i = 0; i < env->nports && n < POLL_MAX; i++) {
		ns[n] = env->netns ? env->netns : a->self_netns;
		ports[n++] = env->ports[i];
	}
	for (int j = 0; snap && j < snap->n; j++) {
		for (int i = 0; i < (env->watch.all ? 1 : env->watch.n) && n < POLL_MAX; i++) {
			ns[n] = snap->ns[j].ino;
			ports[n++] = env->watch.all ? 0 : env->watch.ports[i];
		}
	}
	listeners_poll(&a->lstn, ns, ports, n);
}

/* captured RSTs of one namespace, for its rstwhy_captured_rsts_total */
static uint64_t captured_in(void *ctx, uint32_t ino)
{
	return pipeline_captured_in(ctx, ino);
}

static void count_ns(void *ctx, uint32_t ino, uint64_t n)
{
	pipeline_count_ns(ctx, ino, n);
}

static bool want(void *ctx, const struct rw_report *r)
{
	return pipeline_wanted(ctx, r);
}

/* one --summary interval to stdout */
static void print_summary(struct sink *s, struct pipeline *p, double elapsed, uint64_t lost)
{
	struct aggregate *a = s->priv;
	struct summary_opts so = { .json = p->env->json, .interval = p->env->summary,
				   .clear = !p->env->json && isatty(STDOUT_FILENO) };

	rewind(a->mem);
	summary_print(a->mem, &so, &p->agg, &a->lstn, elapsed, lost);
	fflush(a->mem);
	if (wout_put(&a->w, a->text, ftell(a->mem), true) || wout_flush(&a->w)) {
		s->written = a->w.done;
		sink_failed(s, p, a->w.err, "writing the summary to stdout");
		return;
	}
	s->written = a->w.done;
}

/* one interval of --summary / --prometheus */
static void refresh(struct sink *s, struct pipeline *p, double elapsed)
{
	struct aggregate *a = s->priv;
	uint64_t lost = pipeline_counter(p, RW_CNT_RB_FAIL);
	struct ns_snapshot snap = {};

	if (p->ld->aggregate) {
		uint64_t n = agg_poll_kernel(&p->agg, bpf_map__fd(p->skel->maps.agg),
					     bpf_map__fd(p->skel->maps.stacks), p->ki, p->ks, p,
					     count_ns, want);

		p->sent += n;
	}
	agg_sort(&p->agg);
	/* the watched namespaces: their TcpOutRsts, and where --watch-listeners looks */
	if ((a->prom || p->env->watch.all || p->env->watch.n) &&
	    ns_snapshot_take(&snap, p->env->netns, p->env->netns_arg))
		snap.n = 0;
	poll_listeners(a, &p->agg, p->env, &snap);
	if (p->env->summary > 0)
		print_summary(s, p, elapsed, lost);
	prom_set_netns(a->prom, &snap, captured_in, p);
	prom_update(a->prom, &p->agg, &a->lstn, lost, p->sent, a->build_labels);
	ns_snapshot_free(&snap);
	agg_roll(&p->agg);
}

static void aggregate_tick(struct sink *s, struct pipeline *p, bool final)
{
	struct aggregate *a = s->priv;
	double now = mono_secs(), period = p->env->summary > 0 ? p->env->summary : 1.0;

	if (!final && now - a->last < period)
		return;
	refresh(s, p, now - a->last);
	a->last = now;
	if (!final || !p->ld->aggregate)
		return;
	/* counted in the kernel: the closing summary's numbers come from the rows */
	memset(p->by_cause, 0, sizeof(p->by_cause));
	p->shown = 0;
	for (int i = 0; i < p->agg.n; i++) {
		const struct agg_row *r = &p->agg.rows[i];

		if (!r->received)
			p->by_cause[r->cause] += r->total;
		else
			p->recv += r->total;
		p->shown += r->total;
	}
	if (!p->env->summary)
		s->written = p->shown;
}

static void aggregate_close(struct sink *s, struct pipeline *p)
{
	struct aggregate *a = s->priv;

	if (!a)
		return;
	prom_stop(a->prom);
	a->prom = NULL;
	if (a->lstn_open)
		listeners_free(&a->lstn);
	a->lstn_open = false;
	if (a->mem)
		fclose(a->mem);
	a->mem = NULL;
	free(a->text);
	a->text = NULL;
}

const struct sink_ops sink_aggregate = {
	.name = "summary",
	.wanted = aggregate_wanted,
	.open = aggregate_open,
	.report = aggregate_report,
	.tick = aggregate_tick,
	.close = aggregate_close,
};
