// SPDX-License-Identifier: GPL-2.0
/*
 * rstgen - provoke, for real, each way the Linux TCP stack sends an RST.
 *
 * The "server" side of a scenario runs in a forked child that joined the server network
 * namespace, the "client" side in a forked child that joined the client namespace.  The two
 * children coordinate over pipes and wait for real conditions (socket state, TCP_INFO, counters)
 * rather than sleeping.  The parent stays in its own namespace, reaps both and, once the RSTs
 * have been sent, prints key=value lines a test can compare with what the tracer attributed:
 * the expect_* lines, from the scenario table, say what that must be.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -Werror [-static] -o rstgen tools/rstgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "../user/util.h"
#include "csum.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

#define DEADLINE_MS	10000	/* generous bound for every single wait */
#define LONG_MS		20000	/* keepalive expiry, ss -K from the harness */

enum side { SERVER, CLIENT };

#define NEED_SPOOF	0x1
#define NEED_IF		0x2

/* who an expected field names: a side's process or address, or nothing */
enum who { W_ANY = 0, W_NONE, W_SERVER, W_CLIENT, W_SPOOF, W_SS };
static const char *const who_names[] = {
	[W_ANY] = "any", [W_NONE] = "none", [W_SERVER] = "server", [W_CLIENT] = "client",
	[W_SPOOF] = "spoof", [W_SS] = "ss",
};

/*
 * A scenario and what a tracer must report for its RST, printed as expect_* lines so that
 * every check (tests, rstwhy selftest, the kernel matrix) reads them from here.
 */
struct scenario {
	const char *name;
	const char *abbr;
	void (*server)(void);		/* NULL: no server process at all */
	void (*client)(void);
	unsigned int needs;
	int expect_rsts;		/* at least this many (0: none, or a count found at run time) */
	const char *cause;		/* "none": no RST at all */
	const char *origin;
	enum side rst_from;		/* the side whose namespace sends the RST */
	enum who to;			/* the address it goes to: W_CLIENT, W_SERVER, W_SPOOF */
	bool to_port;			/* ... and to the port printed for that side (one peer) */
	const char *state;		/* before the reset; "none": no socket; NULL: not checked */
	enum who owner;			/* the process owning the socket; W_NONE: null */
	bool owner_pid;			/* the owner's pid is checked too, not only its name */
	enum who actor;			/* who decided it; W_SS: the harness's ss -K */
	bool unread;			/* the bytes left unread (detail.unread_bytes) */
};

/* Filled in by the children, read by the parent; MAP_SHARED so it survives fork(). */
struct shared {
	int failed;
	char err[480];
	int client_port;
	int expect_rsts;
	long sent;
	long refused;
	long errors;
	int unread;
};

static const struct scenario *sc;
static struct shared *sh;

static int family;
static socklen_t salen;
static struct sockaddr_storage srv_sa, cli_sa, spoof_sa;
static bool have_cli, have_spoof;
static const char *server_ns, *client_ns, *server_addr, *client_if;
static const char *server_comm;	/* --server-comm: the server's process name (cut at 15 bytes) */
static int port;
static long count = 100;

static bool in_child;
static int tx = -1, rx = -1;		/* pipe ends towards the peer child */
static int ready_fd = -1;		/* server -> parent (socket-destroy) */
static int srv_nsfd = -1, cli_nsfd = -1;
static void (*cleanup)(void);		/* undo changes before a failing child exits */

/* ---------------------------------------------------------------------------------------- */

static void vfail(int err, const char *fmt, va_list ap)
{
	char what[256], line[sizeof(sh->err)];

	vsnprintf(what, sizeof(what), fmt, ap);
	snprintf(line, sizeof(line), "rstgen: %s: %s: %s\n", sc ? sc->name : "-", what,
		 strerror(err));
	if (!in_child) {
		fputs(line, stderr);
		exit(1);
	}
	if (cleanup)
		cleanup();
	/* The first failure is the cause; a peer noticing it later only echoes it. */
	if (!__atomic_exchange_n(&sh->failed, 1, __ATOMIC_SEQ_CST))
		memcpy(sh->err, line, sizeof(line));
	_exit(1);
}

__attribute__((format(printf, 2, 3), noreturn))
static void fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(err, fmt, ap);
	va_end(ap);
	_exit(1);
}

static int left_ms(long long deadline)
{
	long long left = deadline - now_ms();

	return left < 0 ? 0 : (int)left;
}

/* One millisecond between two looks at a condition that has no file descriptor to poll. */
static void nap(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

/* poll() a single fd until a deadline; returns revents, 0 on timeout. */
static short poll_one(int fd, short events, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	for (;;) {
		n = poll(&p, 1, left_ms(deadline));
		if (n > 0)
			return p.revents;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			fail(errno, "poll");
	}
}

/* ---- talking to the peer child --------------------------------------------------------- */

static void tell(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		fail(errno, "telling the peer process '%c'", c);
}

static void hear(int fd, char want, const char *what, int ms)
{
	ssize_t n;
	char c;

	if (!poll_one(fd, POLLIN, now_ms() + ms))
		fail(ETIMEDOUT, "%s", what);
	n = read(fd, &c, 1);
	if (n < 0)
		fail(errno, "%s", what);
	if (n == 0)
		fail(EPIPE, "%s: peer process gone", what);
	if (c != want)
		fail(EPROTO, "%s: got '%c' instead of '%c'", what, c, want);
}

/* ---- addresses ------------------------------------------------------------------------- */

static void sa_set_port(struct sockaddr_storage *ss, int p)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(p);
}

static int sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static const void *sa_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return &((const struct sockaddr_in *)ss)->sin_addr;
	return &((const struct sockaddr_in6 *)ss)->sin6_addr;
}

static size_t addr_len(void)
{
	return family == AF_INET ? 4 : 16;
}

static bool parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = family;
	return inet_pton(family, s, (void *)sa_addr(ss)) == 1;
}

/* ---- small file helpers (/proc) -------------------------------------------------------- */


/* Async-signal-safe: used from the SIGTERM handler of the keepalive client. */
static int put_int_file(const char *path, int val)
{
	char buf[16], *p = buf + sizeof(buf);
	unsigned int u = val < 0 ? -(unsigned int)val : (unsigned int)val;
	int fd, ret = 0;

	*--p = '\n';
	do {
		*--p = '0' + u % 10;
		u /= 10;
	} while (u);
	if (val < 0)
		*--p = '-';
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (write(fd, p, buf + sizeof(buf) - p) < 0)
		ret = -1;
	if (close(fd))
		ret = -1;
	return ret;
}

/*
 * Per-netns knobs must never be turned in the root network namespace.  Compare with PID 1's
 * namespace and, since that link may be unreadable (containers, missing CAP_SYS_PTRACE), also
 * with the namespace rstgen was started from, which is the root one when run from a shell.
 */
static struct stat home_ns;

static void refuse_root_netns(const char *why)
{
	struct stat self, init;

	if (stat("/proc/self/ns/net", &self))
		fail(errno, "stat /proc/self/ns/net");
	if (self.st_ino == home_ns.st_ino && self.st_dev == home_ns.st_dev)
		fail(EPERM, "%s: refusing, this is rstgen's own network namespace", why);
	if (stat("/proc/1/ns/net", &init)) {
		if (errno != EACCES && errno != EPERM)
			fail(errno, "stat /proc/1/ns/net");
	} else if (self.st_ino == init.st_ino && self.st_dev == init.st_dev) {
		fail(EPERM, "%s: refusing, this is the root network namespace", why);
	}
}

/*
 * A counter of the namespace we are in: /proc/self/net/snmp or netstat hold pairs of lines,
 * "Prefix: Name1 Name2 ..." then "Prefix: v1 v2 ...".
 */
