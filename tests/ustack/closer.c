// SPDX-License-Identifier: GPL-2.0
/*
 * A process that resets a connection from a function with a telling name, for tests/ustack.bats:
 * it connects to its own listener, sends from the client side, and closes the accepted socket
 * without reading what arrived (close-unread). Built with and without frame pointers.
 *
 *   closer PORT MODE    MODE: plain (then wait for SIGTERM), exit (then exit at once),
 *                       lib (the close happens in a hidden function of liblibcloser.so),
 *                       deep N (N nested calls before the close), deleted (the binary
 *                       removes itself first), many N (N connections, one after the other:
 *                       for measurements)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int lib_entry(int fd) __attribute__((weak));	/* liblibcloser.so, for MODE lib */

__attribute__((noinline)) int reject_unread_connection(int fd)
{
	int r = close(fd);

	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) int nest_before_close(int fd, int depth)
{
	int r;

	if (depth <= 0)
		return reject_unread_connection(fd);
	r = nest_before_close(fd, depth - 1);
	__asm__ volatile("" ::: "memory");
	return r;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1, ls, c, s;
	const char *mode;

	if (argc < 3)
		return 2;
	mode = argv[2];
	a.sin_port = htons(atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (void *)&a, sizeof(a)) || listen(ls, 8))
		return perror("listen"), 1;
	for (int i = 1; !strcmp(mode, "many") && i < atoi(argv[3]); i++) {
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (void *)&a, sizeof(a)))
			return perror("connect"), 1;
		s = accept(ls, NULL, NULL);
		if (s < 0 || write(c, "unread", 6) != 6)
			return 1;
		usleep(20000);
		reject_unread_connection(s);
		close(c);
	}
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (void *)&a, sizeof(a)))
		return perror("connect"), 1;
	s = accept(ls, NULL, NULL);
	if (s < 0 || write(c, "unread", 6) != 6)
		return 1;
	usleep(100000);		/* the bytes arrive: the close below finds them unread */
	if (!strcmp(mode, "deleted")) {
		char exe[4096];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

		if (n <= 0)
			return 1;
		exe[n] = 0;
		if (unlink(exe))
			return perror("unlink"), 1;
	}
	if (!strcmp(mode, "lib") && lib_entry)
		lib_entry(s);
	else if (!strcmp(mode, "deep"))
		nest_before_close(s, argc > 3 ? atoi(argv[3]) : 100);
	else
		reject_unread_connection(s);
	if (!strcmp(mode, "exit"))
		_exit(0);
	printf("closed %d\n", (int)getpid());
	fflush(stdout);
	pause();
	return 0;
}
