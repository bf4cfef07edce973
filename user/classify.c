// SPDX-License-Identifier: GPL-2.0
/*
 * Decide who decided a RST, from all the evidence. The kernel's sk_rst_reason alone is not the
 * answer: TCP_STATE covers SO_LINGER 0, ss -K, connect(AF_UNSPEC) and a closed listener alike,
 * INVALID_SYN covers both an in-window SYN and an accept queue overflow, and kernels before
 * 6.10 give no reason at all. The stack says which path the reset took, the socket says what
 * the application did to it, the incoming segment says what provoked it.
 */
#include <string.h>
#include "classify.h"

static const struct {
	const char *id, *meaning, *usually, *check;
	enum rw_origin origin;
} causes[C_NR_CAUSES] = {
#define RW_CAUSE(e, i, o, m, u, c) [e] = { .id = i, .origin = o, .meaning = m, .usually = u, \
					     .check = c },
#include "causes.def"
};

static const char *const origin_names[O_NR_ORIGINS] = {
	[O_UNKNOWN] = "unknown",
	[O_APPLICATION] = "application",
	[O_TCP_STACK] = "tcp-stack",
	[O_ADMIN] = "admin",
	[O_FIREWALL] = "firewall",
	[O_INJECTED] = "injected",
	[O_PEER] = "peer",
};

static const char *const state_names[] = {
	[ST_ESTABLISHED] = "ESTABLISHED",
	[ST_SYN_SENT] = "SYN_SENT",
	[ST_SYN_RECV] = "SYN_RECV",
	[ST_FIN_WAIT1] = "FIN_WAIT1",
	[ST_FIN_WAIT2] = "FIN_WAIT2",
	[ST_TIME_WAIT] = "TIME_WAIT",
	[ST_CLOSE] = "CLOSE",
	[ST_CLOSE_WAIT] = "CLOSE_WAIT",
	[ST_LAST_ACK] = "LAST_ACK",
	[ST_LISTEN] = "LISTEN",
	[ST_CLOSING] = "CLOSING",
	[ST_NEW_SYN_RECV] = "SYN_RECV",
};

/* each evidence bit's label and the kernel symbols that set it (NULL-terminated) */
static const struct {
	const char *label;
	const char *const *syms;
} fns[FN_NR] = {
#define RW_FN(e, l, ...) [e] = { .label = l, .syms = (const char *const[]){ __VA_ARGS__, NULL } },
#include "evidence.def"
};

static const struct {
	const char *name;
	enum rw_kreason kr;
} kreasons[] = {
	{ "NOT_SPECIFIED", KR_NOT_SPECIFIED },
	{ "NO_SOCKET", KR_NO_SOCKET },
	{ "TCP_INVALID_ACK_SEQUENCE", KR_TCP_INVALID_ACK_SEQUENCE },
	{ "TCP_RFC7323_PAWS", KR_TCP_RFC7323_PAWS },
	{ "TCP_TOO_OLD_ACK", KR_TCP_TOO_OLD_ACK },
	{ "TCP_ACK_UNSENT_DATA", KR_TCP_ACK_UNSENT_DATA },
	{ "TCP_FLAGS", KR_TCP_FLAGS },
	{ "TCP_OLD_ACK", KR_TCP_OLD_ACK },
	{ "TCP_ABORT_ON_DATA", KR_TCP_ABORT_ON_DATA },
	{ "TCP_TIMEWAIT_SOCKET", KR_TCP_TIMEWAIT_SOCKET },
	{ "INVALID_SYN", KR_INVALID_SYN },
	{ "TCP_ABORT_ON_CLOSE", KR_TCP_ABORT_ON_CLOSE },
	{ "TCP_ABORT_ON_LINGER", KR_TCP_ABORT_ON_LINGER },
	{ "TCP_ABORT_ON_MEMORY", KR_TCP_ABORT_ON_MEMORY },
	{ "TCP_STATE", KR_TCP_STATE },
	{ "TCP_KEEPALIVE_TIMEOUT", KR_TCP_KEEPALIVE_TIMEOUT },
	{ "TCP_DISCONNECT_WITH_DATA", KR_TCP_DISCONNECT_WITH_DATA },
	{ "ERROR", KR_ERROR },
};

/* out-of-range causes read as unknown */
static enum rw_cause cause_ok(enum rw_cause c)
{
	return (unsigned int)c < C_NR_CAUSES ? c : C_UNKNOWN;
}

const char *rw_cause_name(enum rw_cause c)
{
	return causes[cause_ok(c)].id;
}

int rw_cause_from_name(const char *name)
{
	for (int i = 0; i < C_NR_CAUSES; i++)
		if (!strcmp(causes[i].id, name))
			return i;
	return -1;
}

enum rw_origin rw_cause_origin(enum rw_cause c)
{
	return causes[cause_ok(c)].origin;
}

