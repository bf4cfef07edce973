// SPDX-License-Identifier: GPL-2.0
/*
 * holdconns: many established TCP connections that exist before a tracer starts, to measure
 * how long the tracer takes to learn their owners, and to check that it learns them right.
 *
 * Run it inside a network namespace (ip netns exec NS holdconns ...). W pairs of processes
 * share the N connections: a server (named "holdconns-srv") listening on PORT+i of ADDR and
 * accepting, and its client ("holdconns-cli") connecting; so that no process needs more than
 * N/W descriptors (ulimit -n). For each pair it prints
 *   server=PID client=PID port=PORT
 * then "ready=1" once every connection is established and accepted, and holds them. On
 * SIGUSR1 (sent to it) the first pair's client closes its first K connections with SO_LINGER 0 (each
 * sends a RST: close-linger0, owned by that client) and prints one line per reset,
 *   reset sport=LOCALPORT dport=SERVERPORT
 * then "resets=K". SIGTERM/SIGINT end every process.
 *
 * Raise the namespace's own limits first (ip_local_port_range, somaxconn) for large N.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PAIRS 64

static volatile sig_atomic_t got_usr1, got_term;

static void on_sig(int s)
{
	if (s == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "holdconns: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fputs("usage: holdconns [-a ADDR] [-p PORT] [-w W] [-n N] [-k K]\n"
	      "  -a ADDR   IPv4 address to listen on and connect to (default 127.0.0.1)\n"
	      "  -p PORT   first server port (default 15000)\n"
	      "  -w W      server/client process pairs, ports PORT..PORT+W-1 (default 1)\n"
	      "  -n N      connections in all (default 1000)\n"
	      "  -k K      connections reset on SIGUSR1 (default 3)\n", stderr);
	exit(2);
}

static void run_client(struct sockaddr_in sa, int n, int k, int first)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int *cfd = calloc(n, sizeof(*cfd));

	prctl(PR_SET_NAME, "holdconns-cli");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (!cfd)
		die("calloc");
	for (int i = 0; i < n && !got_term; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (cfd[i] < 0)
			die("socket (raise ulimit -n, or -w)");
		if (connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)))
			die("connect (raise the namespace's ip_local_port_range)");
	}
	while (!got_term) {
		pause();
		if (!got_usr1 || !first)
			continue;
		got_usr1 = 0;
		for (int i = 0; i < k; i++) {
			struct sockaddr_in me;
			socklen_t l = sizeof(me);

			if (cfd[i] < 0)
				continue;
			getsockname(cfd[i], (struct sockaddr *)&me, &l);
			setsockopt(cfd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(cfd[i]);
			cfd[i] = -1;
			printf("reset sport=%u dport=%u\n", ntohs(me.sin_port), ntohs(sa.sin_port));
		}
		printf("resets=%d\n", k);
	}
	exit(0);
}

/* one pair: listen, start the client, accept its n connections, tell the parent */
static void run_server(int lfd, struct sockaddr_in sa, int n, int k, int first, int ready_fd)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int accepted = 0;
	pid_t client;

	prctl(PR_SET_NAME, "holdconns-srv");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	client = fork();
	if (client < 0)
		die("fork");
	if (!client) {
		close(lfd);
		close(ready_fd);
		run_client(sa, n, k, first);
	}
	while (accepted < n && !got_term) {
		int fd;

		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			die("poll");
		while ((fd = accept4(pfd.fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			accepted++;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die("accept (raise ulimit -n, or -w)");
	}
	printf("server=%d client=%d port=%u\n", (int)getpid(), (int)client, ntohs(sa.sin_port));
	if (write(ready_fd, &client, sizeof(client)) != sizeof(client))
		die("write");
	while (!got_term)
		pause();
	kill(client, SIGTERM);
	waitpid(client, NULL, 0);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int port = 15000, pairs = 1, n = 1000, k = 3, c, pipefd[2];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sigaction act = { .sa_handler = on_sig };
	pid_t srv[MAX_PAIRS];
	int lfd[MAX_PAIRS];

	while ((c = getopt(argc, argv, "a:p:w:n:k:h")) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'w':
			pairs = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'k':
			k = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (pairs < 1 || pairs > MAX_PAIRS || n < pairs || k < 0 || k > n / pairs || port < 1 ||
	    port + pairs > 65536 || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		usage();
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGUSR1, &act, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe(pipefd))
		die("pipe");
	/* every listener first: no client may take a server port as its own */
	for (int i = 0; i < pairs; i++) {
		int one = 1;

		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (lfd[i] < 0)
			die("socket");
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sa.sin_port = htons(port + i);
		if (bind(lfd[i], (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd[i], 65535))
			die("bind/listen");
	}
	for (int i = 0; i < pairs; i++) {
		sa.sin_port = htons(port + i);
		srv[i] = fork();
		if (srv[i] < 0)
			die("fork");
		if (!srv[i]) {
			close(pipefd[0]);
			for (int j = 0; j < pairs; j++)
				if (j != i)
					close(lfd[j]);
			run_server(lfd[i], sa, n / pairs + (i < n % pairs), k, i == 0, pipefd[1]);
		}
		close(lfd[i]);
	}
	close(pipefd[1]);
	for (int i = 0; i < pairs; i++) {
		pid_t cl;

		if (read(pipefd[0], &cl, sizeof(cl)) != sizeof(cl)) {
			fprintf(stderr, "holdconns: a server failed\n");
			got_term = 1;
			break;
		}
	}
	if (!got_term)
		printf("ready=1\n");
	while (!got_term)
		pause();
	for (int i = 0; i < pairs; i++)
		kill(srv[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	return 0;
}