static long net_counter(const char *file, const char *prefix, const char *name)
{
	static char names[8192], vals[8192];
	char path[64], *sn, *sv, *n, *v;
	size_t plen = strlen(prefix);
	bool have_names = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/net/%s", file);
	f = fopen(path, "re");
	if (!f)
		fail(errno, "open %s", path);
	while (fgets(vals, sizeof(vals), f)) {
		if (strncmp(vals, prefix, plen))
			continue;
		if (!have_names) {
			memcpy(names, vals, sizeof(names));
			have_names = true;
			continue;
		}
		n = strtok_r(names, " \n", &sn);
		v = strtok_r(vals, " \n", &sv);
		while (n && v) {
			if (!strcmp(n, name)) {
				fclose(f);
				return atol(v);
			}
			n = strtok_r(NULL, " \n", &sn);
			v = strtok_r(NULL, " \n", &sv);
		}
		break;
	}
	fclose(f);
	fail(ENOENT, "no %s %s in %s", prefix, name, path);
}

/* TcpOutRsts of the namespace we are in. */
static long out_rsts(void)
{
	return net_counter("snmp", "Tcp:", "OutRsts");
}

/* Is there a request socket (SYN_RECV) from this peer in our namespace's /proc/net/tcp[6]? */
static bool synrecv_from(const struct sockaddr_storage *peer)
{
	char want[64], line[512], rem[64];
	unsigned int st;
	bool found = false;
	FILE *f;

	if (family == AF_INET) {
		snprintf(want, sizeof(want), "%08X:%04X",
			 ((const struct sockaddr_in *)peer)->sin_addr.s_addr, sa_port(peer));
	} else {
		const uint32_t *a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr32;

		snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", a[0], a[1], a[2], a[3],
			 sa_port(peer));
	}
	f = fopen(family == AF_INET ? "/proc/self/net/tcp" : "/proc/self/net/tcp6", "re");
	if (!f)
		fail(errno, "open /proc/self/net/tcp");
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %63s %x", rem, &st) == 2 && st == TCP_SYN_RECV &&
			!strcasecmp(rem, want);
	fclose(f);
	return found;
}

/* ---- TCP helpers ----------------------------------------------------------------------- */

static int tcp_socket(void)
{
	struct timeval tv = { DEADLINE_MS / 1000, 0 };
	int fd;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		fail(errno, "socket");
	/* Bounds blocking connect(), send() and recv(). */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		fail(errno, "setsockopt SO_SNDTIMEO/SO_RCVTIMEO");
	return fd;
}

static void set_int(int fd, int level, int opt, int val, const char *name)
{
	if (setsockopt(fd, level, opt, &val, sizeof(val)))
		fail(errno, "setsockopt %s", name);
}

static int tcp_listen(int backlog, int defer_secs)
{
	int fd = tcp_socket();

	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (defer_secs)
		set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, defer_secs, "TCP_DEFER_ACCEPT");
	if (bind(fd, (struct sockaddr *)&srv_sa, salen))
		fail(errno, "bind %s port %d", server_addr, port);
	if (listen(fd, backlog))
		fail(errno, "listen");
	return fd;
}

static int tcp_accept(int lfd)
{
	int fd;

	if (!poll_one(lfd, POLLIN, now_ms() + DEADLINE_MS))
		fail(ETIMEDOUT, "waiting for a connection to accept");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		fail(errno, "accept");
	return fd;
}

/* Bind the client socket (to CLIENT_ADDR if given) and return the source port it got. */
static int client_bind(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	if (have_cli) {
		sa = cli_sa;
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.ss_family = family;
	}
	sa_set_port(&sa, 0);
	if (bind(fd, (struct sockaddr *)&sa, salen))
		fail(errno, "bind client socket");
	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		fail(errno, "getsockname");
	return sa_port(&sa);
}

/* Blocking connect() to the server, bounded by SO_SNDTIMEO; returns 0 or an errno. */
static int try_connect(int fd)
{
	if (!connect(fd, (struct sockaddr *)&srv_sa, salen))
		return 0;
	return errno == EINPROGRESS ? ETIMEDOUT : errno;
}

static int client_connect(int *portp)
{
	int fd = tcp_socket(), p, err;

	p = client_bind(fd);
	err = try_connect(fd);
	if (err)
		fail(err, "connect to %s port %d", server_addr, port);
	if (portp)
		*portp = p;
	return fd;
}

static struct tcp_info tcp_info(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		fail(errno, "getsockopt TCP_INFO");
	return ti;
}

static void wait_state(int fd, int state, const char *what)
{
	long long deadline = now_ms() + DEADLINE_MS;

	while (tcp_info(fd).tcpi_state != state) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "%s", what);
		nap();
	}
}

/* For a listener TCP_INFO reports the accept queue length in tcpi_unacked. */
static void wait_acceptq(int lfd, unsigned int n)
{
	long long deadline = now_ms() + DEADLINE_MS;

	while (tcp_info(lfd).tcpi_unacked < n) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for %u connections in the accept queue", n);
		nap();
	}
}

static void send_bytes(int fd, size_t n)
{
	char buf[128];

	memset(buf, 'r', sizeof(buf));
	if (n > sizeof(buf) || send(fd, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
		fail(errno, "send %zu bytes", n);
}

static void read_eof(int fd, const char *what)
{
	char c;
	ssize_t n;

	if (!(poll_one(fd, POLLIN, now_ms() + DEADLINE_MS) & (POLLIN | POLLHUP | POLLERR)))
		fail(ETIMEDOUT, "%s", what);
	n = read(fd, &c, 1);
	if (n != 0)
		fail(n < 0 ? errno : EPROTO, "%s: read did not return end of file", what);
}

/* Wait until the connection was torn down by an RST (received or sent); returns SO_ERROR. */
static int wait_torn_down(int fd, int ms, const char *what)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (!(poll_one(fd, 0, now_ms() + ms) & (POLLERR | POLLHUP)))
		fail(ETIMEDOUT, "%s", what);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		fail(errno, "getsockopt SO_ERROR");
	return err;
}

/* The peer's RST must arrive: ECONNRESET, or EPIPE if we were in CLOSE_WAIT. */
static void expect_reset(int fd, int ms, const char *what)
{
	int err = wait_torn_down(fd, ms, what);

	if (err != ECONNRESET && err != EPIPE)
		fail(err ? err : EPROTO, "%s: connection ended without a reset", what);
}

/* Close without sending anything: a socket in repair mode vanishes silently. */
static void repair_close(int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_REPAIR, 1, "TCP_REPAIR");
	close(fd);
}

/* ---- raw segments ---------------------------------------------------------------------- */


/* Hand-build IP(v6) header + option-less TCP header; both checksums computed here. */
static size_t build_segment(uint8_t *pkt, const struct sockaddr_storage *src,
			    const struct sockaddr_storage *dst, uint32_t seq, uint8_t flags)
{
	size_t iplen = family == AF_INET ? sizeof(struct iphdr) : sizeof(struct ip6_hdr);
	size_t tcplen = sizeof(struct tcphdr);
	struct tcphdr *th = (struct tcphdr *)(pkt + iplen);
	uint32_t sum;

	memset(pkt, 0, iplen + tcplen);
	if (family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)pkt;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(iplen + tcplen);
		ip->id = htons((uint16_t)getpid());
		ip->frag_off = htons(IP_DF);
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		memcpy(&ip->saddr, sa_addr(src), 4);
		memcpy(&ip->daddr, sa_addr(dst), 4);
		ip->check = htons(csum_fold(csum_add(0, ip, iplen)));
	} else {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)pkt;

		ip6->ip6_flow = htonl(6U << 28);
		ip6->ip6_plen = htons(tcplen);
		ip6->ip6_nxt = IPPROTO_TCP;
		ip6->ip6_hlim = 64;
		memcpy(&ip6->ip6_src, sa_addr(src), 16);
		memcpy(&ip6->ip6_dst, sa_addr(dst), 16);
	}
	th->th_sport = htons(sa_port(src));
	th->th_dport = htons(sa_port(dst));
	th->th_seq = htonl(seq);
	th->th_off = tcplen / 4;
	th->th_flags = flags;
	th->th_win = htons(64240);

	/* pseudo-header: addresses, protocol, TCP length (v4: 16 bit, v6: 32 bit) */
	sum = csum_add(0, sa_addr(src), addr_len());
	sum = csum_add(sum, sa_addr(dst), addr_len());
	sum += IPPROTO_TCP + tcplen;
	sum = csum_add(sum, th, tcplen);
	th->th_sum = htons(csum_fold(sum));
	return iplen + tcplen;
}

