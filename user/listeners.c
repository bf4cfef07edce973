// SPDX-License-Identifier: GPL-2.0
/*
 * For each namespace involved, enter it (setns on this thread, then back), ask sock_diag for
 * its listening TCP sockets with their memory info (SK_MEMINFO_DROPS), and read its TcpExt
 * counters from /proc/thread-self/net/netstat. With tcp_abort_on_overflow=0 (the default) an
 * accept-queue overflow sends no RST at all: these numbers are the only trace of it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include "listeners.h"
#include "netns.h"

#define TCP_LISTEN 10

int64_t netstat_value(const char *text, const char *name)
{
	return proc_net_field(text, "TcpExt: ", name);
}

int listeners_watch_parse(struct listener_watch *w, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;

	memset(w, 0, sizeof(*w));
	if (!strcmp(arg, "all")) {
		w->all = true;
		return 0;
	}
	while (*p) {
		char *end;
		long v;

		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || v < 1 || v > 65535 || (*end && *end != ',')) {
			snprintf(err, errlen, "--watch-listeners %s: expected 'all' or ports from 1 "
				 "to 65535 separated by commas", arg);
			return -1;
		}
		if (w->n == WATCH_PORTS_MAX) {
			snprintf(err, errlen, "--watch-listeners %s: at most %d ports (or 'all')", arg,
				 WATCH_PORTS_MAX);
			return -1;
		}
		w->ports[w->n++] = v;
		p = *end ? end + 1 : end;
		if (*end && !*p) {
			snprintf(err, errlen, "--watch-listeners %s: a port is missing after ','",
				 arg);
			return -1;
		}
	}
	if (!w->n) {
		snprintf(err, errlen, "--watch-listeners: expected 'all' or a list of ports");
		return -1;
	}
	return 0;
}

int listeners_init(struct listeners *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	return ls->self_ns < 0 ? -errno : 0;
}

void listeners_free(struct listeners *ls)
{
	if (ls->self_ns >= 0)
		close(ls->self_ns);
	free(ls->l);
	free(ls->paths);
	memset(ls, 0, sizeof(*ls));
	ls->self_ns = -1;
}

/* the path where ino was found last time, if it still is that namespace */
static int open_known(struct listeners *ls, uint32_t ino)
{
	struct stat st;

	for (int i = 0; i < ls->npaths; i++) {
		if (ls->paths[i].ino != ino)
			continue;
		if (!stat(ls->paths[i].path, &st) && st.st_ino == ino)
			return open(ls->paths[i].path, O_RDONLY | O_CLOEXEC);
		ls->paths[i] = ls->paths[--ls->npaths];
		return -1;
	}
	return -1;
}

static void remember(struct listeners *ls, uint32_t ino, const char *path)
{
	struct ns_path *p;

	if (strlen(path) >= sizeof(p->path))
		return;
	if (ls->npaths % 64 == 0) {
		p = realloc(ls->paths, (ls->npaths + 64) * sizeof(*p));
		if (!p)
			return;
		ls->paths = p;
	}
	/* the cache stays as big as the namespaces watched at once, and bounded */
	if (ls->npaths >= 4 * LISTENERS_MAX)
		ls->npaths = 0;
	ls->paths[ls->npaths].ino = ino;
	snprintf(ls->paths[ls->npaths++].path, sizeof(p->path), "%s", path);
}

/* a file that refers to namespace ino: /run/netns/NAME or /proc/PID/ns/net */
static int open_ns(struct listeners *ls, uint32_t ino)
{
	char path[300];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd = open_known(ls, ino);

	if (fd >= 0)
		return fd;
	d = opendir("/run/netns");
	while (d && fd < 0 && (de = readdir(d))) {
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (de->d_name[0] != '.' && !stat(path, &st) && st.st_ino == ino) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			remember(ls, ino, path);
		}
	}
	if (d)
		closedir(d);
	d = fd < 0 ? opendir("/proc") : NULL;
	while (d && fd < 0 && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (!stat(path, &st) && st.st_ino == ino) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			remember(ls, ino, path);
		}
	}
	if (d)
		closedir(d);
	return fd;
}

