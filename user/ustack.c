// SPDX-License-Identifier: GPL-2.0
/*
 * User stacks of the tasks sending active resets (-u).
 *
 * The kernel sends, per active reset, the return addresses it found by walking frame pointers,
 * the task's user registers and a few pages of its stack. Here:
 *  - the process's mappings are read from /proc/PID/maps as the record arrives, and reported
 *    to libdwfl, one Dwfl per process, kept while the mappings stay the same (and after the
 *    process is gone, for its late records);
 *  - files are opened through /proc/PID/map_files: the very file mapped, even deleted or in
 *    another mount namespace, never a different file of the same name;
 *  - the stack is unwound with the files' call frame information (libdw, over the copied
 *    stack; frame pointers where there is none, e.g. JIT code). Where that unwinding stops
 *    (the copy ends) the kernel's frame-pointer walk continues it from a frame both agree on;
 *  - addresses get the ELF symbol that really holds them (its size says so, otherwise no
 *    name), or for anonymous executable memory the perf map's entry.
 * What cannot be known is said per frame: "[exited]" (the process was gone, no name),
 * "[unknown]" (no mapping holds the address), a file and offset with no symbol.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elfutils/libdwfl.h>
#include "json.h"
#include "output.h"
#include "perfmap.h"
#include "ustack.h"

struct mapping {
	uint64_t start, end, pgoff;
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	bool exec;
	char path[200];		/* as in /proc/PID/maps, "" for anonymous memory */
};

/*
 * One Dwfl per layout of mapped executable files (their addresses, offsets, inodes and
 * names): processes forked from one parent share it, and a process keeps it while only its
 * heap and anonymous memory (a JIT's code cache) change.
 */
struct dwfl_ent {
	uint64_t key;		/* 0: free */
	Dwfl *dwfl;
	bool attached;		/* dwfl_attach_state done */
	bool attach_failed;
	bool incomplete;	/* a file could not be opened: used once, not kept */
	unsigned long used;
	const struct rw_ustack *cur;	/* the record being unwound */
};

/* the last mappings read of a process, for its records read after it is gone */
struct proc {
	pid_t pid;		/* 0: free */
	char *maps;
	size_t len;
	unsigned long used;
};

#define SLOTS 16
static struct dwfl_ent dwfls[SLOTS];
static struct proc procs[SLOTS];
static unsigned long use_clock;

/* the record being handled: for find_elf, which gets no argument of ours */
static pid_t cur_pid;
static struct mapping *cur_m;
static int cur_nm;

/* ---- mappings ---- */

static char *slurp(const char *path, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += r;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	if (r < 0 || !n) {
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* FNV-1a over the lines of executable file mappings */
static uint64_t layout_key(const char *text)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *l = text; *l;) {
		const char *nl = strchr(l, '\n'), *sp = strchr(l, ' ');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (sp && sp - l < (long)n && sp[3] == 'x' && memchr(l, '/', n))
			for (size_t i = 0; i < n; i++)
				h = (h ^ (unsigned char)l[i]) * 0x100000001b3ull;
		l += n + !!nl;
	}
	return h ? h : 1;
}

static int parse_maps(const char *text, struct mapping **out)
{
	int n = 0, cap = 0;
	struct mapping *m = NULL;

	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		struct mapping x = {};
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &x.start, &x.end, perms, &x.pgoff, &x.dev_major, &x.dev_minor, &x.inode,
			   &pos) == 7) {
			size_t plen = nl ? (size_t)(nl - line) : strlen(line);

			x.exec = perms[2] == 'x';
			if (pos && (size_t)pos < plen)
				snprintf(x.path, sizeof(x.path), "%.*s", (int)(plen - pos), line + pos);
			if (n == cap) {
				int ncap = cap ? cap * 2 : 64;
				struct mapping *nm = realloc(m, ncap * sizeof(*nm));

				if (!nm)
					break;
				m = nm;
				cap = ncap;
			}
			m[n++] = x;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	*out = m;
	return n;
}

static const struct mapping *find_mapping(uint64_t addr)
{
	for (int i = 0; i < cur_nm; i++)
		if (addr >= cur_m[i].start && addr < cur_m[i].end)
			return &cur_m[i];
	return NULL;
}

/* ---- libdwfl ---- */

