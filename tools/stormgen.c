// SPDX-License-Identifier: GPL-2.0
/*
 * stormgen - the gateway story in a box.
 *
 * A server process named "gateway" listens in the server network namespace with a small
 * backlog and accepts slowly (--accept-rate, or not at all), like an application that handles
 * a handful of connections at a time.  A client process named "device" in the client
 * namespace then opens --clients non-blocking connections at once, the way 200 devices
 * reconnect after an outage; some of them send a message right after the handshake.
 *
 * With the kernel's default tcp_abort_on_overflow=0 the accept queue overflows silently: SYNs
 * and handshake ACKs are dropped, no RST is sent, and only the listener's counters
 * (accept queue at its limit, sk_drops, TcpExtListenOverflows) show it.  With
 * tcp_abort_on_overflow=1 in the server namespace (a per-namespace sysctl: set it there, never
 * in the root namespace) the same burst produces accept-overflow RSTs owned by "gateway".
 *
 * The parent stays in its own namespace and prints key=value lines (flushed):
 *   server_pid= server_comm= port= backlog= ... listening=1   once the server listens
 *   client_pid= client_comm= clients= ... ready=1              once the burst went out
 *   attempts= connected= data_sent= refused= reset= ... done=1 when it ends
 * It holds until SIGTERM/SIGINT or until --hold expires, then stops both children.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -Werror [-static] -o stormgen tools/stormgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../user/util.h"

#define SERVER_COMM	"gateway"
#define CLIENT_COMM	"device"
#define START_MS	60000	/* bound for the server to listen and the burst to go out */
#define MAX_CLIENTS	60000

/* Counters the children fill in and the parent prints; MAP_SHARED survives fork(). */
struct shared {
	int abort_on_overflow;		/* the server namespace's, -1 unreadable */
	int somaxconn;
	int syncookies;
	long accepted;
	long attempts, connected, data_sent, refused, reset, eof, timeouts, errors;
	long connected_at_ready;
	char err[256];
};

static struct shared *sh;
static const char *server_ns, *client_ns, *server_addr, *client_addr;
static struct sockaddr_storage srv_sa, cli_sa;
static socklen_t salen;
static int family, port, backlog = 8, clients = 200, send_pct = 50;
static double accept_rate;		/* per second; 0: never accept */
static double hold_secs = 60;		/* 0: until SIGTERM/SIGINT */
static double delay_secs;		/* between listen() and the burst */
static double reconnect_secs;		/* 0: no retries */
static int defer_secs;			/* TCP_DEFER_ACCEPT on the listener, 0: off */
static int srv_nsfd = -1, cli_nsfd = -1;
static bool in_child;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

__attribute__((format(printf, 2, 3), noreturn))
static void fail(int err, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (in_child) {
		if (!sh->err[0])
			snprintf(sh->err, sizeof(sh->err), "%s%s%s", what, err ? ": " : "",
				 err ? strerror(err) : "");
		_exit(1);
	}
	fprintf(stderr, "stormgen: %s%s%s\n", what, err ? ": " : "", err ? strerror(err) : "");
	exit(1);
}



static void sa_set_port(struct sockaddr_storage *ss, int p)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(p);
}

static bool parse_addr(const char *s, struct sockaddr_storage *ss)
{
	void *a;

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = family;
	a = family == AF_INET ? (void *)&((struct sockaddr_in *)ss)->sin_addr :
				(void *)&((struct sockaddr_in6 *)ss)->sin6_addr;
	return inet_pton(family, s, a) == 1;
}

/* ---- the server: "gateway" -------------------------------------------------------------- */

