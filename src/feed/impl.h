/* SPDX-License-Identifier: MIT
 *
 * The feed module's cross-file interfaces (src/feed), for its own files and
 * the unit tests (tests/unit/test_xfr.c) only; the daemon uses feed/feed.h.
 * Each part is named after the file that owns it:
 *
 *   - tsig.c, vg_tsig_*: TSIG (RFC 8945), signing requests and responses,
 *     verifying a request (NOTIFY) and a stream of responses (AXFR/IXFR over
 *     TCP, where only every 100th message has to be signed);
 *   - zone.c, vg_xfr_zone_* / vg_xfr_rr_*: a zone in memory (struct
 *     vg_xfr_zone), the records of one policy zone, hashed for IXFR
 *     deletions and kept in transfer order, and its zone file (SOA first),
 *     written and read back;
 *   - xfr.c, vg_xfr_*: serial number arithmetic (RFC 1982) and the client
 *     side of SOA, AXFR (RFC 5936) and IXFR (RFC 1995) queries:
 *     vg_xfr_query writes the query, vg_xfr_consume takes the response
 *     messages one by one, vg_xfr_apply puts the result into a zone (all or
 *     nothing).
 *
 * None of them has sockets, timers or threads (feed.c owns those):
 * everything is driven with byte buffers, FILE streams and an explicit
 * clock, so the unit tests feed them canned and hostile messages.
 */
#ifndef VG_FEED_IMPL_H
#define VG_FEED_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sodium.h>

#include "feed/feed.h"
#include "vigil/err.h"
#include "vigil/wire.h"

enum { VG_T_TSIG = 250 };
enum { VG_RCODE_NOTAUTH = 9 };

/* ------------------------------------------------------------ tsig.c */

#define VG_TSIG_FUDGE 300          /* seconds of clock difference TSIG accepts */
#define VG_TSIG_MAX_UNSIGNED 99    /* unsigned messages allowed between signed ones */
#define VG_TSIG_MAC_MAX 64         /* HMAC-SHA512 */

/* TSIG error field values (RFC 8945 §5.2) */
enum { VG_TSIG_BADSIG = 16, VG_TSIG_BADKEY = 17, VG_TSIG_BADTIME = 18, VG_TSIG_BADTRUNC = 22 };

/** What a verified TSIG record said (for answering a signed request). */
struct vg_tsig_info {
	bool present;            /* the message had a TSIG record */
	uint16_t error;          /* 0, or VG_TSIG_BADSIG / BADKEY / BADTIME (verification) */
	uint8_t mac[VG_TSIG_MAC_MAX]; /* its MAC (signs the response) */
	uint16_t mac_len;
	uint64_t time_signed;
	uint8_t key[VG_NAME_MAX];    /* the key and algorithm names it gave (for an error reply) */
	uint8_t alg[VG_NAME_MAX];
};

/**
 * Sign the message @p msg (@p len bytes, buffer capacity @p cap): append a
 * TSIG record for @p key, count it in ARCOUNT.  @p prior (@p prior_len
 * bytes, may be NULL/0) is the request MAC when signing a response, or the
 * previous message's MAC with @p timers_only for the next message of a
 * multi-message response (RFC 8945 §5.3.1).  @p error goes into the record's
 * error field; for BADTIME the other data carries @p now.  The MAC is copied
 * to @p mac_out (VG_TSIG_MAC_MAX bytes, may be NULL).  Returns the new length
 * or VG_ENOSPACE / VG_EINVAL / VG_ENOMEM.
 */
int vg_tsig_sign(const struct vg_tsig_key *key, uint8_t *msg, size_t len, size_t cap,
		 const uint8_t *prior, uint16_t prior_len, bool timers_only, uint64_t now,
		 uint16_t error, uint8_t *mac_out, uint16_t *mac_len_out);

/**
 * Check the TSIG record of a request (a NOTIFY) against @p key.  0 when it is
 * signed and verifies (@p info filled: its MAC signs the response);
 * VG_ENOTFOUND when the message has no TSIG record; VG_ETSIG when it does not
 * verify (info->error says BADKEY, BADSIG or BADTIME, RFC 8945 §5.2);
 * VG_EMALFORMED when the record or message is malformed.  @p key may be NULL
 * (every signed message is then BADKEY).  @p now: seconds since the epoch.
 */
int vg_tsig_check(const struct vg_tsig_key *key, const uint8_t *msg, size_t len,
		  uint64_t now, struct vg_tsig_info *info);

/**
 * Append the unsigned TSIG record of an error response (BADKEY, BADSIG:
 * RFC 8945 §5.3.2, MAC size 0) to the reply @p msg for the request @p info
 * describes.  Returns the new length or VG_ENOSPACE / VG_EINVAL.
 */
int vg_tsig_error_rr(uint8_t *msg, size_t len, size_t cap,
		     const struct vg_tsig_info *info, uint64_t now);