static void send_segment(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
			 uint32_t seq, uint8_t flags)
{
	struct sockaddr_storage to = *dst;
	uint8_t pkt[128];
	size_t len;
	int fd;

	len = build_segment(pkt, src, dst, seq, flags);
	fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		fail(errno, "raw socket");
	if (family == AF_INET6)
		set_int(fd, IPPROTO_IPV6, IPV6_HDRINCL, 1, "IPV6_HDRINCL");
	sa_set_port(&to, 0);
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, salen) != (ssize_t)len)
		fail(errno, "sendto raw segment");
	close(fd);
}

/* Wait on a raw IPPROTO_TCP socket for an RST from the server to our port. */
static void wait_raw_rst(int fd, int dport, const char *what)
{
	long long deadline = now_ms() + DEADLINE_MS;
	struct sockaddr_storage from;
	socklen_t flen;
	uint8_t buf[2048];
	struct tcphdr th;
	size_t off;
	ssize_t n;

	for (;;) {
		if (!poll_one(fd, POLLIN, deadline))
			fail(ETIMEDOUT, "%s", what);
		flen = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fail(errno, "recvfrom raw socket");
		}
		off = 0;
		if (family == AF_INET) {
			/* IPv4 raw sockets deliver the IP header too */
			if (n < 20)
				continue;
			off = (buf[0] & 0xf) * 4;
		}
		if ((size_t)n < off + sizeof(th) ||
		    memcmp(sa_addr(&from), sa_addr(&srv_sa), addr_len()))
			continue;
		memcpy(&th, buf + off, sizeof(th));
		if (ntohs(th.th_sport) == port && ntohs(th.th_dport) == dport &&
		    (th.th_flags & TH_RST))
			return;
	}
}

/* ---- scenarios ------------------------------------------------------------------------- */

static void cli_no_listener(void)
{
	int fd = tcp_socket(), err;

	sh->client_port = client_bind(fd);
	err = try_connect(fd);
	if (!err)
		fail(EISCONN, "connect succeeded, something listens on port %d", port);
	if (err != ECONNREFUSED)
		fail(err, "connect to a port nobody listens on");
	close(fd);
}

/*
 * no-reply: RSTs to a closed port. tcp_v4/v6_send_reset is called for them and sends nothing
 * (never a reset in answer to a reset): a tracer hooking that function must not report them.
 */
static void cli_no_reply(void)
{
	struct sockaddr_storage src = cli_sa;

	if (!have_cli)
		fail(EINVAL, "no-reply needs -c CLIENT_ADDR");
	sa_set_port(&src, 40000 + getpid() % 20000);
	sh->client_port = sa_port(&src);
	send_segment(&src, &srv_sa, 12345, TH_RST | TH_ACK);
	send_segment(&src, &srv_sa, 12346, TH_RST);
}

/* no-connection / stray-ack: the server's socket vanishes without a word. */
static void srv_vanish(bool keep_listener)
{
	int lfd = tcp_listen(8, 0), fd;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	/* A listener cannot enter repair mode, but with an empty accept queue close is silent. */
	repair_close(fd);
	if (!keep_listener)
		close(lfd);
	tell(tx, 'C');
	hear(rx, 'D', "waiting for the client to get its reset", DEADLINE_MS);
	if (keep_listener)
		close(lfd);
}

static void srv_no_connection(void)
{
	srv_vanish(false);
}

static void srv_stray_ack(void)
{
	srv_vanish(true);
}

static void cli_write_to_vanished(void)
{
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	hear(rx, 'C', "waiting for the server to drop its socket", DEADLINE_MS);
	send_bytes(fd, 10);
	expect_reset(fd, DEADLINE_MS, "waiting for the reset answering our data");
	close(fd);
	tell(tx, 'D');
}

static void srv_listener_closed(void)
{
	int lfd = tcp_listen(8, 0);

	tell(tx, 'L');
	hear(rx, 'E', "waiting for the client's two connections", DEADLINE_MS);
	wait_acceptq(lfd, 2);
	close(lfd);
	tell(tx, 'C');
	hear(rx, 'D', "waiting for the client to get its resets", DEADLINE_MS);
}

static void cli_listener_closed(void)
{
	int a, b;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	a = client_connect(&sh->client_port);
	b = client_connect(NULL);
	wait_state(a, TCP_ESTABLISHED, "waiting for the first connection");
	wait_state(b, TCP_ESTABLISHED, "waiting for the second connection");
	tell(tx, 'E');
	expect_reset(a, DEADLINE_MS, "waiting for the reset of the first connection");
	expect_reset(b, DEADLINE_MS, "waiting for the reset of the second connection");
	close(a);
	close(b);
	hear(rx, 'C', "waiting for the server", DEADLINE_MS);
	tell(tx, 'D');
}

static const char aoo_path[] = "/proc/sys/net/ipv4/tcp_abort_on_overflow";
static int aoo_saved = -1;

static void aoo_restore(void)
{
	if (aoo_saved >= 0)
		put_int_file(aoo_path, aoo_saved);
	aoo_saved = -1;
}

/*
 * Backlog 4: the accept queue is full once it holds 5 (sk_acceptq_is_full() is ack_backlog >
 * backlog).  With TCP_DEFER_ACCEPT a bare ACK leaves the connection a request socket; its first
 * data segment creates the child, and the sixth child does not fit -> abort_on_overflow RST.
 */
#define AOV_CONNS 6

static void srv_accept_overflow(void)
{
	int lfd, fd[AOV_CONNS - 1], i, val;
	char c;

	refuse_root_netns("setting tcp_abort_on_overflow");
	if (!read_int_file(aoo_path, &aoo_saved))
		fail(errno, "read %s", aoo_path);
	cleanup = aoo_restore;
	if (put_int_file(aoo_path, 1) || !read_int_file(aoo_path, &val) || val != 1)
		fail(errno ? errno : EIO, "write 1 to %s", aoo_path);

	lfd = tcp_listen(4, 30);
	tell(tx, 'L');
	hear(rx, '3', "waiting for the client's first three connections", DEADLINE_MS);
	wait_acceptq(lfd, 3);
	tell(tx, 'a');
	hear(rx, '4', "waiting for data on the fourth connection", DEADLINE_MS);
	wait_acceptq(lfd, 4);
	tell(tx, 'a');
	hear(rx, '5', "waiting for data on the fifth connection", DEADLINE_MS);
	wait_acceptq(lfd, 5);
	tell(tx, 'a');
	hear(rx, 'D', "waiting for the client to get the overflow reset", DEADLINE_MS);
	aoo_restore();
	cleanup = NULL;

	/* Tear the rest down without further RSTs: drain, let the client close first. */
	for (i = 0; i < AOV_CONNS - 1; i++) {
		fd[i] = tcp_accept(lfd);
		if (read(fd[i], &c, 1) != 1)
			fail(errno, "read the byte of connection %d", i + 1);
	}
	close(lfd);
	tell(tx, 'A');
	hear(rx, 'X', "waiting for the client to close", DEADLINE_MS);
	for (i = 0; i < AOV_CONNS - 1; i++) {
		read_eof(fd[i], "waiting for the client's FIN");
		close(fd[i]);
	}
}

