/* SPDX-License-Identifier: GPL-2.0 */
/* --prometheus ADDR:PORT: /metrics in the Prometheus text format, served by its own thread. */
#ifndef RW_PROM_H
#define RW_PROM_H

#include <stdint.h>
#include "agg.h"
#include "listeners.h"
#include "netns.h"

/* at most this many namespaces get their TcpOutRsts series */
#define PROM_NS_MAX 256

struct prom;

/* parse "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT"; 0 or -1 with a message in err */
int prom_parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len, char *err,
		    size_t errlen);
/* bind and start serving; NULL with a message in err (address in use, ...) */
struct prom *prom_start(const struct sockaddr_storage *ss, socklen_t len, int max_series,
			char *err, size_t errlen);
/* publish a new snapshot (called by the tracing loop; never waits for a scraper) */
void prom_update(struct prom *p, const struct agg *a, const struct listeners *ls,
		 uint64_t lost, uint64_t captured, const char *build_labels);
/* the namespaces' TcpOutRsts and what was captured in each (call before prom_update) */
void prom_set_netns(struct prom *p, const struct ns_snapshot *snap,
		    uint64_t (*captured)(void *ctx, uint32_t ino), void *ctx);
void prom_stop(struct prom *p);

#endif