/**
 * The state of TSIG over a stream of response messages (one transfer):
 * every message is fed to vg_tsig_stream_next in order.
 */
struct vg_tsig_stream {
	const struct vg_tsig_key *key;
	uint8_t mac[VG_TSIG_MAC_MAX]; /* request MAC, then the last verified MAC */
	uint16_t mac_len;
	void *ctx;                   /* the running HMAC (EVP_MAC_CTX) */
	unsigned nmsg;               /* messages seen */
	unsigned unsigned_run;       /* unsigned messages since the last signed one */
	bool last_signed;
	uint16_t error;              /* TSIG error of a failure (or the server's) */
};

/** Start verifying the responses to a request signed with @p key and MAC @p mac. */
int vg_tsig_stream_init(struct vg_tsig_stream *s, const struct vg_tsig_key *key,
			const uint8_t *mac, uint16_t mac_len);
/**
 * Verify the next message of the stream.  0 (signed and verified, or an
 * unsigned one allowed in between), VG_ETSIG (bad MAC, wrong key, time,
 * a first message unsigned, more than VG_TSIG_MAX_UNSIGNED unsigned in a
 * row; s->error says which), VG_EMALFORMED.
 */
int vg_tsig_stream_next(struct vg_tsig_stream *s, const uint8_t *msg, size_t len,
			uint64_t now);
void vg_tsig_stream_deinit(struct vg_tsig_stream *s);

/**
 * The error field of the TSIG record of @p msg (a server's answer to a
 * request it rejected); 0 when the message has no TSIG record or cannot be
 * walked.
 */
uint16_t vg_tsig_find_error(const uint8_t *msg, size_t len);

/** A TSIG error value in words, for the log (a static string). */
const char *vg_tsig_error_name(uint16_t e);

/* ------------------------------------------------------------ zone.c */

#define VG_XFR_MAX_RECORDS 50000000u /* records in one zone: a memory bound */

/** One record of a zone: owner (wire, lower-case) and rdata (uncompressed). */
struct vg_xfr_rr {
	struct vg_xfr_rr *chain;       /* hash bucket */
	struct vg_xfr_rr *prev, *next; /* zone order */
	uint64_t hash;
	uint32_t ttl;
	uint16_t type, rclass, rdlen, owner_len;
	uint8_t data[];                /* owner, then rdata */
};

static inline const uint8_t *vg_xfr_rr_rdata(const struct vg_xfr_rr *rr)
{
	return rr->data + rr->owner_len;
}

/** A policy zone: its SOA and its other records. */
struct vg_xfr_zone {
	uint8_t origin[VG_NAME_MAX];
	struct vg_xfr_rr *soa;         /* NULL: empty, no version yet */
	uint32_t serial, refresh, retry, expire;
	struct vg_xfr_rr *head, *tail; /* other records, in transfer order */
	struct vg_xfr_rr **tab;        /* hash on (owner, type, class, rdata) */
	size_t cap, n;
	unsigned char key[crypto_shorthash_KEYBYTES];
};

/** An empty zone named @p origin (wire).  0 or VG_ENOMEM. */
int vg_xfr_zone_init(struct vg_xfr_zone *z, const uint8_t *origin);
void vg_xfr_zone_deinit(struct vg_xfr_zone *z);
/** Records, the SOA included. */
size_t vg_xfr_zone_count(const struct vg_xfr_zone *z);