static void cli_accept_overflow(void)
{
	int fd[AOV_CONNS], p[AOV_CONNS], i;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	for (i = 0; i < 3; i++) {
		fd[i] = client_connect(&p[i]);
		send_bytes(fd[i], 1);
	}
	tell(tx, '3');
	hear(rx, 'a', "waiting for the server's accept queue", DEADLINE_MS);
	for (i = 3; i < AOV_CONNS; i++)
		fd[i] = client_connect(&p[i]);
	send_bytes(fd[3], 1);
	tell(tx, '4');
	hear(rx, 'a', "waiting for the server's accept queue", DEADLINE_MS);
	send_bytes(fd[4], 1);
	tell(tx, '5');
	hear(rx, 'a', "waiting for the server's accept queue", DEADLINE_MS);
	sh->client_port = p[5];
	send_bytes(fd[5], 1);
	expect_reset(fd[5], DEADLINE_MS, "waiting for the overflow reset of the sixth connection");
	close(fd[5]);
	tell(tx, 'D');
	hear(rx, 'A', "waiting for the server to accept the rest", DEADLINE_MS);
	for (i = 0; i < AOV_CONNS - 1; i++)
		close(fd[i]);
	tell(tx, 'X');
}

#define UNREAD 100

static void srv_close_unread(void)
{
	long long deadline = now_ms() + DEADLINE_MS;
	int lfd = tcp_listen(8, 0), fd, inq = 0;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	if (!poll_one(fd, POLLIN, deadline))
		fail(ETIMEDOUT, "waiting for the client's data");
	for (;;) {
		if (ioctl(fd, FIONREAD, &inq))
			fail(errno, "ioctl FIONREAD");
		if (inq >= UNREAD)
			break;
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for %d bytes, have %d", UNREAD, inq);
		nap();
	}
	close(fd);
	sh->unread = inq;
	tell(tx, 'C');
}

static void cli_close_unread(void)
{
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	send_bytes(fd, UNREAD);
	expect_reset(fd, DEADLINE_MS, "waiting for the server's reset");
	close(fd);
	hear(rx, 'C', "waiting for the server", DEADLINE_MS);
}

static void srv_close_linger0(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int lfd = tcp_listen(8, 0), fd;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
		fail(errno, "setsockopt SO_LINGER");
	hear(rx, 'E', "waiting for the client to be connected", DEADLINE_MS);
	wait_state(fd, TCP_ESTABLISHED, "waiting for the connection");
	close(fd);
	tell(tx, 'C');
}

static void cli_wait_reset(void)
{
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	tell(tx, 'E');
	expect_reset(fd, DEADLINE_MS, "waiting for the server's reset");
	close(fd);
	hear(rx, 'C', "waiting for the server", DEADLINE_MS);
}

static void srv_disconnect(void)
{
	int lfd = tcp_listen(8, 0), fd, err;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	tell(tx, 'A');
	err = wait_torn_down(fd, DEADLINE_MS, "waiting for the client's reset");
	if (err != ECONNRESET)
		fail(err ? err : EPROTO, "connection ended without a reset");
	close(fd);
	tell(tx, 'D');
}

static void cli_disconnect(void)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	hear(rx, 'A', "waiting for the server to accept", DEADLINE_MS);
	if (connect(fd, &unspec, sizeof(unspec)))
		fail(errno, "connect AF_UNSPEC");
	if (tcp_info(fd).tcpi_state != TCP_CLOSE)
		fail(EPROTO, "socket not closed after connect AF_UNSPEC");
	hear(rx, 'D', "waiting for the server to get the reset", DEADLINE_MS);
	close(fd);
}

/*
 * Send our FIN, wait for the client's ACK of it (FIN_WAIT2), then close: with linger2 >= 0 and
 * tcp_fin_timeout <= 60 s the socket becomes a timewait socket in substate FIN_WAIT2, with
 * linger2 < 0 close() aborts it with an RST.
 */
static void half_close_and_close(int fd)
{
	if (shutdown(fd, SHUT_WR))
		fail(errno, "shutdown SHUT_WR");
	wait_state(fd, TCP_FIN_WAIT2, "waiting for the client to ack our FIN");
	close(fd);
}

static void srv_to_timewait(void)
{
	int lfd = tcp_listen(8, 0), fd;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	half_close_and_close(fd);
	tell(tx, 'C');
	hear(rx, 'D', "waiting for the client to get the reset", DEADLINE_MS);
}

static void cli_data_after_close(void)
{
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	read_eof(fd, "waiting for the server's FIN");
	hear(rx, 'C', "waiting for the server to close", DEADLINE_MS);
	send_bytes(fd, 10);
	expect_reset(fd, DEADLINE_MS, "waiting for the reset answering data after close");
	close(fd);
	tell(tx, 'D');
}

static void srv_fin_wait2_abort(void)
{
	int lfd = tcp_listen(8, 0), fd;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	set_int(fd, IPPROTO_TCP, TCP_LINGER2, -1, "TCP_LINGER2");
	half_close_and_close(fd);
	tell(tx, 'C');
}

static void cli_fin_wait2_abort(void)
{
	int fd = tcp_socket(), err;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	sh->client_port = client_bind(fd);
	err = try_connect(fd);
	/*
	 * The server closes as soon as it accepts: where this process runs late (a slow or busy
	 * machine), its FIN and then its reset can both arrive before connect() returns, which
	 * then reports the reset of a CLOSE_WAIT socket (EPIPE): the scenario happened.
	 */
	if (err && err != EPIPE && err != ECONNRESET)
		fail(err, "connect to %s port %d", server_addr, port);
	if (!err) {
		read_eof(fd, "waiting for the server's FIN");
		/* keep the socket open (CLOSE_WAIT) so the server stays in FIN_WAIT2 */
		expect_reset(fd, DEADLINE_MS, "waiting for the server's reset");
	}
	close(fd);
	hear(rx, 'C', "waiting for the server", DEADLINE_MS);
}

/*
 * Does our namespace hold a neighbour entry for ADDR that is still resolving?  Packets sent
 * meanwhile wait in its queue and leave as soon as the peer answers again.
 */
static bool neigh_incomplete(const struct sockaddr_storage *addr)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req = {
		.nh = {
			.nlmsg_len = sizeof(req),
			.nlmsg_type = RTM_GETNEIGH,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 1,
		},
		.nd = { .ndm_family = family },
	};
	static char buf[32768];
	bool found = false, done = false;
	struct nlmsghdr *nh;
	struct rtattr *rta;
	struct ndmsg *nd;
	ssize_t n;
	int fd, len;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		fail(errno, "netlink socket");
	if (send(fd, &req, sizeof(req), 0) != sizeof(req))
		fail(errno, "netlink RTM_GETNEIGH");
	while (!done) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			fail(errno, "netlink recv");
		if (n == 0)
			break;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR)
				fail(-((struct nlmsgerr *)NLMSG_DATA(nh))->error, "netlink dump");
			if (nh->nlmsg_type != RTM_NEWNEIGH)
				continue;
			nd = NLMSG_DATA(nh);
			if (!(nd->ndm_state & NUD_INCOMPLETE))
				continue;
			len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
			for (rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
			     RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
				if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == addr_len() &&
				    !memcmp(RTA_DATA(rta), sa_addr(addr), addr_len()))
					found = true;
		}
	}
	close(fd);
	return found;
}

