/* SPDX-License-Identifier: MIT
 *
 * The Prometheus metrics endpoint: HTTP/1.1 on metrics.listen, served from
 * the daemon's main loop (never a worker's).  GET /metrics (or HEAD) answers
 * the text exposition format 0.0.4 (expo.h); any other path 404, another
 * method 405.  One request per connection (Connection: close); a request is
 * at most VG_METRICS_REQ_MAX bytes, a connection lives at most
 * VG_METRICS_TIMEOUT_MS, and at most VG_METRICS_MAX_CONNS are open: a slow
 * or broken client holds nothing up.
 *
 * The values are summed at scrape time from every worker's counters (one
 * writer each, relaxed reads, no lock; the cache's usage takes its shard
 * locks), starting with the daemon's totals table (stats.c).
 */
#ifndef VG_DAEMON_METRICS_H
#define VG_DAEMON_METRICS_H

#include <stdbool.h>

#include "core/addr.h"

#define VG_METRICS_PORT 9153
#define VG_METRICS_REQ_MAX 4096
#define VG_METRICS_TIMEOUT_MS 5000
#define VG_METRICS_MAX_CONNS 16

/** The metrics section. */
struct vg_metrics_opts {
	bool enabled;          /* metrics.enabled (default no; yes when listen is set) */
	char listen[128];      /* metrics.listen as written, "" none */
	struct vg_sockaddr addr; /* listen parsed (without listen: 127.0.0.1@9153) */
};

struct daemon;
struct vg_metrics;
struct vg_expo;

/**
 * Listen on @p o->addr on the daemon's loop (called where the DNS sockets
 * are bound, before privileges are dropped).  *@p out is NULL when metrics
 * are off.  0, or negative with the reason logged.
 */
int vg_metrics_start(struct vg_metrics **out, struct daemon *d, const struct vg_metrics_opts *o);
/** Close the listener and every connection (their handles close on the loop). */
void vg_metrics_stop(struct vg_metrics *m);
/** Free, after the loop ran the close callbacks.  @p m may be NULL. */
void vg_metrics_free(struct vg_metrics *m);

/** Write the scrape body: every metric of @p d now.  Main thread. */
void vg_metrics_write(struct daemon *d, struct vg_expo *e);

#endif
