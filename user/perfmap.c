// SPDX-License-Identifier: GPL-2.0
/*
 * Perf map files. The file is looked for in the process's own root (a container's /tmp) under
 * its own pid in its pid namespace, then in ours. Entries are kept in file order: a later line
 * for the same addresses (code freed and reused) replaces an earlier one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "perfmap.h"

struct pm_entry {
	uint64_t start, size;
	char *name;
};

struct perfmap {
	pid_t pid;
	char path[96];
	struct stat st;		/* of the file when read */
	struct pm_entry *e;
	size_t n;
};

#define PM_SLOTS 16
static struct perfmap *cache[PM_SLOTS];
static unsigned int next_slot;

static void pm_free(struct perfmap *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->n; i++)
		free(pm->e[i].name);
	free(pm->e);
	free(pm);
}

/* the process's pid in its own pid namespace (the last NSpid field) */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t nspid = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (char *tok = strtok(line + 6, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			nspid = atoi(tok);
		break;
	}
	fclose(f);
	return nspid;
}

static int find_file(pid_t pid, char *path, size_t len, struct stat *st)
{
	snprintf(path, len, "/proc/%d/root/tmp/perf-%d.map", (int)pid, (int)ns_pid(pid));
	if (!stat(path, st) && S_ISREG(st->st_mode))
		return 0;
	snprintf(path, len, "/tmp/perf-%d.map", (int)pid);
	if (!stat(path, st) && S_ISREG(st->st_mode))
		return 0;
	return -ENOENT;
}

static struct perfmap *pm_read(pid_t pid, const char *path, const struct stat *st)
{
	struct perfmap *pm = calloc(1, sizeof(*pm));
	size_t cap = 0, len = 0;
	char *line = NULL;
	FILE *f;

	if (!pm)
		return NULL;
	pm->pid = pid;
	pm->st = *st;
	snprintf(pm->path, sizeof(pm->path), "%s", path);
	f = fopen(path, "r");
	if (!f) {
		free(pm);
		return NULL;
	}
	while (getline(&line, &len, f) > 0) {
		uint64_t start, size;
		int pos = 0;

		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %n", &start, &size, &pos) != 2 || !pos ||
		    !size)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (pm->n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct pm_entry *ne = realloc(pm->e, ncap * sizeof(*ne));

			if (!ne)
				break;
			pm->e = ne;
			cap = ncap;
		}
		pm->e[pm->n].start = start;
		pm->e[pm->n].size = size;
		pm->e[pm->n].name = strdup(line + pos);
		if (pm->e[pm->n].name)
			pm->n++;
	}
	free(line);
	fclose(f);
	return pm;
}

struct perfmap *perfmap_get(pid_t pid)
{
	struct perfmap *pm;
	struct stat st;
	char path[96];
	unsigned int i;

	if (find_file(pid, path, sizeof(path), &st))
		return NULL;
	for (i = 0; i < PM_SLOTS; i++) {
		pm = cache[i];
		if (!pm || pm->pid != pid || strcmp(pm->path, path))
			continue;
		if (pm->st.st_ino == st.st_ino && pm->st.st_size == st.st_size &&
		    pm->st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
		    pm->st.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
			return pm;
		break;		/* changed: read it again into this slot */
	}
	pm = pm_read(pid, path, &st);
	if (!pm)
		return NULL;
	if (i == PM_SLOTS)
		i = next_slot++ % PM_SLOTS;
	pm_free(cache[i]);
	cache[i] = pm;
	return pm;
}

const char *perfmap_lookup(const struct perfmap *pm, uint64_t addr, uint64_t *off)
{
	if (!pm)
		return NULL;
	for (size_t i = pm->n; i-- > 0;) {
		const struct pm_entry *e = &pm->e[i];

		if (addr >= e->start && addr - e->start < e->size) {
			*off = addr - e->start;
			return e->name;
		}
	}
	return NULL;
}

void perfmap_free_all(void)
{
	for (unsigned int i = 0; i < PM_SLOTS; i++) {
		pm_free(cache[i]);
		cache[i] = NULL;
	}
}
