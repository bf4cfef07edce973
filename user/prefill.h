/* SPDX-License-Identifier: GPL-2.0 */
/* Seed the owner maps with the sockets that existed before rstwhy started. */
#ifndef RW_PREFILL_H
#define RW_PREFILL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "../bpf/rstwhy.h"

struct kfilter;

/* 0 or -1; counts of listener and 4-tuple records written (kf: -c membership, may be NULL) */
int prefill_owners(int listeners_fd, int tuples_fd, uint32_t only_netns,
		   const struct kfilter *kf, int *nlisten, int *ntuple);
/*
 * The same, in the kernel: runs the seeding iterator programs (rw_seed_even for even
 * descriptors, rw_seed_odd for odd ones: two threads) over every process's open files;
 * 0 or -1; the counts of listeners and connections recorded, and of those that could not be.
 */
struct bpf_program;
int prefill_run_iter(struct bpf_program *even, struct bpf_program *odd, int *nlisten,
		     int *nsock, long *nfailed);
/* -c: the cgroup id of the wanted directory, for the iterator; 0 if none */
uint64_t prefill_cgroup_id(const struct kfilter *kf);
/* the TCP sockets with an inode in the watched namespaces (to size the maps), -1 on error */
long prefill_count(uint32_t only_netns);

#endif
