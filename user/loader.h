/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Decide what this kernel offers with probes that really load and attach, then load the
 * programs of the chosen plan. The plan is data (struct loader_hook per hook), printed for
 * people (--probe, -v) and as JSON (--probe -j, the ready file).
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
	ATTACH__N,
};

enum tp_flavor {
	TPF_BTF = 0,		/* tp_btf: typed arguments, needs the kernel's own BTF (5.5+) */
	TPF_RAW,		/* raw_tp (4.17+) */
	TPF_CLASSIC,		/* tracepoint through perf events (any kernel) */
	TPF__N,
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
	bool seed_iter;			/* try the seeding iterator (rw_seed_even) */
	uint64_t seed_cgroup_id;	/* -c: the directory's cgroup id, for the iterator */
};

#define LOADER_MAX_LINKS 32
#define LOADER_MAX_HOOKS 24
#define LOADER_MAX_TRIED 8

struct rstwhy_bpf;
struct kfilter;
struct hook_def;

/* one hook of the plan, as data (--probe -j, the ready file, -v) */
struct loader_hook {
	const struct hook_def *def;
	const char *hook;		/* "tcp:tcp_send_reset", "tcp_v4_send_reset" */
	const char *attach;		/* how it is attached ("tp_btf", "fentry"), NULL if not */
	const char *program;		/* the BPF program, NULL if none */
	const char *misses;		/* what the user does not see, NULL if nothing */
	int error;			/* errno of the failed attach, 0 */
};

/* a plan tried before the one in use, and why it failed */
struct loader_tried {
	enum attach_mode passive;
	enum tp_flavor flavor;
	char why[200];
};

struct loader {
	struct rstwhy_bpf *skel;
	struct bpf_link *links[LOADER_MAX_LINKS];
	int nlinks;
	enum tp_flavor flavor;
	enum attach_mode passive;	/* what reports passive resets */
	bool gap;			/* resets with no full socket are not seen */
	bool reason;			/* the kernel's sk_rst_reason is recorded */
	bool aggregate;			/* counting in the kernel's agg map */
	bool sk_storage;		/* socket records in socket-local storage */
	bool ustack_asked;		/* -u */
	bool ustack;			/* user stacks are recorded (not with classic tracepoints) */
	bool seed_iter;			/* rw_seed_even loaded: owners at start from the iterator */
	int nhooks;
	struct loader_hook hooks[LOADER_MAX_HOOKS];
	int ntried;
	struct loader_tried tried[LOADER_MAX_TRIED];
};

/* 0, or -errno with a one-line explanation in err */
int loader_start(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		 const struct ksyms *ks, char *err, size_t errlen);
void loader_stop(struct loader *l);
/* the plan for people (-v) */
void loader_print_plan(const struct loader *l, const struct kinfo *ki, FILE *f);
/*
 * --probe: the plan and whether the passive-reset modes not in use would load and attach
 * here; as text, or as one JSON object (--probe -j)
 */
void loader_probe(const struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		  const struct ksyms *ks, bool json, FILE *f);
/*
 * --ready-file: PATH appears (atomically) holding the plan as one JSON object.
 * 0, or -1 after one line on stderr.
 */
int loader_write_ready(const struct loader *l, const struct kinfo *ki, const char *path);
const char *attach_mode_name(enum attach_mode m);
const char *tp_flavor_name(enum tp_flavor f);
int attach_mode_from_name(const char *s);	/* -1 if unknown */

#endif
