/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The classifier: evidence in, cause and origin out. Pure: no I/O, no globals, so it can be
 * unit-tested from recorded evidence.
 */
#ifndef RW_CLASSIFY_H
#define RW_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

enum rw_cause {
	C_UNKNOWN = 0,
	C_NO_LISTENER,
	C_NO_CONNECTION,
	C_LISTENER_CLOSED,
	C_ACCEPT_OVERFLOW,
	C_CLOSE_UNREAD,
	C_CLOSE_LINGER0,
	C_DISCONNECT,
	C_DATA_AFTER_CLOSE,
	C_FIN_WAIT2_ABORT,
	C_KEEPALIVE_TIMEOUT,
	C_ORPHAN_MEMORY,
	C_TIMEWAIT,
	C_BAD_SEGMENT,
	C_SOCKET_DESTROY,
	C_NETFILTER_REJECT,
	C_INJECTED,
	C_MPTCP,
	C_PEER_RESET,
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

/* kernel functions whose presence on the stack is evidence (bit numbers) */
enum rw_fn {
	FN_TCP_CLOSE = 0,	/* __tcp_close / tcp_close */
	FN_TCP_DISCONNECT,	/* tcp_disconnect */
	FN_STREAM_CONNECT,	/* __inet_stream_connect: connect(AF_UNSPEC) */
	FN_LISTEN_STOP,		/* inet_csk_listen_stop / inet_child_forget */
	FN_TCP_ABORT,		/* tcp_abort: SOCK_DESTROY (ss -K) or bpf_sock_destroy */
	FN_KEEPALIVE_TIMER,	/* tcp_keepalive_timer */
	FN_WRITE_TIMER,		/* retransmit / probe timers (tcp_out_of_resources path) */
	FN_CHECK_REQ,		/* tcp_check_req: a request socket's segment */
	FN_RCV_STATE,		/* tcp_rcv_state_process */
	FN_TIMEWAIT,		/* tcp_timewait_state_process */
	FN_IRQ_CONTEXT,		/* softirq / timer / irq entry: no task decided this */
	FN_MPTCP,		/* mptcp_* / subflow_* */
	FN_SHUTDOWN,		/* inet_shutdown */
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

/* TCP header flag bits */
#define TF_FIN 0x01
#define TF_SYN 0x02
#define TF_RST 0x04
#define TF_PSH 0x08
#define TF_ACK 0x10
#define TF_URG 0x20

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

#endif