static void server(int to_parent)
{
	double period_ms = accept_rate > 0 ? 1000.0 / accept_rate : 0;
	int lfd, one = 1, nconn = 0, cap = 64, *conn;
	double next_accept;
	char buf[4096];

	if (!read_int_file("/proc/sys/net/ipv4/tcp_abort_on_overflow", &sh->abort_on_overflow))
		sh->abort_on_overflow = -1;
	if (!read_int_file("/proc/sys/net/core/somaxconn", &sh->somaxconn))
		sh->somaxconn = -1;
	if (!read_int_file("/proc/sys/net/ipv4/tcp_syncookies", &sh->syncookies))
		sh->syncookies = -1;
	conn = calloc(cap, sizeof(*conn));
	if (!conn)
		fail(ENOMEM, "calloc");
	lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
	if (lfd < 0)
		fail(errno, "socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		fail(errno, "setsockopt SO_REUSEADDR");
	if (defer_secs && setsockopt(lfd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_secs,
				     sizeof(defer_secs)))
		fail(errno, "setsockopt TCP_DEFER_ACCEPT");
	if (bind(lfd, (struct sockaddr *)&srv_sa, salen))
		fail(errno, "bind %s port %d", server_addr, port);
	if (listen(lfd, backlog))
		fail(errno, "listen");
	if (write(to_parent, "L", 1) != 1)
		fail(errno, "telling the parent");
	close(to_parent);
	next_accept = now_ms() + period_ms;

	while (!stop) {
		struct pollfd pf[1 + nconn];
		bool want_accept = period_ms > 0 && now_ms() >= next_accept;
		int timeout = 200, n;

		pf[0] = (struct pollfd){ .fd = want_accept ? lfd : -1, .events = POLLIN };
		for (int i = 0; i < nconn; i++)
			pf[1 + i] = (struct pollfd){ .fd = conn[i], .events = POLLIN };
		if (period_ms > 0 && !want_accept) {
			double left = next_accept - now_ms();

			timeout = left < 1 ? 1 : left < 200 ? (int)left : 200;
		}
		n = poll(pf, 1 + nconn, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(errno, "poll");
		}
		if (pf[0].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (c >= 0) {
				if (nconn == cap) {
					int *p = realloc(conn, 2 * cap * sizeof(*conn));

					if (!p)
						fail(ENOMEM, "realloc");
					conn = p;
					cap *= 2;
				}
				conn[nconn++] = c;
				__atomic_add_fetch(&sh->accepted, 1, __ATOMIC_RELAXED);
				/* a steady pace, no catching up after a quiet spell */
				next_accept += period_ms;
				if (next_accept < now_ms())
					next_accept = now_ms() + period_ms;
			}
		}
		/* the "application" reads each message and keeps the connection */
		for (int i = 0; i < nconn; i++) {
			ssize_t r;

			if (!(pf[1 + i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			r = recv(conn[i], buf, sizeof(buf), 0);
			if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			close(conn[i]);
			conn[i] = conn[--nconn];
			pf[1 + i] = pf[1 + nconn];
			i--;
		}
	}
	for (int i = 0; i < nconn; i++)
		close(conn[i]);
	close(lfd);
	free(conn);
	_exit(0);
}

/* ---- the clients: "device" ------------------------------------------------------------- */

enum dstate { D_IDLE, D_CONNECTING, D_CONNECTED, D_DONE };

struct device {
	int fd;
	enum dstate st;
	bool sends;
	long long started;	/* this attempt's connect() */
	long long retry_at;	/* D_IDLE: next attempt */
};

static void dev_connect(struct device *d)
{
	d->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
	if (d->fd < 0)
		fail(errno, "socket (raise the open files limit for --clients %d?)", clients);
	if (client_addr && bind(d->fd, (struct sockaddr *)&cli_sa, salen))
		fail(errno, "bind %s", client_addr);
	d->started = now_ms();
	sh->attempts++;
	if (!connect(d->fd, (struct sockaddr *)&srv_sa, salen) || errno == EINPROGRESS) {
		d->st = D_CONNECTING;
		return;
	}
	if (errno == EADDRNOTAVAIL || errno == EAGAIN)
		fail(errno, "connect: out of local ports");
	sh->errors++;
	close(d->fd);
	d->fd = -1;
	d->st = D_DONE;
}

/* this attempt is over: try again --reconnect SECS after it started, or give up */
static void dev_failed(struct device *d)
{
	close(d->fd);
	d->fd = -1;
	if (reconnect_secs > 0) {
		d->st = D_IDLE;
		d->retry_at = d->started + (long long)(reconnect_secs * 1000);
	} else {
		d->st = D_DONE;
	}
}

static void dev_error(struct device *d, int err)
{
	if (err == ECONNREFUSED)
		sh->refused++;
	else if (err == ECONNRESET)
		sh->reset++;
	else if (err == ETIMEDOUT)
		sh->timeouts++;
	else
		sh->errors++;
	dev_failed(d);
}

static void dev_established(struct device *d, int idx)
{
	char msg[96];
	int n;

	d->st = D_CONNECTED;
	sh->connected++;
	if (!d->sends)
		return;
	n = snprintf(msg, sizeof(msg), "<msg device=\"%d\" type=\"queued-readings\"/>\n", idx);
	if (send(d->fd, msg, n, MSG_NOSIGNAL | MSG_DONTWAIT) == n)
		sh->data_sent++;
	else
		dev_error(d, errno);
}

static void client(int to_parent)
{
	struct device *dev = calloc(clients, sizeof(*dev));
	struct pollfd *pf = calloc(clients, sizeof(*pf));
	struct rlimit rl;
	char buf[512];

	if (!dev || !pf)
		fail(ENOMEM, "calloc");
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)clients + 32) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the burst: every device at once, spread the data senders evenly */
	for (int i = 0; i < clients; i++) {
		dev[i].sends = (long)(i + 1) * send_pct / 100 != (long)i * send_pct / 100;
		dev_connect(&dev[i]);
	}
	sh->connected_at_ready = sh->connected;
	if (write(to_parent, "R", 1) != 1)
		fail(errno, "telling the parent");
	close(to_parent);

	while (!stop) {
		long long now = now_ms();
		int n;

		for (int i = 0; i < clients; i++) {
			struct device *d = &dev[i];

			if (d->st == D_IDLE && now >= d->retry_at)
				dev_connect(d);
			if (d->st == D_CONNECTING && reconnect_secs > 0 &&
			    now - d->started >= reconnect_secs * 1000) {
				sh->timeouts++;
				dev_failed(d);
				dev_connect(d);
			}
			pf[i].fd = d->st == D_CONNECTING || d->st == D_CONNECTED ? d->fd : -1;
			pf[i].events = d->st == D_CONNECTING ? POLLOUT : POLLIN;
			pf[i].revents = 0;
		}
		n = poll(pf, clients, 100);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(errno, "poll");
		}
		for (int i = 0; n > 0 && i < clients; i++) {
			struct device *d = &dev[i];
			socklen_t len = sizeof(int);
			int err = 0;
			ssize_t r;

			if (!pf[i].revents || pf[i].fd < 0)
				continue;
			if (d->st == D_CONNECTING) {
				if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len))
					err = errno;
				if (err)
					dev_error(d, err);
				else
					dev_established(d, i);
				continue;
			}
			r = recv(d->fd, buf, sizeof(buf), 0);
			if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			if (r == 0) {
				sh->eof++;
				dev_failed(d);
			} else {
				dev_error(d, errno);
			}
		}
	}
	/* devices just go away: closing sends FINs (SYN_SENT ones send nothing) */
	for (int i = 0; i < clients; i++)
		if (dev[i].fd >= 0)
			close(dev[i].fd);
	_exit(0);
}