/* name in our own mount namespace, if it is the very file mapped (device and inode) */
static int open_same_file(const char *name, const struct mapping *m)
{
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || st.st_ino != m->inode || major(st.st_dev) != m->dev_major ||
	    minor(st.st_dev) != m->dev_minor) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The mapped file itself: /proc/PID/map_files/START-END of its first mapping, else the name
 * in the process's root, else (the process is gone) the name in ours if it is the same file.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	char path[96];

	*elfp = NULL;
	if (name[0] != '/')
		return -1;	/* [vdso] and the like: no symbols from them */
	for (int i = 0; i < cur_nm; i++) {
		int fd;

		if (strcmp(cur_m[i].path, name))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
			 (int)cur_pid, cur_m[i].start, cur_m[i].end);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(path, sizeof(path), "/proc/%d/root", (int)cur_pid);
			if (strlen(path) + strlen(name) < sizeof(path)) {
				strcat(path, name);
				fd = open(path, O_RDONLY | O_CLOEXEC);
			}
		}
		if (fd < 0)
			fd = open_same_file(name, &cur_m[i]);
		if (fd >= 0)
			*file_name = strdup(name);
		return fd;
	}
	return -1;
}

static char *debuginfo_path;

static const Dwfl_Callbacks dwfl_cbs = {
	.find_elf = find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct dwfl_ent *d = arg;

	if (*thread_argp)
		return 0;
	*thread_argp = d;
	return d->cur->tid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct dwfl_ent *d = arg;

	*thread_argp = d;
	return d->cur && (uint32_t)tid == d->cur->tid;
}

/* only the copied stack: anything else has changed since the reset */
static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	const struct rw_ustack *u = ((struct dwfl_ent *)arg)->cur;

	if (addr < u->stack_start || addr - u->stack_start + 8 > u->stack_len)
		return false;
	memcpy(result, u->stack + (addr - u->stack_start), 8);
	return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	const struct rw_ustack *u = ((struct dwfl_ent *)arg)->cur;
	Dwarf_Word regs[16];

	for (int i = 0; i < 16; i++)
		regs[i] = u->regs[i];
	if (!dwfl_thread_state_registers(thread, 0, 16, regs))
		return false;
	dwfl_thread_state_register_pc(thread, u->regs[16]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_cbs = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

/* open every module's file now, while the process (most likely) still runs */
static int load_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
		    void *arg)
{
	Dwarf_Addr bias;

	if (name[0] == '/' && !dwfl_module_getelf(mod, &bias))
		*(bool *)arg = true;
	return DWARF_CB_OK;
}

static struct dwfl_ent *dwfl_get(const char *maps, size_t len)
{
	uint64_t key = layout_key(maps);
	struct dwfl_ent *d = &dwfls[0];
	FILE *f;

	for (int i = 0; i < SLOTS; i++) {
		if (dwfls[i].key == key) {
			dwfls[i].used = ++use_clock;
			return &dwfls[i];
		}
		if (dwfls[i].used < d->used)
			d = &dwfls[i];
	}
	if (d->dwfl)
		dwfl_end(d->dwfl);
	memset(d, 0, sizeof(*d));
	d->dwfl = dwfl_begin(&dwfl_cbs);
	if (!d->dwfl)
		return NULL;
	d->key = key;
	d->used = ++use_clock;
	f = fmemopen((void *)maps, len, "r");
	dwfl_report_begin(d->dwfl);
	if (f) {
		dwfl_linux_proc_maps_report(d->dwfl, f);
		fclose(f);
	}
	dwfl_report_end(d->dwfl, NULL, NULL);
	d->incomplete = false;
	dwfl_getmodules(d->dwfl, load_elf, &d->incomplete, 0);
	return d;
}

/* the mappings of pid as read now, or as last read if it is gone; NULL if never seen */
static struct proc *proc_get(pid_t pid)
{
	struct proc *p = NULL, *lru = &procs[0];
	char path[64], *text;
	size_t len = 0;

	for (int i = 0; i < SLOTS; i++) {
		if (procs[i].pid == pid)
			p = &procs[i];
		if (procs[i].used < lru->used)
			lru = &procs[i];
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	text = slurp(path, &len);
	if (!text)
		return p;
	if (!p)
		p = lru;
	free(p->maps);
	p->pid = pid;
	p->maps = text;
	p->len = len;
	return p;
}

/* ---- unwinding ---- */

struct dframes {
	uint64_t pc[USTACK_MAX_FRAMES];
	bool activation[USTACK_MAX_FRAMES];
	int n;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct dframes *d = arg;
	Dwarf_Addr pc;
	bool act;

