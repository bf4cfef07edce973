/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's own TcpOutRsts per network namespace, to check what rstwhy captured. */
#ifndef RW_NETNS_H
#define RW_NETNS_H

#include <stdbool.h>
#include <stdint.h>

struct ns_count {
	uint32_t ino;
	uint64_t outrsts;
};

struct ns_snapshot {
	struct ns_count *ns;
	int n;
};

/* TcpOutRsts of every namespace found (only_ino != 0: that one only); 0 or -errno */
int ns_snapshot_take(struct ns_snapshot *s, uint32_t only_ino, const char *only_path);
void ns_snapshot_free(struct ns_snapshot *s);

struct ns_delta {
	uint64_t outrsts;	/* kernel RSTs sent during the run, in the watched namespaces */
	int watched;		/* namespaces counted */
	int vanished;		/* namespaces gone before the end: their RSTs are not counted */
};

void ns_delta(const struct ns_snapshot *start, const struct ns_snapshot *end,
	      struct ns_delta *d);

/* inode of a netns given as a path (/run/netns/x, /proc/PID/ns/net) or a number; 0 on error */
uint32_t ns_resolve(const char *arg, char *err, int errlen);

/* a counter of /proc/net/snmp or netstat text ("Tcp: ", "OutRsts"); -1 if absent */
int64_t proc_net_field(const char *text, const char *prefix, const char *name);
/* the TcpOutRsts value out of /proc/net/snmp text; -1 if absent */
int64_t snmp_outrsts(const char *text);

#endif
