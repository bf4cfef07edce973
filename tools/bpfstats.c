// SPDX-License-Identifier: GPL-2.0
/*
 * bpfstats: BPF run-time statistics (run_cnt, run_time_ns of every program) switched on for as
 * long as this process lives, through the file descriptor BPF_ENABLE_STATS returns. Unlike the
 * kernel.bpf_stats_enabled sysctl, nothing is left switched on if the caller dies: the kernel
 * counts the holders. Prints "ready" once the statistics are on, then waits for a signal.
 * Used by the benches (tools/bench-steady.sh).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

static void on_signal(int sig)
{
	(void)sig;
}

int main(void)
{
	int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);

	if (fd < 0) {
		fprintf(stderr, "bpfstats: BPF_ENABLE_STATS: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready\n");
	fflush(stdout);
	pause();
	close(fd);
	return 0;
}
