/* SPDX-License-Identifier: MIT
 *
 * DNS-over-HTTPS (RFC 8484) for one HTTP/2 server connection, over memory
 * buffers.  This module owns the HTTP/2 session (Debian's libnghttp2), the
 * RFC 8484 request rules (GET ?dns=, POST application/dns-message, the
 * path and the client ID in it, the status codes), the Cache-Control of
 * answers and the HTTP/2 abuse limits.  It does no I/O: no socket, no loop,
 * no TLS, no clock.  The transport (src/net) feeds it the plaintext bytes
 * read from a TLS or cleartext h2 connection with vg_doh_input(), writes out
 * what vg_doh_output() produces, hands each query to the pipeline from the
 * query callback and each answer back with vg_doh_answer().
 *
 * Request rules (the HTTP status sent when one fails, checked in this order):
 *   - a header list over max_header_list bytes (RFC 7541 sizes: name +
 *     value + 32 each), or a forwarded header value over VG_DOH_FWD_MAX - 1
 *     bytes: 431;
 *   - the path is the configured one ("/dns-query"), or that path plus
 *     "/ID" with a client ID of 1..63 characters from [A-Za-z0-9-],
 *     lower-cased for the callback; any other path, including a malformed
 *     or empty ID, is 404 (it names no resource of ours);
 *   - a method other than GET and POST: 405 with "allow: GET, POST";
 *   - POST without content-type application/dns-message (parameters after
 *     ';' allowed, case-insensitive): 415;
 *   - a DNS message over max_msg bytes (POST body, or GET's dns= by its
 *     length before decoding): 413;
 *   - GET without exactly one dns= parameter, or with one that is not
 *     base64url without padding (RFC 8484 6: '=' or any character outside
 *     [A-Za-z0-9_-], an impossible length, non-zero trailing bits): 400;
 *     other query parameters are ignored, as is a dns= on a POST;
 *   - not a DNS query: shorter than a header, QR set, or a header vigil
 *     cannot use (vg_query_parse() returns VG_EMALFORMED): 400.  Other
 *     DNS-level problems (FORMERR, NOTIMP...) are the pipeline's to answer.
 *
 * Answers are 200 with content-type application/dns-message,
 * content-length and "cache-control: max-age=N": N is the smallest TTL of
 * the answer and authority records (a TTL with the top bit set counts as
 * 0, RFC 2181 8); when the answer section is empty (NXDOMAIN, NODATA) an
 * authority SOA counts with min(TTL, MINIMUM) as RFC 2308 5 and RFC 8484
 * 5.1 ask; with no record at all (SERVFAIL, REFUSED, a header-only answer)
 * N is 0, never left out, because a 200 without an explicit lifetime may
 * be cached heuristically by HTTP caches.
 *
 * Abuse limits, all per connection:
 *   - concurrent streams: advertised in SETTINGS_MAX_CONCURRENT_STREAMS and
 *     enforced by nghttp2 (streams over it are refused with RST_STREAM);
 *   - queries the pipeline still owes an answer for on streams the client
 *     has already reset ("orphans"): at most max_orphans; a new stream
 *     while the limit is reached is refused (RST_STREAM REFUSED_STREAM);
 *   - rapid reset (CVE-2023-44487), PING and SETTINGS floods and other
 *     frame floods (PRIORITY, DATA without payload or END_STREAM): counted
 *     per window of window_ms milliseconds of the caller's clock; over a
 *     limit the connection gets GOAWAY ENHANCE_YOUR_CALM and
 *     vg_doh_input() returns VG_ELIMIT;  nghttp2's own guards stay on as
 *     well (outbound PING/SETTINGS ACKs queued, SETTINGS entries per
 *     frame, CONTINUATION frames per header block);
 *   - request bodies and answers not yet sent: at most max_buffered bytes
 *     together; a request body that would exceed it has its stream refused
 *     (RST_STREAM REFUSED_STREAM), an answer that would exceed it is sent
 *     as 503 without body;
 *   - nghttp2's own memory (session, HPACK tables, frame queues) comes from
 *     a per-connection allocator capped at max_h2_mem bytes: past it
 *     nghttp2 fails and vg_doh_input() returns VG_ENOMEM.
 * Every allocation of a connection is thus bounded: one struct vg_doh, at
 * most max_streams + max_orphans stream records, max_buffered bytes of
 * bodies and answers, max_h2_mem bytes inside nghttp2.
 *
 * Threads: a session belongs to one thread (the worker owning the
 * connection); nothing here locks.
 */
