/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RSTs counted per cause x origin x local port x owner, for --summary and --prometheus. Fed
 * per event (user space) or per distinct evidence from the kernel's agg map.
 */
#ifndef RW_AGG_H
#define RW_AGG_H

#include <stdbool.h>
#include <stdint.h>
#include "container.h"
#include "report.h"

struct agg_row {
	enum rw_cause cause;
	enum rw_origin origin;
	bool received;
	uint32_t netns;
	uint16_t port;
	bool remote;		/* port is the peer's: this host's side was an ephemeral port */
	bool has_owner;
	uint32_t pid;
	char comm[16];
	uint32_t accept_limit;	/* the listener's backlog, last seen (events only), 0: unknown */
	uint64_t cgroup_id;	/* the owner's cgroup, 0 unknown */
	bool has_ct;
	struct container ct;	/* what cgroup_id resolved to */
	bool folded;		/* the rows past AGG_MAX_ROWS: no port, no owner */
	uint64_t total;		/* since start */
	uint64_t prev;		/* total at the previous interval */
};

#define AGG_MAX_ROWS 4096
#define AGG_INDEX 16384		/* hash index slots: a power of 2 above AGG_MAX_ROWS + folded */

struct agg {
	struct agg_row *rows;
	int n, cap;
	int *index;		/* AGG_INDEX slots: row number + 1, 0 free */
	/* the kernel map's counts at the previous read, per key */
	struct agg_seen *seen;
	int nseen, capseen;
	uint32_t gen;
	uint32_t map_size;	/* max_entries of the kernel's agg map (bpf_map__max_entries) */
};

void agg_add(struct agg *a, const struct rw_report *r, uint64_t n);
/*
 * Read the kernel's counts (agg and stacks map fds), classify each distinct evidence once and
 * add what is new since the last read, if want() takes it (the -p/-P/-4/-6/--cause filters).
 * Returns the number of new sent RSTs, filtered or not (they are checked against TcpOutRsts);
 * per_ns is called for each (netns, count) of them; ctx is passed to both callbacks.
 */
uint64_t agg_poll_kernel(struct agg *a, int agg_fd, int stacks_fd, const struct kinfo *ki,
			 const struct ksyms *ks, void *ctx,
			 void (*per_ns)(void *ctx, uint32_t netns, uint64_t n),
			 bool (*want)(void *ctx, const struct rw_report *r));
/* sort rows by the last interval's count, then by total; called once per interval */
void agg_sort(struct agg *a);
/* the interval ends: prev = total */
void agg_roll(struct agg *a);
void agg_free(struct agg *a);

#endif
