// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy selftest [-v] [--json] [--attach MODE]: prove on this machine, in about ten seconds,
 * which RST causes rstwhy sees and whether it attributes them right.
 *
 * Two private network namespaces (server, client) joined by a veth are made with ip(8).  Two
 * tracers are this very binary (--json --netns, the client's with -r).  Every cause that can
 * be provoked here is provoked for real, IPv4 then IPv6: the TCP stack's own causes by rstgen
 * (tools/rstgen.c, linked in as rstgen_main and run in a forked child), socket-destroy with
 * `ss -K`, netfilter-reject with an nft (or iptables) rule inside the server namespace,
 * injected with a raw socket from a child named rst-inject, mptcp with an abortive close of
 * an MPTCP connection, peer-reset from the client's side of a refused connection.  Each server
 * port belongs to one scenario, so an event is matched to what provoked it by that port; it
 * must then carry the cause, origin, owner, actor, state and addresses rstgen says it should.
 *
 * Sysctls are only ever changed inside the private namespaces, the firewall rule lives there
 * too, and everything goes away with them: at the end, on SIGINT/SIGTERM/SIGHUP and when a
 * step fails.  Children are killed by PID only (their process groups, then whatever still
 * runs in the private namespaces or descends from us); they die with us (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "classify.h"
#include "json.h"
#include "jsonl.h"
#include "subcmd.h"
#include "util.h"
#include "../tools/csum.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

/* tools/rstgen.c, compiled a second time with -Dmain=rstgen_main */
int rstgen_main(int argc, char **argv);

#define EXIT_FAIL EXIT_ENV

#define SRV_IF		"rws"
#define CLI_IF		"rwc"
#define NS_PREFIX	"rwself"
/* below the ephemeral range: a server port is never some client's port */
#define PORT_BASE	20100
#define PORT_FAM6	50
#define STEP_MS		30000	/* one scenario, keepalive-timeout included */
#define AFTER_SS_MS	5000	/* socket-destroy: rstgen ends this soon after ss -K */
#define FINAL_MS	2000	/* at the end, for events still on their way (drained every 100 ms) */

enum side { SRV, CLI };

struct fam {
	int v;				/* 4 or 6 */
	const char *name;		/* "ipv4" */
	const char *srv, *cli, *spoof;
	const char *srv_cidr, *cli_cidr;
};

static const struct fam fams[] = {
	{ 4, "ipv4", "198.18.0.1", "198.18.0.2", "198.18.0.99", "198.18.0.1/24", "198.18.0.2/24" },
	{ 6, "ipv6", "fd00:198:18::1", "fd00:198:18::2", "fd00:198:18::99", "fd00:198:18::1/64",
	  "fd00:198:18::2/64" },
};

/* ---- results ----------------------------------------------------------------------------- */

/* in rising order of badness: a cause's result is the worst of its checks */
enum res { RES_OK, RES_SKIPPED, RES_NOT_VISIBLE, RES_FAILED, RES_MISSING, RES_MISMATCH };
static const char *const res_word[] = { "ok", "skipped", "not visible", "FAILED", "MISSING",
					 "MISMATCH" };
static const char *const res_json[] = { "ok", "skipped", "not-visible", "failed", "missing",
					 "mismatch" };

/* per cause (classify.h, causes.def): what the checks of that cause came to */
static struct cause {
	bool preset;			/* res/why set directly: nothing was provoked */
	enum res res;
	char why[400];
} causes[C_NR_CAUSES];

#define MAX_MATCH 16
#define MAX_CHECKS 64

/* One RST (or, min > 1, several) that a scenario must have produced. */
struct check {
	int cause;
	char label[48];			/* what provoked it: "rstgen close-unread", ... */
	const struct fam *fam;
	enum side side;			/* namespace it is sent (or received) in */
	bool recv;
	int port;			/* the server's port: identifies the scenario */
	int min;
	int nm;
	struct {
		const char *path;
		char val[64];
	} m[MAX_MATCH];
	bool fixed;			/* res/msg decided without events (failed, skipped) */
	enum res res;
	char msg[400];
	struct json_object *ev;		/* the matching event, or the closest one */
};

static struct check checks[MAX_CHECKS];
static int nchecks;

/* ---- state -------------------------------------------------------------------------------- */

struct sink {				/* a pipe read into a buffer, line by line */
	int fd;
	size_t len;
	char buf[16384];
};

struct tracer {
	pid_t pid;
	int fd;				/* its stdout: JSON lines */
	size_t len;
	char buf[65536];
	char ready[PATH_MAX], err[PATH_MAX], stats[PATH_MAX];
};

struct kid {
	pid_t pid;
	bool tracer;
};

static struct {
	bool verbose, json;
	const char *attach;		/* --attach, passed on to the tracers */
	FILE *tbl;			/* the live table, or NULL */
	int width;
	char exe[PATH_MAX];
	char tmp[PATH_MAX];
	char ns[2][32], nspath[2][64];
	bool ns_made[2];
	int nsfd[2];
	dev_t nsdev[2];
	ino_t nsino[2];
	struct tracer tr[2];
	bool tracers_stopping;
	struct kid kids[32];
	int nkids;
	int recv_port[2];		/* received RSTs shown in the table: the peer-reset checks */
	/* what the attach plan says this kernel cannot show */
	char kernel[128];
	struct json_object *plan[2];	/* the tracers' attach plans (their ready files) */
	char plan_passive[300];
	bool gap;			/* resets with no socket or a timewait socket */
	char egress_why[300];		/* net:net_dev_queue not attached: firewall, injected */
	char recv_why[300];		/* tcp:tcp_receive_reset not attached: -r */
	/* events */
	struct json_object **ev;
	int *ev_side;
	size_t nev, evcap;
	long long t0;
} g = { .nsfd = { -1, -1 }, .tr = { { .fd = -1 }, { .fd = -1 } } };

static volatile sig_atomic_t g_stop;

static void cleanup(void);


__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("rstwhy selftest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(EXIT_FAIL);
}

static void check_stop(void)
{
	int sig = g_stop;

	if (!sig)
		return;
	fflush(stdout);
	fprintf(stderr, "\nrstwhy selftest: %s: cleaning up\n", strsignal(sig));
	cleanup();
	exit(128 + sig);
}

static void on_signal(int sig)
{
	if (!g_stop)
		g_stop = sig;
}

/* printf into a fixed buffer, truncating */
__attribute__((format(printf, 3, 4)))
static void bprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* the first line of a file: a one-line reason for a failure */
static void first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	char *nl;

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	fclose(f);
	nl = strchr(buf, '\n');
	if (nl)
		*nl = 0;
}

/* the last line of a tracer's stderr that is not libbpf's (-v) chatter */
static void last_words(const char *path, char *buf, size_t len)
{
	char line[400];
	FILE *f = fopen(path, "re");

	buf[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (*line && strncmp(line, "libbpf:", 7))
			bprintf(buf, len, "%s", line);
	}
	if (f)
		fclose(f);
}

/* Is NAME an executable in $PATH? */
static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], file[PATH_MAX];
	const char *p, *e;

	for (p = path ? path : ""; *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (e == p || (size_t)(e - p) >= sizeof(dir))
			continue;
		memcpy(dir, p, e - p);
		dir[e - p] = 0;
		bprintf(file, sizeof(file), "%s/%s", dir, name);
		if (!access(file, X_OK))
			return true;
	}
	return false;
}

/* ---- children ----------------------------------------------------------------------------- */

static void kid_add(pid_t pid, bool tracer)
{
	if (g.nkids < (int)(sizeof(g.kids) / sizeof(g.kids[0])))
		g.kids[g.nkids++] = (struct kid){ pid, tracer };
}

static void kid_del(pid_t pid)
{
	for (int i = 0; i < g.nkids; i++)
		if (g.kids[i].pid == pid)
			g.kids[i] = g.kids[--g.nkids];
}

struct spawn {
	const char *comm;		/* process name (forked children); NULL: keep */
	int ns;				/* SRV, CLI, or -1: stay here */
	int in, out, err;		/* -1: /dev/null */
	int keep[2];			/* passed on as fds 3 and 4 (-1: none) */
	bool tracer;
};

/*
 * Fork a child in its own process group that dies with us, optionally in one of our
 * namespaces, with the given stdio; it runs fn(arg) and exits with its return value.
 */
static pid_t spawn(const struct spawn *s, int (*fn)(void *), void *arg)
{
	int want[5] = { s->in, s->out, s->err, s->keep[0], s->keep[1] }, hi[5];
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	pid_t parent = getpid(), pid;
	sigset_t all;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid) {
		setpgid(pid, pid);	/* both sides: no window in which a kill(-pid) misses */
		kid_add(pid, s->tracer);
		return pid;
	}

	setpgid(0, 0);
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGHUP, &dfl, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
		_exit(126);
	if (s->comm)
		prctl(PR_SET_NAME, s->comm);
	if (s->ns >= 0 && setns(g.nsfd[s->ns], CLONE_NEWNET)) {
		fprintf(stderr, "setns %s: %s\n", g.nspath[s->ns], strerror(errno));
		_exit(126);
	}
	for (int i = 0; i < 5; i++) {
		int fd = want[i] >= 0 ? want[i] :
			 i < 3 ? open("/dev/null", i ? O_WRONLY : O_RDONLY) : -1;

		hi[i] = fd >= 0 ? fcntl(fd, F_DUPFD, 64 + i) : -1;
	}
	for (int i = 0; i < 5; i++)
		if (hi[i] >= 0 && dup2(hi[i], i) < 0)
			_exit(126);
	close_range(hi[3] >= 0 || hi[4] >= 0 ? 5 : 3, ~0U, 0);
	if (hi[3] < 0)
		close(3);
	if (hi[4] < 0)
		close(4);
	_exit(fn(arg));
}

