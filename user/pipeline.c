// SPDX-License-Identifier: GPL-2.0
/*
 * The event pipeline (pipeline.h): decode, classify, filter, hand to the sinks; the counts
 * of the closing summary. To add an output: a sink file and one row in sink_table[] below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "rstwhy.skel.h"
#include "json.h"
#include "loader.h"
#include "pipeline.h"
#include "summary.h"
#include "ustack.h"

/* every output rstwhy has, in the order they see each event */
static const struct sink_ops *const sink_table[] = {
	&sink_events,		/* the table or JSON lines, on stdout */
	&sink_pcapng,		/* --pcapng FILE */
	&sink_aggregate,	/* --summary, --prometheus, -q */
};

int pipeline_open(struct pipeline *p, const struct env *env, const struct kinfo *ki,
		  const struct ksyms *ks, struct rstwhy_bpf *skel, const struct loader *ld)
{
	p->env = env;
	p->ki = ki;
	p->ks = ks;
	p->skel = skel;
	p->ld = ld;
	for (size_t i = 0; i < sizeof(sink_table) / sizeof(sink_table[0]); i++) {
		const struct sink_ops *ops = sink_table[i];
		struct sink *s;

		if (!ops->wanted(env) || p->nsinks == MAX_SINKS)
			continue;
		s = &p->sinks[p->nsinks];
		memset(s, 0, sizeof(*s));
		s->ops = ops;
		s->name = ops->name;
		p->nsinks++;
		if (ops->open && ops->open(s, p))
			return -1;
	}
	return 0;
}

void pipeline_close(struct pipeline *p)
{
	for (int i = 0; i < p->nsinks; i++)
		if (p->sinks[i].ops->close)
			p->sinks[i].ops->close(&p->sinks[i], p);
}

void pipeline_free(struct pipeline *p)
{
	for (int i = 0; i < p->nsinks; i++)
		free(p->sinks[i].priv);
	p->nsinks = 0;
	agg_free(&p->agg);
}

static bool port_match(const struct env *env, const struct rw_event *e)
{
	if (!env->nports)
		return true;
	for (int i = 0; i < env->nports; i++)
		if (env->ports[i] == e->sport || env->ports[i] == e->dport)
			return true;
	return false;
}

/* the user-space filters; --netns is applied in the kernel. A new filter goes here. */
bool pipeline_wanted(const struct pipeline *p, const struct rw_report *r)
{
	const struct env *env = p->env;
	const struct rw_event *e = r->e;

	if ((env->v4 || env->v6) &&
	    !((env->v4 && e->family == AF_INET) || (env->v6 && e->family == AF_INET6)))
		return false;
	if (!port_match(env, e))
		return false;
	if (env->causes && !(env->causes & (1u << r->v.cause)))
		return false;
	if (env->pid > 0 && !((r->has_owner && r->owner.tgid == (uint32_t)env->pid) ||
			      (r->has_actor && r->actor.tgid == (uint32_t)env->pid)))
		return false;
	if (env->comm && !((r->has_owner && !strncmp(r->owner.comm, env->comm, RW_COMM_LEN)) ||
			   (r->has_actor && !strncmp(r->actor.comm, env->comm, RW_COMM_LEN))))
		return false;
	return true;
}

/* a classified event: count it, filter it, give it to every sink */
static void show(struct pipeline *p, const struct rw_report *r)
{
	if (r->e->type == RW_EV_SENT)
		p->by_cause[r->v.cause]++;
	else
		p->recv++;
	if (!pipeline_wanted(p, r))
		return;
	p->shown++;
	/* always: the closing summary's top finding comes from the rows */
	agg_add(&p->agg, r, 1);
	for (int i = 0; i < p->nsinks; i++) {
		struct sink *s = &p->sinks[i];

		if (!s->stopped && s->ops->report)
			s->ops->report(s, p, r);
	}
}

static void emit(struct pipeline *p, const struct rw_event *e)
{
	struct rw_report r;

	report_build(&r, e, p->ki, p->ks, p->mono_to_real);
	/* a user stack means something only where the task on the CPU decided the reset */
	if (p->env->ustack && e->type == RW_EV_SENT && !(e->flags & RW_F_SKB)) {
		const struct ustack *s = ustack_take(e->skaddr, e->actor.pid, e->ts_ns);

		if (r.v.actor_valid)
			r.ustack = s;
	}
	show(p, &r);
}