static void srv_keepalive(void)
{
	int lfd = tcp_listen(8, 0), fd, err;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	long long deadline;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	if (getpeername(fd, (struct sockaddr *)&peer, &len))
		fail(errno, "getpeername");
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
	set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 1, "TCP_KEEPIDLE");
	set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 1, "TCP_KEEPINTVL");
	set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 1, "TCP_KEEPCNT");
	tell(tx, 'K');
	hear(rx, 'W', "waiting for the client to take its interface down", DEADLINE_MS);
	err = wait_torn_down(fd, LONG_MS, "waiting for keepalive to time out");
	if (err != ETIMEDOUT)
		fail(err ? err : EPROTO, "connection ended, but not by keepalive timeout");
	close(fd);
	/*
	 * Losing carrier flushed our neighbour entry for the client, so the probe and the RST
	 * are queued on a new, resolving one.  Keep the link down until that gives up and drops
	 * them, or they would reach the client later and draw an RST from its kernel.
	 */
	deadline = now_ms() + DEADLINE_MS;
	while (neigh_incomplete(&peer)) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "draining the neighbour queue towards the client");
		nap();
	}
	tell(tx, 'T');
}

/* State to bring the client interface back, also from the SIGTERM handler. */
static int ka_fd = -1;
static struct ifreq ka_ifr;
static short ka_flags;
static volatile sig_atomic_t ka_down;
static char ka_keep_path[128];
static int ka_keep_saved = -1;

static void ka_restore(void)
{
	if (ka_down) {
		ka_ifr.ifr_flags = ka_flags | IFF_UP;
		ioctl(ka_fd, SIOCSIFFLAGS, &ka_ifr);
		ka_down = 0;
	}
	if (ka_keep_saved >= 0) {
		put_int_file(ka_keep_path, ka_keep_saved);
		ka_keep_saved = -1;
	}
}

static void ka_sigterm(int sig)
{
	(void)sig;
	ka_restore();
	_exit(1);
}

static void cli_keepalive(void)
{
	struct sigaction sa = { .sa_handler = ka_sigterm };
	long long deadline;
	int fd, val;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	hear(rx, 'K', "waiting for the server to arm keepalive", DEADLINE_MS);

	refuse_root_netns("taking an interface down");
	ka_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ka_fd < 0)
		fail(errno, "socket for interface ioctls");
	snprintf(ka_ifr.ifr_name, sizeof(ka_ifr.ifr_name), "%s", client_if);
	if (ioctl(ka_fd, SIOCGIFFLAGS, &ka_ifr))
		fail(errno, "SIOCGIFFLAGS %s", client_if);
	ka_flags = ka_ifr.ifr_flags;
	if (!(ka_flags & IFF_UP))
		fail(ENETDOWN, "interface %s is not up", client_if);
	/* Without keep_addr_on_down a link down deletes the interface's IPv6 addresses. */
	snprintf(ka_keep_path, sizeof(ka_keep_path), "/proc/sys/net/ipv6/conf/%s/keep_addr_on_down",
		 client_if);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		fail(errno, "sigaction SIGTERM");
	cleanup = ka_restore;
	if (read_int_file(ka_keep_path, &val) && val <= 0) {
		ka_keep_saved = val;
		if (put_int_file(ka_keep_path, 1))
			fail(errno, "write 1 to %s", ka_keep_path);
	}
	ka_down = 1;
	ka_ifr.ifr_flags = ka_flags & ~IFF_UP;
	if (ioctl(ka_fd, SIOCSIFFLAGS, &ka_ifr))
		fail(errno, "SIOCSIFFLAGS %s down", client_if);
	tell(tx, 'W');
	hear(rx, 'T', "waiting for the server's keepalive to time out", LONG_MS + DEADLINE_MS);
	/* Our socket never saw the RST; make it vanish silently before the link comes back. */
	repair_close(fd);
	ka_restore();
	cleanup = NULL;

	deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		if (ioctl(ka_fd, SIOCGIFFLAGS, &ka_ifr))
			fail(errno, "SIOCGIFFLAGS %s", client_if);
		if (ka_ifr.ifr_flags & IFF_RUNNING)
			break;
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for %s to come back up", client_if);
		nap();
	}
	close(ka_fd);
}

static void cli_timewait(void)
{
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);
	uint32_t snd_nxt, rcv_nxt;
	int fd, raw;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	if (getsockname(fd, (struct sockaddr *)&me, &len))
		fail(errno, "getsockname");
	read_eof(fd, "waiting for the server's FIN");
	hear(rx, 'C', "waiting for the server to close", DEADLINE_MS);

	set_int(fd, IPPROTO_TCP, TCP_REPAIR, 1, "TCP_REPAIR");
	set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE, "TCP_REPAIR_QUEUE");
	len = sizeof(snd_nxt);
	if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &snd_nxt, &len))
		fail(errno, "getsockopt TCP_QUEUE_SEQ (send queue)");
	set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE, "TCP_REPAIR_QUEUE");
	len = sizeof(rcv_nxt);
	if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &rcv_nxt, &len))
		fail(errno, "getsockopt TCP_QUEUE_SEQ (receive queue)");
	/* rcv_nxt is only informative: a bare SYN carries no acknowledgment */
	close(fd);	/* in repair mode: silent */

	raw = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (raw < 0)
		fail(errno, "raw socket to watch for the reset");
	/* A new SYN on the old 4-tuple, above the server's rcv_nxt (our old snd_nxt). */
	send_segment(&me, &srv_sa, snd_nxt + 1000, TH_SYN);
	wait_raw_rst(raw, sa_port(&me), "waiting for the timewait socket's reset");
	close(raw);
	tell(tx, 'D');
}

static void srv_bad_segment(void)
{
	long long deadline;
	int lfd = tcp_listen(8, 0);
	long base;

	base = out_rsts();
	tell(tx, 'L');
	hear(rx, '1', "waiting for the first spoofed SYN", DEADLINE_MS);
	deadline = now_ms() + DEADLINE_MS;
	while (!synrecv_from(&spoof_sa)) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for a request socket from the spoofed address");
		nap();
	}
	tell(tx, 's');
	hear(rx, '2', "waiting for the second spoofed SYN", DEADLINE_MS);
	deadline = now_ms() + DEADLINE_MS;
	while (out_rsts() <= base || synrecv_from(&spoof_sa)) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for the request socket's reset");
		nap();
	}
	close(lfd);
}

static void cli_bad_segment(void)
{
	uint32_t seq = (uint32_t)now_ms() * 2654435761U ^ (uint32_t)getpid() << 16;

	/* the spoofed source port was chosen by the parent, the server looks for it too */
	sh->client_port = sa_port(&spoof_sa);
	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	send_segment(&spoof_sa, &srv_sa, seq, TH_SYN);
	tell(tx, '1');
	/*
	 * On a loaded machine the first SYN was seen lost once: send it again (same sequence: a
	 * retransmission, harmless if it did arrive) until the server sees its request socket.
	 */
	for (long long deadline = now_ms() + DEADLINE_MS; !poll_one(rx, POLLIN, now_ms() + 1000);) {
		if (now_ms() > deadline)
			fail(ETIMEDOUT, "waiting for the server's request socket");
		send_segment(&spoof_sa, &srv_sa, seq, TH_SYN);
	}
	hear(rx, 's', "waiting for the server's request socket", DEADLINE_MS);
	send_segment(&spoof_sa, &srv_sa, seq + 5, TH_SYN);
	tell(tx, '2');
}

static void srv_socket_destroy(void)
{
	int lfd = tcp_listen(8, 0), fd, err;

	tell(tx, 'L');
	fd = tcp_accept(lfd);
	close(lfd);
	hear(rx, 'E', "waiting for the client to be connected", DEADLINE_MS);
	wait_state(fd, TCP_ESTABLISHED, "waiting for the connection");
	tell(ready_fd, 'R');
	err = wait_torn_down(fd, LONG_MS, "waiting for the socket to be destroyed (ss -K)");
	if (err != ECONNABORTED)
		fail(err ? err : EPROTO, "connection ended, but was not aborted");
	close(fd);
	tell(tx, 'D');
}

