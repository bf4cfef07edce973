/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The classifier: evidence in, cause and origin out. Pure: no I/O, no globals, so it can be
 * unit-tested from recorded evidence.
 */
#ifndef RW_CLASSIFY_H
#define RW_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "rstwhy.h"

/* the causes, their ids, origins and explanations: causes.def */
enum rw_cause {
#define RW_CAUSE(e, id, origin, meaning, usually, check) e,
#include "causes.def"
	C_NR_CAUSES,
};

enum rw_origin {
	O_UNKNOWN = 0,
	O_APPLICATION,
	O_TCP_STACK,
	O_ADMIN,
	O_FIREWALL,
	O_INJECTED,
	O_PEER,
	O_NR_ORIGINS,
};

/* kernel sk_rst_reason values, by name (the numbers differ between kernels) */
enum rw_kreason {
	KR_NONE = 0,		/* the kernel gave no reason (before 6.10) */
	KR_NOT_SPECIFIED,
	KR_NO_SOCKET,
	KR_TCP_INVALID_ACK_SEQUENCE,
	KR_TCP_RFC7323_PAWS,
	KR_TCP_TOO_OLD_ACK,
	KR_TCP_ACK_UNSENT_DATA,
	KR_TCP_FLAGS,
	KR_TCP_OLD_ACK,
	KR_TCP_ABORT_ON_DATA,
	KR_TCP_TIMEWAIT_SOCKET,
	KR_INVALID_SYN,
	KR_TCP_ABORT_ON_CLOSE,
	KR_TCP_ABORT_ON_LINGER,
	KR_TCP_ABORT_ON_MEMORY,
	KR_TCP_STATE,
	KR_TCP_KEEPALIVE_TIMEOUT,
	KR_TCP_DISCONNECT_WITH_DATA,
	KR_MPTCP,		/* any MPTCP_RST_* */
	KR_ERROR,
	KR_OTHER,		/* a name this build does not know */
};

/* kernel functions whose presence on the stack is evidence (bit numbers): evidence.def */
enum rw_fn {
#define RW_FN(e, label, ...) e,
#include "evidence.def"
	FN_NR,
};

#define FNBIT(f) (1u << (f))

/* tcp_states.h */
enum rw_tcp_state {
	ST_NONE = 0,
	ST_ESTABLISHED = 1,
	ST_SYN_SENT,
	ST_SYN_RECV,
	ST_FIN_WAIT1,
	ST_FIN_WAIT2,
	ST_TIME_WAIT,
	ST_CLOSE,
	ST_CLOSE_WAIT,
	ST_LAST_ACK,
	ST_LISTEN,
	ST_CLOSING,
	ST_NEW_SYN_RECV,
};

struct rw_evidence {
	bool received;		/* a RST this host received */
	bool has_sk;
	bool fullsock;
	bool timewait;
	bool reqsk;		/* the socket given was a request socket (SYN_RECV) */
	int state;		/* sk_state when the hook ran */
	int prev_state;		/* state before the move to CLOSE, ST_NONE if unknown */
	int tw_substate;
	bool has_skb;		/* passive: the incoming segment is known */
	unsigned int in_flags;
	uint32_t in_payload;
	enum rw_kreason reason;
	bool has_stack;
	uint32_t fns;		/* FNBIT(rw_fn) seen on the stack */
	bool linger;		/* SO_LINGER on */
	uint64_t lingertime;
	int linger2;		/* TCP_LINGER2 */
	uint32_t unread;	/* received bytes the application never read */
	bool dead;		/* orphaned: the application closed it */
	bool mptcp;
	uint32_t ack_backlog;
	uint32_t max_ack_backlog;
	bool owner_known;
};

struct rw_verdict {
	enum rw_cause cause;
	enum rw_origin origin;
	int state;		/* the state to report: before the reset, ST_NONE if no socket */
	bool actor_valid;	/* the current task decided it (process context) */
	bool owner_is_actor;	/* no owner record: the actor holds the socket (it closed it) */
};

void rw_classify(const struct rw_evidence *ev, struct rw_verdict *out);

const char *rw_cause_name(enum rw_cause c);
int rw_cause_from_name(const char *name);	/* -1 if unknown */
enum rw_origin rw_cause_origin(enum rw_cause c);
const char *rw_origin_name(enum rw_origin o);
const char *rw_state_name(int state);		/* NULL for ST_NONE */
enum rw_kreason rw_kreason_from_name(const char *name);	/* name without SK_RST_REASON_ */
const char *rw_fn_name(enum rw_fn f);		/* a label for tests and -v */
/* FNBIT()s of the evidence functions this kernel symbol is (evidence.def), 0 if none */
uint32_t rw_fn_bits_of_symbol(const char *name);
/* one line: what it means and what to do; what usually produces it; what to check next */
const char *rw_cause_meaning(enum rw_cause c);
const char *rw_cause_usually(enum rw_cause c);
const char *rw_cause_check(enum rw_cause c);

#endif