/* an RST seen leaving that the TCP stack did not build */
static void emit_pkt(struct pipeline *p, const struct rw_pkt *pkt)
{
	static struct rw_report r;	/* large: keep it off the stack */
	struct rw_listener_key k = { .netns = pkt->netns, .family = pkt->family };
	struct rw_owner_rec o;

	report_build_pkt(&r, pkt, p->mono_to_real);
	k.port = r.e->sport;
	if (r.v.cause == C_NETFILTER_REJECT &&
	    !bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.listeners), &k, &o)) {
		r.has_listener = true;
		r.listener = o.owner;
	}
	p->egress++;
	show(p, &r);
}

/* the bytes of a RST the TCP stack built: its event comes on its own (pcapng pairs them) */
static void stack_packet(struct pipeline *p, const struct rw_pkt *pkt)
{
	for (int i = 0; i < p->nsinks; i++) {
		struct sink *s = &p->sinks[i];

		if (!s->stopped && s->ops->packet)
			s->ops->packet(s, p, pkt);
	}
}

/*
 * tcp:tcp_receive_reset also fires when a closed socket in FIN_WAIT1/2 gets data: the kernel
 * calls tcp_reset() on itself and then sends a RST (TCP_ABORT_ON_DATA); nothing was received.
 * Such "received" events wait one polling round for the matching sent RST, which cancels them.
 */
static bool maybe_abort_on_data(const struct rw_event *e)
{
	return (e->state == ST_FIN_WAIT1 || e->state == ST_FIN_WAIT2) &&
	       (e->sk_shutdown & 1 /* RCV_SHUTDOWN */);
}

static void flush_held(struct pipeline *p, bool all)
{
	int kept = 0;

	for (int i = 0; i < p->nheld; i++) {
		if (all || p->held[i].round != p->round)
			emit(p, &p->held[i].e);
		else
			p->held[kept++] = p->held[i];
	}
	p->nheld = kept;
}

uint64_t pipeline_captured_in(const struct pipeline *p, uint32_t ino)
{
	uint32_t h = ino * 2654435761u;

	for (int i = 0; i < NS_SLOTS; i++) {
		uint32_t k = (h + i) % NS_SLOTS;

		if (p->ns_sent[k].ino == ino || !p->ns_sent[k].ino)
			return p->ns_sent[k].ino ? p->ns_sent[k].sent : 0;
	}
	return 0;
}

/* a namespace born and gone during the run has no counter left to compare with */
void pipeline_count_ns(struct pipeline *p, uint32_t ino, uint64_t n)
{
	uint32_t h = ino * 2654435761u;

	for (int i = 0; i < NS_SLOTS; i++) {
		uint32_t k = (h + i) % NS_SLOTS;

		if (p->ns_sent[k].ino == ino || !p->ns_sent[k].ino) {
			p->ns_sent[k].ino = ino;
			p->ns_sent[k].sent += n;
			return;
		}
	}
	p->ns_overflow += n;
}

int pipeline_handle_event(void *ctx, void *data, size_t len)
{
	struct pipeline *p = ctx;
	const struct rw_event *e = data;

	if (len < sizeof(e->type))
		return 0;
	if (e->type != RW_EV_EGRESS && e->type != RW_EV_USTACK && len < sizeof(*e))
		return 0;
	if (e->type == RW_EV_SENT) {
		p->sent++;
		pipeline_count_ns(p, e->netns, 1);
		for (int i = 0; i < p->nheld; i++) {
			if (p->held[i].e.skaddr == e->skaddr) {
				p->held[i] = p->held[--p->nheld];
				break;
			}
		}
	} else if (e->type == RW_EV_EGRESS) {
		const struct rw_pkt *pkt = data;

		if (len < sizeof(*pkt))
			return 0;
		if (pkt->kind == RW_EG_STACK)
			stack_packet(p, pkt);
		else
			emit_pkt(p, pkt);
		return 0;
	} else if (e->type == RW_EV_USTACK) {
		if (len >= sizeof(struct rw_ustack))
			ustack_record(data);
		return 0;
	} else if (e->type == RW_EV_RECV) {
		if (maybe_abort_on_data(e)) {
			if (p->nheld == MAX_HELD)
				flush_held(p, true);
			p->held[p->nheld].e = *e;
			p->held[p->nheld++].round = p->round;
			return 0;
		}
	} else {
		return 0;
	}
	emit(p, e);
	return 0;
}

