/* SPDX-License-Identifier: GPL-2.0 */
/* Seed the owner maps with the sockets that existed before rstwhy started. */
#ifndef RW_PREFILL_H
#define RW_PREFILL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "../bpf/rstwhy.h"

/* 0 or -1; counts of listener and 4-tuple records written */
int prefill_owners(int listeners_fd, int tuples_fd, uint32_t only_netns, int *nlisten,
		   int *ntuple);

#endif