/* ---- the parent ------------------------------------------------------------------------ */

static pid_t spawn(const char *comm, int nsfd, const char *nspath, void (*fn)(int), int *rfd)
{
	pid_t parent = getpid(), pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		fail(errno, "pipe");
	pid = fork();
	if (pid < 0)
		fail(errno, "fork");
	if (pid) {
		close(p[1]);
		*rfd = p[0];
		return pid;
	}
	in_child = true;
	close(p[0]);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM))
		fail(errno, "prctl PR_SET_PDEATHSIG");
	if (getppid() != parent)
		_exit(1);
	if (prctl(PR_SET_NAME, comm))
		fail(errno, "prctl PR_SET_NAME");
	if (setns(nsfd, CLONE_NEWNET))
		fail(errno, "setns %s", nspath);
	close(srv_nsfd);
	close(cli_nsfd);
	fn(p[1]);
	_exit(0);
}

/* wait for one byte from a child; false if it died or the deadline passed */
static bool wait_byte(int fd, char want, int ms)
{
	long long deadline = now_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	while (!stop) {
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&p, 1, left > 200 ? 200 : (int)left);
		if (n < 0 && errno != EINTR)
			return false;
		if (n > 0)
			return read(fd, &c, 1) == 1 && c == want;
	}
	return false;
}