#ifndef VG_HTTP_DOH_H
#define VG_HTTP_DOH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_DOH_PATH_MAX 64
#define VG_DOH_ID_MAX 64   /* client ID: 1..63 characters and the NUL (VG_CLIENT_ID_MAX) */
#define VG_DOH_FWD_MAX 256 /* forwarded header value and the NUL */
#define VG_DOH_MSG_MAX 65535

/**
 * Settings of the DoH front end (config section http:).  A zero or empty
 * field means its default, given in brackets.
 */
struct vg_doh_opts {
	char path[VG_DOH_PATH_MAX];  /* starts with '/', no '?' ["/dns-query"] */
	char forwarded_header[64];   /* header handed to the callback, e.g. "x-forwarded-for"
				      * or "forwarded" (any case) ["": none] */
	unsigned max_streams;        /* SETTINGS_MAX_CONCURRENT_STREAMS [100] */
	unsigned max_header_list;    /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced (431) [8192] */
	unsigned max_msg;            /* largest DNS query, <= 65535 (413) [65535] */
	unsigned max_orphans;        /* queries outstanding on reset streams [max_streams] */
	size_t max_buffered;         /* request bodies + unsent answers, bytes [1 MiB] */
	size_t max_h2_mem;           /* nghttp2's allocations, bytes [256 KiB; an idle session
				      * holds about 26 KiB, 80 open streams about 47 KiB] */
	unsigned window_ms;          /* the flood counters' window [10000] */
	unsigned max_resets;         /* RST_STREAM frames from the client per window [200] */
	unsigned max_pings;          /* PING frames (not ACKs) per window [100] */
	unsigned max_settings;       /* SETTINGS frames (not ACKs) per window [100] */
	unsigned max_other;          /* PRIORITY and empty DATA frames per window [1000] */
};

/** Callbacks into the transport. */
struct vg_doh_cb {
	void *arg;
	/**
	 * One DNS query, received on stream @p sid.  @p q (@p len bytes, at
	 * least a DNS header, QR clear) is valid only during the call.  @p id
	 * is the client ID from the path, lower-cased ("" none); @p fwd the
	 * value of the configured forwarded header, several occurrences joined
	 * with ", " ("" none): the transport decides whether to trust it.
	 * Exactly one vg_doh_answer() for @p sid must follow, from inside the
	 * call or later, as long as the session exists.  Inside the call the
	 * transport may call vg_doh_answer(), vg_doh_output() and even
	 * vg_doh_free() (deferred to the end of vg_doh_input()), but not
	 * vg_doh_input().
	 */
	void (*query)(void *arg, int32_t sid, const uint8_t *q, size_t len, const char *id,
		      const char *fwd);
};

/** Counters of one session, for the transport's statistics. */
struct vg_doh_stats {
	uint64_t queries;        /* handed to the query callback */
	uint64_t answered;       /* 200 responses submitted */
	uint64_t dropped;        /* answers for streams already reset, or DROP (len 0) */
	uint64_t http_errors;    /* 4xx/5xx responses */
	uint64_t refused;        /* streams refused (orphans or buffer cap) */
	const char *goaway;      /* why we sent GOAWAY ENHANCE_YOUR_CALM, or NULL */
	size_t h2_mem;           /* bytes nghttp2 holds now for this connection */
	size_t h2_mem_peak;      /* the most it held */
};

