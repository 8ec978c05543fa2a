/* SPDX-License-Identifier: MIT
 *
 * Inside the net module: a client stream connection (tcp.c), shared by the
 * DNS framing of TCP and DoT (tcp.c) and the HTTP/2 framing of DoH (doh.c).
 */
#ifndef VG_NET_STREAM_H
#define VG_NET_STREAM_H

#include "net/net.h"

struct vg_doh;

struct vg_tcp_conn {
	uv_tcp_t h;
	uv_timer_t idle;       /* idle timeout; the handshake timeout before that */
	struct vg_worker *w;
	struct vg_tcp_conn *next, *prev; /* the worker's list, newest first */
	enum vg_stream_kind kind;
	struct vg_tls_conn *tls; /* DoT, DoH; NULL for TCP and cleartext HTTP/2 */
	struct vg_doh *doh;      /* DoH and cleartext HTTP/2: the HTTP/2 session */
	uint8_t *buf;            /* plaintext read and not yet taken */
	size_t have, cap;
	unsigned inflight;       /* queries in the pipeline */
	unsigned long queries;   /* queries read so far */
	size_t wqueued;          /* bytes handed to uv_write, not yet written */
	unsigned refs;           /* requests in flight + writes pending + open handles */
	unsigned bucket;         /* per-address count (vg_shared.per_addr) */
	bool counted, linked, closing, reading, dispatching, established;
	bool in_feed;            /* inside vg_doh_input(): answers wait for its end */
	struct vg_client client;
};

/** Hand one query of the connection to the pipeline, as client @p cl. */
void vg__conn_query(struct vg_tcp_conn *c, const uint8_t *q, size_t len,
		    const struct vg_client *cl);
/** The query's answer went out (or nothing will): the connection may read on. */
void vg__conn_query_done(struct vg_tcp_conn *c);
/** Close the connection (idempotent); it is freed when nothing refers to it. */
void vg__conn_close(struct vg_tcp_conn *c);
/** Send plaintext bytes (encrypted on TLS connections); closes on failure. */
void vg__conn_write(struct vg_tcp_conn *c, const uint8_t *p, size_t len);

/* doh.c */
/** Set up the HTTP/2 session of a DoH or cleartext HTTP/2 connection. */
int vg__doh_start(struct vg_tcp_conn *c);
/** Cleartext bytes read from the socket (H2C). */
void vg__doh_input(struct vg_tcp_conn *c, const uint8_t *p, size_t len);
/** Take the plaintext in c->buf (DoH over TLS), and send what HTTP/2 has to send. */
void vg__doh_process(struct vg_tcp_conn *c);
/** An answer for a DoH query. */
void vg__doh_answer(struct vg_tcp_conn *c, int32_t stream, const uint8_t *pkt, size_t len);
void vg__doh_free(struct vg_tcp_conn *c);

#endif
