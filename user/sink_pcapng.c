// SPDX-License-Identifier: GPL-2.0
/*
 * --pcapng FILE: each RST packet with a comment giving cause, origin, owner and kernel reason.
 * RSTs seen at egress that the TCP stack did not build come with their packet; the stack's own
 * RSTs are reported by tcp_send_reset and their bytes come from the egress hook. Which comes
 * first depends on the path (tcp_send_active_reset fires its tracepoint after transmitting,
 * tcp_v4_send_reset before), so whichever arrives first waits here for its partner: same
 * namespace, addresses and ports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "pcapng.h"
#include "pipeline.h"

#define MAX_PENDING 4096
#define COMMENT_LEN 256

struct pend_key {
	uint32_t netns;
	uint16_t family, sport, dport;
	uint8_t saddr[16], daddr[16];
};

struct pcap_sink {
	struct pcapng *pc;
	/* events waiting for their packet */
	struct pending {
		struct pend_key k;
		unsigned int round;
		char comment[COMMENT_LEN];
	} pending[MAX_PENDING];
	int npending;
	/* packets waiting for their event */
	struct pending_pkt {
		struct pend_key k;
		unsigned int round;
		struct rw_pkt p;
	} pkts[MAX_PENDING];
	int npkts;
	uint64_t unmatched_pkts, unseen_events;
};

static bool pcap_wanted(const struct env *env)
{
	return env->pcapng;
}

static int pcap_open(struct sink *s, struct pipeline *p)
{
	struct pcap_sink *ps = calloc(1, sizeof(*ps));

	if (!ps || !(ps->pc = pcapng_open(p->env->pcapng))) {
		fprintf(stderr, "rstwhy: --pcapng %s: %s\n", p->env->pcapng, strerror(errno));
		free(ps);
		return -1;
	}
	s->priv = ps;
	return 0;
}

/* the comment Wireshark shows as frame.comment: valid UTF-8 whatever a comm holds */
static void comment(const struct rw_report *r, char *buf, size_t len)
{
	char cc[COMM_CLEAN_LEN];
	int n = snprintf(buf, len, "rstwhy: cause=%s origin=%s", rw_cause_name(r->v.cause),
			 rw_origin_name(r->v.origin));

	if (r->has_owner)
		n += snprintf(buf + n, len - n, " owner=%u/%s", r->owner.tgid,
			      comm_clean(cc, r->owner.comm));
	else
		n += snprintf(buf + n, len - n, " owner=-");
	if (r->has_actor && (size_t)n < len)
		n += snprintf(buf + n, len - n, " actor=%u/%s", r->actor.tgid,
			      comm_clean(cc, r->actor.comm));
	if ((size_t)n < len)
		snprintf(buf + n, len - n, " kernel_reason=%s", r->kreason ? r->kreason : "-");
}

static void key_of(const struct rw_event *e, struct pend_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = e->netns;
	k->family = e->family;
	k->sport = e->sport;
	k->dport = e->dport;
	memcpy(k->saddr, e->saddr, 16);
	memcpy(k->daddr, e->daddr, 16);
}

static void write_pkt(struct sink *s, struct pipeline *p, const struct rw_pkt *pkt,
		      const char *c)
{
	struct pcap_sink *ps = s->priv;
	int err = pcapng_write(ps->pc, pkt->ts_ns + p->mono_to_real, pkt->data, pkt->caplen,
			       pkt->len, c);

	s->written = pcapng_count(ps->pc);
	if (err) {
		char what[300];

		snprintf(what, sizeof(what), "writing %s failed", p->env->pcapng);
		sink_failed(s, p, -err, what);
	}
}