static void cli_socket_destroy(void)
{
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	fd = client_connect(&sh->client_port);
	tell(tx, 'E');
	expect_reset(fd, LONG_MS + DEADLINE_MS, "waiting for the reset of the destroyed socket");
	close(fd);
	hear(rx, 'D', "waiting for the server", DEADLINE_MS);
}

/*
 * orphan-memory: when there are more orphaned sockets than net.ipv4.tcp_max_orphans,
 * tcp_check_oom() in __tcp_close() resets a socket that is being closed (and
 * tcp_out_of_resources() resets orphans from their timers).  That sysctl is global, not per
 * network namespace: rstgen never changes it, it only checks that whoever runs this scenario
 * set it to 0 (on a throwaway VM: tools/kernel-matrix.sh does so inside its qemu guest).
 *
 * The server half-closes OM_CONNS connections and waits for FIN_WAIT2; TCP_LINGER2 of 120 s
 * (more than TCP_TIMEWAIT_LEN) makes close() keep such a socket as an orphan instead of handing
 * it to a timewait socket.  Closing them one by one: the first close leaves an orphan; once the
 * kernel's cached orphan count (refreshed every 100 ms) includes it, the next close is over the
 * limit and resets its connection (TcpExt TCPAbortOnMemory).
 */
#define OM_CONNS 6

static const char om_max_path[] = "/proc/sys/net/ipv4/tcp_max_orphans";

/* A TcpExt counter of the namespace we are in. */
static long tcpext(const char *name)
{
	return net_counter("netstat", "TcpExt:", name);
}

/* Orphaned TCP sockets of the whole host (the sockstat "orphan" count is not per namespace). */
static int orphans(void)
{
	char line[256];
	int inuse, n = -1;
	FILE *f;

	f = fopen("/proc/self/net/sockstat", "re");
	if (!f)
		fail(errno, "open /proc/self/net/sockstat");
	while (n < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "TCP: inuse %d orphan %d", &inuse, &n) != 2)
			n = -1;
	fclose(f);
	if (n < 0)
		fail(ENOENT, "no TCP orphan count in /proc/self/net/sockstat");
	return n;
}

/* Called by the parent before forking: the global sysctls are visible in the root namespace only. */
static void orphan_memory_precheck(void)
{
	int val;

	if (!read_int_file(om_max_path, &val))
		fail(errno, "read %s", om_max_path);
	if (val != 0)
		fail(EPERM, "needs net.ipv4.tcp_max_orphans=0 (it is %d), a global sysctl: set it "
		     "only on a throwaway machine or VM", val);
}

static void srv_orphan_memory(void)
{
	struct timespec cache_period = { 0, 300 * 1000000 };
	int lfd, fd[OM_CONNS], i, hit = -1;
	struct sockaddr_storage peer;
	long long deadline;
	socklen_t len;
	long base;

	lfd = tcp_listen(OM_CONNS, 0);
	tell(tx, 'L');
	for (i = 0; i < OM_CONNS; i++) {
		fd[i] = tcp_accept(lfd);
		set_int(fd[i], IPPROTO_TCP, TCP_LINGER2, 120, "TCP_LINGER2");
		if (shutdown(fd[i], SHUT_WR))
			fail(errno, "shutdown SHUT_WR");
	}
	close(lfd);	/* empty accept queue: silent */
	for (i = 0; i < OM_CONNS; i++)
		wait_state(fd[i], TCP_FIN_WAIT2, "waiting for the client to ack our FIN");

	base = tcpext("TCPAbortOnMemory");
	for (i = 0; i < OM_CONNS; i++) {
		len = sizeof(peer);
		if (getpeername(fd[i], (struct sockaddr *)&peer, &len))
			fail(errno, "getpeername");
		close(fd[i]);
		fd[i] = -1;
		if (tcpext("TCPAbortOnMemory") > base) {
			hit = i;
			break;
		}
		/* the orphan must be counted, then seen by the cache (100 ms period) */
		deadline = now_ms() + DEADLINE_MS;
		while (orphans() < 1) {
			if (now_ms() > deadline)
				fail(ETIMEDOUT, "waiting for the orphaned socket to be counted");
			nap();
		}
		nanosleep(&cache_period, NULL);
	}
	if (hit < 0)
		fail(EPROTO, "%d closes with orphans around, none was reset (TCPAbortOnMemory "
		     "unchanged)", OM_CONNS);
	sh->client_port = sa_port(&peer);
	for (i = hit + 1; i < OM_CONNS; i++)
		repair_close(fd[i]);	/* silent */
	tell(tx, 'C');
	hear(rx, 'D', "waiting for the client to get the reset", DEADLINE_MS);
}

static void cli_orphan_memory(void)
{
	int fd[OM_CONNS], p[OM_CONNS], i, hit = -1;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	for (i = 0; i < OM_CONNS; i++)
		fd[i] = client_connect(&p[i]);
	hear(rx, 'C', "waiting for the server's closes", LONG_MS);
	for (i = 0; i < OM_CONNS; i++)
		if (p[i] == sh->client_port)
			hit = i;
	if (hit < 0)
		fail(ENOENT, "the server reset port %d, not one of ours", sh->client_port);
	expect_reset(fd[hit], DEADLINE_MS, "waiting for the orphan-memory reset");
	close(fd[hit]);
	/* The others' server ends are orphans or gone: vanish silently, no FIN to answer. */
	for (i = 0; i < OM_CONNS; i++)
		if (i != hit)
			repair_close(fd[i]);
	tell(tx, 'D');
}

static void cli_flood(void)
{
	struct timeval tv = { DEADLINE_MS / 1000, 0 };
	long i, refused = 0, errors = 0;
	int fd, err;

	for (i = 0; i < count; i++) {
		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0)
			fail(errno, "socket");
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
			fail(errno, "setsockopt SO_SNDTIMEO");
		if (have_cli)
			client_bind(fd);
		err = try_connect(fd);
		if (!err)
			fail(EISCONN, "connection %ld succeeded, something listens on port %d",
			     i + 1, port);
		if (err == ECONNREFUSED)
			refused++;
		else
			errors++;
		close(fd);
	}
	sh->sent = count;
	sh->refused = refused;
	sh->errors = errors;
	sh->expect_rsts = refused;
}

static void srv_flood_linger(void)
{
	struct rlimit rl;
	struct pollfd *pf;
	long long deadline = 0;
	bool done = false;
	int lfd, n = 2, i, fd;
	char buf[256];
	ssize_t r;

	/* Connections come and go quickly; allow many of them to be open at once anyway. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lfd = tcp_listen(4096, 0);
	if (fcntl(lfd, F_SETFL, O_NONBLOCK))
		fail(errno, "fcntl O_NONBLOCK");
	pf = calloc(2, sizeof(*pf));
	if (!pf)
		fail(ENOMEM, "calloc");
	pf[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	pf[1] = (struct pollfd){ .fd = rx, .events = POLLIN };
	tell(tx, 'L');
	for (;;) {
		if (poll(pf, n, 100) < 0 && errno != EINTR)
			fail(errno, "poll");
		if (pf[1].revents) {
			hear(rx, 'F', "waiting for the client to finish", 0);
			done = true;
			deadline = now_ms() + DEADLINE_MS;
			pf[1].fd = -1;
		}
		while ((pf[0].revents & POLLIN) || done) {
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0) {
				if (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR)
					break;
				fail(errno, "accept");
			}
			pf = realloc(pf, (n + 1) * sizeof(*pf));
			if (!pf)
				fail(ENOMEM, "realloc");
			pf[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
		}
		for (i = 2; i < n; i++) {
			if (!pf[i].revents)
				continue;
			r = read(pf[i].fd, buf, sizeof(buf));
			if (r > 0 || (r < 0 && errno == EAGAIN))
				continue;
			/* end of file or reset: forget the connection */
			close(pf[i].fd);
			pf[i--] = pf[--n];
		}
		if (done) {
			if (n == 2 && tcp_info(lfd).tcpi_unacked == 0)
				break;
			if (now_ms() > deadline)
				fail(ETIMEDOUT, "waiting for %d reset connections to drain", n - 2);
		}
	}
	close(lfd);
	free(pf);
}

