/* SPDX-License-Identifier: GPL-2.0 */
/* One decoded, classified event: what the output sinks print. */
#ifndef RW_REPORT_H
#define RW_REPORT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "../bpf/rstwhy.h"
#include "classify.h"
#include "container.h"
#include "kinfo.h"
#include "ksyms.h"
#include "ustack.h"

enum owner_from {
	OWNER_FROM_NONE = 0,
	OWNER_FROM_SOCKET,
	OWNER_FROM_LISTENER,
	OWNER_FROM_TIMEWAIT,
	OWNER_FROM_ACTOR,
	OWNER_FROM_PROCFS,
};

struct rw_report {
	const struct rw_event *e;
	const struct rw_pkt *pkt;	/* set for RSTs seen at egress only */
	struct rw_event pkt_ev;		/* e points here for those: the packet's fields */
	bool has_listener;		/* a listener owns the RST's source port (egress RSTs) */
	struct rw_task listener;
	struct rw_evidence ev;
	struct rw_verdict v;
	const char *kreason;		/* kernel reason name, NULL if none */
	bool has_owner;
	struct rw_task owner;
	enum owner_from owner_from;
	const struct container *ct;	/* the owner's container; valid until the next report */
	bool has_actor;
	struct rw_task actor;
	char saddr[INET6_ADDRSTRLEN];
	char daddr[INET6_ADDRSTRLEN];
	uint64_t time_ns;		/* wall clock, ns since the epoch */
	bool has_seq;			/* the RST's own sequence/ack numbers are known */
	uint32_t seq, ack;
	unsigned int rst_flags;		/* TF_RST, maybe TF_ACK */
	const struct ustack *ustack;	/* -u: the deciding task's user stack, NULL if none */
};

/* mono_to_real: add to bpf_ktime_get_ns() to get CLOCK_REALTIME */
void report_build(struct rw_report *r, const struct rw_event *e, const struct kinfo *ki,
		  const struct ksyms *ks, int64_t mono_to_real);

const char *owner_from_name(enum owner_from f);

/* parse a raw IP+TCP packet: 0, or -1 if it is not a whole TCP header */
int parse_tcp_packet(const uint8_t *data, uint32_t len, int family, struct rw_event *out,
		     uint32_t *seq, uint32_t *ack, unsigned int *flags);

/* an RST seen at egress that the TCP stack did not build: netfilter or a process */
void report_build_pkt(struct rw_report *r, const struct rw_pkt *p, int64_t mono_to_real);

#endif