static int exec_fn(void *arg)
{
	char **argv = arg;

	execvp(argv[0], argv);
	fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

static int rstgen_fn(void *arg)
{
	char **argv = arg;
	int argc = 0, ret;

	while (argv[argc])
		argc++;
	optind = 0;		/* a fresh getopt: it parsed our options before the fork */
	ret = rstgen_main(argc, argv);
	fflush(NULL);
	return ret;
}

static void reap_status(pid_t pid, int status, int *out)
{
	kid_del(pid);
	if (out)
		*out = status;
}

/* waitpid without blocking: true (and *status) once PID has exited */
static bool exited(pid_t pid, int *status)
{
	int st;
	pid_t r = waitpid(pid, &st, WNOHANG);

	if (r == pid) {
		reap_status(pid, st, status);
		return true;
	}
	if (r < 0 && errno == ECHILD) {
		kid_del(pid);
		if (status)
			*status = 0;
		return true;
	}
	return false;
}

/* "exit status N" / "killed by SIGX" */
static const char *status_str(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		bprintf(buf, len, "killed by %s", strsignal(WTERMSIG(st)));
	else
		bprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	return buf;
}

/* ---- events ------------------------------------------------------------------------------- */

/* the value at a dotted path; false when it is not there.  *out is NULL for JSON null. */
static bool jpath(struct json_object *o, const char *path, struct json_object **out)
{
	char buf[64], *save, *tok;

	bprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		if (!o || !json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, tok, &o))
			return false;
	*out = o;
	return true;
}

static const char *jstr(struct json_object *o, const char *path)
{
	struct json_object *v;

	if (!jpath(o, path, &v) || !v)
		return NULL;
	return json_object_get_string(v);
}

static long jint(struct json_object *o, const char *path)
{
	struct json_object *v;

	if (!jpath(o, path, &v) || !v)
		return -1;
	return json_object_get_int64(v);
}

/* as the bats tests compare: "null" is null or absent, anything else the value as a string */
static bool jmatch(struct json_object *o, const char *path, const char *want)
{
	const char *s = jstr(o, path);

	if (!strcmp(want, "null"))
		return !s;
	return s && !strcmp(s, want);
}

static bool ev_recv(struct json_object *o)
{
	const char *d = jstr(o, "dir");

	return d && !strcmp(d, "received");
}

/* The server's port of an event: what identifies the scenario that provoked it. */
static int ev_port(struct json_object *o, int side)
{
	if (side == SRV || ev_recv(o))
		return jint(o, "sport");
	return jint(o, "dport");
}

static void task_str(struct json_object *o, const char *key, char *buf, size_t len)
{
	char p[16];
	const char *comm;
	long pid;

	bprintf(p, sizeof(p), "%s.pid", key);
	pid = jint(o, p);
	bprintf(p, sizeof(p), "%s.comm", key);
	comm = jstr(o, p);
	if (pid < 0)
		bprintf(buf, len, "-");
	else
		bprintf(buf, len, "%ld/%.15s", pid, comm ? comm : "?");
}

static void endpoint(char *buf, size_t len, bool v6, const char *addr, long port)
{
	if (v6)
		bprintf(buf, len, "[%s]:%ld", addr ? addr : "?", port);
	else
		bprintf(buf, len, "%s:%ld", addr ? addr : "?", port);
}

/* one event as a row of rstwhy's own table */
static void table_row(FILE *f, struct json_object *o)
{
	char t[32] = "?", owner[40], actor[40], a[80], b[80], conn[170], det[200] = "", line[600];
	const char *fam = jstr(o, "family"), *state = jstr(o, "state"), *kr, *ts;
	bool v6 = fam && !strcmp(fam, "ipv6"), recv = ev_recv(o);
	struct json_object *detail;
	size_t used = 0;
	int64_t ns;
	int n;

	ts = jstr(o, "time");
	if (ts && jsonl_parse_time(ts, &ns)) {
		time_t sec = ns / 1000000000;
		struct tm tm;
		char base[16];

		localtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%H:%M:%S", &tm);
		bprintf(t, sizeof(t), "%s.%03d", base, (int)(ns % 1000000000 / 1000000));
	}
	task_str(o, "owner", owner, sizeof(owner));
	task_str(o, "actor", actor, sizeof(actor));
	if (recv) {
		endpoint(a, sizeof(a), v6, jstr(o, "daddr"), jint(o, "dport"));
		endpoint(b, sizeof(b), v6, jstr(o, "saddr"), jint(o, "sport"));
	} else {
		endpoint(a, sizeof(a), v6, jstr(o, "saddr"), jint(o, "sport"));
		endpoint(b, sizeof(b), v6, jstr(o, "daddr"), jint(o, "dport"));
	}
	bprintf(conn, sizeof(conn), "%s %s %s", a, recv ? "<-" : "->", b);
	kr = jstr(o, "kernel_reason");
	if (kr)
		used += snprintf(det, sizeof(det), "%s", kr);
	if (json_object_object_get_ex(o, "detail", &detail) &&
	    json_object_is_type(detail, json_type_object)) {
		json_object_object_foreach(detail, k, v) {
			if (used >= sizeof(det) || !strcmp(k, "in_seq") || !strcmp(k, "in_ack") ||
			    !strcmp(k, "cgroup_id") || !strcmp(k, "owner_from"))
				continue;
			used += snprintf(det + used, sizeof(det) - used, "%s%s=%s", used ? " " : "",
					 k, v ? json_object_get_string(v) : "null");
		}
	}
	if (strcmp(actor, "-") && strcmp(actor, owner) && used < sizeof(det))
		snprintf(det + used, sizeof(det) - used, "%sby=%s", used ? " " : "", actor);
	n = snprintf(line, sizeof(line), "%-12s %-17s %-11s %-20s %-43s %-11s %s", t,
		     jstr(o, "cause") ?: "?", jstr(o, "origin") ?: "?", owner, conn,
		     state ? state : "-", det);
	if (g.width > 0 && n > g.width)
		n = g.width;
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	fprintf(f, "%.*s\n", n, line);
	fflush(f);
}

static void table_header(FILE *f)
{
	fprintf(f, "%-12s %-17s %-11s %-20s %-43s %-11s %s\n", "TIME", "CAUSE", "ORIGIN", "OWNER",
		"LOCAL -> REMOTE", "STATE", "DETAIL");
	fflush(f);
}

static void add_event(int side, const char *line)
{
	struct json_object *o;
	int port;

	if (!*line)
		return;
	o = json_tokener_parse(line);
	if (!o || !json_object_is_type(o, json_type_object)) {
		if (g.verbose)
			fprintf(stderr, "rstwhy selftest: not a JSON event: %s\n", line);
		json_object_put(o);
		return;
	}
	if (g.nev == g.evcap) {
		size_t cap = g.evcap ? 2 * g.evcap : 256;
		struct json_object **ev = realloc(g.ev, cap * sizeof(*ev));
		int *sd = ev ? realloc(g.ev_side, cap * sizeof(*sd)) : NULL;

		if (!ev || !sd)
			die("out of memory");
		g.ev = ev;
		g.ev_side = sd;
		g.evcap = cap;
	}
	g.ev[g.nev] = o;
	g.ev_side[g.nev++] = side;
	port = ev_port(o, side);
	/* received RSTs: only those the peer-reset checks are about (every RST has one) */
	if (g.tbl && (!ev_recv(o) || g.verbose || port == g.recv_port[0] ||
		      port == g.recv_port[1]))
		table_row(g.tbl, o);
}

static void tracer_input(int side)
{
	struct tracer *t = &g.tr[side];
	ssize_t n;
	char *nl;

	n = read(t->fd, t->buf + t->len, sizeof(t->buf) - 1 - t->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(t->fd);
		t->fd = -1;
		if (!g.tracers_stopping) {
			char why[300], st[64] = "it closed its output";
			long long deadline = now_ms() + 1000;
			int status;

			while (now_ms() < deadline) {
				if (exited(t->pid, &status)) {
					t->pid = 0;
					status_str(status, st, sizeof(st));
					break;
				}
				usleep(10000);
			}
			last_words(t->err, why, sizeof(why));
			die("rstwhy (the tracer for %s) ended before the test did (%s)%s%s",
			    g.ns[side], st, *why ? "; its last words: " : "", why);
		}
		return;
	}
	t->len += n;
	t->buf[t->len] = 0;
	while ((nl = memchr(t->buf, '\n', t->len))) {
		*nl = 0;
		add_event(side, t->buf);
		t->len -= nl + 1 - t->buf;
		memmove(t->buf, nl + 1, t->len);
	}
	if (t->len == sizeof(t->buf) - 1)
		t->len = 0;	/* no line is that long: drop it */
}

static void sink_input(struct sink *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->len += n;
	s->buf[s->len] = 0;
}