struct vg_doh;

/**
 * A server session: queues our SETTINGS (first output).  @p opts and @p cb
 * are copied.  Returns NULL when out of memory, without a query callback,
 * or when @p opts->path is unusable (not starting with '/', containing '?').
 */
struct vg_doh *vg_doh_new(const struct vg_doh_opts *opts, const struct vg_doh_cb *cb);

/**
 * Feed @p len bytes read from the connection (the client preface first).
 * @p now_ms is the caller's monotonic clock, for the flood windows.  Query
 * callbacks run before this returns, after nghttp2 has parsed all of @p in.
 * Returns 0, or negative when the connection must close: VG_ELIMIT (a
 * flood limit), VG_EMALFORMED (HTTP/2 protocol error), VG_ENOMEM,
 * VG_EINVAL (called from inside a query callback).  A GOAWAY is queued
 * where the protocol allows one: flush vg_doh_output() before closing.
 */
int vg_doh_input(struct vg_doh *d, const uint8_t *in, size_t len, uint64_t now_ms);

/**
 * The answer to the query of stream @p sid (@p pkt of @p len bytes, copied).
 * @p len 0 means the pipeline sends nothing (DROP, shutdown): the stream is
 * reset with RST_STREAM CANCEL, no status and no body, so the client learns
 * nothing more than from silence, while the stream slot is freed at once
 * (REFUSED_STREAM would invite an automatic retry).  Returns 0 when the
 * response is queued, VG_ENOTFOUND when the stream is gone (the client
 * reset it, or the connection failed): the answer is dropped and nothing
 * else is needed.  Call vg_doh_output() afterwards.
 */
int vg_doh_answer(struct vg_doh *d, int32_t sid, const uint8_t *pkt, size_t len);

/**
 * The next bytes to send: *@p out points to *@p len bytes owned by the
 * session, valid until the next call on @p d.  *@p len 0: nothing to send
 * now.  Call again until it gives 0.  Returns 0, or negative (VG_ENOMEM,
 * VG_EMALFORMED) when the connection must close.
 */
int vg_doh_output(struct vg_doh *d, const uint8_t **out, size_t *len);

/**
 * Start a graceful close: GOAWAY NO_ERROR naming the last stream taken;
 * streams already open are still answered, new ones are ignored.
 */
int vg_doh_shutdown(struct vg_doh *d);

/**
 * True when the session has nothing more to do: GOAWAY sent or received (or
 * a fatal error) and no stream left to answer, nothing left to send.  The
 * transport then closes the connection and frees the session.
 */
bool vg_doh_is_done(const struct vg_doh *d);

/**
 * Queries handed to the callback and not yet given to vg_doh_answer(),
 * reset streams included: the transport may keep the session until this is
 * 0, or else make sure answers arriving after vg_doh_free() are discarded.
 */
unsigned vg_doh_inflight(const struct vg_doh *d);

/** The session's counters. */
const struct vg_doh_stats *vg_doh_stats(const struct vg_doh *d);

/**
 * Free the session and everything it holds.  After this, vg_doh_answer()
 * must not be called for it.  NULL is allowed.
 */
void vg_doh_free(struct vg_doh *d);

/**
 * Decode base64url without padding (RFC 4648 5, RFC 8484 6) of @p inlen
 * characters into @p out (capacity @p cap).  Returns the decoded length,
 * VG_EMALFORMED ('=', another character, a length of 4k+1, non-zero
 * trailing bits) or VG_ENOSPACE.
 */
int vg_doh_b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

/**
 * max-age for an answer as described above: the smallest TTL of the answer
 * and authority records, SOA MINIMUM for negative answers, 0 with none or
 * for a message that does not parse.
 */
uint32_t vg_doh_max_age(const uint8_t *pkt, size_t len);

#endif
