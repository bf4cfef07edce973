// SPDX-License-Identifier: GPL-2.0
/* Turn a kernel record into evidence, classify it, and settle owner and actor. */
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "report.h"

const char *owner_from_name(enum owner_from f)
{
	switch (f) {
	case OWNER_FROM_SOCKET:
		return "socket";
	case OWNER_FROM_LISTENER:
		return "listener";
	case OWNER_FROM_TIMEWAIT:
		return "timewait";
	case OWNER_FROM_ACTOR:
		return "actor";
	case OWNER_FROM_PROCFS:
		return "procfs";
	default:
		return NULL;
	}
}

static void evidence_from(struct rw_evidence *ev, const struct rw_event *e,
			  const struct kinfo *ki, const struct ksyms *ks)
{
	memset(ev, 0, sizeof(*ev));
	ev->received = e->type == RW_EV_RECV;
	ev->has_sk = e->flags & RW_F_SK;
	ev->fullsock = e->flags & RW_F_FULLSOCK;
	ev->timewait = e->flags & RW_F_TIMEWAIT;
	ev->reqsk = e->flags & RW_F_REQSK;
	ev->state = e->state;
	ev->prev_state = (e->flags & RW_F_PREV_STATE) ? e->prev_state : ST_NONE;
	ev->tw_substate = e->tw_substate;
	ev->has_skb = e->flags & RW_F_SKB;
	ev->in_flags = e->in_flags;
	ev->in_payload = e->in_payload;
	ev->reason = (e->flags & RW_F_REASON) ? kinfo_reason(ki, e->reason) : KR_NONE;
	if ((e->flags & RW_F_STACK) && e->stack_len > 0) {
		ev->has_stack = true;
		ev->fns = ksyms_fn_bits(ks, (const uint64_t *)e->stack, e->stack_len / 8);
	}
	ev->linger = e->flags & RW_F_LINGER;
	ev->lingertime = e->lingertime;
	ev->linger2 = e->linger2;
	if (ev->fullsock && e->rcv_nxt - e->copied_seq < (1u << 31))
		ev->unread = e->rcv_nxt - e->copied_seq;
	ev->dead = e->flags & RW_F_DEAD;
	ev->mptcp = e->flags & RW_F_MPTCP;
	ev->ack_backlog = e->ack_backlog;
	ev->max_ack_backlog = e->max_ack_backlog;
	ev->owner_known = e->flags & RW_F_OWNER;
}

/*
 * The RST's own sequence and acknowledgment numbers, as the kernel builds them: a passive
 * reset answers the segment (RFC 793: seq = its ACK, or ACK its whole length), an active one
 * carries the socket's snd_nxt and rcv_nxt.
 */
static void rst_numbers(struct rw_report *r, const struct rw_event *e)
{
	if (e->type != RW_EV_SENT)
		return;
	if (e->flags & RW_F_SKB) {
		r->has_seq = true;
		r->rst_flags = RW_RST_ANSWER(e->in_flags, e->in_seq, e->in_ack, e->in_payload,
					     r->seq, r->ack);
	} else if (e->flags & RW_F_FULLSOCK) {
		r->has_seq = true;
		r->seq = e->snd_nxt;
		r->ack = e->rcv_nxt;
		r->rst_flags = TF_RST | TF_ACK;
	}
}

static bool is_v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, 12);
}