/* a stack RST was reported: write its packet if it already came, or wait for it */
static void expect(struct sink *s, struct pipeline *p, const struct rw_report *r)
{
	struct pcap_sink *ps = s->priv;
	struct pending *q;
	struct pend_key k;
	char c[COMMENT_LEN];

	key_of(r->e, &k);
	comment(r, c, sizeof(c));
	for (int i = 0; i < ps->npkts; i++) {
		if (!memcmp(&ps->pkts[i].k, &k, sizeof(k))) {
			write_pkt(s, p, &ps->pkts[i].p, c);
			ps->pkts[i] = ps->pkts[--ps->npkts];
			return;
		}
	}
	if (ps->npending == MAX_PENDING) {
		ps->unseen_events++;
		ps->pending[0] = ps->pending[--ps->npending];
	}
	q = &ps->pending[ps->npending++];
	q->k = k;
	q->round = p->round;
	memcpy(q->comment, c, sizeof(c));
}

static void pcap_report(struct sink *s, struct pipeline *p, const struct rw_report *r)
{
	char c[COMMENT_LEN];

	if (r->e->type != RW_EV_SENT)
		return;
	if (r->pkt) {
		comment(r, c, sizeof(c));
		write_pkt(s, p, r->pkt, c);
	} else {
		expect(s, p, r);
	}
}

/* a stack RST left: write it with its event's comment, or wait for the event */
static void pcap_packet(struct sink *s, struct pipeline *p, const struct rw_pkt *pkt)
{
	struct pcap_sink *ps = s->priv;
	struct pending_pkt *q;
	struct rw_event e;
	struct pend_key k;
	uint32_t seq, ack;
	unsigned int flags;

	if (parse_tcp_packet(pkt->data, pkt->caplen, pkt->family, &e, &seq, &ack, &flags))
		return;
	e.netns = pkt->netns;
	key_of(&e, &k);
	for (int i = 0; i < ps->npending; i++) {
		if (!memcmp(&ps->pending[i].k, &k, sizeof(k))) {
			write_pkt(s, p, pkt, ps->pending[i].comment);
			ps->pending[i] = ps->pending[--ps->npending];
			return;
		}
	}
	if (ps->npkts == MAX_PENDING) {
		ps->unmatched_pkts++;
		ps->pkts[0] = ps->pkts[--ps->npkts];
	}
	q = &ps->pkts[ps->npkts++];
	q->k = k;
	q->round = p->round;
	q->p = *pkt;
}

/*
 * Events whose packet never came left through no device (dropped on the way out); packets
 * whose event never came were filtered out (-p, -P, --cause) or lost.
 */
static void pcap_tick(struct sink *s, struct pipeline *p, bool final)
{
	struct pcap_sink *ps = s->priv;
	int kept = 0;

	for (int i = 0; i < ps->npending; i++) {
		if (final || p->round - ps->pending[i].round > 2)
			ps->unseen_events++;
		else
			ps->pending[kept++] = ps->pending[i];
	}
	ps->npending = kept;
	kept = 0;
	for (int i = 0; i < ps->npkts; i++) {
		if (final || p->round - ps->pkts[i].round > 2)
			ps->unmatched_pkts++;
		else
			ps->pkts[kept++] = ps->pkts[i];
	}
	ps->npkts = kept;
}

static void pcap_closing(struct sink *s, struct pipeline *p)
{
	struct pcap_sink *ps = s->priv;

	fprintf(stderr, "rstwhy: %llu packets written to %s; %llu stack RSTs never left "
		"through a device; %llu left with no event to match (filtered out)\n",
		(unsigned long long)s->written, p->env->pcapng,
		(unsigned long long)(ps ? ps->unseen_events : 0),
		(unsigned long long)(ps ? ps->unmatched_pkts : 0));
}

static void pcap_close(struct sink *s, struct pipeline *p)
{
	struct pcap_sink *ps = s->priv;

	if (!ps)
		return;
	if (ps->pc && pcapng_close(ps->pc) && !s->stopped)
		sink_failed(s, p, errno, "closing the pcapng file");
	ps->pc = NULL;
}

const struct sink_ops sink_pcapng = {
	.name = "pcapng",
	.wanted = pcap_wanted,
	.open = pcap_open,
	.report = pcap_report,
	.packet = pcap_packet,
	.tick = pcap_tick,
	.close = pcap_close,
	.closing = pcap_closing,
};
