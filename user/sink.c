// SPDX-License-Identifier: GPL-2.0
/* What every sink shares: stopping on a failed write, and writes that count whole records. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pipeline.h"
#include "sink.h"

void sink_failed(struct sink *s, struct pipeline *p, int err, const char *what)
{
	if (s->stopped)
		return;
	s->stopped = true;
	s->err = err;
	if (err == EPIPE) {
		/* like any filter whose reader left: no message, a normal end */
		p->reader_gone = true;
		p->stop = true;
		return;
	}
	fprintf(stderr, "rstwhy: %s: %s; output stopped after %llu written\n", what,
		strerror(err), (unsigned long long)s->written);
	p->failed = true;
}

void wout_init(struct wout *w, int fd)
{
	memset(w, 0, offsetof(struct wout, buf));
	w->fd = fd;
}

int wout_flush(struct wout *w)
{
	size_t off = 0;
	int r = 0;

	while (off < w->len && !w->err) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			w->err = n < 0 ? errno : EIO;
		else
			off += n;
	}
	/* the records whose last byte made it */
	for (int i = 0; i < w->nrec && w->ends[i] <= off; i++)
		w->done++;
	if (w->err)
		r = -1;
	w->len = 0;
	w->nrec = 0;
	return r;
}

int wout_put(struct wout *w, const char *data, size_t len, bool counted)
{
	if (w->err)
		return -1;
	if (w->len + len > sizeof(w->buf) || w->nrec == WOUT_RECS)
		if (wout_flush(w))
			return -1;
	if (len > sizeof(w->buf)) {
		/* larger than the buffer: on its own (never in practice: an event is < 8 KiB) */
		memcpy(w->buf, data, sizeof(w->buf));
		w->len = sizeof(w->buf);
		if (wout_flush(w))
			return -1;
		return wout_put(w, data + sizeof(w->buf), len - sizeof(w->buf), counted);
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	if (counted)
		w->ends[w->nrec++] = w->len;
	return 0;
}
