/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event pipeline: ring buffer records -> decode and classify (report_build) -> filters
 * (pipeline_wanted) -> every sink (sink.h). It owns the counts the closing summary gives. One
 * struct pipeline is the ring buffer's ctx: no file-scope state.
 */
#ifndef RW_PIPELINE_H
#define RW_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include "agg.h"
#include "classify.h"
#include "cli.h"
#include "kinfo.h"
#include "ksyms.h"
#include "netns.h"
#include "report.h"
#include "sink.h"

struct rstwhy_bpf;
struct loader;

#define MAX_SINKS 8
#define MAX_HELD 256
#define NS_SLOTS 4096

struct pipeline {
	const struct env *env;
	const struct kinfo *ki;
	const struct ksyms *ks;
	struct rstwhy_bpf *skel;
	const struct loader *ld;
	int64_t mono_to_real;		/* add to bpf_ktime_get_ns() for CLOCK_REALTIME */
	unsigned int round;		/* polling rounds, to age what waits for a partner */
	/* counts for the closing summary */
	uint64_t sent, recv, shown, egress;
	uint64_t by_cause[C_NR_CAUSES];
	/* shown RSTs per cause x origin x port x owner: --summary, /metrics, the top finding */
	struct agg agg;
	/* "received" events that may be the kernel's own abort-on-data: see pipeline.c */
	struct held {
		struct rw_event e;
		unsigned int round;
	} held[MAX_HELD];
	int nheld;
	/* captured RSTs per namespace, to compare with each namespace's own TcpOutRsts */
	struct {
		uint32_t ino;
		uint64_t sent;
	} ns_sent[NS_SLOTS];
	uint64_t ns_overflow;
	struct sink sinks[MAX_SINKS];
	int nsinks;
	bool stop;			/* every output is gone: end the run */
	bool reader_gone;		/* stdout's reader went away (EPIPE): end quietly */
	bool failed;			/* a sink failed: exit status 1 */
};

/* open every sink the command line asks for; 0, or -1 after one line on stderr */
int pipeline_open(struct pipeline *p, const struct env *env, const struct kinfo *ki,
		  const struct ksyms *ks, struct rstwhy_bpf *skel, const struct loader *ld);
/* ring_buffer__new's callback: ctx is the struct pipeline */
int pipeline_handle_event(void *ctx, void *data, size_t len);
/* end of a polling round (final: at exit, after the last drain) */
void pipeline_tick(struct pipeline *p, bool final);
/* flush and close every output (their counts stay for pipeline_closing) */
void pipeline_close(struct pipeline *p);
/* free what the sinks hold; after pipeline_closing */
void pipeline_free(struct pipeline *p);

/* the -p/-P/-4/-6/--cause filters (also applied to the kernel's aggregated counts) */
bool pipeline_wanted(const struct pipeline *p, const struct rw_report *r);
/* n sent RSTs of namespace ino were captured */
/* RSTs captured in one namespace so far */
uint64_t pipeline_captured_in(const struct pipeline *p, uint32_t ino);
void pipeline_count_ns(struct pipeline *p, uint32_t ino, uint64_t n);
/* sum of a per-CPU counter (enum rw_counter) */
uint64_t pipeline_counter(const struct pipeline *p, uint32_t idx);

/*
 * The closing summary: prose on stderr (unless the reader went away) and, with --stats-file,
 * the same as one JSON object (docs/json.md). start: the namespaces' counters at start;
 * hooked: what the send hook saw. Returns 0, or -1 if the stats file could not be written.
 */
int pipeline_closing(struct pipeline *p, const struct ns_snapshot *start, uint64_t hooked);

#endif
