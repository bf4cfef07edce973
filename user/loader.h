/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Decide what this kernel offers with probes that really load and attach, then load the
 * programs of the chosen plan. One place prints the plan (--probe, -v).
 */
#ifndef RW_LOADER_H
#define RW_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "kinfo.h"
#include "ksyms.h"

enum attach_mode {
	ATTACH_AUTO = 0,
	ATTACH_TRACEPOINT,	/* tracepoints only: before 6.10 resets with no full socket are missed */
	ATTACH_FENTRY,		/* passive resets through fentry on tcp_v4/v6_send_reset */
	ATTACH_KPROBE,		/* ... through kprobes */
};

enum tp_flavor {
	TPF_BTF = 0,		/* tp_btf: typed arguments, needs the kernel's own BTF (5.5+) */
	TPF_RAW,		/* raw_tp (4.17+) */
	TPF_CLASSIC,		/* tracepoint through perf events (any kernel) */
};

struct loader_opts {
	uint32_t netns;
	bool stacks;
	bool recv;
	bool egress;
	bool egress_required;
	bool egress_stack_pkts;
	long wakeup_bytes;	/* -1: default */
	bool aggregate;		/* count in the kernel (--summary, --quiet), no per-event records */
	bool ustack;		/* -u: user stacks of active resets */
	enum attach_mode attach;
	bool verbose;
	const struct kfilter *filter;	/* applied in the kernel; NULL: none */
	long existing_socks;		/* sockets found at start: the 4-tuple map holds them all */
};

#define LOADER_MAX_LINKS 32
#define LOADER_MAX_NOTES 24

struct rstwhy_bpf;
struct kfilter;

struct loader {
	struct rstwhy_bpf *skel;
	struct bpf_link *links[LOADER_MAX_LINKS];
	int nlinks;
	enum tp_flavor flavor;
	enum attach_mode passive;	/* what reports passive resets */
	bool gap;			/* resets with no full socket are not seen */
	bool aggregate;			/* counting in the kernel's agg map */
	int nnotes;
	char notes[LOADER_MAX_NOTES][200];	/* the plan, one line per hook */
};

/* 0, or -errno with a one-line explanation in err */
int loader_start(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		 const struct ksyms *ks, char *err, size_t errlen);
void loader_stop(struct loader *l);
void loader_print_plan(const struct loader *l, const struct kinfo *ki, FILE *f);
/* --probe: say whether the hook modes not in use would load and attach here */
void loader_probe_hooks(const struct loader_opts *o, const struct kinfo *ki,
			const struct ksyms *ks, enum attach_mode used, FILE *f);
const char *attach_mode_name(enum attach_mode m);
int attach_mode_from_name(const char *s);	/* -1 if unknown */

#endif
