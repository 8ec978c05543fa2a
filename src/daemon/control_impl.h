/* SPDX-License-Identifier: MIT
 *
 * The control socket's internals, shared by its two files: control.c (the
 * connections, TLS, start and stop) and ctlcmd.c (the commands).
 */
#ifndef VG_DAEMON_CONTROL_IMPL_H
#define VG_DAEMON_CONTROL_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/un.h>

#include <uv.h>

#include "ctl/ctlproto.h"
#include "daemon/daemon.h"
#include "upstream/upstream.h"


#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

#define CTL_MAX_CONNS 16
#define CTL_IDLE_MS 10000 /* a client that sends no full request line in this is closed */
#define CTL_PAUSE_MAX_MIN (7 * 24 * 60)
#define CTL_UP_MAX 1000      /* servers in one upstreams answer (and per worker) */
#define CTL_UP_WAIT_MS 2000  /* workers that have not replied by then are named */
#define CTL_PENDING 1        /* a command that answers later (upstreams) */

/* One worker's part of an upstreams request: posted to the worker
 * (vg_worker_post), which copies its infra table into info and moves phase
 * from UP_POSTED to UP_COPIED (the copy is complete: release), signals the
 * main loop (up_async), then to UP_DONE: from then on it touches neither the
 * job nor the control.  The main thread reads info after it saw UP_COPIED
 * (acquire) and posts the job again only after UP_DONE. */
enum { UP_IDLE, UP_POSTED, UP_COPIED, UP_DONE };
struct upjob {
	struct vg_worker_job job;
	struct vg_control *ctl;
	atomic_int phase;
	bool asked;      /* this request's job is posted to the worker (main thread only) */
	uint32_t unknown_ms;
	size_t n;
	struct vg_infra_info *info; /* CTL_UP_MAX */
};

struct conn {
	union {
		uv_pipe_t pipe;   /* the unix socket */
		uv_tcp_t tcp;     /* control.listen-tls */
	} h;
	struct vg_tls_conn *tls; /* TLS: the session; NULL on the unix socket */
	bool tls_checked;        /* the client's certificate was looked at */
	bool close_after;        /* TLS: close once the writes went out */
	unsigned writes;         /* TLS: writes in flight */
	char who[320];           /* for the log: "uid 0 (pid 1)", "TLS client ... (CN=..)" */
	uv_timer_t idle;
	uv_write_t wr;
	struct vg_control *ctl;
	struct conn *next;
	unsigned closing;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t len;
	char line[VG_CTL_LINE_MAX + 1];
	char *resp;
	uint8_t rx[4096];        /* TLS: ciphertext read */
};

struct vg_control {
	struct daemon *d;
	uv_pipe_t srv;
	uv_timer_t pause_timer;
	bool srv_open;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	uid_t owner;
	gid_t group;
	uint64_t started_ms;
	struct conn *conns;
	unsigned n_conns;
	bool stopping;
	unsigned open_handles; /* srv, pause_timer, up_async, up_timer while stopping */
	/* the upstreams request in progress (one at a time) */
	struct upjob *up;      /* one per worker */
	uv_async_t up_async;   /* a worker copied its table */
	uv_timer_t up_timer;   /* CTL_UP_WAIT_MS */
	struct conn *up_conn;  /* who asked, NULL: none (or it left) */
	bool up_json, up_busy;
	/* remote access (control.listen-tls): TCP+TLS, a client certificate required */
	uv_tcp_t tls_srv;
	bool tls_open;
	struct vg_tls_ctx *tls_ctx;
	char tls_addr[64];
	/* pauses by group name; mapped to the policy's indexes in d->shared.paused */
	struct pause {
		char group[64];
		uint64_t until_ms; /* uv_now clock (the workers' io.now_ms is uv_now too) */
		uid_t by;
	} pauses[VG_POLICY_MAX_GROUPS];
};


/* A command's output: text for people or one JSON object (ctlproto.h). */
struct out {
	FILE *f;
	bool json;
};

/* One command's call: where its output and the reason of a failure go. */
struct ctx {
	struct vg_control *ctl;
	struct daemon *d;
	struct out o;
	struct conn *c;
	FILE *err; /* the reason of a failure */
};

/* 0, CTL_PENDING (it answers later), or negative with the reason in x->err. */
typedef int (*cmd_fn)(struct ctx *x, int argc, char **argv);

struct command {
	const char *name;
	cmd_fn fn;
	const char *what;
};

/* ctlcmd.c: the command called @p name, or NULL. */
const struct command *vg__ctl_command(const char *name);
/* ctlcmd.c: a worker copied its table (upstreams); the job's wait is over. */
void vg__ctl_on_up_async(uv_async_t *a);
void vg__ctl_up_wait_done(struct upjob *j);
/* control.c: answer @p c (@p resp: "ok\n" + body, malloc'd, taken) and close. */
void vg__ctl_reply(struct conn *c, char *resp, size_t len);
/* control.c: answer @p c with "error" and @p msg (text or JSON) and close. */
void vg__ctl_reply_error(struct conn *c, bool json, const char *msg);

#endif
