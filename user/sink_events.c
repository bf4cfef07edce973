// SPDX-License-Identifier: GPL-2.0
/*
 * The per-event output on stdout: the live table, or one JSON object per line (-j). Each
 * event is formatted in memory and written through a wout, so a failed write (disk full, I/O
 * error) is noticed and the number of whole events written is known.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "output.h"
#include "pipeline.h"

struct events {
	struct out_opts out;
	FILE *mem;		/* fmemopen over line[]: one event at a time */
	struct wout w;
	char line[16384];
	char buf[16384];	/* mem's stdio buffer */
};

static bool events_wanted(const struct env *env)
{
	return env->per_event;
}

/* format with out_* into memory, then queue; false when the event did not fit */
static int put(struct sink *s, struct pipeline *p, bool counted,
	       void (*fmt)(FILE *f, const struct out_opts *o, const void *arg), const void *arg)
{
	struct events *ev = s->priv;
	long len;

	rewind(ev->mem);
	fmt(ev->mem, &ev->out, arg);
	fflush(ev->mem);
	len = ftell(ev->mem);
	if (len <= 0)
		return 0;
	if (wout_put(&ev->w, ev->line, len, counted)) {
		s->written = ev->w.done;
		sink_failed(s, p, ev->w.err, s->name[0] == 'j' ? "writing JSON to stdout" :
			    "writing the table to stdout");
		return -1;
	}
	return 0;
}

static void fmt_header(FILE *f, const struct out_opts *o, const void *arg)
{
	out_table_header(f, o);
}

static void fmt_event(FILE *f, const struct out_opts *o, const void *arg)
{
	out_event(f, o, arg);
}

static int events_open(struct sink *s, struct pipeline *p)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev || !(ev->mem = fmemopen(ev->line, sizeof(ev->line), "w"))) {
		fprintf(stderr, "rstwhy: out of memory\n");
		free(ev);
		return -1;
	}
	/* buffered: unbuffered, every character was a call into the memory stream's writer */
	setvbuf(ev->mem, ev->buf, _IOFBF, sizeof(ev->buf));
	s->priv = ev;
	s->name = p->env->json ? "json" : "table";
	ev->out.json = p->env->json;
	ev->out.stacks = p->env->stacks;
	ev->out.ks = p->ks;
	if (!p->env->json && isatty(STDOUT_FILENO)) {
		struct winsize ws;

		if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 80)
			ev->out.width = ws.ws_col;
	}
	wout_init(&ev->w, STDOUT_FILENO);
	if (!put(s, p, false, fmt_header, NULL))
		wout_flush(&ev->w);
	return 0;
}

static void events_report(struct sink *s, struct pipeline *p, const struct rw_report *r)
{
	put(s, p, true, fmt_event, r);
}

static void events_tick(struct sink *s, struct pipeline *p, bool final)
{
	struct events *ev = s->priv;

	if (wout_flush(&ev->w)) {
		s->written = ev->w.done;
		sink_failed(s, p, ev->w.err, s->name[0] == 'j' ? "writing JSON to stdout" :
			    "writing the table to stdout");
		return;
	}
	s->written = ev->w.done;
}

static void events_close(struct sink *s, struct pipeline *p)
{
	struct events *ev = s->priv;

	if (!ev)
		return;
	if (!s->stopped)
		events_tick(s, p, true);
	if (ev->mem)
		fclose(ev->mem);
	ev->mem = NULL;
}

const struct sink_ops sink_events = {
	.name = "table",
	.wanted = events_wanted,
	.open = events_open,
	.report = events_report,
	.tick = events_tick,
	.close = events_close,
};
