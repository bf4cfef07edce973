// SPDX-License-Identifier: GPL-2.0
/* A library whose closing function is not exported: stripped, it has no name for it. */
#include <unistd.h>

static __attribute__((noinline)) int hidden_close_in_library(int fd)
{
	int r = close(fd);

	__asm__ volatile("" ::: "memory");
	return r;
}

int lib_entry(int fd)
{
	int r = hidden_close_in_library(fd);

	__asm__ volatile("" ::: "memory");
	return r + 0;
}
