/* SPDX-License-Identifier: MIT
 *
 * Internals of the query log shared by its files (qlog.c, json.c, dnstap.c,
 * privacy.c) and their unit tests, and by nothing else.
 */
#ifndef VG_QLOG_IMPL_H
#define VG_QLOG_IMPL_H

#include "qlog/qlog.h"

/* ---- one event as the worker copied it into its ring ---- */

enum { REC_CLIENT = 1, REC_UP_QUERY, REC_UP_RESPONSE };
enum {
	REC_F_CACHE = 1,  /* answered from the cache */
	REC_F_JSON = 2,   /* sampled for the JSON log */
	REC_F_RD = 4,     /* upstream query: RD, DO */
	REC_F_DO = 8,
	REC_F_TLS = 16,   /* upstream over TLS */
	REC_F_HELD = 32,  /* client: tr is the batch (vg_qlog_sent) the answer went out with */
};

/* The fixed part; then qlen bytes of query (upstream: the qname), rlen of
 * response, and the strings (no terminators) in the order of the lengths. */
struct vg__qlog_rec {
	uint8_t kind, transport, sec, flags;
	uint16_t qlen, rlen, qtype;
	uint8_t id_len, fp_len, subj_len, act_len, src_len;
	uint16_t rule_len;
	struct vg_sockaddr addr;  /* the client, or the upstream server */
	int64_t tq, tr;           /* wall clock ns: query, response (in the ring: the
				   * monotonic clock, or for REC_F_HELD tr the batch) */
};

/** The record's variable parts, located. */
struct vg__qlog_view {
	const struct vg__qlog_rec *h;
	const uint8_t *query, *resp;
	const char *id, *fp, *subj, *act, *src, *rule;
};
/** Locate the parts of the record @p rec (@p len bytes); false when it is short. */
bool vg__qlog_view(const void *rec, size_t len, struct vg__qlog_view *v);

/* ---- privacy.c: what the logs show of a client address ---- */

struct vg__qlog_priv {
	enum vg_qlog_addr mode;
	unsigned v4, v6;        /* truncate: bits kept */
	unsigned rotate_s;      /* pseudonym: key lifetime */
	int64_t period;         /* pseudonym: the key's period (time / rotate_s), -1 none yet */
	uint8_t key[32];
};
void vg__qlog_priv_init(struct vg__qlog_priv *pv, const struct vg_qlog_opts *o);
/**
 * The address to log for @p sa at wall time @p now_s: into @p out (4 bytes
 * for IPv4, 16 for IPv6), kept, truncated or a pseudonym (the first bytes
 * of a keyed BLAKE2b hash of the address; a new random key every rotate_s
 * seconds).  Returns the family (AF_INET, AF_INET6) or 0.
 */
int vg__qlog_priv_addr(struct vg__qlog_priv *pv, const struct sockaddr *sa, int64_t now_s,
		       uint8_t out[16]);
/** The same as text: an address, or for pseudonyms 16 hex digits. */
size_t vg__qlog_priv_str(struct vg__qlog_priv *pv, const struct sockaddr *sa, int64_t now_s,
			 char *buf, size_t cap);

/* ---- json.c ---- */

/**
 * Escape @p n bytes of @p s as the body of a JSON string into @p o (@p cap
 * bytes, NUL-terminated): quotes, backslashes, controls and every byte past
 * ASCII as \u00XX, so the line is valid JSON whatever a name holds.  The
 * length written; cut (at a whole escape) when @p cap is short.
 */
size_t vg__qlog_json_str(char *o, size_t cap, const void *s, size_t n);
/** One JSON line (no newline) for the client event @p v into @p out; its length, 0: none. */
size_t vg__qlog_json_line(const struct vg__qlog_view *v, struct vg__qlog_priv *pv,
			  uint32_t fields, char *out, size_t cap);

/* ---- dnstap.c ---- */

/**
 * The dnstap frame (a packed Dnstap protobuf) of message type @p type
 * (VG_DNSTAP_*) for the event @p v, in a malloc'd buffer (*@p out, *@p len).
 * 0, or a negative code (nothing to write: e.g. a response type for a query
 * that had no answer).
 */
int vg__dnstap_encode(const struct vg__qlog_view *v, unsigned type, struct vg__qlog_priv *pv,
		      const char *identity, uint8_t **out, size_t *len);

struct vg__dnstap;
/** Open the fstrm output: @p socket_path (unix, bidirectional) or @p file_path. */
int vg__dnstap_open(struct vg__dnstap **out, const char *socket_path, const char *file_path,
		    char *err, size_t errlen);
/** Hand one frame (malloc'd, now fstrm's) to the output; false: dropped. */
bool vg__dnstap_submit(struct vg__dnstap *d, uint8_t *frame, size_t len);
/** Flush and close. */
void vg__dnstap_close(struct vg__dnstap *d);

#endif
