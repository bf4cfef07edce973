/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small pieces every program of the tree needs (rstwhy, its subcommands, tools/rstgen.c and
 * tools/stormgen.c): exit codes, a monotonic clock, reading a small file. Header-only, so the
 * one-file tools can include it without linking anything.
 */
#ifndef RW_UTIL_H
#define RW_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* exit statuses of rstwhy and every subcommand */
#define EXIT_OK		0
#define EXIT_ENV	1	/* environment or data: privileges, BTF, a file, a failed output */
#define EXIT_USAGE	2	/* bad command line */

/* CLOCK_MONOTONIC in milliseconds */
static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in seconds */
static inline double mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Read at most len - 1 bytes of a small file (/proc, /sys) into buf, NUL-terminated.
 * Returns the number of bytes read, or -1 (errno set) when it cannot be opened or read.
 */
static inline ssize_t read_small_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* a file holding one integer (/proc/sys/...): false when absent or empty */
static inline bool read_int_file(const char *path, int *val)
{
	char buf[32];

	if (read_small_file(path, buf, sizeof(buf)) <= 0)
		return false;
	*val = atoi(buf);
	return true;
}

#endif
