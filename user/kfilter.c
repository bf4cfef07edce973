// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel-side filters. They drop only what user space would drop too: user space re-checks
 * every event with the same options (it alone knows most causes), the kernel merely spares it
 * the records it would throw away.
 *
 * --cause is decided in the kernel only per path, where the path alone fixes the possible
 * causes: a RST seen leaving with no socket is netfilter-reject, one built by a raw or packet
 * socket is injected, a received one is peer-reset; every other cause comes from the TCP
 * stack's send-reset hook and needs the classifier (user space).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kfilter.h"
#include "classify.h"
#include "rstwhy.skel.h"

bool kfilter_active(const struct kfilter *f)
{
	return f->family || f->nports || f->tgid || f->comm || f->cgroup_fd >= 0 || f->causes;
}

void kfilter_set_rodata(struct rstwhy_bpf *skel, const struct kfilter *f)
{
	/* the causes only the TCP stack's send-reset hook can report */
	uint32_t stack_causes = ((1u << C_NR_CAUSES) - 1) &
				~(1u << C_NETFILTER_REJECT | 1u << C_INJECTED | 1u << C_PEER_RESET);
	uint32_t want = f->causes;

	skel->rodata->kfilter = kfilter_active(f);
	skel->rodata->filter_family = f->family;
	skel->rodata->filter_nports = f->nports;
	for (int i = 0; i < f->nports && i < RW_MAX_PORTS; i++)
		skel->rodata->filter_ports[i] = f->ports[i];
	skel->rodata->filter_tgid = f->tgid;
	if (f->comm) {
		skel->rodata->filter_comm_on = true;
		strncpy((char *)skel->rodata->filter_comm, f->comm, RW_COMM_LEN - 1);
	}
	skel->rodata->filter_cgroup = f->cgroup_fd >= 0;
	if (!want)
		return;
	/*
	 * A received RST may be the kernel aborting its own socket (data after close), cancelled
	 * in user space by the RST the stack sends next: with -r those always come.
	 */
	skel->rodata->drop_stack_sent = !(want & stack_causes) && !f->recv;
	skel->rodata->drop_recv = !(want & (1u << C_PEER_RESET | 1u << C_UNKNOWN));
	skel->rodata->drop_egress_kinds =
		(skel->rodata->drop_stack_sent ? 1u << RW_EG_STACK : 0) |
		(want & (1u << C_NETFILTER_REJECT) ? 0 : 1u << RW_EG_NETFILTER) |
		(want & (1u << C_INJECTED) ? 0 : 1u << RW_EG_RAW | 1u << RW_EG_PACKET) |
		(want & (1u << C_UNKNOWN) ? 0 : 1u << RW_EG_OTHER | 1u << RW_EG_AMBIGUOUS);
}

int kfilter_set_maps(struct rstwhy_bpf *skel, const struct kfilter *f)
{
	uint32_t zero = 0;

	if (f->cgroup_fd < 0)
		return 0;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.cgroup_filter), &zero, &f->cgroup_fd,
				BPF_ANY))
		return -errno;
	return 0;
}

/* the cgroup v2 mount holding path (the longest mount point it lies under) */
static int cgroup2_rel(const char *path, char *rel, size_t len)
{
	char line[8192], best[PATH_MAX] = "", bestroot[PATH_MAX] = "";
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char root[PATH_MAX], mnt[PATH_MAX], *sep = strstr(line, " - ");
		size_t n;

		if (!sep || strncmp(sep, " - cgroup2 ", 11) ||
		    sscanf(line, "%*d %*d %*s %4095s %4095s", root, mnt) != 2)
			continue;
		n = strlen(mnt);
		if (strncmp(path, mnt, n) || (path[n] && path[n] != '/' && n > 1))
			continue;
		if (n > strlen(best)) {
			strcpy(best, mnt);
			strcpy(bestroot, root);
		}
	}
	fclose(f);
	if (!best[0])
		return -1;
	{
		const char *tail = path + (strcmp(best, "/") ? strlen(best) : 0);

		snprintf(rel, len, "%s%s", strcmp(bestroot, "/") ? bestroot : "", tail);
		if (!rel[0])
			snprintf(rel, len, "/");
	}
	return 0;
}

int kfilter_open_cgroup(struct kfilter *f, const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	struct statfs sf;
	int fd;

	if (!realpath(path, real)) {
		snprintf(err, errlen, "-c %s: %s", path, strerror(errno));
		return -1;
	}
	if (statfs(real, &sf) || sf.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(err, errlen, "-c %s: not a cgroup v2 directory", path);
		return -1;
	}
	fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "-c %s: %s", path, strerror(errno));
		return -1;
	}
	if (cgroup2_rel(real, f->cgroup_rel, sizeof(f->cgroup_rel)))
		f->cgroup_rel[0] = 0;
	f->cgroup_fd = fd;
	return 0;
}

bool kfilter_pid_in_cgroup(const struct kfilter *f, int pid)
{
	char path[64], line[4200];
	size_t n = strlen(f->cgroup_rel);
	bool in = false;
	FILE *cf;

	if (f->cgroup_fd < 0 || !n)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	cf = fopen(path, "r");
	if (!cf)
		return false;
	while (fgets(line, sizeof(line), cf)) {
		char *p = line + 3;

		if (strncmp(line, "0::", 3))
			continue;
		p[strcspn(p, "\n")] = 0;
		in = !strcmp(f->cgroup_rel, "/") ||
		     (!strncmp(p, f->cgroup_rel, n) && (!p[n] || p[n] == '/'));
	}
	fclose(cf);
	return in;
}