	if (!dwfl_frame_pc(state, &pc, &act) || !pc)
		return DWARF_CB_ABORT;
	d->pc[d->n] = pc;
	d->activation[d->n] = act;
	return ++d->n == USTACK_MAX_FRAMES ? DWARF_CB_ABORT : DWARF_CB_OK;
}

/* CFI unwinding over the copied stack: frames found; *complete when it reached the end */
static int unwind_dwarf(struct dwfl_ent *p, const struct rw_ustack *u, struct dframes *d,
			bool *complete)
{
	int rc;

	d->n = 0;
	*complete = false;
	if (!p || !u->stack_len || !u->regs[16] || p->attach_failed)
		return 0;
	if (!p->attached) {
		if (!dwfl_attach_state(p->dwfl, NULL, u->tgid, &thread_cbs, p)) {
			p->attach_failed = true;
			return 0;
		}
		p->attached = true;
	}
	p->cur = u;
	rc = dwfl_getthread_frames(p->dwfl, u->tid, frame_cb, d);
	p->cur = NULL;
	*complete = rc == 0 && d->n < USTACK_MAX_FRAMES;
	return d->n;
}

/* ---- symbols ---- */

static void symbolize(struct dwfl_ent *p, bool exited, uint64_t addr, bool ret_addr,
		      struct ustack_frame *fr)
{
	uint64_t look = ret_addr ? addr - 1 : addr, off;
	const struct mapping *m = find_mapping(addr);
	const char *name;

