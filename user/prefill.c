// SPDX-License-Identifier: GPL-2.0
/*
 * Owners of the sockets that existed before rstwhy started: the BPF side learns owners as
 * processes use their sockets, but a gateway's listener was opened long before the tracer.
 * At start, walk /proc once: socket inodes held by each process's descriptors, and the TCP
 * sockets of each network namespace (/proc/PID/net/tcp, tcp6) with their inodes, then seed
 * the listener map (netns, family, port) and the 4-tuple map with those owners.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "prefill.h"

struct sockrec {
	unsigned long inode;
	uint32_t netns;
	uint16_t family;
	uint16_t lport, rport;
	uint8_t laddr[16], raddr[16];
	int state;
};

struct recs {
	struct sockrec *r;
	size_t n, cap;
};

static int push(struct recs *v, const struct sockrec *s)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;
		struct sockrec *p = realloc(v->r, cap * sizeof(*p));

		if (!p)
			return -1;
		v->r = p;
		v->cap = cap;
	}
	v->r[v->n++] = *s;
	return 0;
}

/* /proc/net/tcp prints addresses as the in-memory words in hex */
static void parse_addr(const char *hex, uint8_t *out, int family)
{
	int words = family == 2 ? 1 : 4;

	memset(out, 0, 16);
	for (int w = 0; w < words; w++) {
		char part[9] = { 0 };
		uint32_t v;

		memcpy(part, hex + w * 8, 8);
		v = strtoul(part, NULL, 16);
		memcpy(out + w * 4, &v, 4);
	}
}

static void read_tcp_table(const char *path, uint32_t netns, int family, struct recs *out)
{
	char line[512], la[40], ra[40];
	unsigned int lp, rp, st;
	unsigned long inode;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {	/* header */
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		struct sockrec s = { 0 };

		if (sscanf(line, " %*d: %39[0-9A-Fa-f]:%x %39[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x "
			   "%*x %*u %*u %lu", la, &lp, ra, &rp, &st, &inode) != 6 || !inode)
			continue;
		s.inode = inode;
		s.netns = netns;
		s.family = family;
		s.lport = lp;
		s.rport = rp;
		s.state = st;
		parse_addr(la, s.laddr, family);
		parse_addr(ra, s.raddr, family);
		push(out, &s);
	}
	fclose(f);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct sockrec *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

int prefill_owners(int listeners_fd, int tuples_fd, uint32_t only_netns, int *nlisten,
		   int *ntuple)
{
	struct recs socks = { 0 };
	uint32_t *seen_ns = NULL;
	size_t nseen = 0, capseen = 0;
	struct dirent *de;
	char path[300];
	DIR *proc;

	*nlisten = *ntuple = 0;
	/* 1. the TCP sockets of every namespace, through one process living in it */
	proc = opendir("/proc");
	if (!proc)
		return -1;
	while ((de = readdir(proc))) {
		struct stat st;
		bool dup = false;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st))
			continue;
		if (only_netns && st.st_ino != only_netns)
			continue;
		for (size_t i = 0; i < nseen; i++)
			dup |= seen_ns[i] == st.st_ino;
		if (dup)
			continue;
		if (nseen == capseen) {
			uint32_t *p;

			capseen = capseen ? capseen * 2 : 64;
			p = realloc(seen_ns, capseen * sizeof(*p));
			if (!p)
				break;
			seen_ns = p;
		}
		seen_ns[nseen++] = st.st_ino;
		snprintf(path, sizeof(path), "/proc/%s/net/tcp", de->d_name);
		read_tcp_table(path, st.st_ino, 2, &socks);
		snprintf(path, sizeof(path), "/proc/%s/net/tcp6", de->d_name);
		read_tcp_table(path, st.st_ino, 10, &socks);
	}
	free(seen_ns);
	if (!socks.n) {
		closedir(proc);
		return 0;
	}
	qsort(socks.r, socks.n, sizeof(*socks.r), cmp_inode);

	/* 2. who holds each socket: the descriptors of every process */
	rewinddir(proc);
	while ((de = readdir(proc))) {
		struct rw_owner_rec ov = { .src = RW_OWN_PROCFS };
		struct dirent *fde;
		bool named = false;
		DIR *fds;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fde = readdir(fds))) {
			char link[64], lpath[600];
			struct sockrec key, *s;
			ssize_t n;

			if (fde->d_name[0] == '.')
				continue;
			snprintf(lpath, sizeof(lpath), "/proc/%s/fd/%s", de->d_name, fde->d_name);
			n = readlink(lpath, link, sizeof(link) - 1);
			if (n <= 8 || strncmp(link, "socket:[", 8))
				continue;
			link[n] = 0;
			key.inode = strtoul(link + 8, NULL, 10);
			s = bsearch(&key, socks.r, socks.n, sizeof(*socks.r), cmp_inode);
			if (!s)
				continue;
			if (!named) {
				FILE *cf;

				snprintf(lpath, sizeof(lpath), "/proc/%s/comm", de->d_name);
				cf = fopen(lpath, "r");
				if (cf) {
					if (fgets(ov.owner.comm, sizeof(ov.owner.comm), cf))
						ov.owner.comm[strcspn(ov.owner.comm, "\n")] = 0;
					fclose(cf);
				}
				ov.owner.tgid = ov.owner.pid = strtoul(de->d_name, NULL, 10);
				named = true;
			}
			if (s->state == 0x0a) {		/* LISTEN */
				struct rw_listener_key k = {
					.netns = s->netns, .family = s->family, .port = s->lport };

				if (!bpf_map_update_elem(listeners_fd, &k, &ov, BPF_NOEXIST))
					(*nlisten)++;
			} else {
				struct rw_tuple_key k = {
					.netns = s->netns, .family = s->family, .lport = s->lport,
					.rport = s->rport };

				memcpy(k.laddr, s->laddr, 16);
				memcpy(k.raddr, s->raddr, 16);
				if (!bpf_map_update_elem(tuples_fd, &k, &ov, BPF_NOEXIST))
					(*ntuple)++;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	free(socks.r);
	return 0;
}
