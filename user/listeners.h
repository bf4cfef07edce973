/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Listener health for the ports in a storm: accept queue length and limit (sock_diag), SYNs
 * dropped by the listener (sk_drops) and the namespace's ListenOverflows / ListenDrops.
 */
#ifndef RW_LISTENERS_H
#define RW_LISTENERS_H

#include <stdbool.h>
#include <stdint.h>

struct listener_info {
	uint32_t netns;
	uint16_t port;
	uint16_t family;
	uint32_t queue;		/* connections waiting for accept() */
	uint32_t limit;		/* the listen() backlog */
	uint64_t drops;		/* sk_drops: SYNs and handshakes dropped, overflows included */
	uint64_t drops_prev;
	uint64_t ns_overflows;	/* TcpExtListenOverflows of the namespace */
	uint64_t ns_overflows_prev;
	uint64_t ns_listendrops;
	uint64_t ns_listendrops_prev;
	bool seen;		/* found in the last poll */
	bool have_prev;
};

/* at most this many listeners are followed; more are counted in not_watched */
#define LISTENERS_MAX 512
#define WATCH_PORTS_MAX 64

struct listeners {
	struct listener_info *l;
	int n, cap;
	int self_ns;		/* fd of our own namespace, to come back to */
	int not_watched;	/* listeners wanted in the last poll beyond LISTENERS_MAX */
	struct ns_path {	/* where each namespace was found last time */
		uint32_t ino;
		char path[64];
	} *paths;
	int npaths;
};

/* --watch-listeners: every listener ("all") or those on some ports, whatever the events */
struct listener_watch {
	bool all;
	int n;
	uint16_t ports[WATCH_PORTS_MAX];
};

/* "all" or "PORT[,PORT...]"; 0, or -1 with a message in err */
int listeners_watch_parse(struct listener_watch *w, const char *arg, char *err, size_t errlen);

int listeners_init(struct listeners *ls);
/*
 * Refresh the listeners on these (netns, port) pairs, port 0 standing for every listening
 * port of the namespace; keeps the previous counters of listeners seen in the last poll and
 * forgets the others.
 */
void listeners_poll(struct listeners *ls, const uint32_t *netns, const uint16_t *ports, int n);
void listeners_free(struct listeners *ls);

/* TcpExt counters from /proc/net/netstat text; -1 if absent */
int64_t netstat_value(const char *text, const char *name);

#endif
