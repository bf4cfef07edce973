// SPDX-License-Identifier: GPL-2.0
/*
 * Read TcpOutRsts in each network namespace: through /proc/PID/net/snmp where a process lives
 * in it, otherwise (a namespace only held by /run/netns) from a short-lived child that enters
 * the namespace. Used at start and at exit: the difference is what the kernel sent, to be
 * compared with what we captured.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/nsfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include "netns.h"

int64_t proc_net_field(const char *text, const char *prefix, const char *name)
{
	size_t plen = strlen(prefix), nlen = strlen(name);
	const char *hdr = strstr(text, prefix), *val;
	int col = -1, i = 0;

	/* a header line "Prefix: Name1 Name2 ..." followed by "Prefix: v1 v2 ..." */
	if (!hdr)
		return -1;
	val = strstr(hdr + plen, prefix);
	if (!val)
		return -1;
	for (const char *p = hdr + plen; *p && *p != '\n'; i++) {
		size_t len = strcspn(p, " \n");

		if (len == nlen && !strncmp(p, name, len)) {
			col = i;
			break;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	if (col < 0)
		return -1;
	val += plen;
	for (i = 0; i < col; i++) {
		val += strcspn(val, " \n");
		if (*val != ' ')
			return -1;
		val++;
	}
	return strtoll(val, NULL, 10);
}

int64_t snmp_outrsts(const char *text)
{
	return proc_net_field(text, "Tcp: ", "OutRsts");
}

static int64_t read_snmp_file(const char *path)
{
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return snmp_outrsts(buf);
}

/* enter the namespace in a child and read its counter there */
static int64_t read_snmp_in(const char *nspath)
{
	int pfd[2], status;
	int64_t v = -1;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		int fd = open(nspath, O_RDONLY | O_CLOEXEC);

		v = -1;
		if (fd >= 0 && !setns(fd, CLONE_NEWNET))
			v = read_snmp_file("/proc/thread-self/net/snmp");
		if (write(pfd[1], &v, sizeof(v)) != sizeof(v))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &v, sizeof(v)) != sizeof(v))
		v = -1;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return v;
}

static uint32_t want_ino;	/* 0: every namespace */

static int add(struct ns_snapshot *s, int *cap, uint32_t ino, int64_t v)
{
	if (want_ino && ino != want_ino)
		return 0;
	for (int i = 0; i < s->n; i++)
		if (s->ns[i].ino == ino)
			return 0;
	if (v < 0)
		return 0;
	if (s->n == *cap) {
		struct ns_count *p;

		*cap = *cap ? *cap * 2 : 64;
		p = realloc(s->ns, *cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->ns = p;
	}
	s->ns[s->n].ino = ino;
	s->ns[s->n].outrsts = v;
	s->n++;
	return 0;
}

static bool seen(const struct ns_snapshot *s, uint32_t ino)
{
	for (int i = 0; i < s->n; i++)
		if (s->ns[i].ino == ino)
			return true;
	return false;
}

int ns_snapshot_take(struct ns_snapshot *s, uint32_t only_ino, const char *only_path)
{
	char path[300];
	struct dirent *de;
	struct stat st;
	int cap = 0;
	DIR *d;

	s->ns = NULL;
	s->n = 0;
	want_ino = only_ino;
	if (only_ino && only_path)
		return add(s, &cap, only_ino, read_snmp_in(only_path));

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) || seen(s, st.st_ino) || (want_ino && st.st_ino != want_ino))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/net/snmp", de->d_name);
		if (add(s, &cap, st.st_ino, read_snmp_file(path))) {
			closedir(d);
			return -ENOMEM;
		}
	}
	closedir(d);
	/* namespaces kept by a bind mount only (ip netns add) */
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (stat(path, &st) || seen(s, st.st_ino) || (want_ino && st.st_ino != want_ino))
			continue;
		if (add(s, &cap, st.st_ino, read_snmp_in(path)))
			break;
	}
	if (d)
		closedir(d);
	return 0;
}

void ns_snapshot_free(struct ns_snapshot *s)
{
	free(s->ns);
	s->ns = NULL;
	s->n = 0;
}

void ns_delta(const struct ns_snapshot *start, const struct ns_snapshot *end, struct ns_delta *d)
{
	memset(d, 0, sizeof(*d));
	for (int i = 0; i < end->n; i++) {
		uint64_t base = 0;

		/* a namespace born during the run started from zero */
		for (int j = 0; j < start->n; j++)
			if (start->ns[j].ino == end->ns[i].ino)
				base = start->ns[j].outrsts;
		/* a counter that went down: a new namespace got a recycled inode number */
		if (end->ns[i].outrsts >= base)
			d->outrsts += end->ns[i].outrsts - base;
		else
			d->outrsts += end->ns[i].outrsts;
		d->watched++;
	}
	for (int j = 0; j < start->n; j++) {
		bool found = false;

		for (int i = 0; i < end->n; i++)
			if (start->ns[j].ino == end->ns[i].ino)
				found = true;
		if (!found)
			d->vanished++;
	}
}

uint32_t ns_resolve(const char *arg, char *err, int errlen)
{
	struct stat st;
	char *end;
	unsigned long v;
	int fd, type;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (*arg && !*end && !errno) {
		if (!v || v > UINT32_MAX) {
			snprintf(err, errlen, "--netns %s: not a namespace inode", arg);
			return 0;
		}
		return v;
	}
	fd = open(arg, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "--netns %s: %s (give a path such as /run/netns/NAME "
			 "or /proc/PID/ns/net, or an inode number)", arg, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	type = ioctl(fd, NS_GET_NSTYPE);
	close(fd);
	if (type != CLONE_NEWNET) {
		snprintf(err, errlen, "--netns %s: not a network namespace (give /run/netns/NAME "
			 "or /proc/PID/ns/net, or an inode number)", arg);
		return 0;
	}
	return st.st_ino;
}