static struct listener_info *find(struct listeners *ls, uint32_t netns, uint16_t port,
				  uint16_t family, bool create)
{
	for (int i = 0; i < ls->n; i++)
		if (ls->l[i].netns == netns && ls->l[i].port == port && ls->l[i].family == family)
			return &ls->l[i];
	if (!create)
		return NULL;
	if (ls->n >= LISTENERS_MAX) {
		ls->not_watched++;
		return NULL;
	}
	if (ls->n == ls->cap) {
		int cap = ls->cap ? ls->cap * 2 : 16;
		struct listener_info *p = realloc(ls->l, cap * sizeof(*p));

		if (!p)
			return NULL;
		ls->l = p;
		ls->cap = cap;
	}
	memset(&ls->l[ls->n], 0, sizeof(ls->l[0]));
	ls->l[ls->n].netns = netns;
	ls->l[ls->n].port = port;
	ls->l[ls->n].family = family;
	return &ls->l[ls->n++];
}

static bool wanted_port(uint16_t port, const uint32_t *netns, const uint16_t *ports, int n,
			uint32_t ns)
{
	for (int i = 0; i < n; i++)
		if ((ports[i] == port || !ports[i]) && netns[i] == ns)
			return true;
	return false;
}

/* listening TCP sockets of one family in the current namespace */
static void dump_family(struct listeners *ls, int family, uint32_t ns, const uint32_t *netns,
			const uint16_t *ports, int n, uint64_t overflows, uint64_t ldrops)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1 << TCP_LISTEN,
			 .idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1) },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static char buf[32768];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	struct timeval tv = { .tv_sec = 1 };
	bool done = false;

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (len <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *m = NLMSG_DATA(h);
			struct listener_info *li;
			struct rtattr *a;
			int alen;
			uint16_t port;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			port = ntohs(m->id.idiag_sport);
			if (!wanted_port(port, netns, ports, n, ns))
				continue;
			li = find(ls, ns, port, family, true);
			if (!li)
				continue;
			li->queue = m->idiag_rqueue;
			li->limit = m->idiag_wqueue;
			li->seen = true;
			li->ns_overflows = overflows;
			li->ns_listendrops = ldrops;
			alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			for (a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type == INET_DIAG_SKMEMINFO &&
				    RTA_PAYLOAD(a) >= (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
					li->drops = ((uint32_t *)RTA_DATA(a))[SK_MEMINFO_DROPS];
			}
		}
	}
	close(fd);
}

void listeners_poll(struct listeners *ls, const uint32_t *netns, const uint16_t *ports, int n)
{
	int kept = 0;

	/* listeners gone since the last poll make room (and start afresh if they come back) */
	for (int i = 0; i < ls->n; i++)
		if (ls->l[i].seen)
			ls->l[kept++] = ls->l[i];
	ls->n = kept;
	ls->not_watched = 0;
	for (int i = 0; i < ls->n; i++) {
		struct listener_info *li = &ls->l[i];

		li->drops_prev = li->drops;
		li->ns_overflows_prev = li->ns_overflows;
		li->ns_listendrops_prev = li->ns_listendrops;
		li->have_prev = li->seen;
		li->seen = false;
	}
	for (int i = 0; i < n; i++) {
		char buf[8192];
		int64_t ov = 0, ld = 0;
		bool dup = false;
		ssize_t len;
		int fd, nfd;

		for (int j = 0; j < i; j++)
			dup |= netns[j] == netns[i];
		if (dup)
			continue;
		nfd = open_ns(ls, netns[i]);
		if (nfd < 0)
			continue;
		if (setns(nfd, CLONE_NEWNET)) {
			close(nfd);
			continue;
		}
		close(nfd);
		fd = open("/proc/thread-self/net/netstat", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			len = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (len > 0) {
				buf[len] = 0;
				ov = netstat_value(buf, "ListenOverflows");
				ld = netstat_value(buf, "ListenDrops");
			}
		}
		dump_family(ls, 2, netns[i], netns, ports, n, ov, ld);
		dump_family(ls, 10, netns[i], netns, ports, n, ov, ld);
		setns(ls->self_ns, CLONE_NEWNET);
	}
}
