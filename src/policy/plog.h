/* SPDX-License-Identifier: MIT
 *
 * The policy decision log (plog.c): JSON lines through per-worker bounded
 * rings to one writer thread; a worker never waits (a full ring counts the
 * line as dropped).
 */
#ifndef VG_POLICY_PLOG_H
#define VG_POLICY_PLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "vigil/err.h"

struct vg_plog;

/**
 * Start the writer for @p target: a file path (appended to) or "syslog";
 * one ring per worker.  0, or a negative code (the file cannot be opened).
 */
int vg_plog_start(struct vg_plog **out, const char *target, unsigned workers);
/** Write what is queued, stop the thread, close. */
void vg_plog_stop(struct vg_plog *l);
/** Reopen the file before the next line (log rotation; SIGHUP). */
void vg_plog_reopen(struct vg_plog *l);
uint64_t vg_plog_dropped(const struct vg_plog *l);
uint64_t vg_plog_written(const struct vg_plog *l);

/** One decision; strings are borrowed for the call. */
struct vg_plog_entry {
	const char *client;    /* address as text */
	unsigned port;
	const char *transport; /* "udp", "tcp", "dot", "doh" */
	const char *client_id; /* TLS / HTTP client ID, or NULL (then not written) */
	const char *client_cert;    /* "sha256:..." of the client certificate, or NULL */
	const char *client_subject; /* its subject (RFC 2253), or NULL */
	const char *group;
	const char *group_by;  /* why that group: "address", "client-id", "client-cert",
				* "client-cert-subject" (NULL: not written) */
	const char *qname;     /* presentation form */
	const char *qtype;     /* mnemonic: "A", "AAAA", "HTTPS", "TYPE65280" */
	const char *source;
	const char *trigger;   /* "qname", "client-ip", "response-ip", "nsdname", "nsip",
				* "allowlist" */
	const char *rule;      /* the matched rule, as written in explain / EDE */
	const char *action;    /* "nxdomain", "nodata", "drop", ... */
	unsigned ede;
	unsigned stage;         /* CNAME chain stage of the match (0: the qname) */
	const char *stage_name; /* stage > 0: the name that matched ("stage",
				 * "stage_name" are written only then) */
};

/** Queue one line from worker @p worker.  False when dropped (ring full). */
bool vg_plog_write(struct vg_plog *l, unsigned worker, const struct vg_plog_entry *e);

#endif
