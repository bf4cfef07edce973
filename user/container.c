// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup id -> cgroup v2 path -> container. On cgroup v2 a cgroup's id is its directory's
 * inode number, and a kernfs file handle of type FILEID_KERNFS holding the id opens it; the
 * walk of the mount is the way without CAP_DAC_READ_SEARCH.
 *
 * Paths each runtime makes (systemd cgroup driver / cgroupfs driver):
 *   docker       /system.slice/docker-ID.scope            /docker/ID
 *   containerd   .../cri-containerd-ID.scope              /kubepods/QOS/podUID/ID
 *   CRI-O        .../crio-ID.scope                        .../podUID/crio-ID
 *   podman       /machine.slice/libpod-ID.scope[/container]  /libpod_parent/libpod-ID
 *   Kubernetes   .../kubepods-QOS-podUID_WITH_UNDERSCORES.slice/...   .../podUID/...
 *   systemd      /system.slice/NAME.service, /user.slice/.../session-N.scope
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "container.h"

#define FILEID_KERNFS 0xfe

static bool is_hex_id(const char *s, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* "PREFIXID" or "PREFIXID.scope" with a 64-hex ID: the ID's start, or NULL */
static const char *prefixed_id(const char *comp, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);

	if (len > 6 && !memcmp(comp + len - 6, ".scope", 6))
		len -= 6;
	if (len < pl || memcmp(comp, prefix, pl) || !is_hex_id(comp + pl, len - pl))
		return NULL;
	return comp + pl;
}

/* a pod UID after "pod" at the start or after '-': 36 characters, '_' standing for '-' */
static bool pod_uid(const char *comp, size_t len, char *out)
{
	const char *p = NULL;
	char uid[37];

	if (len > 6 && !memcmp(comp + len - 6, ".slice", 6))
		len -= 6;
	for (size_t i = 0; i + 3 <= len; i++)
		if (!memcmp(comp + i, "pod", 3) && (i == 0 || comp[i - 1] == '-'))
			p = comp + i + 3;
	if (!p || comp + len - p != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char ch = p[i] == '_' ? '-' : p[i];

		if (!(isxdigit((unsigned char)ch) || ch == '-'))
			return false;
		uid[i] = tolower((unsigned char)ch);
	}
	uid[36] = 0;
	if (uid[8] != '-' || uid[13] != '-' || uid[18] != '-' || uid[23] != '-')
		return false;
	memcpy(out, uid, sizeof(uid));
	return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);

	return len > sl && !memcmp(s + len - sl, suffix, sl);
}

void container_parse(struct container *c)
{
	static const struct {
		const char *prefix, *runtime;
	} scopes[] = {
		{ "docker-", "docker" },
		{ "cri-containerd-", "containerd" },
		{ "crio-", "cri-o" },
		{ "libpod-", "podman" },
	};
	const char *s = c->cgroup, *prev = NULL, *unit = NULL;
	size_t prevlen = 0, unitlen = 0;
	bool found = false;

	c->runtime[0] = c->id[0] = c->pod_uid[0] = 0;
	while (*s) {
		const char *comp, *id = NULL, *rt = NULL;
		size_t len;

		while (*s == '/')
			s++;
		comp = s;
		while (*s && *s != '/')
			s++;
		len = s - comp;
		if (!len)
			break;
		for (size_t i = 0; !id && i < sizeof(scopes) / sizeof(scopes[0]); i++) {
			id = prefixed_id(comp, len, scopes[i].prefix);
			rt = scopes[i].runtime;
		}
		if (!id && is_hex_id(comp, len)) {
			/* cgroupfs driver: the bare id, under "docker" or a pod */
			id = comp;
			rt = prevlen == 6 && !memcmp(prev, "docker", 6) ? "docker" :
			     c->pod_uid[0] ? "cri" : "";
		}
		if (id) {
			snprintf(c->runtime, sizeof(c->runtime), "%s", rt);
			snprintf(c->id, sizeof(c->id), "%.64s", id);
			found = true;
		} else if (!pod_uid(comp, len, c->pod_uid) &&
			   (ends_with(comp, len, ".service") || ends_with(comp, len, ".scope"))) {
			unit = comp;
			unitlen = len;
		}
		prev = comp;
		prevlen = len;
	}
	if (!found && unit) {
		snprintf(c->runtime, sizeof(c->runtime), "systemd");
		snprintf(c->id, sizeof(c->id), "%.*s", (int)(unitlen < 255 ? unitlen : 255), unit);
	}
}

