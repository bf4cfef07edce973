// SPDX-License-Identifier: GPL-2.0
/*
 * A small HTTP/1.0 server for /metrics on its own thread. The tracing loop builds the text
 * once per interval and swaps it in under a mutex held for a pointer swap or a copy; a slow
 * or stuck scraper only delays other scrapers (2 s socket timeouts), never the tracing.
 *
 * Series are bounded: the first max_series label sets (cause, origin, dir, port, owner comm,
 * netns, container) keep their own series for the whole run, later ones fold into
 * port="other",owner="other",netns="other",container="other", so every counter stays
 * monotonic. The per-namespace series (listeners, TcpOutRsts) are bounded the same way by
 * their own caps (LISTENERS_MAX, PROM_NS_MAX).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>
#include "json.h"
#include "prom.h"

struct series {
	enum rw_cause cause;
	enum rw_origin origin;
	bool received;
	bool remote;		/* port is the peer's (client sockets) */
	int port;		/* -1: other */
	char comm[16];		/* "" no owner; "other" folded */
	uint32_t netns;		/* 0: other */
	char runtime[16];	/* "" unknown; "other" folded */
	char ctid[64];		/* short container id or systemd unit */
	char pod[40];
	uint64_t value;
};

/* a namespace's own TcpOutRsts beside what rstwhy captured there */
struct ns_series {
	uint32_t ino;
	uint64_t kernel;
	uint64_t captured;
};

struct prom {
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	char *text;
	size_t len;
	volatile int stop;
	int active;		/* connections being served */
	int max_series;
	struct series *s;
	int ns, cap;
	struct ns_series nss[PROM_NS_MAX];
	int nnss;
};

