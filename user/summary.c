// SPDX-License-Identifier: GPL-2.0
/*
 * The shape of a storm: RSTs per cause x origin x local port x owner, rate over the last
 * interval and total, sorted; then the health of the listeners on those ports. In the gateway
 * story the line that matters is the listener's: queue at its limit and drops climbing while
 * no RST is sent at all (tcp_abort_on_overflow=0).
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "json.h"
#include "output.h"
#include "summary.h"

#define MAX_ROWS_SHOWN 25

static void now_str(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

/* one interval as one JSON line: fields in docs/json.md */
static void print_json(FILE *f, const struct agg *a, const struct listeners *ls, double elapsed,
		       uint64_t lost)
{
	uint64_t tot = 0, itv = 0;
	struct timespec ts;
	struct jw w;
	struct tm tm;
	char t[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	jw_init(&w, f);
	jw_obj(&w, NULL);
	jw_str(&w, "time", t);
	jw_double(&w, "interval", elapsed, 3);
	jw_arr(&w, "rows");
	for (int i = 0; i < a->n; i++) {
		const struct agg_row *r = &a->rows[i];
		uint64_t d = r->total - r->prev;

		tot += r->total;
		itv += d;
		jw_obj(&w, NULL);
		jw_str(&w, "cause", rw_cause_name(r->cause));
		jw_str(&w, "origin", rw_origin_name(r->origin));
		jw_str(&w, "dir", r->received ? "received" : "sent");
		jw_u64(&w, "port", r->port);
		jw_str(&w, "port_side", r->remote ? "remote" : "local");
		jw_u64(&w, "netns", r->netns);
		if (r->folded)
			jw_bool(&w, "folded", true);
		if (r->has_owner) {
			jw_obj(&w, "owner");
			jw_u64(&w, "pid", r->pid);
			jw_strn(&w, "comm", r->comm, sizeof(r->comm));
			jw_end(&w);
		} else {
			jw_null(&w, "owner");
		}
		json_container(&w, "container", r->has_ct ? &r->ct : NULL);
		jw_str(&w, "meaning", rw_cause_meaning(r->cause));
		jw_u64(&w, "count", d);
		jw_double(&w, "rate", elapsed > 0 ? d / elapsed : 0.0, 1);
		jw_u64(&w, "total", r->total);
		jw_end(&w);
	}
	jw_end(&w);
	jw_obj(&w, "totals");
	jw_u64(&w, "count", itv);
	jw_double(&w, "rate", elapsed > 0 ? itv / elapsed : 0.0, 1);
	jw_u64(&w, "total", tot);
	jw_u64(&w, "lost", lost);
	jw_end(&w);
	jw_arr(&w, "listeners");
	for (int i = 0; ls && i < ls->n; i++) {
		const struct listener_info *l = &ls->l[i];

		if (!l->seen)
			continue;
		jw_obj(&w, NULL);
		jw_u64(&w, "netns", l->netns);
		jw_u64(&w, "port", l->port);
		jw_str(&w, "family", l->family == AF_INET6 ? "ipv6" : "ipv4");
		jw_u64(&w, "accept_queue", l->queue);
		jw_u64(&w, "accept_limit", l->limit);
		jw_u64(&w, "drops", l->have_prev ? l->drops - l->drops_prev : 0);
		jw_u64(&w, "ns_listen_overflows",
		       l->have_prev ? l->ns_overflows - l->ns_overflows_prev : 0);
		jw_u64(&w, "ns_listen_drops",
		       l->have_prev ? l->ns_listendrops - l->ns_listendrops_prev : 0);
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
	fputc('\n', f);
}

void summary_print(FILE *f, const struct summary_opts *o, const struct agg *a,
		   const struct listeners *ls, double elapsed, uint64_t lost)
{
	uint64_t tot = 0, itv = 0;
	uint32_t causes = 0;	/* the causes of the rows shown: their meanings follow */
	char t[16];
	int shown = 0;

	if (o->json) {
		print_json(f, a, ls, elapsed, lost);
		fflush(f);
		return;
	}
	if (o->clear)
		fputs("\033[H\033[2J", f);
	now_str(t, sizeof(t));
	fprintf(f, "rstwhy summary %s  last %.1fs%s\n", t, elapsed,
		lost ? "  (EVENTS LOST: see the closing summary)" : "");
	fprintf(f, "%9s %10s  %-17s %-11s %-4s %7s  %s\n", "RST/s", "TOTAL", "CAUSE", "ORIGIN",
		"DIR", "PORT", "OWNER");
	for (int i = 0; i < a->n; i++) {
		const struct agg_row *r = &a->rows[i];
		uint64_t d = r->total - r->prev;
		char owner[128] = "-", port[12];

		tot += r->total;
		itv += d;
		if (shown == MAX_ROWS_SHOWN)
			continue;
		if (r->has_owner)
			owner_str(owner, sizeof(owner), r->pid, r->comm, r->has_ct ? &r->ct : NULL);
		/* ->PORT: a client socket, counted under the port it talks to */
		snprintf(port, sizeof(port), "%s%u", r->remote ? "->" : "", r->port);
		if (r->folded) {
			snprintf(port, sizeof(port), "*");
			snprintf(owner, sizeof(owner), "(rows past %d, folded)", AGG_MAX_ROWS);
		}
		fprintf(f, "%9.1f %10" PRIu64 "  %-17s %-11s %-4s %7s  %s\n",
			elapsed > 0 ? d / elapsed : 0.0, r->total, rw_cause_name(r->cause),
			rw_origin_name(r->origin), r->received ? "in" : "out", port, owner);
		causes |= 1u << r->cause;
		shown++;
	}
	if (a->n > shown)
		fprintf(f, "%9s %10s  ... %d more rows (JSON with -j has them all)\n", "", "",
			a->n - shown);
	fprintf(f, "%9.1f %10" PRIu64 "  %s\n", elapsed > 0 ? itv / elapsed : 0.0, tot,
		"TOTAL");
	if (causes)
		fputs("\nWHAT THEY MEAN (rstwhy explain CAUSE: what produces it, what to check)\n", f);
	for (int c = 0; c < C_NR_CAUSES; c++)
		if (causes & (1u << c))
			fprintf(f, "  %-17s %s\n", rw_cause_name(c), rw_cause_meaning(c));
	bool any = false;

	for (int i = 0; ls && i < ls->n; i++)
		any |= ls->l[i].seen;
	if (any) {
		fprintf(f, "\nLISTENERS on those ports   %6s %5s %6s %7s   %s\n", "QUEUE", "LIMIT",
			"DROPS", "NS_OVFL", "(drops and namespace ListenOverflows in the interval)");
		for (int i = 0; i < ls->n; i++) {
			const struct listener_info *l = &ls->l[i];
			uint64_t dr = l->have_prev ? l->drops - l->drops_prev : 0;
			uint64_t ov = l->have_prev ? l->ns_overflows - l->ns_overflows_prev : 0;

			if (!l->seen)
				continue;
			fprintf(f, "  %-5s port %-6u netns %-10u %6u %5u %6" PRIu64 " %7" PRIu64
				"%s\n", l->family == AF_INET6 ? "ipv6" : "ipv4", l->port, l->netns, l->queue,
				l->limit, dr, ov,
				l->queue > l->limit || dr ? "   <- accept queue full: connections "
				"dropped" : "");
		}
	}
	fflush(f);
}

void summary_top_finding(FILE *f, const struct agg *a)
{
	const struct agg_row *top = NULL;
	char owner[48] = "", limit[40] = "";

	for (int i = 0; i < a->n; i++)
		if (!a->rows[i].received && (!top || a->rows[i].total > top->total))
			top = &a->rows[i];
	if (!top || !top->total)
		return;
	if (top->has_owner)
		snprintf(owner, sizeof(owner), ", owner %.15s %u", top->comm, top->pid);
	if (top->cause == C_ACCEPT_OVERFLOW && top->accept_limit)
		snprintf(limit, sizeof(limit), ", accept queue limit %u", top->accept_limit);
	fprintf(f, "rstwhy: most RSTs: %s %s port %u%s: %s (%" PRIu64 " RST%s%s)\n",
		rw_cause_name(top->cause), top->remote ? "to" : "on", top->port, owner,
		rw_cause_meaning(top->cause), top->total, top->total == 1 ? "" : "s", limit);
}