void pipeline_tick(struct pipeline *p, bool final)
{
	bool live = false;

	flush_held(p, final);
	for (int i = 0; i < p->nsinks; i++) {
		struct sink *s = &p->sinks[i];

		if (!s->stopped && s->ops->tick)
			s->ops->tick(s, p, final);
		live |= !s->stopped;
	}
	if (p->nsinks && !live)
		p->stop = true;
	p->round++;
}

uint64_t pipeline_counter(const struct pipeline *p, uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map__lookup_elem(p->skel->maps.counters, &idx, sizeof(idx), vals,
					      sizeof(uint64_t) * ncpu, 0))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* ---- the closing summary ---------------------------------------------------------------- */

struct closing {
	uint64_t lost, hooked, checked, gone;
	bool kfilter;			/* filters applied in the kernel ... */
	uint64_t seen, filtered;	/* ... what the hook saw before them, what they dropped */
	bool have_kernel;
	struct ns_delta d;
};

static uint64_t sent_in(const struct pipeline *p, const struct ns_snapshot *snap)
{
	uint64_t sum = 0;

	for (int i = 0; i < NS_SLOTS; i++)
		for (int j = 0; p->ns_sent[i].ino && j < snap->n; j++)
			if (snap->ns[j].ino == p->ns_sent[i].ino)
				sum += p->ns_sent[i].sent;
	return sum;
}

static void closing_prose(struct pipeline *p, const struct closing *c)
{
	char causes[1024] = "";
	size_t used = 0;

	for (int k = 0; k < C_NR_CAUSES; k++) {
		if (!p->by_cause[k] || used >= sizeof(causes))
			continue;
		used += snprintf(causes + used, sizeof(causes) - used, "%s%s %llu",
				 used ? ", " : "", rw_cause_name(k),
				 (unsigned long long)p->by_cause[k]);
	}
	fprintf(stderr, "rstwhy: %llu RSTs sent by the TCP stack, %llu by others (firewall, "
		"processes)%s%s%s, %llu received, %llu shown\n",
		(unsigned long long)p->sent, (unsigned long long)p->egress, used ? " (" : "",
		causes, used ? ")" : "", (unsigned long long)p->recv,
		(unsigned long long)p->shown);
	summary_top_finding(stderr, &p->agg);
	for (int i = 0; i < p->nsinks; i++) {
		const struct sink *s = &p->sinks[i];

		if (s->ops->closing)
			s->ops->closing(&p->sinks[i], p);
		if (s->err && s->err != EPIPE)
			fprintf(stderr, "rstwhy: %s output failed (%s): %llu written, the "
				"rest lost\n", s->name, strerror(s->err),
				(unsigned long long)s->written);
	}
	if (p->ns_overflow)
		fprintf(stderr, "rstwhy: %llu RSTs came from namespaces beyond the first %d: not "
			"checked against their TcpOutRsts\n", (unsigned long long)p->ns_overflow,
			NS_SLOTS);
	if (!c->have_kernel) {
		fprintf(stderr, "rstwhy: could not read TcpOutRsts at exit\n");
		return;
	}
	fprintf(stderr, "rstwhy: kernel TcpOutRsts +%llu in %d watched namespace%s; "
		"captured %llu of %llu (%.1f%%); lost %llu (ring buffer full)",
		(unsigned long long)c->d.outrsts, c->d.watched, c->d.watched == 1 ? "" : "s",
		(unsigned long long)c->checked, (unsigned long long)c->d.outrsts,
		c->d.outrsts ? 100.0 * c->checked / c->d.outrsts : 100.0,
		(unsigned long long)c->lost);
	if (c->gone)
		fprintf(stderr, "; %llu more from namespaces gone before exit (no counter to "
			"check)",
			(unsigned long long)c->gone);
	if (c->kfilter)
		fprintf(stderr, "; %llu filtered out in the kernel",
			(unsigned long long)c->filtered);
	fputc('\n', stderr);
	if (p->sent + c->lost < c->hooked)
		fprintf(stderr, "rstwhy: warning: the hook saw %llu RSTs, %llu arrived, %llu "
			"lost\n",
			(unsigned long long)c->hooked, (unsigned long long)p->sent,
			(unsigned long long)c->lost);
	if (c->d.outrsts > c->checked)
		fprintf(stderr, "rstwhy: warning: %llu RSTs the kernel counted were not captured "
			"(%s)\n", (unsigned long long)(c->d.outrsts - c->checked),
			c->lost ? "ring buffer full: events were lost" :
			"sent before the probes were attached or by a path this kernel does not "
			"trace");
	if (p->env->ustack && pipeline_counter(p, RW_CNT_USTACK_SKIP))
		fprintf(stderr, "rstwhy: -u: %llu user stacks not taken (the ring buffer was over "
			"half full)\n", (unsigned long long)pipeline_counter(p, RW_CNT_USTACK_SKIP));
}