const char *rw_cause_meaning(enum rw_cause c)
{
	return causes[cause_ok(c)].meaning;
}

const char *rw_cause_usually(enum rw_cause c)
{
	return causes[cause_ok(c)].usually;
}

const char *rw_cause_check(enum rw_cause c)
{
	return causes[cause_ok(c)].check;
}

const char *rw_origin_name(enum rw_origin o)
{
	return (unsigned int)o < O_NR_ORIGINS ? origin_names[o] : "unknown";
}

const char *rw_state_name(int state)
{
	if (state <= ST_NONE || state > ST_NEW_SYN_RECV)
		return NULL;
	return state_names[state];
}

const char *rw_fn_name(enum rw_fn f)
{
	return (unsigned int)f < FN_NR ? fns[f].label : "?";
}

uint32_t rw_fn_bits_of_symbol(const char *name)
{
	uint32_t bits = 0;

	for (int f = 0; f < FN_NR; f++) {
		for (const char *const *s = fns[f].syms; *s; s++) {
			size_t n = strlen(*s);
			bool prefix = n && (*s)[n - 1] == '*';

			if (prefix ? !strncmp(name, *s, n - 1) : !strcmp(name, *s)) {
				bits |= FNBIT(f);
				break;
			}
		}
	}
	return bits;
}

enum rw_kreason rw_kreason_from_name(const char *name)
{
	if (!strncmp(name, "MPTCP_", 6))
		return KR_MPTCP;
	for (size_t i = 0; i < sizeof(kreasons) / sizeof(kreasons[0]); i++)
		if (!strcmp(kreasons[i].name, name))
			return kreasons[i].kr;
	return KR_OTHER;
}

static bool has(const struct rw_evidence *ev, enum rw_fn f)
{
	return ev->has_stack && (ev->fns & FNBIT(f));
}

static bool is_bad_segment_reason(enum rw_kreason r)
{
	switch (r) {
	case KR_TCP_INVALID_ACK_SEQUENCE:
	case KR_TCP_RFC7323_PAWS:
	case KR_TCP_TOO_OLD_ACK:
	case KR_TCP_ACK_UNSENT_DATA:
	case KR_TCP_OLD_ACK:
	case KR_INVALID_SYN:
	case KR_TCP_FLAGS:
		return true;
	default:
		return false;
	}
}

/* the state the socket was in before the kernel moved it to CLOSE for the reset */
static int state_before(const struct rw_evidence *ev)
{
	if (!ev->has_sk)
		return ST_NONE;
	if (ev->timewait)
		return ev->tw_substate ? ev->tw_substate : ST_TIME_WAIT;
	if (ev->reqsk)
		return ST_SYN_RECV;
	if (ev->state == ST_CLOSE && ev->prev_state != ST_NONE)
		return ev->prev_state;
	return ev->state;
}

/* a RST answering an incoming segment */
static enum rw_cause classify_passive(const struct rw_evidence *ev, int *state)
{
	bool syn = ev->in_flags & TF_SYN, ack = ev->in_flags & TF_ACK;

	if (!ev->has_sk)
		return syn && !ack ? C_NO_LISTENER : C_NO_CONNECTION;

	if (ev->reason == KR_MPTCP)
		return C_MPTCP;

	if (ev->timewait) {
		/* FIN_WAIT2 stand-in: the application closed; new data means it was not read */
		if (ev->tw_substate == ST_FIN_WAIT2 && ev->in_payload > 0 && !syn)
			return C_DATA_AFTER_CLOSE;
		return C_TIMEWAIT;
	}

	if (ev->reqsk || ev->state == ST_LISTEN) {
		/* the segment belonged to a request socket: tcp_check_req reset it */
		if (ev->reqsk || has(ev, FN_CHECK_REQ) ||
		    (ev->reason == KR_INVALID_SYN && !has(ev, FN_RCV_STATE))) {
			*state = ST_SYN_RECV;
			/*
			 * tcp_check_req resets a request for a SYN or RST in window, or, with
			 * tcp_abort_on_overflow=1, when the child could not be queued because
			 * the accept queue was full (the reason then says INVALID_SYN too).
			 */
			if (!syn && !(ev->in_flags & TF_RST))
				return C_ACCEPT_OVERFLOW;
			return C_BAD_SEGMENT;
		}
		/* a bare ACK (or SYN-ACK) to a listener: no connection it could belong to */
		if (ack)
			return C_NO_CONNECTION;
		return C_BAD_SEGMENT;
	}