/* Wait up to ms for output of the tracers (and of sink), handle it; honour a signal. */
static void pump(int ms, struct sink *s)
{
	struct pollfd p[3];
	int n = 0, r;

	for (int i = 0; i < 2; i++)
		if (g.tr[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = g.tr[i].fd, .events = POLLIN };
	if (s && s->fd >= 0)
		p[n++] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
	r = poll(p, n, ms);
	check_stop();
	if (r <= 0)
		return;
	for (int i = 0, k = 0; i < 2; i++) {
		if (g.tr[i].fd < 0)
			continue;
		if (p[k++].revents)
			tracer_input(i);
	}
	if (s && s->fd >= 0 && p[n - 1].fd == s->fd && p[n - 1].revents)
		sink_input(s);
}

/* After a child exited: the rest of its output (a grandchild may hold the pipe: 2 s at most). */
static void drain(struct sink *s)
{
	long long deadline = now_ms() + 2000;

	while (s && s->fd >= 0 && now_ms() < deadline)
		pump(10, s);
	if (s && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
}

/* Wait for PID while handling events; false on timeout (PID still running). */
static bool wait_kid(pid_t pid, int ms, int *status, struct sink *s)
{
	long long deadline = now_ms() + ms;

	while (!exited(pid, status)) {
		if (now_ms() > deadline)
			return false;
		pump(10, s);
	}
	drain(s);
	return true;
}

/* SIGTERM a child's process group, SIGKILL it if it lingers, reap it. */
static void kill_kid(pid_t pid)
{
	long long deadline = now_ms() + 1000;

	kill(-pid, SIGTERM);
	kill(pid, SIGTERM);
	while (!exited(pid, NULL)) {
		if (now_ms() > deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			deadline = LLONG_MAX;
		}
		usleep(5000);
	}
	/* the rest of its group (rstgen's server and client) */
	kill(-pid, SIGKILL);
}

/*
 * Run a command to completion (in namespace ns unless -1) with its output in a file; 0, or
 * its exit status with the first line of its output in why.
 */
static int run_cmd(int ns, char **argv, char *why, size_t wl)
{
	struct spawn s = { .ns = ns, .in = -1, .keep = { -1, -1 } };
	char path[PATH_MAX], st[64];
	int fd, status = 0;
	pid_t pid;

	bprintf(path, sizeof(path), "%s/cmd.out", g.tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	s.out = s.err = fd;
	if (g.verbose) {
		fprintf(stderr, "+");
		if (ns >= 0)
			fprintf(stderr, " [netns %s]", g.ns[ns]);
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	pid = spawn(&s, exec_fn, argv);
	close(fd);
	if (!wait_kid(pid, STEP_MS, &status, NULL)) {
		kill_kid(pid);
		bprintf(why, wl, "%s: did not finish within %d s", argv[0], STEP_MS / 1000);
		return -1;
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	first_line(path, why, wl);
	if (!*why)
		bprintf(why, wl, "%s: %s", argv[0], status_str(status, st, sizeof(st)));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define CMD(...) ((char *[]){ __VA_ARGS__, NULL })

static void must(int ns, char **argv)
{
	char why[400];

	if (run_cmd(ns, argv, why, sizeof(why)))
		die("%s failed: %s", argv[0], why);
}

/* ---- namespaces ---------------------------------------------------------------------------- */

static void ns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT)
		fprintf(stderr, "rstwhy selftest: umount %s: %s\n", path, strerror(errno));
	if (unlink(path) && errno != ENOENT)
		fprintf(stderr, "rstwhy selftest: rm %s: %s\n", path, strerror(errno));
}

/* Namespaces of an earlier run that could not clean up (SIGKILL): its PID is gone. */
static void reclaim_stale(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *de;
	char path[PATH_MAX], side;
	int pid, end;

	if (!d)
		return;
	while ((de = readdir(d))) {
		end = 0;
		if (sscanf(de->d_name, NS_PREFIX "%d-%c%n", &pid, &side, &end) != 2 ||
		    de->d_name[end] || (side != 's' && side != 'c') || pid <= 0 ||
		    !kill(pid, 0) || errno != ESRCH)
			continue;
		bprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		fprintf(stderr, "rstwhy selftest: removing namespace %s, left behind by an earlier "
			"run (process %d is gone)\n", de->d_name, pid);
		ns_remove(path);
	}
	closedir(d);
}

static void make_namespaces(void)
{
	struct stat st;

	for (int i = 0; i < 2; i++) {
		bprintf(g.ns[i], sizeof(g.ns[i]), NS_PREFIX "%d-%c", (int)getpid(), "sc"[i]);
		bprintf(g.nspath[i], sizeof(g.nspath[i]), "/run/netns/%s", g.ns[i]);
		if (!access(g.nspath[i], F_OK))
			die("namespace %s exists already", g.ns[i]);
		g.ns_made[i] = true;	/* from here on it is ours to remove */
		must(-1, CMD("ip", "netns", "add", g.ns[i]));
		g.nsfd[i] = open(g.nspath[i], O_RDONLY | O_CLOEXEC);
		if (g.nsfd[i] < 0 || fstat(g.nsfd[i], &st))
			die("%s: %s", g.nspath[i], strerror(errno));
		g.nsdev[i] = st.st_dev;
		g.nsino[i] = st.st_ino;
	}
	/* made inside the server namespace, the peer moved at once: the host never sees it */
	must(-1, CMD("ip", "-n", g.ns[SRV], "link", "add", SRV_IF, "type", "veth", "peer", "name",
		     CLI_IF, "netns", g.ns[CLI]));
	for (int i = 0; i < 2; i++) {
		const char *ifn = i == SRV ? SRV_IF : CLI_IF;

		must(-1, CMD("ip", "-n", g.ns[i], "link", "set", "lo", "up"));
		must(-1, CMD("ip", "-n", g.ns[i], "addr", "add",
			     (char *)(i == SRV ? fams[0].srv_cidr : fams[0].cli_cidr), "dev",
			     (char *)ifn));
		must(-1, CMD("ip", "-n", g.ns[i], "-6", "addr", "add",
			     (char *)(i == SRV ? fams[1].srv_cidr : fams[1].cli_cidr), "dev",
			     (char *)ifn, "nodad"));
		must(-1, CMD("ip", "-n", g.ns[i], "link", "set", (char *)ifn, "up"));
	}
}

/* ---- tracers ------------------------------------------------------------------------------- */

static int tracer_fn(void *arg)
{
	char **argv = arg;

	execv(g.exe, argv);
	fprintf(stderr, "exec %s: %s\n", g.exe, strerror(errno));
	return 126;
}

static void start_tracer(int side)
{
	struct tracer *t = &g.tr[side];
	struct spawn s = { .ns = -1, .in = -1, .keep = { -1, -1 }, .tracer = true };
	char *argv[16];
	int n = 0, p[2], efd;

	bprintf(t->ready, sizeof(t->ready), "%s/ready-%c", g.tmp, "sc"[side]);
	bprintf(t->err, sizeof(t->err), "%s/tracer-%c.err", g.tmp, "sc"[side]);
	bprintf(t->stats, sizeof(t->stats), "%s/tracer-%c.stats", g.tmp, "sc"[side]);
	argv[n++] = "rstwhy";
	argv[n++] = "--stats-file";
	argv[n++] = t->stats;
	argv[n++] = "-v";
	argv[n++] = "--json";
	argv[n++] = "--ready-file";
	argv[n++] = t->ready;
	argv[n++] = "--netns";
	argv[n++] = g.nspath[side];
	if (g.attach) {
		argv[n++] = "--attach";
		argv[n++] = (char *)g.attach;
	}
	if (side == CLI)
		argv[n++] = "-r";	/* the client receives the server's RSTs: peer-reset */
	argv[n] = NULL;
	if (pipe2(p, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	efd = open(t->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd < 0)
		die("%s: %s", t->err, strerror(errno));
	s.out = p[1];
	s.err = efd;
	if (g.verbose) {
		fprintf(stderr, "+ %s", g.exe);
		for (int i = 1; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	t->pid = spawn(&s, tracer_fn, argv);
	close(p[1]);
	close(efd);
	t->fd = p[0];
	fcntl(t->fd, F_SETFL, O_NONBLOCK);
}

static void wait_tracers_ready(void)
{
	long long deadline = now_ms() + 30000;
	char why[300], st[64];
	int status;

	for (int i = 0; i < 2; i++) {
		while (access(g.tr[i].ready, F_OK)) {
			if (exited(g.tr[i].pid, &status)) {
				last_words(g.tr[i].err, why, sizeof(why));
				g.tr[i].pid = 0;
				die("rstwhy (the tracer for %s) failed, %s: %s", g.ns[i],
				    status_str(status, st, sizeof(st)), why);
			}
			if (now_ms() > deadline)
				die("rstwhy (the tracer for %s) was not ready within 30 s", g.ns[i]);
			g.tracers_stopping = true;	/* an early end is reported just above */
			pump(10, NULL);
			g.tracers_stopping = false;
		}
	}
}

static void stop_tracers(void)
{
	long long deadline = now_ms() + 10000;

	g.tracers_stopping = true;
	for (int i = 0; i < 2; i++)
		if (g.tr[i].pid > 0)
			kill(g.tr[i].pid, SIGINT);	/* flush, summary, exit 0 */
	while ((g.tr[0].fd >= 0 || g.tr[1].fd >= 0) && now_ms() < deadline)
		pump(50, NULL);
	for (int i = 0; i < 2; i++) {
		if (g.tr[i].pid <= 0)
			continue;
		if (!wait_kid(g.tr[i].pid, 5000, NULL, NULL))
			kill_kid(g.tr[i].pid);
		g.tr[i].pid = 0;
	}
}

/* the hook NAME of an attach plan (the tracer's ready file), or NULL */
static struct json_object *plan_hook(struct json_object *plan, const char *name)
{
	struct json_object *hooks, *h;

	if (!json_object_object_get_ex(plan, "hooks", &hooks))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(hooks); i++) {
		h = json_object_array_get_idx(hooks, i);
		if (jmatch(h, "hook", name))
			return h;
	}
	return NULL;
}

/* why the plan does not see what hook NAME shows ("" when it is attached) */
static void hook_why(struct json_object *plan, const char *name, char *why, size_t len)
{
	struct json_object *h = plan_hook(plan, name);
	const char *err = h ? jstr(h, "error") : NULL;

	*why = 0;
	if (!h)
		bprintf(why, len, "%s is not in the attach plan", name);
	else if (!jstr(h, "attach"))
		bprintf(why, len, "%s not attached%s%s%s: %s", name, err ? " (" : "", err ?: "",
			err ? ")" : "", jstr(h, "misses") ?: "?");
}

/* What the tracers' attach plans (the JSON in their ready files) say this kernel cannot show. */
static void read_plan(void)
{
	struct json_object *srv, *h;
	char line[600];
	FILE *f;

	if (g.verbose && (f = fopen(g.tr[SRV].err, "re"))) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "libbpf", 6))
				fputs(line, stderr);
		fclose(f);
	}
	for (int side = 0; side < 2; side++) {
		g.plan[side] = json_object_from_file(g.tr[side].ready);
		if (!json_object_is_type(g.plan[side], json_type_object))
			die("the ready file of rstwhy (the tracer for %s) does not hold its attach "
			    "plan", g.ns[side]);
	}
	srv = g.plan[SRV];
	g.gap = jpath(srv, "gap", &h) && json_object_get_boolean(h);
	h = plan_hook(srv, "tcp:tcp_send_reset");
	if (g.gap)
		bprintf(g.plan_passive, sizeof(g.plan_passive), "tcp:tcp_send_reset only: %s are "
			"NOT seen", (h ? jstr(h, "misses") : NULL) ?: "some resets");
	else if (jmatch(srv, "passive", "tracepoint"))
		bprintf(g.plan_passive, sizeof(g.plan_passive), "tcp:tcp_send_reset (complete on "
			"this kernel)");
	else
		bprintf(g.plan_passive, sizeof(g.plan_passive), "%s on tcp_v4_send_reset / "
			"tcp_v6_send_reset", jstr(srv, "passive") ?: "?");
	hook_why(srv, "net:net_dev_queue", g.egress_why, sizeof(g.egress_why));
	hook_why(g.plan[CLI], "tcp:tcp_receive_reset", g.recv_why, sizeof(g.recv_why));
}

/* does the plan's passive-reset gap hold this cause? */
static bool in_gap(const char *id)
{
	struct json_object *a;

	if (!g.gap || !json_object_object_get_ex(g.plan[SRV], "gap_causes", &a))
		return false;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(a, i)) ?: "", id))
			return true;
	return false;
}

/* ---- checks ------------------------------------------------------------------------------- */

static struct check *new_check(int cause, const char *label, const struct fam *f, enum side side,
			       int port)
{
	struct check *c;

	if (nchecks == MAX_CHECKS)
		die("too many checks");
	c = &checks[nchecks++];
	memset(c, 0, sizeof(*c));
	c->cause = cause;
	bprintf(c->label, sizeof(c->label), "%s", label);
	c->fam = f;
	c->side = side;
	c->port = port;
	c->min = 1;
	return c;
}

__attribute__((format(printf, 3, 4)))
static void expect(struct check *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	if (c->nm == MAX_MATCH)
		die("too many matchers");
	c->m[c->nm].path = path;
	va_start(ap, fmt);
	vsnprintf(c->m[c->nm].val, sizeof(c->m[0].val), fmt, ap);
	va_end(ap);
	c->nm++;
}

__attribute__((format(printf, 3, 4)))
static void fix(struct check *c, enum res r, const char *fmt, ...)
{
	va_list ap;

	c->fixed = true;
	c->res = r;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

/* the fields every sent RST from the server to the client carries */
static void expect_srv_to_cli(struct check *c, const char *cause, const char *cport)
{
	expect(c, "cause", "%s", cause);
	expect(c, "dir", "sent");
	expect(c, "family", "%s", c->fam->name);
	expect(c, "saddr", "%s", c->fam->srv);
	expect(c, "sport", "%d", c->port);
	expect(c, "daddr", "%s", c->fam->cli);
	if (cport)
		expect(c, "dport", "%s", cport);
}

static bool is_candidate(const struct check *c, size_t i)
{
	return g.ev_side[i] == (int)c->side && ev_recv(g.ev[i]) == c->recv &&
	       ev_port(g.ev[i], c->side) == c->port;
}

static int nmatched(const struct check *c, struct json_object *o)
{
	int n = 0;

	for (int k = 0; k < c->nm; k++)
		n += jmatch(o, c->m[k].path, c->m[k].val);
	return n;
}

static bool satisfied(const struct check *c)
{
	int n = 0;

	if (c->fixed)
		return true;
	for (size_t i = 0; i < g.nev; i++)
		if (is_candidate(c, i) && nmatched(c, g.ev[i]) == c->nm)
			n++;
	return n >= c->min;
}

/* Wait (handling events) until the checks from index `from` have their events, or ms passed. */
static void settle(int from, int ms)
{
	long long deadline = now_ms() + ms;
	bool all;

	do {
		all = true;
		for (int i = from; i < nchecks && all; i++)
			all = satisfied(&checks[i]);
		if (all)
			return;
		pump(20, NULL);
	} while (now_ms() < deadline);
}

static void evaluate(struct check *c)
{
	const char *want = rw_cause_name(c->cause);
	int n = 0, best = -1, bestn = -1, cand = 0, other = -1;
	char o[40], a[40], *p;
	size_t left;

	if (c->fixed)
		return;
	for (size_t i = 0; i < g.nev; i++) {
		int m;

		if (!is_candidate(c, i))
			continue;
		cand++;
		if (other < 0 && !jmatch(g.ev[i], "cause", want))
			other = i;
		m = nmatched(c, g.ev[i]);
		if (m == c->nm && !n++)
			c->ev = g.ev[i];
		if (m > bestn) {
			bestn = m;
			best = i;
		}
	}
	if (n >= c->min && other < 0) {
		c->res = RES_OK;
		return;
	}
	if (n >= c->min) {
		/* right, and reported once more with another cause: the same RST twice */
		struct json_object *x = g.ev[other];

		c->res = RES_MISMATCH;
		task_str(x, "owner", o, sizeof(o));
		bprintf(c->msg, sizeof(c->msg), "%s %s: reported right, and %s reported as "
			"cause=%s origin=%s owner=%s (%s -> %s port %ld)", c->fam->name, c->label,
			jmatch(x, "seq", jstr(c->ev, "seq") ?: "") ? "the same RST (same seq) also" :
			"one more RST", jstr(x, "cause") ?: "?", jstr(x, "origin") ?: "?", o,
			jstr(x, "saddr") ?: "?", jstr(x, "daddr") ?: "?", jint(x, "dport"));
		c->ev = x;
		return;
	}
	if (!cand) {
		if (c->cause == C_PEER_RESET && *g.recv_why) {
			c->res = RES_NOT_VISIBLE;
			bprintf(c->msg, sizeof(c->msg), "%s", g.recv_why);
		} else if ((c->cause == C_NETFILTER_REJECT || c->cause == C_INJECTED) && *g.egress_why) {
			c->res = RES_NOT_VISIBLE;
			bprintf(c->msg, sizeof(c->msg), "%s", g.egress_why);
		} else if (in_gap(rw_cause_name(c->cause))) {
			c->res = RES_NOT_VISIBLE;
			bprintf(c->msg, sizeof(c->msg), "kernel %s, passive resets: %s", g.kernel,
				g.plan_passive);
		} else {
			c->res = RES_MISSING;
			bprintf(c->msg, sizeof(c->msg), "%s %s (port %d): provoked, no event "
				"reported", c->fam->name, c->label, c->port);
		}
		return;
	}
	c->res = RES_MISMATCH;
	c->ev = g.ev[best];
	task_str(c->ev, "owner", o, sizeof(o));
	task_str(c->ev, "actor", a, sizeof(a));
	p = c->msg;
	left = sizeof(c->msg);
#define APPEND(...) do { \
		int w_ = snprintf(p, left, __VA_ARGS__); \
		if (w_ > 0 && (size_t)w_ < left) { p += w_; left -= w_; } else { left = 0; } \
	} while (0)
	APPEND("%s %s: reported cause=%s origin=%s owner=%s actor=%s state=%s", c->fam->name,
	       c->label, jstr(c->ev, "cause") ?: "?", jstr(c->ev, "origin") ?: "?", o, a,
	       jstr(c->ev, "state") ?: "-");
	if (n && n < c->min)
		APPEND("; %d such RST%s, expected %d", n, n == 1 ? "" : "s", c->min);
	for (int k = 0; k < c->nm && left; k++) {
		const char *got;

		if (jmatch(c->ev, c->m[k].path, c->m[k].val))
			continue;
		got = jstr(c->ev, c->m[k].path);
		APPEND("; expected %s=%s, got %s", c->m[k].path, c->m[k].val, got ? got : "null");
	}
#undef APPEND
}

/* ---- scenarios ----------------------------------------------------------------------------- */

/* key=value lines of one rstgen run */
static const char *gval(const struct sink *s, const char *key)
{
	static char val[8][128];
	static int slot;
	size_t kl = strlen(key);
	const char *p = s->buf;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			char *v = val[slot++ % 8];
			size_t n = strcspn(p + kl + 1, "\n");

			bprintf(v, sizeof(val[0]), "%.*s", (int)n, p + kl + 1);
			return v;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return "";
}

typedef int (*ready_fn)(const struct fam *f, int port, char *why, size_t wl);

/*
 * Run rstgen SCEN for family f on port; its output in out.  When it prints ready=1, on_ready
 * runs (socket-destroy: ss -K).  0, or -1 with the reason in why; 1 when on_ready says the
 * cause cannot be provoked here (why says why).
 */
static int run_rstgen(const char *scen, const struct fam *f, int port, struct sink *out,
		      ready_fn on_ready, char *why, size_t wl)
{
	struct spawn s = { .comm = "rstgen", .ns = -1, .in = -1, .keep = { -1, -1 } };
	char portstr[16], errpath[PATH_MAX], st[64];
	char *argv[] = { "rstgen", (char *)scen, "--server-ns", g.nspath[SRV], "--client-ns",
			 g.nspath[CLI], "-a", (char *)f->srv, "-c", (char *)f->cli, "--spoof",
			 (char *)f->spoof, "--client-if", CLI_IF, "-p", portstr, NULL };
	long long deadline = now_ms() + STEP_MS;
	bool ready_done = !on_ready, after_ready = false;
	int p[2], efd, status = 0, r;
	pid_t pid;

	bprintf(portstr, sizeof(portstr), "%d", port);
	bprintf(errpath, sizeof(errpath), "%s/rstgen.err", g.tmp);
	if (g.verbose) {
		fprintf(stderr, "+");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
	}
	if (pipe2(p, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd < 0)
		die("%s: %s", errpath, strerror(errno));
	s.out = p[1];
	s.err = efd;
	memset(out, 0, sizeof(*out));
	pid = spawn(&s, rstgen_fn, argv);
	close(p[1]);
	close(efd);
	out->fd = p[0];
	fcntl(out->fd, F_SETFL, O_NONBLOCK);

	while (!exited(pid, &status)) {
		if (now_ms() > deadline) {
			kill_kid(pid);
			if (out->fd >= 0)
				close(out->fd);
			if (after_ready)
				bprintf(why, wl, "rstgen %s did not end within %d s of ss -K: the "
					"socket was not destroyed (a kernel without "
					"CONFIG_INET_DIAG_DESTROY?)", scen, AFTER_SS_MS / 1000);
			else
				bprintf(why, wl, "rstgen %s did not finish within %d s", scen,
					STEP_MS / 1000);
			return -1;
		}
		pump(10, out);
		if (!ready_done && strstr(out->buf, "\nready=1\n")) {
			ready_done = true;
			r = on_ready(f, port, why, wl);
			if (r) {
				kill_kid(pid);
				if (out->fd >= 0)
					close(out->fd);
				return r;
			}
			after_ready = true;
			deadline = now_ms() + AFTER_SS_MS;
		}
	}
	drain(out);
	if (g.verbose) {
		char *q = out->buf, *nl;

		while ((nl = strchr(q, '\n'))) {
			fprintf(stderr, "  rstgen: %.*s\n", (int)(nl - q), q);
			q = nl + 1;
		}
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	first_line(errpath, why, wl);
	if (!*why)
		bprintf(why, wl, "rstgen %s: %s", scen, status_str(status, st, sizeof(st)));
	return -1;
}

/* socket-destroy: rstgen's server holds an established connection; ss -K destroys it */
static int destroy_with_ss(const struct fam *f, int port, char *why, size_t wl)
{
	char filt[16], st[64], path[PATH_MAX];
	char *argv[] = { "ss", "-K", "-t", "sport", "=", filt, NULL };
	struct spawn s = { .ns = SRV, .in = -1, .keep = { -1, -1 } };
	int fd, status = 0;
	pid_t pid;

	bprintf(filt, sizeof(filt), ":%d", port);
	bprintf(path, sizeof(path), "%s/ss.out", g.tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	s.out = s.err = fd;
	if (g.verbose)
		fprintf(stderr, "+ [netns %s] ss -K -t sport = %s\n", g.ns[SRV], filt);
	pid = spawn(&s, exec_fn, argv);
	close(fd);
	if (!wait_kid(pid, 10000, &status, NULL)) {
		kill_kid(pid);
		bprintf(why, wl, "ss -K did not finish within 10 s");
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		first_line(path, why, wl);
		if (!*why)
			bprintf(why, wl, "ss -K: %s", status_str(status, st, sizeof(st)));
		return -1;
	}
	return 0;
}

/*
 * The owner or actor rstgen expects (its expect_owner/expect_actor line): a side's process
 * (its name, and its pid if pid), ss (ss -K run here), none (null) or any (not checked).
 */
static void expect_task(struct check *c, const struct sink *out, bool owner, const char *who,
			bool pid)
{
	const char *field = owner ? "owner" : "actor";
	const char *comm = owner ? "owner.comm" : "actor.comm";
	char side[16];

	if (!strcmp(who, "none")) {
		expect(c, field, "null");
	} else if (!strcmp(who, "ss")) {
		expect(c, comm, "ss");
	} else if (!strcmp(who, "server") || !strcmp(who, "client")) {
		bprintf(side, sizeof(side), "%s", who);
		expect(c, comm, "%s", gval(out, !strcmp(side, "server") ? "server_comm" :
					  "client_comm"));
		if (pid)
			expect(c, owner ? "owner.pid" : "actor.pid", "%s",
			       gval(out, !strcmp(side, "server") ? "server_pid" : "client_pid"));
	}
}

/* The step that runs rstgen SCEN; rstgen's expect_* lines say what its RST must look like. */
static void step_rstgen(int cause, const char *scen, const struct fam *f, int port)
{
	struct check *c, *pc;
	char why[400], label[48], to[16], state[32], cport[16];
	struct sink out;
	int r;

	bprintf(label, sizeof(label), "rstgen %s%s", scen, cause == C_SOCKET_DESTROY ?
		" + ss -K" : "");
	c = new_check(cause, label, f, SRV, port);

	r = run_rstgen(scen, f, port, &out, cause == C_SOCKET_DESTROY ? destroy_with_ss : NULL,
		       why, sizeof(why));
	if (r) {
		fix(c, RES_FAILED, "%s %s: %s", f->name, scen, why);
		return;
	}
	if (strcmp(gval(&out, "expect_cause"), rw_cause_name(cause))) {
		fix(c, RES_FAILED, "%s %s: rstgen expects cause '%s' of it, not %s", f->name, scen,
		    gval(&out, "expect_cause"), rw_cause_name(cause));
		return;
	}
	bprintf(cport, sizeof(cport), "%s", gval(&out, "client_port"));
	bprintf(to, sizeof(to), "%s", gval(&out, "expect_to"));
	bprintf(state, sizeof(state), "%s", gval(&out, "expect_state"));
	c->side = strcmp(gval(&out, "rst_from"), "client") ? SRV : CLI;
	c->min = atoi(gval(&out, "expect_rsts")) ?: 1;
	expect(c, "cause", "%s", rw_cause_name(cause));
	expect(c, "dir", "sent");
	expect(c, "family", "%s", f->name);
	expect(c, "origin", "%s", gval(&out, "expect_origin"));
	if (c->side == SRV) {
		expect(c, "saddr", "%s", f->srv);
		expect(c, "sport", "%d", port);
	} else {
		expect(c, "saddr", "%s", f->cli);
		expect(c, "sport", "%s", cport);
	}
	expect(c, "daddr", "%s", !strcmp(to, "server") ? f->srv : !strcmp(to, "spoof") ?
	       f->spoof : f->cli);
	if (atoi(gval(&out, "expect_to_port"))) {
		if (!strcmp(to, "server"))
			expect(c, "dport", "%d", port);
		else
			expect(c, "dport", "%s", cport);
	}
	if (!strcmp(state, "none"))
		expect(c, "state", "null");
	else if (*state && strcmp(state, "any"))
		expect(c, "state", "%s", state);
	expect_task(c, &out, true, gval(&out, "expect_owner"),
		    atoi(gval(&out, "expect_owner_pid")));
	expect_task(c, &out, false, gval(&out, "expect_actor"), true);
	if (*gval(&out, "expect_unread_bytes"))
		expect(c, "detail.unread_bytes", "%s", gval(&out, "expect_unread_bytes"));

	if (cause == C_NO_LISTENER) {
		/* the client's side of the same RST, with -r */
		pc = new_check(C_PEER_RESET, "rstgen no-listener, received", f, CLI, port);
		pc->recv = true;
		expect(pc, "cause", "peer-reset");
		expect(pc, "dir", "received");
		expect(pc, "origin", "peer");
		expect(pc, "family", "%s", f->name);
		expect(pc, "saddr", "%s", f->srv);
		expect(pc, "sport", "%d", port);
		expect(pc, "daddr", "%s", f->cli);
		expect(pc, "dport", "%s", cport);
		expect(pc, "owner.comm", "%s", gval(&out, "client_comm"));
	}
}

/* netfilter-reject: a connection to a port the server namespace's firewall rejects */
static bool fw_ready;
static const char *fw_tool;
static char fw_why[400];

static void install_firewall(void)
{
	char p4[16], p6[16], path[PATH_MAX], why[400];
	FILE *f;
	int r;

	bprintf(p4, sizeof(p4), "%d", PORT_BASE + C_NETFILTER_REJECT);
	bprintf(p6, sizeof(p6), "%d", PORT_BASE + PORT_FAM6 + C_NETFILTER_REJECT);
	if (in_path("nft")) {
		bprintf(path, sizeof(path), "%s/reject.nft", g.tmp);
		f = fopen(path, "we");
		if (!f)
			die("%s: %s", path, strerror(errno));
		fprintf(f, "table inet rwselftest {\n"
			"\tchain input {\n"
			"\t\ttype filter hook input priority 0; policy accept;\n"
			"\t\ttcp dport { %s, %s } counter reject with tcp reset\n"
			"\t}\n"
			"}\n", p4, p6);
		fclose(f);
		r = run_cmd(SRV, CMD("nft", "-f", path), why, sizeof(why));
		if (!r) {
			fw_ready = true;
			fw_tool = "nft reject rule";
			return;
		}
		bprintf(fw_why, sizeof(fw_why), "nft -f failed in the server namespace: %s", why);
		return;
	}
	if (in_path("iptables") && in_path("ip6tables")) {
		r = run_cmd(SRV, CMD("iptables", "-A", "INPUT", "-p", "tcp", "--dport", p4, "-j",
				     "REJECT", "--reject-with", "tcp-reset"), why, sizeof(why));
		if (!r)
			r = run_cmd(SRV, CMD("ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", p6,
					     "-j", "REJECT", "--reject-with", "tcp-reset"), why,
				    sizeof(why));
		if (!r) {
			fw_ready = true;
			fw_tool = "iptables REJECT rule";
			return;
		}
		bprintf(fw_why, sizeof(fw_why), "iptables failed in the server namespace: %s",
			why);
		return;
	}
	bprintf(fw_why, sizeof(fw_why), "neither nft nor iptables is installed: nothing to "
		"build a reject rule with");
}

static void step_netfilter(const struct fam *f, int port)
{
	struct check *c = new_check(C_NETFILTER_REJECT, fw_tool ? fw_tool : "firewall rule", f, SRV, port);
	char why[400];
	struct sink out;

	if (!fw_ready) {
		fix(c, RES_SKIPPED, "%s", fw_why);
		return;
	}
	/* rstgen's no-listener client insists on ECONNREFUSED: the firewall's RST gives that */
	if (run_rstgen("no-listener", f, port, &out, NULL, why, sizeof(why))) {
		fix(c, RES_FAILED, "%s connection to the rejected port: %s", f->name, why);
		return;
	}
	expect_srv_to_cli(c, "netfilter-reject", gval(&out, "client_port"));
	expect(c, "origin", "firewall");
	expect(c, "owner", "null");
	expect(c, "actor", "null");
	expect(c, "state", "null");
}

/* ---- injected: a RST built by hand on a raw socket, by a process named rst-inject ---- */

struct inject {
	const struct fam *f;
	int sport, dport;
	uint32_t seq, ack;
};


static int inject_fn(void *arg)
{
	const struct inject *in = arg;
	bool v6 = in->f->v == 6;
	int family = v6 ? AF_INET6 : AF_INET, alen = v6 ? 16 : 4, one = 1, fd;
	size_t iplen = v6 ? sizeof(struct ip6_hdr) : sizeof(struct iphdr);
	uint8_t pkt[80] = { 0 }, src[16], dst[16];
	struct tcphdr *th = (struct tcphdr *)(pkt + iplen);
	struct sockaddr_storage to = { .ss_family = family };
	uint32_t sum;

	if (inet_pton(family, in->f->srv, src) != 1 || inet_pton(family, in->f->cli, dst) != 1)
		return 2;
	if (v6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)pkt;

		ip6->ip6_flow = htonl(6U << 28);
		ip6->ip6_plen = htons(sizeof(*th));
		ip6->ip6_nxt = IPPROTO_TCP;
		ip6->ip6_hlim = 64;
		memcpy(&ip6->ip6_src, src, 16);
		memcpy(&ip6->ip6_dst, dst, 16);
		memcpy(&((struct sockaddr_in6 *)&to)->sin6_addr, dst, 16);
	} else {
		struct iphdr *ip = (struct iphdr *)pkt;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(iplen + sizeof(*th));
		ip->frag_off = htons(IP_DF);
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		memcpy(&ip->saddr, src, 4);
		memcpy(&ip->daddr, dst, 4);
		ip->check = htons(csum_fold(csum_add(0, ip, iplen)));
		memcpy(&((struct sockaddr_in *)&to)->sin_addr, dst, 4);
	}
	th->th_sport = htons(in->sport);
	th->th_dport = htons(in->dport);
	th->th_seq = htonl(in->seq);
	th->th_ack = htonl(in->ack);
	th->th_off = sizeof(*th) / 4;
	th->th_flags = TH_RST | TH_ACK;
	sum = csum_add(0, src, alen);
	sum = csum_add(sum, dst, alen);
	sum += IPPROTO_TCP + sizeof(*th);
	sum = csum_add(sum, th, sizeof(*th));
	th->th_sum = htons(csum_fold(sum));

	fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0) {
		fprintf(stderr, "raw socket: %s\n", strerror(errno));
		return 1;
	}
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one))) {
		fprintf(stderr, "setsockopt IPV6_HDRINCL: %s\n", strerror(errno));
		return 1;
	}
	if (sendto(fd, pkt, iplen + sizeof(*th), 0, (struct sockaddr *)&to,
		   v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0) {
		fprintf(stderr, "sendto: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

static void step_injected(const struct fam *f, int port)
{
	struct check *c = new_check(C_INJECTED, "raw socket from rst-inject", f, SRV, port);
	struct inject in = { f, port, 40000 + port % 1000, (uint32_t)now_ms() * 2654435761U,
			     0x5e1f7e57 };
	struct spawn s = { .comm = "rst-inject", .ns = SRV, .in = -1, .keep = { -1, -1 } };
	char path[PATH_MAX], why[300], st[64];
	int fd, status = 0;
	pid_t pid;

	bprintf(path, sizeof(path), "%s/inject.err", g.tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	s.err = fd;
	if (g.verbose)
		fprintf(stderr, "+ [netns %s] rst-inject %s:%d -> %s:%d\n", g.ns[SRV], f->srv,
			in.sport, f->cli, in.dport);
	pid = spawn(&s, inject_fn, &in);
	close(fd);
	if (!wait_kid(pid, 10000, &status, NULL)) {
		kill_kid(pid);
		fix(c, RES_FAILED, "%s rst-inject did not finish", f->name);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		first_line(path, why, sizeof(why));
		fix(c, RES_FAILED, "%s rst-inject: %s", f->name,
		    *why ? why : status_str(status, st, sizeof(st)));
		return;
	}
	expect_srv_to_cli(c, "injected", NULL);
	expect(c, "dport", "%d", in.dport);
	expect(c, "origin", "injected");
	expect(c, "owner.comm", "rst-inject");
	expect(c, "owner.pid", "%d", (int)pid);
	expect(c, "actor.comm", "rst-inject");
	expect(c, "actor.pid", "%d", (int)pid);
	expect(c, "seq", "%u", in.seq);
	expect(c, "state", "null");
}

/* ---- mptcp: SO_LINGER {1, 0} close of an MPTCP connection resets its subflow ---- */

struct mp {
	const struct fam *f;
	int port;
};

#define MP_NO_MPTCP 3

static bool wait_byte(int fd, char want, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && read(fd, &c, 1) == 1 && c == want;
}

static void mp_addr(const struct mp *m, const char *addr, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (m->f->v == 6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(m->port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(m->port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		*len = sizeof(*a);
	}
}

/* fd 3: from the client, fd 4: to the client */
static int mp_server(void *arg)
{
	const struct mp *m = arg;
	struct linger lg = { 1, 0 };
	struct sockaddr_storage sa;
	struct pollfd p;
	socklen_t len;
	int lfd, fd, one = 1;

	lfd = socket(m->f->v == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	if (lfd < 0) {
		fprintf(stderr, "this kernel has no MPTCP (socket IPPROTO_MPTCP: %s)\n",
			strerror(errno));
		return MP_NO_MPTCP;
	}
	mp_addr(m, m->f->srv, &sa, &len);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, len) || listen(lfd, 8)) {
		fprintf(stderr, "MPTCP bind/listen: %s\n", strerror(errno));
		return 1;
	}
	if (write(4, "L", 1) != 1)
		return 1;
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (poll(&p, 1, 10000) != 1 || (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		fprintf(stderr, "MPTCP accept: %s\n", strerror(errno ? errno : ETIMEDOUT));
		return 1;
	}
	close(lfd);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))) {
		fprintf(stderr, "MPTCP SO_LINGER: %s\n", strerror(errno));
		return 1;
	}
	if (!wait_byte(3, 'E', 10000)) {
		fprintf(stderr, "MPTCP: the client did not get connected\n");
		return 1;
	}
	close(fd);	/* abortive: MP_FASTCLOSE, the subflow is reset */
	if (!wait_byte(3, 'D', 10000)) {
		fprintf(stderr, "MPTCP: the client did not see the reset\n");
		return 1;
	}
	return 0;
}

/* fd 3: from the server, fd 4: to the server; prints client_port=N */
static int mp_client(void *arg)
{
	const struct mp *m = arg;
	struct timeval tv = { 10, 0 };
	struct sockaddr_storage sa;
	struct pollfd p;
	socklen_t len;
	int fd;

	if (!wait_byte(3, 'L', 10000))
		return 1;	/* the server said why */
	fd = socket(m->f->v == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	if (fd < 0) {
		fprintf(stderr, "client socket IPPROTO_MPTCP: %s\n", strerror(errno));
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	mp_addr(m, m->f->srv, &sa, &len);
	if (connect(fd, (struct sockaddr *)&sa, len)) {
		fprintf(stderr, "MPTCP connect: %s\n", strerror(errno));
		return 1;
	}
	len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		return 1;
	printf("client_port=%d\n", ntohs(m->f->v == 6 ? ((struct sockaddr_in6 *)&sa)->sin6_port :
					  ((struct sockaddr_in *)&sa)->sin_port));
	fflush(stdout);
	if (write(4, "E", 1) != 1)
		return 1;
	p = (struct pollfd){ .fd = fd, .events = POLLRDHUP };
	if (poll(&p, 1, 10000) != 1) {
		fprintf(stderr, "MPTCP: no reset from the server within 10 s\n");
		return 1;
	}
	close(fd);
	return write(4, "D", 1) == 1 ? 0 : 1;
}

static void step_mptcp(const struct fam *f, int port)
{
	struct check *c = new_check(C_MPTCP, "MPTCP close with SO_LINGER 0", f, SRV, port);
	struct spawn ss = { .comm = "srv-mptcp", .ns = SRV, .in = -1 };
	struct spawn cs = { .comm = "cli-mptcp", .ns = CLI, .in = -1 };
	int s2c[2], c2s[2], out[2], efd[2], sst = 0, cst = 0;
	char path[2][PATH_MAX], why[300], st[64];
	struct mp m = { f, port };
	struct sink cout;
	pid_t sp, cp;
	bool sok, cok;

	for (int i = 0; i < 2; i++) {
		bprintf(path[i], sizeof(path[i]), "%s/mptcp-%c.err", g.tmp, "sc"[i]);
		efd[i] = open(path[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (efd[i] < 0)
			die("%s: %s", path[i], strerror(errno));
	}
	if (pipe2(s2c, O_CLOEXEC) || pipe2(c2s, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	ss.out = -1;
	ss.err = efd[0];
	ss.keep[0] = c2s[0];
	ss.keep[1] = s2c[1];
	cs.out = out[1];
	cs.err = efd[1];
	cs.keep[0] = s2c[0];
	cs.keep[1] = c2s[1];
	if (g.verbose)
		fprintf(stderr, "+ [netns %s] srv-mptcp on port %d, [netns %s] cli-mptcp\n",
			g.ns[SRV], port, g.ns[CLI]);
	sp = spawn(&ss, mp_server, &m);
	cp = spawn(&cs, mp_client, &m);
	for (int i = 0; i < 2; i++) {
		close(s2c[i]);
		close(c2s[i]);
		close(efd[i]);
	}
	close(out[1]);
	memset(&cout, 0, sizeof(cout));
	cout.fd = out[0];
	fcntl(cout.fd, F_SETFL, O_NONBLOCK);
	sok = wait_kid(sp, 15000, &sst, NULL);
	cok = wait_kid(cp, 15000, &cst, &cout);
	if (!sok)
		kill_kid(sp);
	if (!cok)
		kill_kid(cp);
	if (cout.fd >= 0)
		close(cout.fd);
	if (sok && WIFEXITED(sst) && WEXITSTATUS(sst) == MP_NO_MPTCP) {
		first_line(path[0], why, sizeof(why));
		fix(c, RES_SKIPPED, "%s", why);
		return;
	}
	if (!sok || !cok || sst || cst) {
		first_line(path[sst ? 0 : 1], why, sizeof(why));
		fix(c, RES_FAILED, "%s MPTCP: %s", f->name,
		    *why ? why : status_str(sst ? sst : cst, st, sizeof(st)));
		return;
	}
	expect_srv_to_cli(c, "mptcp", gval(&cout, "client_port"));
	expect(c, "origin", "tcp-stack");
	expect(c, "owner.comm", "srv-mptcp");
}

/* ---- the run -------------------------------------------------------------------------------- */

static int port_of(const struct fam *f, int cause, int variant)
{
	return PORT_BASE + (f->v == 6 ? PORT_FAM6 : 0) + cause + variant * (C_NR_CAUSES + 1);
}

static int orphan_max = -1;

static void run_family(const struct fam *f)
{
	static const struct {
		int cause;
		const char *scen;
	} gen[] = {
		{ C_NO_LISTENER, "no-listener" }, { C_NO_CONNECTION, "no-connection" }, { C_NO_CONNECTION, "stray-ack" },
		{ C_LISTENER_CLOSED, "listener-closed" }, { C_ACCEPT_OVERFLOW, "accept-overflow" },
		{ C_CLOSE_UNREAD, "close-unread" }, { C_CLOSE_LINGER0, "close-linger0" }, { C_DISCONNECT, "disconnect" },
		{ C_DATA_AFTER_CLOSE, "data-after-close" }, { C_FIN_WAIT2_ABORT, "fin-wait2-abort" },
		{ C_TIMEWAIT, "timewait" }, { C_BAD_SEGMENT, "bad-segment" },
	};
	int fi = f->v == 6;

	g.recv_port[fi] = port_of(f, C_NO_LISTENER, 0);
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
		step_rstgen(gen[i].cause, gen[i].scen, f,
			    port_of(f, gen[i].cause, !strcmp(gen[i].scen, "stray-ack")));
	if (in_path("ss")) {
		step_rstgen(C_SOCKET_DESTROY, "socket-destroy", f, port_of(f, C_SOCKET_DESTROY, 0));
	} else {
		struct check *c = new_check(C_SOCKET_DESTROY, "ss -K", f, SRV, port_of(f, C_SOCKET_DESTROY, 0));

		fix(c, RES_SKIPPED, "no ss (iproute2) to destroy a socket with");
	}
	step_netfilter(f, port_of(f, C_NETFILTER_REJECT, 0));
	step_injected(f, port_of(f, C_INJECTED, 0));
	step_mptcp(f, port_of(f, C_MPTCP, 0));
	if (orphan_max == 0)
		step_rstgen(C_ORPHAN_MEMORY, "orphan-memory", f, port_of(f, C_ORPHAN_MEMORY, 0));
}

/* ---- the report ------------------------------------------------------------------------------ */

static int combine(void)
{
	int bad = 0;

	for (int k = 0; k < C_NR_CAUSES; k++) {
		struct cause *cs = &causes[k];
		bool any = false;

		if (cs->preset)
			continue;
		cs->res = RES_OK;
		for (int i = 0; i < nchecks; i++) {
			struct check *c = &checks[i];

			if (c->cause != k)
				continue;
			if (!any || c->res > cs->res) {
				cs->res = c->res;
				bprintf(cs->why, sizeof(cs->why), "%s", c->msg);
			}
			any = true;
		}
		/* the other families' and scenarios' results, when they differ */
		for (int i = 0; i < nchecks; i++) {
			struct check *c = &checks[i];
			size_t l = strlen(cs->why);

			if (c->cause == k && c->res != RES_OK && c->res != cs->res &&
			    l < sizeof(cs->why) - 1)
				bprintf(cs->why + l, sizeof(cs->why) - l, "; %s %s: %s", c->fam->name,
					c->label, res_word[c->res]);
		}
		if (!any) {
			cs->res = RES_SKIPPED;
			bprintf(cs->why, sizeof(cs->why), "not provoked");
		}
	}
	for (int k = 0; k < C_NR_CAUSES; k++)
		bad += causes[k].res >= RES_FAILED;
	return bad;
}

/* for an ok line: what rstwhy reported, and where it was provoked */
static void ok_summary(int k, char *buf, size_t len)
{
	char o[40], a[40], fam[32] = "", how[200] = "";
	struct json_object *ev = NULL;

	for (int i = 0; i < nchecks; i++) {
		struct check *c = &checks[i];

		if (c->cause != k)
			continue;
		if (!ev)
			ev = c->ev;
		if (!strstr(fam, c->fam->name))
			bprintf(fam + strlen(fam), sizeof(fam) - strlen(fam), "%s%s", *fam ? ", " : "",
				c->fam->name);
		if (!strstr(how, c->label))
			bprintf(how + strlen(how), sizeof(how) - strlen(how), "%s%s",
				*how ? ", " : "", c->label);
	}
	if (!ev) {
		bprintf(buf, len, "%s", causes[k].why);
		return;
	}
	task_str(ev, "owner", o, sizeof(o));
	task_str(ev, "actor", a, sizeof(a));
	bprintf(buf, len, "%s, owner %s%s%s, state %s (%s: %s)", jstr(ev, "origin") ?: "?", o,
		strcmp(a, "-") && strcmp(a, o) ? ", by " : "",
		strcmp(a, "-") && strcmp(a, o) ? a : "", jstr(ev, "state") ?: "-", fam, how);
}

static void report_text(double secs, int bad)
{
	int n[RES_MISMATCH + 1] = { 0 };
	char what[600];

	printf("\n%-11s %-17s %s\n", "RESULT", "CAUSE", "WHAT");
	for (int k = 0; k < C_NR_CAUSES; k++) {
		struct cause *cs = &causes[k];

		n[cs->res]++;
		if (cs->res == RES_OK)
			ok_summary(k, what, sizeof(what));
		else
			bprintf(what, sizeof(what), "%s", cs->why);
		printf("%-11s %-17s %s\n", res_word[cs->res], rw_cause_name(k), what);
	}
	printf("\nrstwhy selftest: %d ok, %d not visible on this kernel, %d skipped, %d wrong "
	       "(%d mismatch, %d missing, %d failed) in %.1f s: %s\n", n[RES_OK], n[RES_NOT_VISIBLE],
	       n[RES_SKIPPED], bad, n[RES_MISMATCH], n[RES_MISSING], n[RES_FAILED], secs,
	       bad ? "FAILED" : "every cause this kernel can show was shown right");
	fflush(stdout);
}

/* one JSON line through rstwhy's writer (valid UTF-8 whatever the events' comms hold) */
static void json_line(struct json_object *o)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_jsonc(&w, NULL, o);
	putchar('\n');
}

static void report_json(double secs, int bad)
{
	int n[RES_MISMATCH + 1] = { 0 };
	struct json_object *o, *arr, *ck, *sum;

	for (int k = 0; k < C_NR_CAUSES; k++) {
		struct cause *cs = &causes[k];

		n[cs->res]++;
		o = json_object_new_object();
		json_object_object_add(o, "cause", json_object_new_string(rw_cause_name(k)));
		json_object_object_add(o, "origin", json_object_new_string(rw_origin_name(rw_cause_origin(k))));
		json_object_object_add(o, "result", json_object_new_string(res_json[cs->res]));
		json_object_object_add(o, "why", cs->res == RES_OK ? NULL :
				       json_object_new_string(cs->why));
		arr = json_object_new_array();
		for (int i = 0; i < nchecks; i++) {
			struct check *c = &checks[i];

			if (c->cause != k)
				continue;
			ck = json_object_new_object();
			json_object_object_add(ck, "scenario", json_object_new_string(c->label));
			json_object_object_add(ck, "family", json_object_new_string(c->fam->name));
			json_object_object_add(ck, "port", json_object_new_int(c->port));
			json_object_object_add(ck, "result",
					       json_object_new_string(res_json[c->res]));
			json_object_object_add(ck, "why", c->res == RES_OK || !*c->msg ? NULL :
					       json_object_new_string(c->msg));
			json_object_object_add(ck, "event", c->ev ? json_object_get(c->ev) : NULL);
			json_object_array_add(arr, ck);
		}
		json_object_object_add(o, "checks", arr);
		json_line(o);
		json_object_put(o);
	}
	o = json_object_new_object();
	sum = json_object_new_object();
	json_object_object_add(sum, "kernel", json_object_new_string(g.kernel));
	json_object_object_add(sum, "plan", json_object_get(g.plan[SRV]));
	for (int r = 0; r <= RES_MISMATCH; r++)
		json_object_object_add(sum, r == RES_NOT_VISIBLE ? "not_visible" : res_json[r],
				       json_object_new_int(n[r]));
	json_object_object_add(sum, "seconds", jsonl_double(secs));
	json_object_object_add(sum, "passed", json_object_new_boolean(!bad));
	json_object_object_add(o, "summary", sum);
	json_line(o);
	json_object_put(o);
	fflush(stdout);
}

/* a number of the tracer's --stats-file (docs/json.md); 0 when absent */
static long long stat_of(struct json_object *o, const char *obj, const char *key)
{
	struct json_object *v;

	if (obj && !json_object_object_get_ex(o, obj, &o))
		return 0;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* the tracer's captured-against-TcpOutRsts check, in words, from its --stats-file */
static void closing_check(const char *path, char *buf, size_t len)
{
	struct json_object *o = json_object_from_file(path);
	long long out, cap, w, gone;

	*buf = 0;
	if (!o)
		return;
	out = stat_of(o, "kernel", "outrsts");
	cap = stat_of(o, "kernel", "captured");
	w = stat_of(o, "kernel", "watched_netns");
	gone = stat_of(o, "kernel", "gone");
	bprintf(buf, len, "kernel TcpOutRsts +%lld in %lld watched namespace%s; captured %lld of "
		"%lld (%.1f%%); lost %lld (ring buffer full)%s\n", out, w, w == 1 ? "" : "s", cap,
		out, out ? 100.0 * cap / out : 100.0, stat_of(o, NULL, "lost"),
		gone ? "; more from namespaces gone before exit" : "");
	json_object_put(o);
}

/* ---- cleanup -------------------------------------------------------------------------------- */

static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd, pp = -1;

	bprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the name may hold anything, the last ')' ends it */
	if (!p || sscanf(p + 1, " %*c %d", &pp) != 1)
		return -1;
	return pp;
}

static bool descends_from_us(pid_t pid)
{
	pid_t self = getpid();

	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid = ppid_of(pid);
		if (pid == self)
			return true;
	}
	return false;
}

/*
 * SIGKILL, by PID, whatever still runs inside our namespaces (only we put processes there)
 * and whatever descends from us; returns how many were found.
 */
static int sweep(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char path[64];
	struct stat st;
	int found = 0;
	pid_t pid;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		bool ours = false;

		pid = atoi(de->d_name);
		if (pid <= 1 || pid == getpid())
			continue;
		bprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		if (!stat(path, &st))
			for (int i = 0; i < 2; i++)
				ours |= g.nsfd[i] >= 0 && st.st_dev == g.nsdev[i] &&
					st.st_ino == g.nsino[i];
		if (ours || descends_from_us(pid)) {
			kill(pid, SIGKILL);
			found++;
		}
	}
	closedir(d);
	return found;
}

static void cleanup(void)
{
	static bool done;
	long long deadline;
	pid_t pid;

	if (done)
		return;
	done = true;
	/* scenario processes first (their process groups), then the tracers */
	for (int i = g.nkids - 1; i >= 0; i--)
		if (i < g.nkids && !g.kids[i].tracer)
			kill_kid(g.kids[i].pid);
	if (g.tr[0].pid > 0 || g.tr[1].pid > 0) {
		g.tracers_stopping = true;
		for (int i = 0; i < 2; i++) {
			if (g.tr[i].pid <= 0)
				continue;
			kill(g.tr[i].pid, SIGTERM);
			deadline = now_ms() + 3000;
			while (!exited(g.tr[i].pid, NULL)) {
				if (now_ms() > deadline) {
					kill(g.tr[i].pid, SIGKILL);
					deadline = LLONG_MAX;
				}
				usleep(5000);
			}
			g.tr[i].pid = 0;
		}
	}
	for (int i = 0; i < 2; i++)
		if (g.tr[i].fd >= 0) {
			close(g.tr[i].fd);
			g.tr[i].fd = -1;
		}
	/* anything left: in our namespaces or below us; reap, look again */
	deadline = now_ms() + 3000;
	while (sweep() && now_ms() < deadline) {
		usleep(20000);
		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			kid_del(pid);
	}
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		kid_del(pid);
	/* the namespaces: with them go the veth, the firewall rule, the per-netns sysctls */
	for (int i = 0; i < 2; i++) {
		if (g.nsfd[i] >= 0)
			close(g.nsfd[i]);
		g.nsfd[i] = -1;
		if (g.ns_made[i])
			ns_remove(g.nspath[i]);
		g.ns_made[i] = false;
	}
	if (*g.tmp) {
		DIR *d = opendir(g.tmp);
		struct dirent *de;

		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		if (d)
			closedir(d);
		rmdir(g.tmp);
		*g.tmp = 0;
	}
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: rstwhy selftest [-v] [--json] [--attach MODE]\n"
"Prove on this machine which RST causes rstwhy sees: provoke each one for real between two\n"
"private network namespaces, trace them with rstwhy, and check cause, origin, owner, actor,\n"
"state and addresses of every event. IPv4 and IPv6; about ten seconds; needs root and ip(8)\n"
"(ss, nft or iptables for socket-destroy and netfilter-reject; skipped without them).\n"
"\n"
"  -v, --verbose   the attach plan, every command, rstgen's output, every event\n"
"  -j, --json      one JSON object per cause, then a summary object (the live table goes\n"
"                  to stderr, when that is a terminal or with -v)\n"
"      --attach MODE  trace with rstwhy --attach MODE (auto, tracepoint, fentry, kprobe):\n"
"                  what this kernel shows with that way of catching passive resets\n"
"  -h, --help      this text\n"
"\n"
"One line per cause: ok (seen, attributed right), MISMATCH (seen, attributed differently:\n"
"what was reported), MISSING (provoked, not seen), FAILED (could not be provoked), not\n"
"visible (this kernel cannot show it: the attach plan says why), skipped (cannot be\n"
"provoked here without touching the host, e.g. a global sysctl).\n"
"Leaves nothing behind: namespaces, rules and per-namespace sysctls go with the namespaces,\n"
"also on Ctrl-C. Exit 0 when every cause this kernel can show was shown right, 1 otherwise.\n");
}

int cmd_selftest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "attach", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sigaction sa = { .sa_handler = on_signal };
	char om[32] = "", closing[2][400] = { "", "" }, *path;
	struct utsname un;
	struct winsize ws;
	ssize_t n;
	int opt, bad;
	double secs;

	while ((opt = getopt_long(argc, argv, "vjha:", opts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			g.verbose = true;
			break;
		case 'j':
			g.json = true;
			break;
		case 'a':
			g.attach = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			jsonl_bad_option("selftest", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "rstwhy selftest: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (geteuid()) {
		fprintf(stderr, "rstwhy selftest: needs root (it creates network namespaces and "
			"loads BPF programs): run it as root or with sudo\n");
		return EXIT_FAIL;
	}
	/* sudo and cron keep sbin out of PATH; ip, ss, nft live there on some systems */
	path = getenv("PATH");
	if (!path || !strstr(path, "sbin")) {
		char p[PATH_MAX];

		bprintf(p, sizeof(p), "%s%s/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin",
			path ? path : "", path && *path ? ":" : "");
		setenv("PATH", p, 1);
	}
	if (!in_path("ip")) {
		fprintf(stderr, "rstwhy selftest: needs ip(8) from iproute2 (apt-get install "
			"iproute2)\n");
		return EXIT_FAIL;
	}
	g.t0 = now_ms();
	uname(&un);
	bprintf(g.kernel, sizeof(g.kernel), "%s", un.release);
	n = readlink("/proc/self/exe", g.exe, sizeof(g.exe) - 1);
	g.exe[n > 0 ? n : 0] = 0;
	if (n <= 0 || strstr(g.exe, " (deleted)") || access(g.exe, X_OK))
		bprintf(g.exe, sizeof(g.exe), "/proc/self/exe");

	if (!g.json)
		g.tbl = stdout;
	else if (g.verbose || isatty(STDERR_FILENO))
		g.tbl = stderr;
	if (g.tbl && isatty(fileno(g.tbl)) && !ioctl(fileno(g.tbl), TIOCGWINSZ, &ws) &&
	    ws.ws_col >= 80)
		g.width = ws.ws_col;

	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: a signal ends the current wait */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* orphaned grandchildren come to us, not to init: the sweep finds them below us */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	reclaim_stale();
	bprintf(g.tmp, sizeof(g.tmp), "%s/rstwhy-selftest.XXXXXX",
		getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(g.tmp)) {
		fprintf(stderr, "rstwhy selftest: mkdtemp %s: %s\n", g.tmp, strerror(errno));
		*g.tmp = 0;
		return EXIT_FAIL;
	}
	make_namespaces();
	check_stop();
	start_tracer(SRV);
	start_tracer(CLI);
	wait_tracers_ready();
	read_plan();

	if (g.tbl) {
		if (g.attach)
			fprintf(g.tbl, "rstwhy selftest: tracing with --attach %s\n", g.attach);
		fprintf(g.tbl, "rstwhy selftest: kernel %s; server %s (%s, %s), client %s (%s, %s)\n",
			g.kernel, g.ns[SRV], fams[0].srv, fams[1].srv, g.ns[CLI], fams[0].cli,
			fams[1].cli);
		fprintf(g.tbl, "rstwhy selftest: passive resets: %s; firewall and injected RSTs: "
			"%s; received RSTs: %s\n", *g.plan_passive ? g.plan_passive : "?",
			*g.egress_why ? "NOT seen" : "net:net_dev_queue",
			*g.recv_why ? "NOT seen" : "tcp:tcp_receive_reset");
		table_header(g.tbl);
	}

	/* causes that cannot be provoked here */
	{
		FILE *f = fopen("/proc/sys/net/ipv4/tcp_max_orphans", "re");

		if (f && fgets(om, sizeof(om), f))
			orphan_max = atoi(om);
		if (f)
			fclose(f);
		om[strcspn(om, "\n")] = 0;
	}
	if (orphan_max != 0) {
		causes[C_ORPHAN_MEMORY].preset = true;
		causes[C_ORPHAN_MEMORY].res = RES_SKIPPED;
		bprintf(causes[C_ORPHAN_MEMORY].why, sizeof(causes[C_ORPHAN_MEMORY].why), "provoking it needs "
			"net.ipv4.tcp_max_orphans=0 (it is %s), a global sysctl the selftest does "
			"not change (make test-kernels does, in its qemu guests)", *om ? om : "?");
	}
	causes[C_UNKNOWN].preset = true;
	causes[C_UNKNOWN].res = RES_SKIPPED;
	bprintf(causes[C_UNKNOWN].why, sizeof(causes[C_UNKNOWN].why), "what rstwhy reports when "
		"no cause can be established: nothing to provoke");

	install_firewall();
	run_family(&fams[0]);
	run_family(&fams[1]);
	/* keepalive-timeout last: it takes the client's link down for a few seconds */
	step_rstgen(C_KEEPALIVE_TIMEOUT, "keepalive-timeout", &fams[0], port_of(&fams[0], C_KEEPALIVE_TIMEOUT, 0));
	step_rstgen(C_KEEPALIVE_TIMEOUT, "keepalive-timeout", &fams[1], port_of(&fams[1], C_KEEPALIVE_TIMEOUT, 0));
	settle(0, FINAL_MS);
	stop_tracers();
	if (g.verbose)
		for (int i = 0; i < 2; i++) {
			char line[400];
			FILE *f = fopen(g.tr[i].err, "re");

			while (f && fgets(line, sizeof(line), f))
				if (strstr(line, "RSTs sent"))
					fprintf(stderr, "%s: %s", g.ns[i], line);
			if (f)
				fclose(f);
		}
	/* the tracers' own closing check: what they captured against the kernel's TcpOutRsts */
	for (int i = 0; i < 2; i++)
		closing_check(g.tr[i].stats, closing[i], sizeof(closing[i]));
	cleanup();

	for (int i = 0; i < 2 && !g.json; i++)
		if (*closing[i])
			printf("%srstwhy selftest: %s tracer: %s", i ? "" : "\n",
			       i == SRV ? "server" : "client", closing[i]);
	for (int i = 0; i < nchecks; i++)
		evaluate(&checks[i]);
	bad = combine();
	secs = (now_ms() - g.t0) / 1000.0;
	if (g.json)
		report_json(secs, bad);
	else
		report_text(secs, bad);
	for (size_t i = 0; i < g.nev; i++)
		json_object_put(g.ev[i]);
	free(g.ev);
	free(g.ev_side);
	return bad ? EXIT_FAIL : 0;
}