void report_build(struct rw_report *r, const struct rw_event *e, const struct kinfo *ki,
		  const struct ksyms *ks, int64_t mono_to_real)
{
	int af = e->family == AF_INET6 ? AF_INET6 : AF_INET;

	memset(r, 0, sizeof(*r));
	r->e = e;
	evidence_from(&r->ev, e, ki, ks);
	rw_classify(&r->ev, &r->v);
	r->kreason = (e->flags & RW_F_REASON) ? kinfo_reason_name(ki, e->reason) : NULL;
	r->time_ns = e->ts_ns + mono_to_real;
	/*
	 * A dual-stack socket talks IPv4 through ::ffff:a.b.c.d addresses: the RST on the wire
	 * is IPv4, and the JSON gives the packet's own addresses.
	 */
	if (af == AF_INET6 && is_v4mapped(e->saddr) && is_v4mapped(e->daddr)) {
		r->pkt_ev = *e;
		r->pkt_ev.family = AF_INET;
		memmove(r->pkt_ev.saddr, e->saddr + 12, 4);
		memset(r->pkt_ev.saddr + 4, 0, 12);
		memmove(r->pkt_ev.daddr, e->daddr + 12, 4);
		memset(r->pkt_ev.daddr + 4, 0, 12);
		r->e = e = &r->pkt_ev;
		af = AF_INET;
	}
	inet_ntop(af, e->saddr, r->saddr, sizeof(r->saddr));
	inet_ntop(af, e->daddr, r->daddr, sizeof(r->daddr));

	rst_numbers(r, e);
	if (e->flags & RW_F_OWNER) {
		r->has_owner = true;
		r->owner = e->owner;
		switch (e->owner_src) {
		case RW_OWN_LISTENER:
			r->owner_from = OWNER_FROM_LISTENER;
			break;
		case RW_OWN_TIMEWAIT:
			r->owner_from = OWNER_FROM_TIMEWAIT;
			break;
		case RW_OWN_PROCFS:
			r->owner_from = OWNER_FROM_PROCFS;
			break;
		default:
			r->owner_from = OWNER_FROM_SOCKET;
		}
	}
	if (r->v.actor_valid) {
		r->has_actor = true;
		r->actor = e->actor;
	}
	/* the application closed a socket we never saw it use: it held the descriptor */
	if (!r->has_owner && r->v.owner_is_actor) {
		r->has_owner = true;
		r->owner = e->actor;
		r->owner_from = OWNER_FROM_ACTOR;
	}
	/* no socket, no owner: a listener record would only be a guess */
	if (r->v.cause == C_NO_LISTENER || (r->v.cause == C_NO_CONNECTION && !r->ev.has_sk)) {
		r->has_owner = false;
		r->owner_from = OWNER_FROM_NONE;
	}
}

int parse_tcp_packet(const uint8_t *d, uint32_t len, int family, struct rw_event *out,
		     uint32_t *seq, uint32_t *ack, unsigned int *flags)
{
	uint32_t off;
	uint16_t port;

	memset(out->saddr, 0, 16);
	memset(out->daddr, 0, 16);
	if (family == AF_INET) {
		if (len < 20 || (d[0] >> 4) != 4)
			return -1;
		off = (d[0] & 0xf) * 4;
		memcpy(out->saddr, d + 12, 4);
		memcpy(out->daddr, d + 16, 4);
	} else {
		if (len < 40 || (d[0] >> 4) != 6)
			return -1;
		off = 40;
		memcpy(out->saddr, d + 8, 16);
		memcpy(out->daddr, d + 24, 16);
	}
	if (len < off + 20)
		return -1;
	out->family = family;
	memcpy(&port, d + off, 2);
	out->sport = ntohs(port);
	memcpy(&port, d + off + 2, 2);
	out->dport = ntohs(port);
	memcpy(seq, d + off + 4, 4);
	*seq = ntohl(*seq);
	memcpy(ack, d + off + 8, 4);
	*ack = ntohl(*ack);
	*flags = d[off + 13];
	return 0;
}

void report_build_pkt(struct rw_report *r, const struct rw_pkt *p, int64_t mono_to_real)
{
	struct rw_event *e = &r->pkt_ev;
	unsigned int flags = 0;
	int af = p->family == AF_INET6 ? AF_INET6 : AF_INET;

	memset(r, 0, sizeof(*r));
	r->pkt = p;
	r->e = e;
	e->type = RW_EV_SENT;
	e->ts_ns = p->ts_ns;
	e->netns = p->netns;
	e->skaddr = p->skaddr;
	r->time_ns = p->ts_ns + mono_to_real;
	if (!parse_tcp_packet(p->data, p->caplen, af, e, &r->seq, &r->ack, &flags)) {
		r->has_seq = true;
		r->rst_flags = flags;
	}
	inet_ntop(af, e->saddr, r->saddr, sizeof(r->saddr));
	inet_ntop(af, e->daddr, r->daddr, sizeof(r->daddr));
	switch (p->kind) {
	case RW_EG_NETFILTER:
		r->v.cause = C_NETFILTER_REJECT;
		break;
	case RW_EG_RAW:
	case RW_EG_PACKET:
		/* built and sent by a process in its own sendmsg(): it is the actor and owner */
		r->v.cause = C_INJECTED;
		r->has_actor = r->has_owner = true;
		r->actor = r->owner = p->actor;
		r->owner_from = OWNER_FROM_ACTOR;
		break;
	case RW_EG_STACK:
	default:
		r->v.cause = C_UNKNOWN;
		break;
	}
	r->v.origin = rw_cause_origin(r->v.cause);
	r->v.state = ST_NONE;
}
