/* SPDX-License-Identifier: MIT
 *
 * Query logs: a JSON line per client query (json.c) and dnstap messages
 * (dnstap.c), with the client addresses kept whole, truncated to a prefix
 * or replaced by a keyed pseudonym (privacy.c).
 *
 * The request pipeline taps every client answer and every upstream query
 * and response: the worker copies what it saw (addresses, the query and
 * answer bytes, the policy's decision, a few flags) into its own bounded
 * ring (core/ring.h) and goes on; a full ring counts a drop.  One writer
 * thread (qlog.c) drains the rings and does all the formatting: names,
 * answer summaries, JSON, protobuf, the pseudonyms, the files' rotation.
 */
#ifndef VG_QLOG_H
#define VG_QLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "vigil/err.h"

/* dnstap message types (dnstap.messages; bit per type) */
enum {
	VG_DNSTAP_CLIENT_QUERY = 1u << 0,
	VG_DNSTAP_CLIENT_RESPONSE = 1u << 1,
	VG_DNSTAP_RESOLVER_QUERY = 1u << 2,
	VG_DNSTAP_RESOLVER_RESPONSE = 1u << 3,
};

/* what the logs keep of a client address (log.queries.client-address) */
enum vg_qlog_addr {
	VG_QLOG_ADDR_FULL = 0,
	VG_QLOG_ADDR_TRUNCATE, /* the first ipv4-prefix / ipv6-prefix bits, the rest zero */
	VG_QLOG_ADDR_PSEUDONYM /* a keyed hash, the key rotated every pseudonym-rotate */
};

/* the JSON log's fields (log.queries.fields), in the order they are written */
enum vg_qlog_field {
	VG_QF_TIME, VG_QF_CLIENT, VG_QF_PORT, VG_QF_TRANSPORT, VG_QF_IDENTITY, VG_QF_NAME,
	VG_QF_TYPE, VG_QF_RCODE, VG_QF_ANSWER, VG_QF_POLICY, VG_QF_VALIDATION, VG_QF_LATENCY,
	VG_QF_CACHE, VG_QF_COUNT
};
#define VG_QF_ALL ((1u << VG_QF_COUNT) - 1)
/** The field's JSON key ("time", "client", ...); NULL past the last. */
const char *vg_qlog_field_name(unsigned f);
/** The field named @p s (or "identity" and the rest), or a negative code. */
int vg_qlog_field_parse(const char *s);

/** Settings (log.queries and dnstap). */
struct vg_qlog_opts {
	/* the JSON query log */
	char file[512];             /* path; "" no JSON log */
	unsigned sample;            /* 1 in N client queries (0 or 1: every one) */
	uint32_t fields;            /* bits of enum vg_qlog_field (0: all) */
	size_t rotate_size;         /* bytes; 0: no rotation by size */
	unsigned rotate_interval_s; /* seconds; 0: no rotation by time */
	unsigned keep;              /* rotated files kept (file.1 ... file.N), default 7 */
	/* privacy (both outputs) */
	enum vg_qlog_addr addr_mode;
	unsigned v4_prefix, v6_prefix;  /* truncate: bits kept, default 24 and 56 */
	unsigned pseudonym_rotate_s;    /* pseudonym: the key's lifetime, default 86400 */
	/* dnstap */
	char dnstap_socket[108];    /* a unix socket (fstrm, bidirectional); or */
	char dnstap_file[512];      /* a file (fstrm) */
	bool client_query, client_response, resolver_query, resolver_response; /* which */
	char dnstap_identity[64];   /* the Dnstap identity ("" the host name) */
	unsigned ring_kib;          /* per worker, default 4096 */
};

/** The settings' defaults (no outputs). */
void vg_qlog_opts_default(struct vg_qlog_opts *o);
/** Is any output configured? */
bool vg_qlog_opts_enabled(const struct vg_qlog_opts *o);

struct vg_qlog;

/**
 * Open the outputs of @p o (the JSON file, the dnstap file or socket) and
 * start the writer thread, one ring per worker.  0, or a negative code and
 * a reason in @p err (@p errlen bytes).
 */
int vg_qlog_start(struct vg_qlog **out, const struct vg_qlog_opts *o, unsigned workers,
		  char *err, size_t errlen);
/** Write what is queued, stop the writer, close the outputs. */
void vg_qlog_stop(struct vg_qlog *l);
/**
 * SIGHUP (log rotation by others): reopen the JSON file before the next
 * line, and start a new dnstap file when the old one was moved away (the
 * old one is finished first: complete and readable).  The writer thread
 * does it; the workers never wait.
 */
void vg_qlog_reopen(struct vg_qlog *l);
uint64_t vg_qlog_dropped(const struct vg_qlog *l);
/**
 * Events the writer thread could not write out: a JSON line the file did
 * not take (a write error such as a full disk, no file open after a failed
 * reopen or rotation), a dnstap frame the output's queue refused.
 */
uint64_t vg_qlog_lost(const struct vg_qlog *l);
/** Events the writer has handled (drained from the rings). */
uint64_t vg_qlog_handled(const struct vg_qlog *l);
/** Does the log want upstream queries / responses (dnstap resolver messages)? */
bool vg_qlog_wants_upstream(const struct vg_qlog *l);

/* ------------------------------------------------------------ the workers' side */

enum vg_qlog_transport { /* (= enum vg_transport of the pipeline) */
	VG_QLOG_T_NONE, VG_QLOG_T_UDP, VG_QLOG_T_TCP, VG_QLOG_T_DOT, VG_QLOG_T_DOH
};

/** A client query and its answer; everything borrowed for the call. */
struct vg_qlog_client {
	const struct sockaddr *addr;  /* the client */
	unsigned transport;           /* enum vg_qlog_transport */
	const char *id, *cert_fp, *cert_subject; /* identity, NULL or "": none */
	const uint8_t *query;         /* the query as received (NULL: unknown) */
	size_t qlen;
	const uint8_t *resp;          /* the answer as sent (len 0: nothing sent) */
	size_t rlen;
	/* the monotonic clock (CLOCK_MONOTONIC) in nanoseconds, as the worker
	 * read it for the metrics (the writer turns them into wall-clock times) */
	uint64_t t_query_ns, t_resp_ns;
	bool held;                    /* the send time comes with vg_qlog_sent, not t_resp_ns */
	bool cache_hit;
	uint8_t sec;                  /* enum vg_sec of the answer */
	const char *action, *source, *rule; /* the policy's decision, NULL: none */
};

/**
 * Queue the client event @p e from worker @p worker (a ring copy, nothing
 * else; a sampled-out query costs a counter).  False when it was dropped
 * (the worker's ring is full).
 */
bool vg_qlog_client(struct vg_qlog *l, unsigned worker, const struct vg_qlog_client *e);
/**
 * The answers of the client events @p worker queued as held since its last
 * call went out at @p tx_ns (monotonic): the writer holds those events back
 * until it knows that time.
 */
void vg_qlog_sent(struct vg_qlog *l, unsigned worker, uint64_t tx_ns);

/** An upstream query (@p resp NULL) or its response, @p to the server. */
struct vg_qlog_upstream {
	const struct sockaddr *to;
	bool tls;
	const uint8_t *qname;      /* the question (wire form) */
	uint16_t qtype;
	bool rd, do_bit;
	const uint8_t *resp;       /* the response (NULL: this is the query) */
	size_t rlen;
	uint64_t t_ns;             /* the monotonic clock, nanoseconds */
};
bool vg_qlog_upstream(struct vg_qlog *l, unsigned worker, const struct vg_qlog_upstream *e);

#endif
