// SPDX-License-Identifier: GPL-2.0
/*
 * Owners of the sockets that existed before rstwhy started: the BPF side learns owners as
 * processes use their sockets, but a gateway's listener was opened long before the tracer.
 * At start, once: the TCP sockets of each network namespace with their inodes, from the
 * kernel's socket diagnostics (NETLINK_SOCK_DIAG, what ss(8) uses: binary records, no text
 * to format and parse), then the socket inodes held by each process's descriptors
 * (/proc/PID/fd), and the listener map (netns, family, port) and the 4-tuple map are seeded
 * with those owners.
 *
 * Where the kernel has BPF iterators over open files (5.8 and later, with BTF), the same
 * records are written in the kernel instead, in one pass over every process's descriptors
 * (rw_seed_even in bpf/rstwhy.bpf.c): with 200,000 sockets that is a fraction of a second, where
 * reading /proc/PID/fd takes many seconds (a readlink per descriptor).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "prefill.h"
#include "kfilter.h"

#define ST_LISTEN	10
#define ST_TIME_WAIT	6
#define ST_NEW_SYN_RECV	12

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

/*
 * One dump of the TCP sockets of a family in the calling thread's namespace, appended to out.
 * Timewait and request sockets have no inode: not asked for.
 */
static long diag_dump(int family, uint32_t netns, struct recs *out)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = 0xfff & ~(1u << ST_TIME_WAIT | 1u << ST_NEW_SYN_RECV) },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static char buf[1 << 17] __attribute__((aligned(8)));
	long n = 0;
	int fd;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *m = NLMSG_DATA(h);
			struct sockrec s = { 0 };

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				close(fd);
				return h->nlmsg_type == NLMSG_DONE ? n : -1;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || !m->idiag_inode)
				continue;
			n++;
			s.inode = m->idiag_inode;
			s.netns = netns;
			s.family = m->idiag_family;
			s.state = m->idiag_state;
			s.lport = ntohs(m->id.idiag_sport);
			s.rport = ntohs(m->id.idiag_dport);
			/* network byte order, as the socket keeps them */
			memcpy(s.laddr, m->id.idiag_src, family == AF_INET ? 4 : 16);
			memcpy(s.raddr, m->id.idiag_dst, family == AF_INET ? 4 : 16);
			if (push(out, &s)) {
				close(fd);
				return -1;
			}
		}
	}
	close(fd);
	return -1;
}

/* calls one() once per network namespace a process lives in (or only only_netns) */
static int for_each_netns(uint32_t only_netns, void (*one)(int procfd, const char *pid,
							    uint32_t ino, void *arg), void *arg)
{
	uint32_t *seen = NULL;
	size_t nseen = 0, capseen = 0;
	struct dirent *de;
	DIR *proc = opendir("/proc");

	if (!proc)
		return -1;
	while ((de = readdir(proc))) {
		char path[64];
		struct stat st;
		bool dup = false;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%.20s/ns/net", de->d_name);
		if (fstatat(dirfd(proc), path, &st, 0) || (only_netns && st.st_ino != only_netns))
			continue;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = seen[i] == st.st_ino;
		if (dup)
			continue;
		if (nseen == capseen) {
			uint32_t *p;

			capseen = capseen ? capseen * 2 : 64;
			p = realloc(seen, capseen * sizeof(*p));
			if (!p)
				break;
			seen = p;
		}
		seen[nseen++] = st.st_ino;
		one(dirfd(proc), de->d_name, st.st_ino, arg);
	}
	closedir(proc);
	free(seen);
	return 0;
}

/* the namespace entered in turn (the thread goes back to its own after): its sockets */
static void dump_one(int procfd, const char *pid, uint32_t ino, void *arg)
{
	char path[64];
	int nsfd;

	snprintf(path, sizeof(path), "%.20s/ns/net", pid);
	nsfd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return;
	if (!setns(nsfd, CLONE_NEWNET)) {
		diag_dump(AF_INET, ino, arg);
		diag_dump(AF_INET6, ino, arg);
	}
	close(nsfd);
}