int prom_parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len, char *err,
		    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	char host[256], *port, *end;
	const char *colon = strrchr(arg, ':');
	long p;
	int rc;

	if (!colon || strlen(arg) >= sizeof(host)) {
		snprintf(err, errlen, "--prometheus %s: expected ADDR:PORT, [IPV6]:PORT or :PORT",
			 arg);
		return -1;
	}
	memcpy(host, arg, colon - arg);
	host[colon - arg] = 0;
	port = (char *)colon + 1;
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || end == port || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "--prometheus %s: the port must be a number from 1 to 65535",
			 arg);
		return -1;
	}
	if (host[0] == '[') {
		size_t hl = strlen(host);

		if (hl < 3 || host[hl - 1] != ']') {
			snprintf(err, errlen, "--prometheus %s: unbalanced [ ] around the address",
				 arg);
			return -1;
		}
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	/* a numeric address must be valid as such, not looked up as a name */
	if (strspn(host, "0123456789.") == strlen(host) || strchr(host, ':'))
		hints.ai_flags |= AI_NUMERICHOST;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "--prometheus %s: bad address: %s", arg, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

#define MAX_CONNS 8
#define CONN_MS 2000

static long long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* one request, answered within CONN_MS in all, however slowly the client talks */
static void serve_one(struct prom *p, int c)
{
	long long deadline = ms_now() + CONN_MS;
	char req[4096], hdr[160], *body = NULL;
	size_t got = 0, blen = 0;
	const char *status = "200 OK";
	ssize_t n;

	while (got < sizeof(req) - 1) {
		struct pollfd pfd = { .fd = c, .events = POLLIN };
		long long left = deadline - ms_now();

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return;
		n = recv(c, req + got, sizeof(req) - 1 - got, MSG_DONTWAIT);
		if (n <= 0)
			return;
		got += n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (!strncmp(req, "GET /metrics", 12) && (req[12] == ' ' || req[12] == '?')) {
		pthread_mutex_lock(&p->lock);
		body = malloc(p->len + 1);
		if (body) {
			memcpy(body, p->text ? p->text : "", p->len);
			blen = p->len;
		}
		pthread_mutex_unlock(&p->lock);
		if (!body)
			return;
	} else if (!strncmp(req, "GET / ", 6)) {
		body = strdup("rstwhy: metrics at /metrics\n");
		blen = body ? strlen(body) : 0;
	} else {
		status = "404 Not Found";
		body = strdup("not found: try /metrics\n");
		blen = body ? strlen(body) : 0;
	}
	snprintf(hdr, sizeof(hdr), "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, blen);
	for (int part = 0; part < 2; part++) {
		const char *buf = part ? body : hdr;
		size_t len = part ? blen : strlen(hdr);

		for (size_t off = 0; off < len;) {
			struct pollfd pfd = { .fd = c, .events = POLLOUT };
			long long left = deadline + CONN_MS - ms_now();

			if (left <= 0 || poll(&pfd, 1, left) <= 0)
				goto out;
			n = send(c, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0)
				goto out;
			off += n;
		}
	}
out:
	free(body);
}

struct conn {
	struct prom *p;
	int fd;
};

static void *conn_thread(void *arg)
{
	struct conn *c = arg;

	serve_one(c->p, c->fd);
	close(c->fd);
	__atomic_sub_fetch(&c->p->active, 1, __ATOMIC_SEQ_CST);
	free(c);
	return NULL;
}

/* each scraper on its own short-lived thread: a stuck one delays nobody */
static void *serve(void *arg)
{
	struct prom *p = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!p->stop) {
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		struct conn *c;
		pthread_t t;
		int fd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		fd = accept4(p->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		c = malloc(sizeof(*c));
		if (!c || __atomic_load_n(&p->active, __ATOMIC_SEQ_CST) >= MAX_CONNS) {
			free(c);
			close(fd);
			continue;
		}
		c->p = p;
		c->fd = fd;
		__atomic_add_fetch(&p->active, 1, __ATOMIC_SEQ_CST);
		if (pthread_create(&t, &attr, conn_thread, c)) {
			__atomic_sub_fetch(&p->active, 1, __ATOMIC_SEQ_CST);
			close(fd);
			free(c);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

struct prom *prom_start(const struct sockaddr_storage *ss, socklen_t len, int max_series,
			char *err, size_t errlen)
{
	struct prom *p = calloc(1, sizeof(*p));
	int one = 1;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->max_series = max_series;
	p->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		goto fail;
	setsockopt(p->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->fd, (const struct sockaddr *)ss, len) || listen(p->fd, 16))
		goto fail;
	pthread_mutex_init(&p->lock, NULL);
	if (pthread_create(&p->thread, NULL, serve, p)) {
		errno = EAGAIN;
		goto fail;
	}
	return p;
fail:
	snprintf(err, errlen, "%s", errno == EADDRINUSE ? "address already in use" :
		 strerror(errno));
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	return NULL;
}

/* a label value: valid UTF-8 (the text format demands it), \\ \" \n escaped */
static void label(char *out, size_t len, const char *raw, int max)
{
	char in[3 * 128 + 1];
	size_t o = 0;

	utf8_clean(in, sizeof(in), raw, max < 128 ? max : 128);
	for (int i = 0; in[i] && o + 3 < len; i++) {
		if (in[i] == '"' || in[i] == '\\')
			out[o++] = '\\';
		if (in[i] == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
			continue;
		}
		out[o++] = in[i];
	}
	out[o] = 0;
}

/* the container labels of a row: runtime, a bounded id (12 hex, or the unit), pod UID */
static void ct_labels(const struct agg_row *r, struct series *s)
{
	const struct container *c = r->has_ct ? &r->ct : NULL;

	s->runtime[0] = s->ctid[0] = s->pod[0] = 0;
	if (!c)
		return;
	snprintf(s->runtime, sizeof(s->runtime), "%s", c->runtime);
	snprintf(s->ctid, sizeof(s->ctid), "%.*s", strcmp(c->runtime, "systemd") ? 12 : 48,
		 c->id);
	snprintf(s->pod, sizeof(s->pod), "%s", c->pod_uid);
}

static struct series *series_for(struct prom *p, const struct agg_row *r)
{
	const char *comm = r->has_owner ? r->comm : "";
	struct series want;
	bool fold;

	ct_labels(r, &want);
	for (int i = 0; i < p->ns; i++) {
		struct series *s = &p->s[i];

		if (s->cause == r->cause && s->origin == r->origin && s->received == r->received &&
		    s->port == r->port && s->remote == r->remote && !strncmp(s->comm, comm, 16) &&
		    s->netns == r->netns && !strcmp(s->runtime, want.runtime) &&
		    !strcmp(s->ctid, want.ctid) && !strcmp(s->pod, want.pod))
			return s;
	}
	fold = p->ns >= p->max_series;
	if (fold) {
		for (int i = 0; i < p->ns; i++) {
			struct series *s = &p->s[i];

			if (s->cause == r->cause && s->origin == r->origin &&
			    s->received == r->received && s->port == -1)
				return s;
		}
	}
	if (p->ns == p->cap) {
		int cap = p->cap ? p->cap * 2 : 64;
		struct series *n = realloc(p->s, cap * sizeof(*n));

		if (!n)
			return NULL;
		p->s = n;
		p->cap = cap;
	}
	memset(&p->s[p->ns], 0, sizeof(p->s[0]));
	p->s[p->ns].cause = r->cause;
	p->s[p->ns].origin = r->origin;
	p->s[p->ns].received = r->received;
	p->s[p->ns].port = fold ? -1 : r->port;
	p->s[p->ns].remote = !fold && r->remote;
	snprintf(p->s[p->ns].comm, sizeof(p->s[0].comm), "%s", fold ? "other" : comm);
	if (fold) {
		snprintf(p->s[p->ns].runtime, sizeof(want.runtime), "other");
		snprintf(p->s[p->ns].ctid, sizeof(want.ctid), "other");
		snprintf(p->s[p->ns].pod, sizeof(want.pod), "other");
	} else {
		p->s[p->ns].netns = r->netns;
		memcpy(p->s[p->ns].runtime, want.runtime, sizeof(want.runtime));
		memcpy(p->s[p->ns].ctid, want.ctid, sizeof(want.ctid));
		memcpy(p->s[p->ns].pod, want.pod, sizeof(want.pod));
	}
	return &p->s[p->ns++];
}

void prom_update(struct prom *p, const struct agg *a, const struct listeners *ls,
		 uint64_t lost, uint64_t captured, const char *build_labels)
{
	char *text = NULL, lab[2 * COMM_CLEAN_LEN], ctid[300], ns[12];
	size_t len = 0;
	FILE *f;

	if (!p)
		return;
	f = open_memstream(&text, &len);
	if (!f)
		return;
	for (int i = 0; i < p->ns; i++)
		p->s[i].value = 0;
	for (int i = 0; i < a->n; i++) {
		struct series *s = series_for(p, &a->rows[i]);

		if (s)
			s->value += a->rows[i].total;
	}
	fputs("# HELP rstwhy_rst_total TCP RSTs by cause, origin, direction, local port, "
	      "owning process, network namespace and container.\n"
	      "# TYPE rstwhy_rst_total counter\n", f);
	for (int i = 0; i < p->ns; i++) {
		const struct series *s = &p->s[i];
		char port[12];

		label(lab, sizeof(lab), s->comm, 16);
		label(ctid, sizeof(ctid), s->ctid, sizeof(s->ctid));
		if (s->port < 0)
			snprintf(port, sizeof(port), "other");
		else
			snprintf(port, sizeof(port), "%d", s->port);
		if (s->netns)
			snprintf(ns, sizeof(ns), "%u", s->netns);
		else
			snprintf(ns, sizeof(ns), "other");
		fprintf(f, "rstwhy_rst_total{cause=\"%s\",origin=\"%s\",dir=\"%s\",port=\"%s\","
			"port_side=\"%s\",owner=\"%s\",netns=\"%s\",runtime=\"%s\","
			"container=\"%s\",pod_uid=\"%s\"} %" PRIu64 "\n", rw_cause_name(s->cause),
			rw_origin_name(s->origin), s->received ? "received" : "sent", port,
			s->remote ? "remote" : "local", lab, ns, s->runtime, ctid, s->pod,
			s->value);
	}
	fputs("# HELP rstwhy_kernel_out_rsts_total The namespace's own TcpOutRsts: every RST "
	      "its TCP stack sent, since the namespace was created.\n"
	      "# TYPE rstwhy_kernel_out_rsts_total counter\n", f);
	for (int i = 0; i < p->nnss; i++)
		fprintf(f, "rstwhy_kernel_out_rsts_total{netns=\"%u\"} %" PRIu64 "\n",
			p->nss[i].ino, p->nss[i].kernel);
	fputs("# HELP rstwhy_captured_rsts_total RSTs sent by the namespace's TCP stack that "
	      "rstwhy captured (unfiltered), since rstwhy started.\n"
	      "# TYPE rstwhy_captured_rsts_total counter\n", f);
	for (int i = 0; i < p->nnss; i++)
		fprintf(f, "rstwhy_captured_rsts_total{netns=\"%u\"} %" PRIu64 "\n",
			p->nss[i].ino, p->nss[i].captured);
	fputs("# HELP rstwhy_listener_accept_queue Connections waiting in a listener's accept "
	      "queue.\n# TYPE rstwhy_listener_accept_queue gauge\n", f);
	for (int i = 0; ls && i < ls->n; i++)
		if (ls->l[i].seen)
			fprintf(f, "rstwhy_listener_accept_queue{netns=\"%u\",port=\"%u\","
				"family=\"%s\"} %u\n", ls->l[i].netns, ls->l[i].port,
				ls->l[i].family == AF_INET6 ? "ipv6" : "ipv4", ls->l[i].queue);
	fputs("# HELP rstwhy_listener_accept_queue_limit The listen() backlog.\n"
	      "# TYPE rstwhy_listener_accept_queue_limit gauge\n", f);
	for (int i = 0; ls && i < ls->n; i++)
		if (ls->l[i].seen)
			fprintf(f, "rstwhy_listener_accept_queue_limit{netns=\"%u\",port=\"%u\","
				"family=\"%s\"} %u\n", ls->l[i].netns, ls->l[i].port,
				ls->l[i].family == AF_INET6 ? "ipv6" : "ipv4", ls->l[i].limit);
	fputs("# HELP rstwhy_listener_drops_total SYNs and handshakes a listener dropped "
	      "(sk_drops), accept queue overflows included.\n"
	      "# TYPE rstwhy_listener_drops_total counter\n", f);
	for (int i = 0; ls && i < ls->n; i++)
		if (ls->l[i].seen)
			fprintf(f, "rstwhy_listener_drops_total{netns=\"%u\",port=\"%u\","
				"family=\"%s\"} %" PRIu64 "\n", ls->l[i].netns, ls->l[i].port,
				ls->l[i].family == AF_INET6 ? "ipv6" : "ipv4", ls->l[i].drops);
	fputs("# HELP rstwhy_netns_listen_overflows_total TcpExtListenOverflows of the "
	      "namespace.\n# TYPE rstwhy_netns_listen_overflows_total counter\n", f);
	for (int i = 0; ls && i < ls->n; i++) {
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= ls->l[j].seen && ls->l[j].netns == ls->l[i].netns;
		if (!dup && ls->l[i].seen)
			fprintf(f, "rstwhy_netns_listen_overflows_total{netns=\"%u\"} %" PRIu64 "\n",
				ls->l[i].netns, ls->l[i].ns_overflows);
	}
	fprintf(f, "# HELP rstwhy_listeners_not_watched Listeners wanted but not followed: more "
		"than %d at once.\n# TYPE rstwhy_listeners_not_watched gauge\n"
		"rstwhy_listeners_not_watched %d\n", LISTENERS_MAX, ls ? ls->not_watched : 0);
	fprintf(f, "# HELP rstwhy_events_lost_total Events lost: the ring buffer was full.\n"
		"# TYPE rstwhy_events_lost_total counter\nrstwhy_events_lost_total %" PRIu64 "\n"
		"# HELP rstwhy_events_captured_total RSTs sent by the TCP stack that rstwhy "
		"captured.\n# TYPE rstwhy_events_captured_total counter\n"
		"rstwhy_events_captured_total %" PRIu64 "\n"
		"# HELP rstwhy_build_info rstwhy build and attach plan.\n"
		"# TYPE rstwhy_build_info gauge\nrstwhy_build_info{%s} 1\n", lost, captured,
		build_labels);
	fclose(f);
	pthread_mutex_lock(&p->lock);
	free(p->text);
	p->text = text;
	p->len = len;
	pthread_mutex_unlock(&p->lock);
}

void prom_set_netns(struct prom *p, const struct ns_snapshot *snap,
		    uint64_t (*captured)(void *ctx, uint32_t ino), void *ctx)
{
	if (!p)
		return;
	/* a namespace keeps its slot while it exists; gone ones free theirs */
	for (int i = 0; i < p->nnss;) {
		bool alive = false;

		for (int j = 0; j < snap->n && !alive; j++)
			alive = snap->ns[j].ino == p->nss[i].ino;
		if (alive)
			i++;
		else
			p->nss[i] = p->nss[--p->nnss];
	}
	for (int j = 0; j < snap->n; j++) {
		struct ns_series *s = NULL;

		for (int i = 0; i < p->nnss && !s; i++)
			if (p->nss[i].ino == snap->ns[j].ino)
				s = &p->nss[i];
		if (!s && p->nnss < PROM_NS_MAX) {
			s = &p->nss[p->nnss++];
			s->ino = snap->ns[j].ino;
		}
		if (!s)
			continue;
		s->kernel = snap->ns[j].outrsts;
		s->captured = captured(ctx, s->ino);
	}
}

void prom_stop(struct prom *p)
{
	if (!p)
		return;
	p->stop = 1;
	pthread_join(p->thread, NULL);
	close(p->fd);
	/* connection threads end within their deadline */
	while (__atomic_load_n(&p->active, __ATOMIC_SEQ_CST) > 0)
		usleep(10000);
	pthread_mutex_destroy(&p->lock);
	free(p->text);
	free(p->s);
	free(p);
}