	/* data (or, with TCP_LINGER2 < 0, the ACK of our FIN) on a socket the app closed */
	if (ev->reason == KR_TCP_ABORT_ON_DATA ||
	    ((*state == ST_FIN_WAIT1 || *state == ST_FIN_WAIT2) && ev->reason == KR_NONE &&
	     (ev->dead || ev->in_payload > 0))) {
		if (ev->in_payload == 0 && ev->linger2 < 0)
			return C_FIN_WAIT2_ABORT;
		return C_DATA_AFTER_CLOSE;
	}
	if (is_bad_segment_reason(ev->reason))
		return C_BAD_SEGMENT;
	if (ev->reason == KR_NONE) {
		switch (*state) {
		case ST_SYN_SENT:
		case ST_SYN_RECV:
			return C_BAD_SEGMENT;
		default:
			break;
		}
	}
	return C_UNKNOWN;
}

/* a RST the host decided on its own: close, disconnect, timers, admin */
static enum rw_cause classify_active(const struct rw_evidence *ev, int state, bool *owner_is_actor)
{
	if (ev->reason == KR_MPTCP)
		return C_MPTCP;
	if (has(ev, FN_TCP_ABORT))
		return C_SOCKET_DESTROY;
	/*
	 * The MPTCP layer reset one of its subflows (fastclose after an abortive close, a
	 * subflow removed, a fallback failure): the reason may say TCP_ABORT_ON_CLOSE, but the
	 * decision was MPTCP's.
	 */
	if (ev->mptcp && has(ev, FN_MPTCP)) {
		*owner_is_actor = !has(ev, FN_IRQ_CONTEXT);
		return C_MPTCP;
	}
	if (has(ev, FN_LISTEN_STOP)) {
		*owner_is_actor = true;
		return C_LISTENER_CLOSED;
	}
	if (ev->reason == KR_TCP_KEEPALIVE_TIMEOUT)
		return C_KEEPALIVE_TIMEOUT;
	if (ev->reason == KR_TCP_ABORT_ON_MEMORY)
		return C_ORPHAN_MEMORY;
	if (has(ev, FN_TCP_CLOSE)) {
		*owner_is_actor = true;
		if (ev->reason == KR_TCP_ABORT_ON_CLOSE || ev->unread > 0)
			return C_CLOSE_UNREAD;
		if (ev->reason == KR_TCP_ABORT_ON_LINGER ||
		    (state == ST_FIN_WAIT2 && ev->linger2 < 0))
			return C_FIN_WAIT2_ABORT;
		if (has(ev, FN_TCP_DISCONNECT) || (ev->linger && ev->lingertime == 0))
			return C_CLOSE_LINGER0;
		/* __tcp_close resets nothing else but on memory pressure / too many orphans */
		return C_ORPHAN_MEMORY;
	}
	if (has(ev, FN_STREAM_CONNECT) || ev->reason == KR_TCP_DISCONNECT_WITH_DATA ||
	    (has(ev, FN_TCP_DISCONNECT) && !has(ev, FN_MPTCP))) {
		*owner_is_actor = true;
		return C_DISCONNECT;
	}
	if (has(ev, FN_KEEPALIVE_TIMER)) {
		/* the keepalive timer also ends orphaned FIN_WAIT2 sockets (tcp_fin_timeout) */
		if (state == ST_FIN_WAIT2 && ev->dead)
			return C_FIN_WAIT2_ABORT;
		return C_KEEPALIVE_TIMEOUT;
	}
	if (ev->reason == KR_TCP_ABORT_ON_CLOSE)
		return C_CLOSE_UNREAD;
	if (ev->reason == KR_TCP_ABORT_ON_LINGER)
		return C_FIN_WAIT2_ABORT;
	if (has(ev, FN_WRITE_TIMER) && ev->dead)
		return C_ORPHAN_MEMORY;
	if (has(ev, FN_MPTCP) || ev->mptcp)
		return C_MPTCP;
	return C_UNKNOWN;
}

void rw_classify(const struct rw_evidence *given, struct rw_verdict *out)
{
	struct rw_evidence norm = *given, *ev = &norm;
	int state = state_before(ev);
	bool owner_is_actor = false;
	enum rw_cause c;

	/* 6.10 and 6.11 give NOT_SPECIFIED to every active reset: no better than nothing */
	if (norm.reason == KR_NOT_SPECIFIED)
		norm.reason = KR_NONE;
	if (ev->received) {
		out->cause = C_PEER_RESET;
		out->origin = O_PEER;
		out->state = ev->has_sk ? state : ST_NONE;
		out->actor_valid = false;
		out->owner_is_actor = false;
		return;
	}
	if (ev->has_skb)
		c = classify_passive(ev, &state);
	else
		c = classify_active(ev, state, &owner_is_actor);

	out->cause = c;
	out->origin = rw_cause_origin(c);
	out->state = state;
	/*
	 * A passive reset answers a segment: no task decided it, whatever ran on the CPU. An
	 * active reset from a timer or softirq has no actor either.
	 */
	out->actor_valid = !ev->has_skb && ev->has_stack && !has(ev, FN_IRQ_CONTEXT);
	/* the last closer holds the socket whoever held it before */
	out->owner_is_actor = owner_is_actor && out->actor_valid;
}