/* --stats-file: the closing summary as one JSON object (docs/json.md) */
static int closing_json(struct pipeline *p, const struct closing *c, const char *path)
{
	FILE *f = fopen(path, "we");
	struct jw w;

	if (!f)
		goto fail;
	jw_init(&w, f);
	jw_obj(&w, NULL);
	jw_u64(&w, "sent", p->sent);
	jw_u64(&w, "egress", p->egress);
	jw_u64(&w, "received", p->recv);
	jw_u64(&w, "shown", p->shown);
	jw_obj(&w, "causes");
	for (int k = 0; k < C_NR_CAUSES; k++)
		if (p->by_cause[k])
			jw_u64(&w, rw_cause_name(k), p->by_cause[k]);
	jw_end(&w);
	jw_u64(&w, "lost", c->lost);
	jw_u64(&w, "hooked", c->hooked);
	if (c->have_kernel) {
		jw_obj(&w, "kernel");
		jw_u64(&w, "outrsts", c->d.outrsts);
		jw_u64(&w, "captured", c->checked);
		jw_u64(&w, "watched_netns", c->d.watched);
		jw_u64(&w, "gone", c->gone);
		jw_end(&w);
	} else {
		jw_null(&w, "kernel");
	}
	jw_u64(&w, "ns_overflow", p->ns_overflow);
	if (c->kfilter)
		jw_u64(&w, "filtered_in_kernel", c->filtered);
	jw_arr(&w, "sinks");
	for (int i = 0; i < p->nsinks; i++) {
		const struct sink *s = &p->sinks[i];

		jw_obj(&w, NULL);
		jw_str(&w, "sink", s->name);
		jw_u64(&w, "written", s->written);
		jw_str(&w, "error", s->err ? strerror(s->err) : NULL);
		jw_end(&w);
	}
	jw_end(&w);
	jw_end(&w);
	fputc('\n', f);
	if (fclose(f))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "rstwhy: --stats-file %s: %s\n", path, strerror(errno));
	return -1;
}

/*
 * Filters applied in the kernel: the per-namespace counts of what was captured are those the
 * send-reset hook saw before filtering, so that they still compare with TcpOutRsts.
 */
static void seen_from_kernel(struct pipeline *p, struct closing *c)
{
	int fd = bpf_map__fd(p->skel->maps.ns_seen), ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	uint32_t key, next, *prev = NULL;

	memset(p->ns_sent, 0, sizeof(p->ns_sent));
	p->ns_overflow = pipeline_counter(p, RW_CNT_NS_FULL);
	c->seen = p->ns_overflow;
	while (ncpu > 0 && !bpf_map_get_next_key(fd, prev, &next)) {
		uint64_t n = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (int i = 0; i < ncpu; i++)
			n += vals[i];
		pipeline_count_ns(p, key, n);
		c->seen += n;
	}
	c->filtered = c->seen > c->hooked ? c->seen - c->hooked : 0;
}

int pipeline_closing(struct pipeline *p, const struct ns_snapshot *start, uint64_t hooked)
{
	struct closing c = { .lost = pipeline_counter(p, RW_CNT_RB_FAIL), .hooked = hooked };
	struct ns_snapshot end;
	int ret = 0;

	if (!ns_snapshot_take(&end, p->env->netns, p->env->netns_arg)) {
		uint64_t captured = p->sent;

		c.have_kernel = true;
		ns_delta(start, &end, &c.d);
		c.kfilter = kfilter_active(&p->env->kf);
		if (c.kfilter) {
			seen_from_kernel(p, &c);
			captured = c.seen;
		}
		c.checked = sent_in(p, &end);
		if (captured > c.checked)
			c.gone = captured - c.checked;
		ns_snapshot_free(&end);
	}
	if (!p->reader_gone)
		closing_prose(p, &c);
	if (p->env->stats_file)
		ret = closing_json(p, &c, p->env->stats_file);
	return ret;
}
