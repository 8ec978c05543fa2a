/* SPDX-License-Identifier: MIT
 *
 * The daemon's state, shared by the files of src/daemon only (main.c owns
 * it; the stats, and the operator interfaces built on them, read it).  No
 * module below src/daemon includes this header.
 */
#ifndef VG_DAEMON_DAEMON_H
#define VG_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "daemon/config.h"
#include "net/net.h"

struct vg_autotrust;
struct vg_control;
struct vg_feed;
struct vg_tls_tickets;

#define VG_DAEMON_MAX_RETIRED 64 /* snapshots waiting to be freed */

struct daemon {
	const char *config_path;
	struct vg_shared shared;
	struct vg_worker *workers;
	unsigned n_workers;
	/* the snapshot in force, and the retired ones still to be freed (FIFO) */
	struct snap {
		struct vg_config *cfg;
		bool owns_cfg;     /* snapshots of one config share it; the newest owns it */
		struct vg_hints *h;
		struct vg_net_snapshot *ns; /* what the workers read: points into cfg and h */
		uint64_t gen;      /* retired: the generation that replaced it */
		uint64_t idle_at;  /* retired: when every worker had moved past it (0: not yet) */
	} cur, retired[VG_DAEMON_MAX_RETIRED];
	unsigned n_retired;
	uint64_t gen;
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	uv_timer_t reclaim;
	uv_fs_poll_t *watch[VG_POLICY_MAX_SOURCES]; /* each freed by its close callback */
	char watched[VG_POLICY_MAX_SOURCES][512];
	unsigned n_watch;
	bool refresh_pending;
	uv_timer_t refresh;
	struct vg_autotrust *autotrust; /* RFC 5011, when configured */
	/* RPZ feeds (src/feed), when configured */
	struct vg_feed *feed;
	uv_async_t feed_async;          /* a feed rewrote its file */
	/* TLS: the contexts in force (a snapshot takes its own references) and
	 * the session ticket keys every context shares, rotated by a timer */
	struct vg_tls_ctx *tls[VG_STREAM_KINDS];
	struct vg_tls_tickets *tickets;
	uv_timer_t ticket_timer;
	uv_timer_t cookie_timer;        /* a new DNS cookie key every day */
	struct vg_metrics *metrics;     /* the Prometheus endpoint (metrics.h), or NULL */
	struct vg_control *control;     /* vigilctl's socket (control.c), NULL: none */
	uid_t run_uid;                  /* who vigil becomes after binding (privs.c); */
	gid_t run_gid;                  /* -1: it stays who it is */
	char reload_error[4096];        /* why the last vg_daemon_reload failed */
};

/**
 * Load the config file again and publish it (SIGHUP): 0, or negative with
 * the reasons logged and kept in d->reload_error (the running config stays).
 */
int vg_daemon_reload(struct daemon *d);

/** One counter of the daemon's totals (summed over the workers). */
struct vg_stat {
	const char *name;     /* as in the stats line: "cache_hits" */
	uint64_t value;
};

#define VG_DAEMON_STATS_MAX 64

/**
 * The totals now: every worker's counters summed (relaxed reads, no lock),
 * and the cache's usage, in the stats line's order.  Returns how many were
 * written (at most @p cap).  Main thread.
 */
size_t vg_daemon_stats(struct daemon *d, struct vg_stat *out, size_t cap);
/** Log them as one line (SIGUSR1): "stats: queries=N udp=N ...". */
void vg_daemon_log_stats(struct daemon *d);

#endif