static void cli_flood_linger(void)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	long i;
	int fd;

	hear(rx, 'L', "waiting for the server to listen", DEADLINE_MS);
	for (i = 0; i < count; i++) {
		fd = client_connect(NULL);
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			fail(errno, "setsockopt SO_LINGER");
		close(fd);
	}
	sh->sent = count;
	sh->expect_rsts = count;
	tell(tx, 'F');
}

#define TO_CLIENT .rst_from = SERVER, .to = W_CLIENT
static const struct scenario scenarios[] = {
	{ "no-listener", "nol", NULL, cli_no_listener, 0, 1, "no-listener", "tcp-stack",
	  TO_CLIENT, .to_port = true, .state = "none", .owner = W_NONE },
	{ "no-connection", "noc", srv_no_connection, cli_write_to_vanished, 0, 1,
	  "no-connection", "tcp-stack", TO_CLIENT, .to_port = true, .owner = W_NONE },
	{ "stray-ack", "sack", srv_stray_ack, cli_write_to_vanished, 0, 1, "no-connection",
	  "tcp-stack", TO_CLIENT, .to_port = true, .state = "LISTEN", .owner = W_SERVER },
	/* the RSTs go to client ports rstgen does not all report */
	{ "listener-closed", "lcl", srv_listener_closed, cli_listener_closed, 0, 2,
	  "listener-closed", "application", TO_CLIENT, .state = "ESTABLISHED",
	  .owner = W_SERVER, .owner_pid = true },
	{ "accept-overflow", "aov", srv_accept_overflow, cli_accept_overflow, 0, 1,
	  "accept-overflow", "tcp-stack", TO_CLIENT, .state = "SYN_RECV", .owner = W_SERVER },
	{ "close-unread", "unr", srv_close_unread, cli_close_unread, 0, 1, "close-unread",
	  "application", TO_CLIENT, .to_port = true, .state = "ESTABLISHED", .owner = W_SERVER,
	  .owner_pid = true, .actor = W_SERVER, .unread = true },
	{ "close-linger0", "l0", srv_close_linger0, cli_wait_reset, 0, 1, "close-linger0",
	  "application", TO_CLIENT, .to_port = true, .state = "ESTABLISHED", .owner = W_SERVER,
	  .owner_pid = true, .actor = W_SERVER },
	{ "disconnect", "dis", srv_disconnect, cli_disconnect, 0, 1, "disconnect", "application",
	  .rst_from = CLIENT, .to = W_SERVER, .to_port = true, .state = "ESTABLISHED",
	  .owner = W_CLIENT, .owner_pid = true, .actor = W_CLIENT },
	{ "data-after-close", "dac", srv_to_timewait, cli_data_after_close, 0, 1,
	  "data-after-close", "application", TO_CLIENT, .to_port = true, .state = "FIN_WAIT2",
	  .owner = W_SERVER, .owner_pid = true },
	{ "fin-wait2-abort", "fw2", srv_fin_wait2_abort, cli_fin_wait2_abort, 0, 1,
	  "fin-wait2-abort", "application", TO_CLIENT, .to_port = true, .state = "FIN_WAIT2",
	  .owner = W_SERVER, .owner_pid = true },
	{ "keepalive-timeout", "ka", srv_keepalive, cli_keepalive, NEED_IF, 1,
	  "keepalive-timeout", "tcp-stack", TO_CLIENT, .to_port = true, .state = "ESTABLISHED",
	  .owner = W_SERVER, .owner_pid = true, .actor = W_NONE },
	{ "timewait", "tw", srv_to_timewait, cli_timewait, 0, 1, "timewait", "tcp-stack",
	  TO_CLIENT, .to_port = true, .owner = W_SERVER },
	/* the RST answers the spoofed SYN: it goes to the spoofed address */
	{ "bad-segment", "bad", srv_bad_segment, cli_bad_segment, NEED_SPOOF, 1, "bad-segment",
	  "tcp-stack", .rst_from = SERVER, .to = W_SPOOF, .to_port = true, .owner = W_SERVER },
	{ "socket-destroy", "sd", srv_socket_destroy, cli_socket_destroy, 0, 1, "socket-destroy",
	  "admin", TO_CLIENT, .to_port = true, .state = "ESTABLISHED", .owner = W_SERVER,
	  .owner_pid = true, .actor = W_SS },
	{ "orphan-memory", "om", srv_orphan_memory, cli_orphan_memory, 0, 1, "orphan-memory",
	  "tcp-stack", TO_CLIENT, .to_port = true, .state = "FIN_WAIT2", .owner = W_SERVER,
	  .owner_pid = true },
	{ "no-reply", "nr", NULL, cli_no_reply, 0, 0, "none", "none", TO_CLIENT },
	{ "flood", "fl", NULL, cli_flood, 0, 0, "no-listener", "tcp-stack", TO_CLIENT,
	  .state = "none", .owner = W_NONE },
	{ "flood-linger", "fll", srv_flood_linger, cli_flood_linger, 0, 0, "close-linger0",
	  "application", .rst_from = CLIENT, .to = W_SERVER, .to_port = true,
	  .state = "ESTABLISHED", .owner = W_CLIENT, .owner_pid = true, .actor = W_CLIENT },
};
#undef TO_CLIENT

/* ---- process plumbing ------------------------------------------------------------------ */

static int s2c[2] = { -1, -1 }, c2s[2] = { -1, -1 }, s2p[2] = { -1, -1 };

static void child_name(enum side side, char *buf, size_t len)
{
	if (side == SERVER && server_comm)
		snprintf(buf, len, "%s", server_comm);	/* cut as the kernel cuts it */
	else
		snprintf(buf, len, "%s-%s", side == SERVER ? "srv" : "cli", sc->abbr);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static pid_t spawn(enum side side)
{
	pid_t parent = getpid(), pid;
	char name[16];

	pid = fork();
	if (pid < 0)
		fail(errno, "fork");
	if (pid)
		return pid;

	in_child = true;
	if (prctl(PR_SET_PDEATHSIG, SIGTERM))
		fail(errno, "prctl PR_SET_PDEATHSIG");
	if (getppid() != parent)
		_exit(1);
	child_name(side, name, sizeof(name));
	if (prctl(PR_SET_NAME, name))
		fail(errno, "prctl PR_SET_NAME");
	if (setns(side == SERVER ? srv_nsfd : cli_nsfd, CLONE_NEWNET))
		fail(errno, "setns %s", side == SERVER ? server_ns : client_ns);
	close_fd(&srv_nsfd);
	close_fd(&cli_nsfd);
	if (side == SERVER) {
		tx = s2c[1];
		rx = c2s[0];
		ready_fd = s2p[1];
		close_fd(&s2c[0]);
		close_fd(&c2s[1]);
	} else {
		tx = c2s[1];
		rx = s2c[0];
		close_fd(&s2c[1]);
		close_fd(&c2s[0]);
		close_fd(&s2p[1]);
	}
	close_fd(&s2p[0]);
	if (side == SERVER)
		sc->server();
	else
		sc->client();
	_exit(0);
}

/* what the tracer must report: expect_* lines (any: not checked, none: null) */
static void print_expect(void)
{
	printf("expect_cause=%s\n", sc->cause);
	printf("expect_origin=%s\n", sc->origin);
	printf("expect_to=%s\n", who_names[sc->to]);
	printf("expect_to_port=%d\n", sc->to_port);
	printf("expect_state=%s\n", sc->state ? sc->state : "any");
	printf("expect_owner=%s\n", who_names[sc->owner]);
	printf("expect_owner_pid=%d\n", sc->owner_pid);
	printf("expect_actor=%s\n", who_names[sc->actor]);
	if (sc->unread)
		printf("expect_unread_bytes=%d\n", sh->unread);
}

static void print_result(pid_t spid, pid_t cpid, ino_t sino, ino_t cino)
{
	char sname[16] = "", cname[16];

	if (spid)
		child_name(SERVER, sname, sizeof(sname));
	child_name(CLIENT, cname, sizeof(cname));
	printf("scenario=%s\n", sc->name);
	printf("cause=%s\n", sc->cause);
	printf("family=%d\n", family == AF_INET6 ? 6 : 4);
	printf("server_pid=%d\n", (int)spid);
	printf("server_comm=%s\n", sname);
	printf("client_pid=%d\n", (int)cpid);
	printf("client_comm=%s\n", cname);
	printf("server_netns=%lu\n", (unsigned long)sino);
	printf("client_netns=%lu\n", (unsigned long)cino);
	printf("server_port=%d\n", port);
	printf("client_port=%d\n", sh->client_port);
	printf("rst_from=%s\n", sc->rst_from == SERVER ? "server" : "client");
	printf("expect_rsts=%d\n", sh->expect_rsts);
	if (sh->unread)
		printf("unread_bytes=%d\n", sh->unread);
	print_expect();
	if (sc->client == cli_flood || sc->client == cli_flood_linger)
		printf("sent=%ld\n", sh->sent);
	if (sc->client == cli_flood) {
		printf("refused=%ld\n", sh->refused);
		printf("errors=%ld\n", sh->errors);
	}
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rstgen SCENARIO --server-ns PATH --client-ns PATH -a SERVER_ADDR\n"
		   "              -p PORT [-c CLIENT_ADDR] [--spoof ADDR] [--client-if IFNAME]\n"
		   "              [-n COUNT] [--server-comm NAME]\n"
		   "       rstgen --list\n");
}

