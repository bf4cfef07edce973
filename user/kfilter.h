/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The filters the BPF programs apply themselves (-4/-6, -P, -p, --comm, -c and what --cause
 * can decide from the hook alone), set between open and load, so that what is not shown costs
 * no record and no user-space work.
 */
#ifndef RW_KFILTER_H
#define RW_KFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../bpf/rstwhy.h"

struct kfilter {
	uint16_t family;		/* AF_INET / AF_INET6, 0: both */
	int nports;
	uint16_t ports[RW_MAX_PORTS];
	uint32_t tgid;			/* -p, 0: any */
	const char *comm;		/* --comm, NULL: any */
	int cgroup_fd;			/* -c: the directory, -1: none */
	char cgroup_rel[4096];		/* ... its path as /proc/PID/cgroup shows it */
	uint32_t causes;		/* bitmask of enum rw_cause, 0: all */
	bool recv;			/* -r: received RSTs are wanted */
};

struct rstwhy_bpf;

/* whether any filter is applied in the kernel (the per-namespace counts are then kept there) */
bool kfilter_active(const struct kfilter *f);
void kfilter_set_rodata(struct rstwhy_bpf *skel, const struct kfilter *f);
/* after load, before attach: 0 or -errno */
int kfilter_set_maps(struct rstwhy_bpf *skel, const struct kfilter *f);
/* -c PATH: 0, or -1 with one line in err (no such directory, not cgroup v2) */
int kfilter_open_cgroup(struct kfilter *f, const char *path, char *err, size_t errlen);
/* whether process pid is in the -c subtree (for owners found at start) */
bool kfilter_pid_in_cgroup(const struct kfilter *f, int pid);

#endif