static int stop_child(pid_t pid, const char *what)
{
	int status, i;

	if (pid <= 0)
		return 0;
	kill(pid, SIGTERM);
	for (i = 0; i < 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto reaped;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid)
		return 1;
reaped:
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
		return 0;
	fprintf(stderr, "stormgen: %s process %d: %s%s\n", what, (int)pid,
		sh->err[0] ? sh->err : "failed", WIFSIGNALED(status) ? " (killed)" : "");
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: stormgen --server-ns PATH --client-ns PATH -a SERVER_ADDR -p PORT [-c CLIENT_ADDR]\n"
"                [--backlog N] [--accept-rate N[/s]] [--clients N] [--send-data PCT]\n"
"                [--defer-accept SECS] [--delay SECS] [--reconnect SECS] [--hold SECS]\n"
"\n"
"A \"" SERVER_COMM "\" server in the server namespace listens on PORT with a small backlog and\n"
"accepts slowly; a burst of \"" CLIENT_COMM "\" connections from the client namespace overflows its\n"
"accept queue (the gateway story: 200 devices reconnecting after an outage).\n"
"\n"
"  -b, --backlog N        listen() backlog (default 8)\n"
"  -r, --accept-rate N    accepted connections per second, 0: never accept (default 0)\n"
"  -n, --clients N        connections in the burst (default 200)\n"
"      --send-data PCT    percentage of devices that send a message right after the\n"
"                         handshake (default 50)\n"
"      --defer-accept SECS  TCP_DEFER_ACCEPT on the listener: a handshake becomes a\n"
"                         connection only with the device's first data (default 0: off)\n"
"      --delay SECS       wait between listen() and the burst (default 0)\n"
"      --reconnect SECS   a device whose attempt failed (refused, reset, closed) or is not\n"
"                         established after SECS tries again SECS after it started\n"
"                         (default 0: no retries)\n"
"      --hold SECS        stop after SECS (default 60; 0: only on SIGTERM/SIGINT)\n"
"\n"
"Prints key=value lines: listening=1 once the server listens, ready=1 once the burst went\n"
"out, done=1 with the counters at the end.  tcp_abort_on_overflow of the server namespace\n"
"decides what an overflow does: 0 (default) drops silently, 1 sends accept-overflow RSTs.\n");
}

