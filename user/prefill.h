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
/* the TCP sockets with an inode in the watched namespaces (to size the maps), -1 on error */
long prefill_count(uint32_t only_netns);

#endif