static int dump_namespaces(uint32_t only_netns, struct recs *out)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), err;

	if (self < 0)
		return -1;
	err = for_each_netns(only_netns, dump_one, out);
	if (setns(self, CLONE_NEWNET))
		err = -1;	/* cannot happen: our own namespace */
	close(self);
	return err;
}

/* "TCP: inuse N" of a namespace's sockstat (sockstat6: "TCP6: inuse N") */
static long sockstat_inuse(int procfd, const char *pid, const char *file, const char *tag)
{
	char path[64], line[256];
	size_t tl = strlen(tag);
	long n = 0;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%.20s/net/%s", pid, file);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return 0;
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, tag, tl) && sscanf(line + tl, " inuse %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void count_one(int procfd, const char *pid, uint32_t ino, void *arg)
{
	*(long *)arg += sockstat_inuse(procfd, pid, "sockstat", "TCP:") +
			sockstat_inuse(procfd, pid, "sockstat6", "TCP6:");
}

long prefill_count(uint32_t only_netns)
{
	long total = 0;

	/* the kernel's own count per namespace: cheap, unlike a dump */
	if (for_each_netns(only_netns, count_one, &total))
		return -1;
	return total;
}

static int cmp_inode(const void *a, const void *b)
{
	const struct sockrec *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static void read_comm(int procfd, const char *pid, char *comm, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%.20s/comm", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, len - 1);
	close(fd);
	if (n > 0) {
		comm[n] = 0;
		comm[strcspn(comm, "\n")] = 0;
	}
}

/* 4-tuple records go to the kernel in batches: one system call for thousands */
#define BATCH 4096

struct tuple_batch {
	int fd, n, written;
	bool no_batch;		/* the kernel has no batch updates for this map: one by one */
	struct rw_tuple_key k[BATCH];
	struct rw_owner_rec v[BATCH];
};

static void batch_flush(struct tuple_batch *b)
{
	/*
	 * Batch updates take no BPF_NOEXIST; no 4-tuple of a socket alive at start can have a
	 * record yet (a timewait stand-in would be a different socket on the same tuple).
	 */
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 cnt = b->n;

	if (!b->no_batch && b->n && !bpf_map_update_batch(b->fd, b->k, b->v, &cnt, &opts) &&
	    cnt == (__u32)b->n) {
		b->written += cnt;
		b->n = 0;
		return;
	}
	/* no batch updates here (or a failure part way): one by one, what is there stays */
	b->no_batch = true;
	for (int i = 0; i < b->n; i++)
		if (!bpf_map_update_elem(b->fd, &b->k[i], &b->v[i], BPF_NOEXIST))
			b->written++;
	b->n = 0;
}

static void seed(const struct sockrec *s, const struct rw_owner_rec *ov, int listeners_fd,
		 struct tuple_batch *b, int *nlisten)
{
	struct rw_tuple_key *k;

	if (s->state == ST_LISTEN) {
		struct rw_listener_key lk = {
			.netns = s->netns, .family = s->family, .port = s->lport };

		if (!bpf_map_update_elem(listeners_fd, &lk, ov, BPF_NOEXIST))
			(*nlisten)++;
		return;
	}
	k = &b->k[b->n];
	memset(k, 0, sizeof(*k));
	k->netns = s->netns;
	k->family = s->family;
	k->lport = s->lport;
	k->rport = s->rport;
	memcpy(k->laddr, s->laddr, 16);
	memcpy(k->raddr, s->raddr, 16);
	b->v[b->n++] = *ov;
	if (b->n == BATCH)
		batch_flush(b);
}

int prefill_owners(int listeners_fd, int tuples_fd, uint32_t only_netns,
		   const struct kfilter *kf, int *nlisten, int *ntuple)
{
	struct recs socks = { 0 };
	struct tuple_batch *batch;
	struct dirent *de;
	int procfd;
	DIR *proc;

	*nlisten = *ntuple = 0;
	/* 1. the TCP sockets of every namespace */
	if (dump_namespaces(only_netns, &socks) && !socks.n) {
		free(socks.r);
		return -1;
	}
	if (!socks.n)
		return 0;
	qsort(socks.r, socks.n, sizeof(*socks.r), cmp_inode);

	/* 2. who holds each socket: the descriptors of every process */
	proc = opendir("/proc");
	batch = calloc(1, sizeof(*batch));
	if (!proc || !batch) {
		if (proc)
			closedir(proc);
		free(batch);
		free(socks.r);
		return -1;
	}
	batch->fd = tuples_fd;
	procfd = dirfd(proc);
	while ((de = readdir(proc))) {
		struct rw_owner_rec ov = { .src = RW_OWN_PROCFS };
		struct dirent *fde;
		bool named = false;
		char path[64];
		DIR *fds;
		int fdd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%.20s/fd", de->d_name);
		fdd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fdd < 0)
			continue;
		fds = fdopendir(fdd);
		if (!fds) {
			close(fdd);
			continue;
		}
		while ((fde = readdir(fds))) {
			char link[64];
			struct sockrec key, *s;
			ssize_t n;

			if (fde->d_name[0] == '.')
				continue;
			/* relative to the open fd directory: no path walk per descriptor */
			n = readlinkat(fdd, fde->d_name, link, sizeof(link) - 1);
			if (n <= 8 || memcmp(link, "socket:[", 8))
				continue;
			link[n] = 0;
			key.inode = strtoul(link + 8, NULL, 10);
			s = bsearch(&key, socks.r, socks.n, sizeof(*socks.r), cmp_inode);
			if (!s)
				continue;
			if (!named) {
				read_comm(procfd, de->d_name, ov.owner.comm, sizeof(ov.owner.comm));
				ov.owner.tgid = ov.owner.pid = strtoul(de->d_name, NULL, 10);
				ov.in_cgroup = kf && kfilter_pid_in_cgroup(kf, ov.owner.tgid);
				named = true;
			}
			seed(s, &ov, listeners_fd, batch, nlisten);
		}
		closedir(fds);
	}
	batch_flush(batch);
	*ntuple = batch->written;
	free(batch);
	closedir(proc);
	free(socks.r);
	return 0;
}

uint64_t prefill_cgroup_id(const struct kfilter *kf)
{
	struct stat st;

	/* a cgroup v2 directory's inode number is its cgroup id (64-bit kernfs) */
	if (!kf || kf->cgroup_fd < 0 || fstat(kf->cgroup_fd, &st))
		return 0;
	return st.st_ino;
}

/* one byte per TCP socket seen: l listener, s connection recorded, f failed, - known already */
static int run_iter(struct bpf_program *prog, long *counts)
{
	struct bpf_link *link = bpf_program__attach_iter(prog, NULL);
	int fd, err = -1, again = 0;
	char buf[4096];
	ssize_t n;

	if (!link)
		return -1;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		goto out;
	/* a walk that found nothing for a million files says EAGAIN: it goes on from there */
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		for (ssize_t i = 0; i < n; i++)
			counts[(unsigned char)buf[i]]++;
		if (n > 0 || errno == EINTR || (errno == EAGAIN && ++again < 1000))
			continue;
		goto out;
	}
	err = 0;
out:
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return err;
}

struct iter_job {
	struct bpf_program *prog;
	long counts[256];
	int err;
};

static void *iter_thread(void *arg)
{
	struct iter_job *j = arg;

	j->err = run_iter(j->prog, j->counts);
	return NULL;
}

int prefill_run_iter(struct bpf_program *even, struct bpf_program *odd, int *nlisten,
		     int *nsock, long *nfailed)
{
	static struct iter_job j[2];
	pthread_t t;
	bool threaded;

	memset(j, 0, sizeof(j));
	j[0].prog = even;
	j[1].prog = odd;
	threaded = !pthread_create(&t, NULL, iter_thread, &j[1]);
	iter_thread(&j[0]);
	if (threaded)
		pthread_join(t, NULL);
	else
		iter_thread(&j[1]);
	*nlisten = j[0].counts['l'] + j[1].counts['l'];
	*nsock = j[0].counts['s'] + j[1].counts['s'];
	*nfailed = j[0].counts['f'] + j[1].counts['f'];
	return j[0].err || j[1].err ? -1 : 0;
}