/** A new record (owner is lower-cased); NULL when out of memory or too long. */
struct vg_xfr_rr *vg_xfr_rr_new(const uint8_t *owner, uint16_t type, uint16_t rclass,
				uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/**
 * Replace the SOA with @p soa (owned by the zone from now on; the old one is
 * returned through @p old, or freed when @p old is NULL).  VG_EMALFORMED when
 * @p soa is no SOA of the zone's apex or its rdata is malformed.
 */
int vg_xfr_zone_set_soa(struct vg_xfr_zone *z, struct vg_xfr_rr *soa, struct vg_xfr_rr **old);
/**
 * Add @p rr (owned by the zone from now on).  0; 1 when an equal record
 * (owner, type, class, rdata) was there already: its TTL is updated and
 * @p rr freed; VG_ENOMEM, VG_ELIMIT (VG_XFR_MAX_RECORDS).
 */
int vg_xfr_zone_add(struct vg_xfr_zone *z, struct vg_xfr_rr *rr);
/**
 * Unlink the record equal to @p probe (owner, type, class, rdata; TTL
 * ignored; its hash field is set) and return it (the caller frees it), or
 * NULL when there is none.
 */
struct vg_xfr_rr *vg_xfr_zone_take(struct vg_xfr_zone *z, struct vg_xfr_rr *probe);
/** Move everything of @p from into @p to (emptied first); @p from is left empty. */
void vg_xfr_zone_move(struct vg_xfr_zone *to, struct vg_xfr_zone *from);

/**
 * Write the zone as a zone file: a comment line with @p comment (may be
 * NULL), the SOA, then the other records in order, one per line with
 * absolute names.  0, VG_EINVAL (no SOA), VG_ENOMEM or -EIO.
 */
int vg_xfr_zone_write(const struct vg_xfr_zone *z, FILE *f, const char *comment);
/**
 * Read a zone file written by vg_xfr_zone_write (or any zone file whose first
 * record is the SOA) into the empty zone @p z; the zone's origin becomes the
 * SOA's owner.  0, VG_EPARSE (not a zone: @p why says why), VG_ENOMEM.
 */
int vg_xfr_zone_read(struct vg_xfr_zone *z, FILE *f, const char **why);

/**
 * The fields of SOA rdata @p rd (@p rdlen bytes: two names, then five
 * numbers): serial, refresh, retry, expire, minimum into @p v.  0 or
 * VG_EMALFORMED.
 */
int vg_xfr_soa_fields(const uint8_t *rd, uint16_t rdlen, uint32_t v[5]);

/* ------------------------------------------------------------ xfr.c */

/**
 * Compare serials @p a and @p b (RFC 1982, SERIAL_BITS 32): -1 when a < b,
 * 0 when equal, 1 when a > b, 2 when the comparison is undefined (they
 * differ by exactly 2^31).
 */
int vg_xfr_serial_cmp(uint32_t a, uint32_t b);

enum vg_xfr_kind { VG_XFR_SOA, VG_XFR_AXFR, VG_XFR_IXFR };

/** What a finished transfer found. */
enum vg_xfr_result {
	VG_XFR_NONE = 0,
	VG_XFR_UPTODATE,   /* SOA query, or IXFR answered with one SOA */
	VG_XFR_FULL,       /* AXFR, or an AXFR-style answer to IXFR: a whole new zone */
	VG_XFR_INCR,       /* IXFR: changes to apply */
};

/** A change of an IXFR (xfr.c's own, kept for vg_xfr_apply). */
struct vg_xfr_op;

/** One transfer.  Set it up with vg_xfr_init; all fields are read-only outside xfr.c. */
struct vg_xfr {
	enum vg_xfr_kind kind;
	uint8_t zone[VG_NAME_MAX];
	uint32_t serial;              /* IXFR: the version we have */
	uint16_t id;
	const struct vg_tsig_key *key;
	struct vg_tsig_stream tsig;
	int state;
	unsigned msgs;                /* response messages consumed */
	unsigned long records;        /* answer records consumed */
	uint32_t new_serial;          /* the server's serial (first SOA) */
	uint32_t cur;                 /* IXFR: the version the changes have reached */
	struct vg_xfr_zone *full;     /* AXFR(-style): the new zone being built */
	struct vg_xfr_op *ops;        /* IXFR: the changes, in order */
	size_t nops, capops;
	/* out */
	enum vg_xfr_result result;
	int rcode;                    /* the server's rcode, when it was an error */
	unsigned added, deleted;      /* IXFR: records added and deleted (all steps) */
	char why[160];                /* the reason for a failure, for the log */
};

/**
 * Prepare a transfer of @p zone (wire): @p kind, with our @p serial for IXFR
 * and @p key (NULL: unsigned).  0 or VG_ENOMEM.
 */
int vg_xfr_init(struct vg_xfr *x, enum vg_xfr_kind kind, const uint8_t *zone, uint32_t serial,
		const struct vg_tsig_key *key);
void vg_xfr_deinit(struct vg_xfr *x);

/**
 * Write the query (signed when there is a key) into @p buf.  Returns its
 * length or VG_ENOSPACE.  @p now: seconds since the epoch (TSIG).
 */
int vg_xfr_query(struct vg_xfr *x, uint8_t *buf, size_t cap, uint64_t now);

/**
 * Consume the next response message.  0: more messages are expected; 1: the
 * transfer is complete (x->result); negative: it failed -- VG_ETSIG (TSIG,
 * ours or the server's), VG_ERCODE (the server answered x->rcode),
 * VG_EMALFORMED (not a valid transfer), VG_ELIMIT, VG_ENOMEM; x->why says
 * what in words.  Nothing may be consumed after 1 or an error.
 */
int vg_xfr_consume(struct vg_xfr *x, const uint8_t *msg, size_t len, uint64_t now);

/**
 * Put the result of a complete transfer into @p z: a FULL transfer replaces
 * its contents, an INCR one applies the changes in order, checking that each
 * step starts at the zone's serial and that every deleted record exists.
 * All or nothing: on error @p z is as before (x->why says why).  0,
 * VG_EINVAL (wrong serial, a missing record), VG_ENOMEM.
 */
int vg_xfr_apply(struct vg_xfr *x, struct vg_xfr_zone *z);

#endif