	memset(fr, 0, sizeof(*fr));
	fr->addr = addr;
	if (!m) {
		snprintf(fr->file, sizeof(fr->file), "%s", exited ? "[exited]" : "[unknown]");
		return;
	}
	fr->has_offset = true;
	if (!m->path[0] || m->path[0] == '[') {
		fr->offset = addr - m->start;
		snprintf(fr->file, sizeof(fr->file), "%s", m->path[0] ? m->path : "[anon]");
		if (!m->path[0] && m->exec) {
			name = perfmap_lookup(perfmap_get(cur_pid), look, &off);
			if (name)
				snprintf(fr->sym, sizeof(fr->sym), "%s+0x%" PRIx64, name,
					 off + (addr - look));
		}
		return;
	}
	fr->offset = addr - m->start + m->pgoff;
	snprintf(fr->file, sizeof(fr->file), "%s", m->path);
	if (p) {
		Dwfl_Module *mod = dwfl_addrmodule(p->dwfl, look);
		GElf_Sym sym;
		GElf_Off soff = 0;

		name = mod ? dwfl_module_addrinfo(mod, look, &soff, &sym, NULL, NULL, NULL) : NULL;
		/* only a symbol whose extent holds the address: never a neighbour's name */
		if (name && sym.st_size && soff < sym.st_size)
			snprintf(fr->sym, sizeof(fr->sym), "%s+0x%" PRIx64, name,
				 (uint64_t)soff + (addr - look));
	}
}

/* ---- records waiting for their events ---- */

#define PENDING 64
static struct ustack pending[PENDING];
static unsigned int npending_next;
static struct ustack taken;

void ustack_record(const struct rw_ustack *u)
{
	struct ustack *s = &pending[npending_next++ % PENDING];
	int nfp = u->ips_len > 0 ? u->ips_len / 8 : 0;
	struct dwfl_ent *p = NULL;
	struct dframes d;
	bool complete;
	struct proc *pr;
	int n = 0, from_fp = -1;

	/* a tracer does not fetch debug information from the network on each event */
	if (!use_clock)
		unsetenv("DEBUGINFOD_URLS");
	memset(s, 0, offsetof(struct ustack, f));
	s->skaddr = u->skaddr;
	s->ts_ns = u->ts_ns;
	s->tid = u->tid;
	s->tgid = u->tgid;
	s->fp_from = -1;
	pr = proc_get(u->tgid);
	cur_pid = u->tgid;
	cur_nm = 0;
	if (pr) {
		pr->used = ++use_clock;
		cur_nm = parse_maps(pr->maps, &cur_m);
		p = dwfl_get(pr->maps, pr->len);
	}
	s->exited = !pr;

	unwind_dwarf(p, u, &d, &complete);
	if (d.n > 1) {
		s->unwind = "dwarf";
		n = d.n;
		if (!complete) {
			/* continue with the frame-pointer walk from the last frame both have */
			for (int i = d.n - 1; i > 0 && from_fp < 0; i--) {
				for (int j = 1; j < nfp; j++) {
					if (u->ips[j] == d.pc[i]) {
						n = i + 1;
						from_fp = j + 1;
						break;
					}
				}
			}
			if (from_fp >= 0)
				s->unwind = "dwarf+fp";
			else
				s->truncated = true;
		}
	} else {
		s->unwind = "fp";
		from_fp = 0;
		n = 0;
		if (nfp == RW_USTACK_DEPTH)
			s->truncated = true;
	}
	for (int i = 0; i < n && i < USTACK_MAX_FRAMES; i++)
		symbolize(p, s->exited, d.pc[i], i > 0 && !d.activation[i], &s->f[s->n++]);
	if (from_fp >= 0) {
		s->fp_from = s->n;
		for (int j = from_fp; j < nfp && s->n < USTACK_MAX_FRAMES; j++)
			symbolize(p, s->exited, u->ips[j], j > 0, &s->f[s->n++]);
		if (nfp == RW_USTACK_DEPTH)
			s->truncated = true;
	}
	if (s->n == USTACK_MAX_FRAMES)
		s->truncated = true;
	/* a process gone halfway: the next one of this layout gets its own try */
	if (p && p->incomplete)
		p->key = 0;
	free(cur_m);
	cur_m = NULL;
	cur_nm = 0;
}

/* a record and its event are a few microseconds apart; more is preemption, at most this */
#define MATCH_NS 1000000000ull

const struct ustack *ustack_take(uint64_t skaddr, uint32_t tid, uint64_t ts_ns)
{
	/* the newest record first */
	for (unsigned int k = 1; k <= PENDING; k++) {
		struct ustack *s = &pending[(npending_next - k) % PENDING];

		if (s->unwind && s->skaddr == skaddr && s->tid == tid && s->ts_ns <= ts_ns &&
		    ts_ns - s->ts_ns < MATCH_NS) {
			taken = *s;
			s->unwind = NULL;
			return &taken;
		}
	}
	return NULL;
}

void ustack_free_all(void)
{
	for (int i = 0; i < SLOTS; i++) {
		if (dwfls[i].dwfl)
			dwfl_end(dwfls[i].dwfl);
		free(procs[i].maps);
	}
	memset(dwfls, 0, sizeof(dwfls));
	memset(procs, 0, sizeof(procs));
	perfmap_free_all();
}

/* ---- output ---- */

void ustack_json(struct jw *w, const struct ustack *s)
{
	jw_arr(w, "user_stack");
	for (int i = 0; i < s->n; i++) {
		const struct ustack_frame *fr = &s->f[i];
		char hex[24];

		jw_obj(w, NULL);
		snprintf(hex, sizeof(hex), "0x%" PRIx64, fr->addr);
		jw_str(w, "addr", hex);
		jw_str(w, "sym", fr->sym[0] ? fr->sym : NULL);
		jw_str(w, "file", fr->file);
		snprintf(hex, sizeof(hex), "0x%" PRIx64, fr->offset);
		jw_str(w, "offset", fr->has_offset ? hex : NULL);
		jw_end(w);
	}
	jw_end(w);
	if (s->fp_from >= 0)
		jw_i64(w, "user_stack_fp_from", s->fp_from);
	jw_u64(w, "user_stack_tid", s->tid);
	jw_str(w, "user_stack_unwind", s->unwind);
	jw_bool(w, "user_stack_truncated", s->truncated);
	jw_bool(w, "user_stack_exited", s->exited);
}

void ustack_table(FILE *f, const struct ustack *s, const char *comm)
{
	char cc[COMM_CLEAN_LEN];

	fprintf(f, "\tuser stack of %u/%u %s (%s%s):\n", s->tgid, s->tid, comm_clean(cc, comm),
		s->unwind,
		s->exited ? ", process exited before it could be read" : "");
	for (int i = 0; i < s->n; i++) {
		const struct ustack_frame *fr = &s->f[i];

		if (i && i == s->fp_from)
			fputs("\t  -- frame pointers from here --\n", f);
		fprintf(f, "\t  %-40s %s", fr->sym[0] ? fr->sym : "[unknown]", fr->file);
		if (fr->has_offset)
			fprintf(f, "+0x%" PRIx64, fr->offset);
		fprintf(f, " (0x%" PRIx64 ")\n", fr->addr);
	}
	if (s->truncated)
		fputs("\t  [truncated: deeper than captured]\n", f);
}