void container_short(const struct container *c, char *buf, int len)
{
	if (!c->id[0])
		snprintf(buf, len, "%s", c->cgroup[0] ? "cgroup" : "");
	else if (!strcmp(c->runtime, "systemd"))
		snprintf(buf, len, "systemd:%.48s", c->id);
	else
		snprintf(buf, len, "%s:%.12s", c->runtime[0] ? c->runtime : "container", c->id);
}

/* ---- the cache: cgroup id -> container, open addressing, cleared when half full ---- */

#define CACHE_SLOTS 8192

struct entry {
	uint64_t id;		/* 0: free slot */
	bool known;
	struct container c;
};

static struct entry *cache;
static int cache_used;
static char mnt[CT_PATH_MAX];	/* the cgroup v2 mount point; "-" none */
static int mnt_fd = -1;
static bool handles_ok = true;
static double last_walk;

static double now_secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* the first cgroup2 mount in /proc/self/mountinfo (field 5 the mount point) */
static void find_mount(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	snprintf(mnt, sizeof(mnt), "-");
	while (f && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - "), point[CT_PATH_MAX];

		if (!dash || strncmp(dash, " - cgroup2 ", 11))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %511s", point) == 1) {
			snprintf(mnt, sizeof(mnt), "%s", point);
			break;
		}
	}
	if (f)
		fclose(f);
	if (strcmp(mnt, "-"))
		mnt_fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static struct entry *slot(uint64_t id, bool create)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ull;

	if (!cache) {
		cache = calloc(CACHE_SLOTS, sizeof(*cache));
		if (!cache)
			return NULL;
	}
	if (create && cache_used >= CACHE_SLOTS / 2) {
		memset(cache, 0, CACHE_SLOTS * sizeof(*cache));
		cache_used = 0;
	}
	for (int i = 0; i < CACHE_SLOTS; i++) {
		struct entry *e = &cache[(h + i) % CACHE_SLOTS];

		if (e->id == id)
			return e;
		if (!e->id) {
			if (!create)
				return NULL;
			e->id = id;
			e->known = false;
			cache_used++;
			return e;
		}
	}
	return NULL;
}

static void set_path(struct entry *e, const char *full)
{
	size_t ml = strlen(mnt);
	const char *rel = !strncmp(full, mnt, ml) ? full + ml : full;

	snprintf(e->c.cgroup, sizeof(e->c.cgroup), "%s", rel[0] ? rel : "/");
	container_parse(&e->c);
	e->known = true;
}

static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct entry *e;

	(void)ftw;
	if (flag != FTW_D)
		return 0;
	e = slot(st->st_ino, true);
	if (e && !e->known)
		set_path(e, path);
	return 0;
}

static bool by_handle(struct entry *e)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh = { .handle_bytes = sizeof(uint64_t), .handle_type = FILEID_KERNFS } };
	char link[64], path[CT_PATH_MAX];
	ssize_t n;
	int fd;

	memcpy(h.fh.f_handle, &e->id, sizeof(e->id));
	fd = open_by_handle_at(mnt_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		/* no CAP_DAC_READ_SEARCH, or no kernfs handles: walk from now on */
		if (errno == EPERM || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)
			handles_ok = false;
		return false;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0)
		return false;
	path[n] = 0;
	set_path(e, path);
	return true;
}

const struct container *container_of(uint64_t cgroup_id)
{
	struct entry *e;

	if (!cgroup_id)
		return NULL;
	if (!mnt[0])
		find_mount();
	if (mnt_fd < 0)
		return NULL;
	e = slot(cgroup_id, false);
	if (e && e->known)
		return &e->c;
	if (handles_ok) {
		e = slot(cgroup_id, true);
		if (e && by_handle(e))
			return &e->c;
		if (e && handles_ok)
			return NULL;	/* the handle did not open: that cgroup is gone */
	}
	if (now_secs() - last_walk < 1.0)
		return NULL;
	last_walk = now_secs();
	nftw(mnt, walk_one, 16, FTW_PHYS | FTW_MOUNT);
	e = slot(cgroup_id, false);
	return e && e->known ? &e->c : NULL;
}

void container_free(void)
{
	free(cache);
	cache = NULL;
	cache_used = 0;
	if (mnt_fd >= 0)
		close(mnt_fd);
	mnt_fd = -1;
	mnt[0] = 0;
	handles_ok = true;
	last_walk = 0;
}
