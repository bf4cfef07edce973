// SPDX-License-Identifier: GPL-2.0
/*
 * A server that hands its accepted connection over before it is reset, for the owner tests:
 *
 *   owner-srv scm PORT      the acceptor passes the socket to a handler process over a unix
 *                           socket (SCM_RIGHTS), closes its copy; the handler resets it
 *   owner-srv prefork PORT  the parent accepts, forks, closes its copy; the child resets it
 *   owner-srv pool PORT     a thread named acceptor accepts, a thread named pool-1 resets it
 *
 * The accepting side first writes to the socket (so that it is seen using it), the reset is a
 * close() with unread data and SO_LINGER 0. A client process connects over 127.0.0.1, sends a
 * byte and waits for the reset. Printed on stdout, once the reset is sent:
 *   accept_pid=N reset_pid=N reset_tid=N port=N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int port;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 8))
		die("listen");
	return fd;
}

static pid_t client(void)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[64];

	prctl(PR_SET_NAME, "owner-client");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect");
	if (write(fd, "x", 1) != 1)
		die("client write");
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(0);
}

static int accept_one(int lfd)
{
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		die("accept");
	if (write(fd, "hello\n", 6) != 6)
		die("server write");
	usleep(100000);		/* the client's byte arrives and stays unread */
	return fd;
}

/* close with unread data and SO_LINGER 0: the RST leaves from this call */
static void reset(int fd, pid_t accept_pid)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	printf("accept_pid=%d reset_pid=%d reset_tid=%d port=%d\n", accept_pid, getpid(),
	       gettid(), port);
	fflush(stdout);
}

static void scm(int lfd)
{
	int sp[2], fd;
	pid_t h;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		die("socketpair");
	h = fork();
	if (!h) {
		char b, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;

		prctl(PR_SET_NAME, "owner-handler");
		close(lfd);
		if (recvmsg(sp[1], &m, 0) != 1 || !(c = CMSG_FIRSTHDR(&m)))
			die("recvmsg");
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
		/* the acceptor has closed its copy: this is the only holder */
		if (read(sp[1], &b, 1) != 1)
			die("sync");
		reset(fd, getppid());
		_exit(0);
	}
	fd = accept_one(lfd);
	{
		char b = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(sp[0], &m, 0) != 1)
			die("sendmsg");
		close(fd);
		if (write(sp[0], &b, 1) != 1)
			die("sync");
	}
	waitpid(h, NULL, 0);
}

static void prefork(int lfd)
{
	int fd = accept_one(lfd), p[2];
	pid_t c;
	char b = 0;

	if (pipe(p))
		die("pipe");
	c = fork();
	if (!c) {
		prctl(PR_SET_NAME, "owner-child");
		if (read(p[0], &b, 1) != 1)
			die("sync");
		reset(fd, getppid());
		_exit(0);
	}
	close(fd);
	if (write(p[1], &b, 1) != 1)
		die("sync");
	waitpid(c, NULL, 0);
}

static int pool_fd = -1, lfd_g;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *acceptor(void *arg)
{
	int fd;

	prctl(PR_SET_NAME, "acceptor");
	fd = accept_one(lfd_g);
	pthread_mutex_lock(&mu);
	pool_fd = fd;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *pool(void *arg)
{
	prctl(PR_SET_NAME, "pool-1");
	pthread_mutex_lock(&mu);
	while (pool_fd < 0)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	reset(pool_fd, getpid());
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	pid_t cl;
	int lfd;

	if (argc != 3) {
		fprintf(stderr, "usage: owner-srv scm|prefork|pool PORT\n");
		return 2;
	}
	port = atoi(argv[2]);
	lfd = listener();
	cl = client();
	if (!strcmp(argv[1], "scm")) {
		prctl(PR_SET_NAME, "owner-acceptor");
		scm(lfd);
	} else if (!strcmp(argv[1], "prefork")) {
		prctl(PR_SET_NAME, "owner-parent");
		prefork(lfd);
	} else if (!strcmp(argv[1], "pool")) {
		prctl(PR_SET_NAME, "owner-pool");
		lfd_g = lfd;
		if (pthread_create(&b, NULL, pool, NULL) || pthread_create(&a, NULL, acceptor, NULL))
			die("pthread_create");
		pthread_join(a, NULL);
		pthread_join(b, NULL);
	} else {
		fprintf(stderr, "owner-srv: unknown scenario %s\n", argv[1]);
		return 2;
	}
	waitpid(cl, NULL, 0);
	return 0;
}