__attribute__((noreturn))
static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("rstgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "server-ns", required_argument, NULL, 'S' },
		{ "client-ns", required_argument, NULL, 'C' },
		{ "spoof", required_argument, NULL, 's' },
		{ "client-if", required_argument, NULL, 'i' },
		{ "server-comm", required_argument, NULL, 'N' },
		{ "list", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *client_addr = NULL, *spoof = NULL;
	pid_t spid = 0, cpid, pid, alive[2];
	int opt, status, nalive = 0, i;
	struct stat sst, cst;
	bool bad = false;
	size_t k;
	char *end;

	while ((opt = getopt_long(argc, argv, "a:p:c:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			server_ns = optarg;
			break;
		case 'C':
			client_ns = optarg;
			break;
		case 'a':
			server_addr = optarg;
			break;
		case 'p':
			port = (int)strtol(optarg, &end, 10);
			if (*end || port <= 0 || port > 65535)
				bad_usage("bad port '%s'", optarg);
			break;
		case 'c':
			client_addr = optarg;
			break;
		case 's':
			spoof = optarg;
			break;
		case 'i':
			client_if = optarg;
			break;
		case 'N':
			server_comm = optarg;
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count <= 0)
				bad_usage("bad count '%s'", optarg);
			break;
		case 'l':
			for (k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++)
				puts(scenarios[k].name);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1)
		bad_usage("exactly one SCENARIO expected (see --list)");
	for (k = 0; k < sizeof(scenarios) / sizeof(scenarios[0]); k++)
		if (!strcmp(argv[optind], scenarios[k].name))
			sc = &scenarios[k];
	if (!sc)
		bad_usage("unknown scenario '%s' (see --list)", argv[optind]);
	if (!server_ns || !client_ns || !server_addr || !port)
		bad_usage("--server-ns, --client-ns, -a and -p are required");
	if ((sc->needs & NEED_SPOOF) && !spoof)
		bad_usage("%s needs --spoof", sc->name);
	if ((sc->needs & NEED_IF) && !client_if)
		bad_usage("%s needs --client-if", sc->name);
	if (client_if && strlen(client_if) >= IFNAMSIZ)
		bad_usage("interface name '%s' too long", client_if);

	family = strchr(server_addr, ':') ? AF_INET6 : AF_INET;
	salen = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (!parse_addr(server_addr, &srv_sa))
		bad_usage("bad server address '%s'", server_addr);
	sa_set_port(&srv_sa, port);
	have_cli = client_addr;
	if (have_cli && !parse_addr(client_addr, &cli_sa))
		bad_usage("bad client address '%s' (must be IPv%d)", client_addr,
			  family == AF_INET6 ? 6 : 4);
	have_spoof = spoof;
	if (have_spoof && !parse_addr(spoof, &spoof_sa))
		bad_usage("bad spoof address '%s' (must be IPv%d)", spoof,
			  family == AF_INET6 ? 6 : 4);
	if (have_spoof)
		sa_set_port(&spoof_sa, 20000 + getpid() % 30000);

	srv_nsfd = open(server_ns, O_RDONLY | O_CLOEXEC);
	if (srv_nsfd < 0)
		fail(errno, "open %s", server_ns);
	cli_nsfd = open(client_ns, O_RDONLY | O_CLOEXEC);
	if (cli_nsfd < 0)
		fail(errno, "open %s", client_ns);
	if (fstat(srv_nsfd, &sst) || fstat(cli_nsfd, &cst))
		fail(errno, "fstat network namespace");
	if (stat("/proc/self/ns/net", &home_ns))
		fail(errno, "stat /proc/self/ns/net");

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		fail(errno, "mmap");
	memset(sh, 0, sizeof(*sh));
	sh->expect_rsts = sc->expect_rsts;
	if (pipe2(s2c, O_CLOEXEC) || pipe2(c2s, O_CLOEXEC) || pipe2(s2p, O_CLOEXEC))
		fail(errno, "pipe");
	if (sc->server == srv_orphan_memory)
		orphan_memory_precheck();
	signal(SIGPIPE, SIG_IGN);
	fflush(stdout);

	if (sc->server) {
		spid = spawn(SERVER);
		alive[nalive++] = spid;
	}
	cpid = spawn(CLIENT);
	alive[nalive++] = cpid;
	close_fd(&s2c[0]);
	close_fd(&s2c[1]);
	close_fd(&c2s[0]);
	close_fd(&c2s[1]);
	close_fd(&s2p[1]);

	if (sc->server == srv_socket_destroy) {
		long long deadline = now_ms() + 2 * DEADLINE_MS;
		char c;

		/* EOF (server gone) falls through to the reaping below. */
		if (poll_one(s2p[0], POLLIN, deadline) && read(s2p[0], &c, 1) == 1) {
			print_result(spid, cpid, sst.st_ino, cst.st_ino);
			puts("ready=1");
			fflush(stdout);
		}
	}

	while (nalive) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			fail(errno, "waitpid");
		}
		for (i = 0; i < nalive; i++)
			if (alive[i] == pid)
				alive[i] = alive[--nalive];
		if (WIFEXITED(status) && !WEXITSTATUS(status))
			continue;
		if (!bad) {
			bad = true;
			for (i = 0; i < nalive; i++)
				kill(alive[i], SIGTERM);
		}
		if (!sh->failed) {
			sh->failed = 1;
			if (WIFSIGNALED(status))
				snprintf(sh->err, sizeof(sh->err),
					 "rstgen: %s: %s process: killed by signal %d\n", sc->name,
					 pid == spid ? "server" : "client", WTERMSIG(status));
			else
				snprintf(sh->err, sizeof(sh->err),
					 "rstgen: %s: %s process: exit status %d\n", sc->name,
					 pid == spid ? "server" : "client", WEXITSTATUS(status));
		}
	}
	if (bad) {
		fputs(sh->err, stderr);
		return 1;
	}
	if (sc->server != srv_socket_destroy)
		print_result(spid, cpid, sst.st_ino, cst.st_ino);
	return 0;
}
