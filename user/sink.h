/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Outputs. Each is a sink: a file sink_NAME.c that defines one struct sink_ops, listed once in
 * the sink table (sink_table[] in pipeline.c). The pipeline calls, for each sink the command
 * line asks for (ops->wanted):
 *	open	once, before the first event (0, or -1 after one line on stderr: exit 1)
 *	report	each event that passed the filters, classified
 *	packet	each RST the TCP stack built, seen leaving (only sinks that want packets)
 *	tick	each polling round (about every 100 ms) and once more at exit (final)
 *	close	at exit
 * A sink counts what it really wrote (written) and, when a write fails, stops itself with
 * sink_failed(): one line on stderr, and the closing summary and exit status say so.
 */
#ifndef RW_SINK_H
#define RW_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include "report.h"

struct env;
struct pipeline;
struct sink;

struct sink_ops {
	const char *name;
	bool (*wanted)(const struct env *env);
	int (*open)(struct sink *s, struct pipeline *p);
	void (*report)(struct sink *s, struct pipeline *p, const struct rw_report *r);
	void (*packet)(struct sink *s, struct pipeline *p, const struct rw_pkt *pkt);
	void (*tick)(struct sink *s, struct pipeline *p, bool final);
	void (*close)(struct sink *s, struct pipeline *p);
	/* one line for the closing summary (may be NULL): what was written where */
	void (*closing)(struct sink *s, struct pipeline *p);
};

struct sink {
	const struct sink_ops *ops;
	const char *name;	/* as the stats file names it: "json", "table", "pcapng", ... */
	void *priv;
	uint64_t written;	/* events (or packets, intervals) really written */
	int err;		/* errno of the write that failed, 0 */
	bool stopped;		/* failed (or its reader went away): no more calls but close */
};

/* the sinks, in the order they run */
extern const struct sink_ops sink_events, sink_pcapng, sink_aggregate;

/*
 * A write of sink s failed with errno err: stop it. EPIPE (the reader went away) ends rstwhy
 * quietly; anything else prints "rstwhy: WHAT: ERROR; output stopped" and makes the exit
 * status 1.
 */
void sink_failed(struct sink *s, struct pipeline *p, int err, const char *what);

/*
 * Buffered writes to a file descriptor that know which records reached it: a record is
 * counted once all its bytes were written, so a disk that fills up mid-line still gives the
 * true number of whole records written.
 */
#define WOUT_BUF (64 * 1024)
#define WOUT_RECS 2048
struct wout {
	int fd;
	size_t len;
	int nrec;
	uint64_t done;		/* counted records fully written */
	int err;		/* errno of the failed write, 0 */
	char buf[WOUT_BUF];
	uint32_t ends[WOUT_RECS];	/* end offsets in buf of the counted records */
};

void wout_init(struct wout *w, int fd);
/* append a record (counted or not, e.g. a header); 0, or -1 with w->err set */
int wout_put(struct wout *w, const char *data, size_t len, bool counted);
int wout_flush(struct wout *w);

#endif