__attribute__((noreturn, format(printf, 1, 2)))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("stormgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

static long num_arg(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		bad_usage("%s %s: expected a number from %ld to %ld", opt, s, min, max);
	return v;
}

static double secs_arg(const char *opt, const char *s, const char *suffix, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (suffix && !strcmp(end, suffix))
		end += strlen(end);
	if (errno || end == s || *end || !(v >= 0) || v > max)
		bad_usage("%s %s: expected a number from 0 to %g", opt, s, max);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server-ns", required_argument, NULL, 'S' },
		{ "client-ns", required_argument, NULL, 'C' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "accept-rate", required_argument, NULL, 'r' },
		{ "clients", required_argument, NULL, 'n' },
		{ "send-data", required_argument, NULL, 'D' },
		{ "delay", required_argument, NULL, 'd' },
		{ "defer-accept", required_argument, NULL, 'F' },
		{ "reconnect", required_argument, NULL, 'R' },
		{ "hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	pid_t spid, cpid;
	struct stat sst, cst;
	long long end_at;
	int opt, rfd, rc = 0;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt_long(argc, argv, "a:p:c:b:r:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': server_ns = optarg; break;
		case 'C': client_ns = optarg; break;
		case 'a': server_addr = optarg; break;
		case 'c': client_addr = optarg; break;
		case 'p': port = num_arg("-p", optarg, 1, 65535); break;
		case 'b': backlog = num_arg("--backlog", optarg, 1, 65535); break;
		case 'r': accept_rate = secs_arg("--accept-rate", optarg, "/s", 100000); break;
		case 'n': clients = num_arg("--clients", optarg, 1, MAX_CLIENTS); break;
		case 'D': send_pct = num_arg("--send-data", optarg, 0, 100); break;
		case 'F': defer_secs = num_arg("--defer-accept", optarg, 0, 3600); break;
		case 'd': delay_secs = secs_arg("--delay", optarg, NULL, 3600); break;
		case 'R': reconnect_secs = secs_arg("--reconnect", optarg, NULL, 3600); break;
		case 'H': hold_secs = secs_arg("--hold", optarg, NULL, 86400); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!server_ns || !client_ns || !server_addr || !port)
		bad_usage("--server-ns, --client-ns, -a and -p are required");
	family = strchr(server_addr, ':') ? AF_INET6 : AF_INET;
	salen = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (!parse_addr(server_addr, &srv_sa))
		bad_usage("bad server address '%s'", server_addr);
	sa_set_port(&srv_sa, port);
	if (client_addr && !parse_addr(client_addr, &cli_sa))
		bad_usage("bad client address '%s' (must be IPv%d)", client_addr,
			  family == AF_INET6 ? 6 : 4);

	srv_nsfd = open(server_ns, O_RDONLY | O_CLOEXEC);
	if (srv_nsfd < 0)
		fail(errno, "open %s", server_ns);
	cli_nsfd = open(client_ns, O_RDONLY | O_CLOEXEC);
	if (cli_nsfd < 0)
		fail(errno, "open %s", client_ns);
	if (fstat(srv_nsfd, &sst) || fstat(cli_nsfd, &cst))
		fail(errno, "fstat network namespace");
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fail(errno, "mmap");
	memset(sh, 0, sizeof(*sh));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	spid = spawn(SERVER_COMM, srv_nsfd, server_ns, server, &rfd);
	if (!wait_byte(rfd, 'L', START_MS)) {
		stop_child(spid, "server");
		fail(0, "the server did not listen%s%s", sh->err[0] ? ": " : "", sh->err);
	}
	close(rfd);
	printf("server_pid=%d\nserver_comm=%s\nserver_netns=%lu\nserver_addr=%s\nport=%d\n"
	       "backlog=%d\nsomaxconn=%d\naccept_rate=%g\ndefer_accept=%d\nabort_on_overflow=%d\n"
	       "syncookies=%d\nlistening=1\n", (int)spid, SERVER_COMM, (unsigned long)sst.st_ino,
	       server_addr, port, backlog, sh->somaxconn, accept_rate, defer_secs,
	       sh->abort_on_overflow, sh->syncookies);
	fflush(stdout);

	for (end_at = now_ms() + (long long)(delay_secs * 1000); !stop && now_ms() < end_at;)
		usleep(20000);
	cpid = spawn(CLIENT_COMM, cli_nsfd, client_ns, client, &rfd);
	if (!wait_byte(rfd, 'R', START_MS)) {
		rc = stop_child(cpid, "client") | stop_child(spid, "server");
		if (stop)
			return rc;
		fail(0, "the burst did not go out%s%s", sh->err[0] ? ": " : "", sh->err);
	}
	close(rfd);
	printf("client_pid=%d\nclient_comm=%s\nclient_netns=%lu\nclients=%d\nsend_data=%d\n"
	       "reconnect=%g\nready=1\n", (int)cpid, CLIENT_COMM, (unsigned long)cst.st_ino,
	       clients, send_pct, reconnect_secs);
	fflush(stdout);

	end_at = hold_secs > 0 ? now_ms() + (long long)(hold_secs * 1000) : 0;
	while (!stop && (!end_at || now_ms() < end_at)) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid == spid || pid == cpid) {
			fprintf(stderr, "stormgen: the %s process exited early: %s\n",
				pid == spid ? "server" : "client", sh->err[0] ? sh->err : "?");
			if (pid == spid)
				spid = 0;
			else
				cpid = 0;
			rc = 1;
			break;
		}
		usleep(50000);
	}
	rc |= stop_child(cpid, "client");
	rc |= stop_child(spid, "server");
	printf("attempts=%ld\nconnected=%ld\nconnected_at_ready=%ld\ndata_sent=%ld\nrefused=%ld\n"
	       "reset=%ld\neof=%ld\ntimeouts=%ld\nerrors=%ld\naccepted=%ld\ndone=1\n",
	       sh->attempts, sh->connected, sh->connected_at_ready, sh->data_sent, sh->refused,
	       sh->reset, sh->eof, sh->timeouts, sh->errors, sh->accepted);
	fflush(stdout);
	return rc;
}
