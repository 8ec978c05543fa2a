/* SPDX-License-Identifier: MIT
 *
 * Zone transfers of policy zones: TSIG, serial arithmetic, the in-memory
 * zone, the SOA / AXFR / IXFR client state machine and zone files.  No I/O
 * but FILE streams handed in; feed.c runs the connections (see xfr.h).
 *
 * TSIG (RFC 8945).  A request's MAC covers the message (original ID, ARCOUNT
 * without the TSIG record) and the TSIG variables.  A response's MAC covers
 * the request MAC first.  Over TCP the messages of one answer chain: each
 * signed message after the first covers the previous MAC, every unsigned
 * message since then, in full, and only the timers (time signed, fudge) of
 * its own record (§5.3.1).  An HMAC context runs over the stream: it is
 * started with the MAC to chain from, fed every unsigned message as it
 * arrives, and finished (then restarted with the new MAC) at the next
 * signed one.  At most 99 unsigned messages may come in a row, and the
 * last message must be signed: a transfer is only complete when its final
 * message verifies.
 *
 * IXFR (RFC 1995).  The answer starts with the server's current SOA.  A
 * lone SOA (not newer than ours) means "up to date"; a second record that is
 * the SOA of our version starts the incremental form: steps of (old SOA,
 * deleted records, new SOA, added records), the last step reaching the
 * server's serial and the answer closing with its SOA again.  Anything else
 * after the first SOA is the AXFR form (the whole zone).  The changes are
 * collected while the answer arrives and applied only when it is complete
 * (vg_xfr_apply): step by step, each one checked to start at the version the
 * zone is at and to delete only records it has; a failure undoes what was
 * applied, so the zone is never left half-updated.
 *
 * The zone keeps its records in a hash table on (owner, type, class, rdata)
 * -- the identity of a record for IXFR deletions (TTL excluded) -- and in a
 * list in transfer order, so a written file is stable and diffs stay small.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/core.h"
#include "feed/xfr.h"

/* ------------------------------------------------------------ serials */

int vg_xfr_serial_cmp(uint32_t a, uint32_t b)
{
	if (a == b)
		return 0;
	uint32_t d = b - a; /* mod 2^32 */
	if (d == 0x80000000u)
		return 2;
	return d < 0x80000000u ? -1 : 1;
}

/* ------------------------------------------------------------ HMAC */

static const struct {
	const char *digest;
	const uint8_t *name; /* wire form */
	uint16_t name_len, mac_len;
} algs[] = {
	[VG_TSIG_HMAC_SHA256] = { "SHA256", (const uint8_t *)"\013hmac-sha256", 13, 32 },
	[VG_TSIG_HMAC_SHA512] = { "SHA512", (const uint8_t *)"\013hmac-sha512", 13, 64 },
	[VG_TSIG_HMAC_SHA1] = { "SHA1", (const uint8_t *)"\011hmac-sha1", 11, 20 },
};

static bool alg_ok(const struct vg_tsig_key *k)
{
	return (unsigned)k->alg < VG_ARRAY_SIZE(algs) && k->secret_len > 0;
}

static int hmac_start(EVP_MAC_CTX *ctx, const struct vg_tsig_key *k)
{
	OSSL_PARAM params[2] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 (char *)algs[k->alg].digest, 0),
		OSSL_PARAM_construct_end(),
	};
	return EVP_MAC_init(ctx, k->secret, k->secret_len, params) ? 0 : VG_ENOMEM;
}

static EVP_MAC_CTX *hmac_new(const struct vg_tsig_key *k)
{
	if (!alg_ok(k))
		return NULL;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac); /* the context keeps its own reference */
	if (ctx && hmac_start(ctx, k) < 0) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void hmac_u16(EVP_MAC_CTX *ctx, uint16_t v)
{
	uint8_t b[2];
	vg_put16(b, v);
	EVP_MAC_update(ctx, b, 2);
}

static void hmac_u48(EVP_MAC_CTX *ctx, uint64_t v)
{
	uint8_t b[6] = { (uint8_t)(v >> 40), (uint8_t)(v >> 32), (uint8_t)(v >> 24),
			 (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	EVP_MAC_update(ctx, b, 6);
}

static int hmac_final(EVP_MAC_CTX *ctx, uint8_t *out, uint16_t *out_len)
{
	size_t n = 0;
	if (!EVP_MAC_final(ctx, out, &n, VG_XFR_MAC_MAX))
		return VG_ENOMEM;
	*out_len = (uint16_t)n;
	return 0;
}

/* ------------------------------------------------------------ TSIG records */

/* A TSIG record found in a message. */
struct tsig_rr {
	size_t start;                  /* offset of its owner name */
	uint8_t key[VG_NAME_MAX];      /* lower-case */
	uint8_t alg[VG_NAME_MAX];      /* lower-case */
	uint64_t time;
	uint16_t fudge, mac_len, orig_id, error, other_len;
	const uint8_t *mac, *other;
};

/* Skip one record at @p off; the offset past it, or VG_EMALFORMED. */
static int rr_skip(const uint8_t *m, size_t len, size_t off, uint16_t *type)
{
	int n = vg_name_skip(m, len, off);
	if (n < 0 || len - (size_t)n < 10)
		return VG_EMALFORMED;
	size_t p = (size_t)n;
	*type = vg_get16(m + p);
	uint16_t rdlen = vg_get16(m + p + 8);
	if (len - (p + 10) < rdlen)
		return VG_EMALFORMED;
	return (int)(p + 10 + rdlen);
}

/*
 * Find the TSIG record: 1 (found, @p t filled), 0 (none), VG_EMALFORMED
 * (a message we cannot walk, or a TSIG record that is not the last record of
 * the additional section, RFC 8945 §5.1).
 */
static int tsig_find(const uint8_t *m, size_t len, struct tsig_rr *t)
{
	if (len < VG_HDR_LEN)
		return VG_EMALFORMED;
	unsigned qd = vg_get16(m + 4), an = vg_get16(m + 6), ns = vg_get16(m + 8),
		 ar = vg_get16(m + 10);
	size_t off = VG_HDR_LEN;
	for (unsigned i = 0; i < qd; i++) {
		int n = vg_name_skip(m, len, off);
		if (n < 0 || len - (size_t)n < 4)
			return VG_EMALFORMED;
		off = (size_t)n + 4;
	}
	unsigned total = an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		uint16_t type;
		size_t start = off;
		int n = rr_skip(m, len, off, &type);
		if (n < 0)
			return VG_EMALFORMED;
		off = (size_t)n;
		if (type != VG_T_TSIG)
			continue;
		if (i != total - 1 || i < an + ns || off != len)
			return VG_EMALFORMED;
		/* the record: owner, type, class ANY, TTL 0, rdata */
		size_t next, p;
		if (vg_name_unpack(m, len, start, t->key, true, &next) < 0)
			return VG_EMALFORMED;
		if (vg_get16(m + next + 2) != VG_C_ANY)
			return VG_EMALFORMED;
		p = next + 10;
		if (vg_name_unpack(m, len, p, t->alg, true, &p) < 0 || len - p < 10)
			return VG_EMALFORMED;
		t->time = (uint64_t)vg_get16(m + p) << 32 | vg_get32(m + p + 2);
		t->fudge = vg_get16(m + p + 6);
		t->mac_len = vg_get16(m + p + 8);
		p += 10;
		if (len - p < (size_t)t->mac_len + 6)
			return VG_EMALFORMED;
		t->mac = m + p;
		p += t->mac_len;
		t->orig_id = vg_get16(m + p);
		t->error = vg_get16(m + p + 2);
		t->other_len = vg_get16(m + p + 4);
		p += 6;
		if (len - p != t->other_len)
			return VG_EMALFORMED;
		t->other = m + p;
		t->start = start;
		return 1;
	}
	if (off != len)
		return VG_EMALFORMED;
	return 0;
}

/* The message part of a digest: header with the original ID and ARCOUNT - 1, then the body. */
static void hmac_message(EVP_MAC_CTX *ctx, const uint8_t *m, const struct tsig_rr *t)
{
	uint8_t h[VG_HDR_LEN];
	memcpy(h, m, VG_HDR_LEN);
	vg_put16(h, t->orig_id);
	vg_put16(h + 10, (uint16_t)(vg_get16(m + 10) - 1));
	EVP_MAC_update(ctx, h, VG_HDR_LEN);
	EVP_MAC_update(ctx, m + VG_HDR_LEN, t->start - VG_HDR_LEN);
}

/* The TSIG variables (§4.3.3), or only the timers (§5.3.1). */
static void hmac_vars(EVP_MAC_CTX *ctx, const struct vg_tsig_key *k, uint64_t time,
		      uint16_t fudge, uint16_t error, const uint8_t *other, uint16_t other_len,
		      bool timers_only)
{
	if (!timers_only) {
		EVP_MAC_update(ctx, k->name, vg_name_len(k->name));
		hmac_u16(ctx, VG_C_ANY);
		EVP_MAC_update(ctx, (const uint8_t *)"\0\0\0\0", 4); /* TTL */
		EVP_MAC_update(ctx, algs[k->alg].name, algs[k->alg].name_len);
	}
	hmac_u48(ctx, time);
	hmac_u16(ctx, fudge);
	if (!timers_only) {
		hmac_u16(ctx, error);
		hmac_u16(ctx, other_len);
		if (other_len)
			EVP_MAC_update(ctx, other, other_len);
	}
}

static bool key_matches(const struct vg_tsig_key *k, const struct tsig_rr *t)
{
	return k && alg_ok(k) && vg_name_eq(t->key, k->name) &&
	       vg_name_len(t->alg) == algs[k->alg].name_len &&
	       vg_name_eq(t->alg, algs[k->alg].name);
}

/* Compare a received MAC (possibly truncated, §5.2.2.1) with the computed one. */
static uint16_t mac_compare(const uint8_t *computed, uint16_t full, const struct tsig_rr *t)
{
	uint16_t min = full / 2 > 10 ? full / 2 : 10;
	if (t->mac_len > full || t->mac_len < min)
		return t->mac_len > full ? VG_TSIG_BADSIG : VG_TSIG_BADTRUNC;
	return CRYPTO_memcmp(computed, t->mac, t->mac_len) ? VG_TSIG_BADSIG : 0;
}

static bool time_ok(uint64_t now, uint64_t signed_at)
{
	uint64_t d = now > signed_at ? now - signed_at : signed_at - now;
	return d <= VG_XFR_FUDGE;
}

int vg_xfr_tsig_sign(const struct vg_tsig_key *key, uint8_t *msg, size_t len, size_t cap,
		     const uint8_t *prior, uint16_t prior_len, bool timers_only, uint64_t now,
		     uint16_t error, uint8_t *mac_out, uint16_t *mac_len_out)
{
	uint8_t mac[VG_XFR_MAC_MAX], other[6];
	uint16_t mac_len = 0, other_len = 0;
	if (!key || !alg_ok(key) || len < VG_HDR_LEN || len > 65535 || vg_get16(msg + 10) == 65535)
		return VG_EINVAL;
	size_t klen = vg_name_len(key->name);
	size_t need = klen + 10 + algs[key->alg].name_len + 10 + algs[key->alg].mac_len + 6 + 6;
	if (cap > 65535)
		cap = 65535;
	if (cap < len || cap - len < need)
		return VG_ENOSPACE;
	if (error == VG_TSIG_BADTIME) {
		other_len = 6;
		for (int i = 0; i < 6; i++)
			other[i] = (uint8_t)(now >> (40 - 8 * i));
	}
	EVP_MAC_CTX *ctx = hmac_new(key);
	if (!ctx)
		return VG_ENOMEM;
	if (prior_len) {
		hmac_u16(ctx, prior_len);
		EVP_MAC_update(ctx, prior, prior_len);
	}
	EVP_MAC_update(ctx, msg, len);
	hmac_vars(ctx, key, now, VG_XFR_FUDGE, error, other, other_len, timers_only);
	int r = hmac_final(ctx, mac, &mac_len);
	EVP_MAC_CTX_free(ctx);
	if (r < 0)
		return r;
	uint8_t *p = msg + len;
	memcpy(p, key->name, klen);
	p += klen;
	vg_put16(p, VG_T_TSIG);
	vg_put16(p + 2, VG_C_ANY);
	vg_put32(p + 4, 0);
	uint8_t *rdlen = p + 8;
	p += 10;
	uint8_t *rd = p;
	memcpy(p, algs[key->alg].name, algs[key->alg].name_len);
	p += algs[key->alg].name_len;
	vg_put16(p, (uint16_t)(now >> 32));
	vg_put32(p + 2, (uint32_t)now);
	vg_put16(p + 6, VG_XFR_FUDGE);
	vg_put16(p + 8, mac_len);
	p += 10;
	memcpy(p, mac, mac_len);
	p += mac_len;
	vg_put16(p, vg_get16(msg)); /* original ID */
	vg_put16(p + 2, error);
	vg_put16(p + 4, other_len);
	p += 6;
	memcpy(p, other, other_len);
	p += other_len;
	vg_put16(rdlen, (uint16_t)(p - rd));
	vg_put16(msg + 10, (uint16_t)(vg_get16(msg + 10) + 1));
	if (mac_out)
		memcpy(mac_out, mac, mac_len);
	if (mac_len_out)
		*mac_len_out = mac_len;
	return (int)(p - msg);
}

int vg_xfr_tsig_check(const struct vg_tsig_key *key, const uint8_t *msg, size_t len,
		      uint64_t now, struct vg_xfr_tsig_info *info)
{
	struct tsig_rr t;
	memset(info, 0, sizeof(*info));
	int f = tsig_find(msg, len, &t);
	if (f <= 0)
		return f == 0 ? VG_ENOTFOUND : VG_EMALFORMED;
	info->present = true;
	info->time_signed = t.time;
	memcpy(info->key, t.key, vg_name_len(t.key));
	memcpy(info->alg, t.alg, vg_name_len(t.alg));
	if (!key_matches(key, &t)) {
		info->error = VG_TSIG_BADKEY;
		return VG_ETSIG;
	}
	EVP_MAC_CTX *ctx = hmac_new(key);
	uint8_t mac[VG_XFR_MAC_MAX];
	uint16_t mac_len = 0;
	if (!ctx)
		return VG_ENOMEM;
	hmac_message(ctx, msg, &t);
	hmac_vars(ctx, key, t.time, t.fudge, t.error, t.other, t.other_len, false);
	int r = hmac_final(ctx, mac, &mac_len);
	EVP_MAC_CTX_free(ctx);
	if (r < 0)
		return r;
	info->error = mac_compare(mac, mac_len, &t);
	if (!info->error && !time_ok(now, t.time))
		info->error = VG_TSIG_BADTIME;
	if (info->error)
		return VG_ETSIG;
	memcpy(info->mac, t.mac, t.mac_len);
	info->mac_len = t.mac_len;
	return 0;
}

int vg_xfr_tsig_error_rr(uint8_t *msg, size_t len, size_t cap,
			 const struct vg_xfr_tsig_info *info, uint64_t now)
{
	size_t klen = vg_name_len(info->key), alen = vg_name_len(info->alg);
	size_t rdlen = alen + 10 + 6;
	if (len < VG_HDR_LEN || vg_get16(msg + 10) == 65535 || !info->present)
		return VG_EINVAL;
	if (cap > 65535)
		cap = 65535;
	if (cap < len || cap - len < klen + 10 + rdlen)
		return VG_ENOSPACE;
	uint8_t *p = msg + len;
	memcpy(p, info->key, klen);
	p += klen;
	vg_put16(p, VG_T_TSIG);
	vg_put16(p + 2, VG_C_ANY);
	vg_put32(p + 4, 0);
	vg_put16(p + 8, (uint16_t)rdlen);
	p += 10;
	memcpy(p, info->alg, alen);
	p += alen;
	vg_put16(p, (uint16_t)(now >> 32));
	vg_put32(p + 2, (uint32_t)now);
	vg_put16(p + 6, VG_XFR_FUDGE);
	vg_put16(p + 8, 0); /* no MAC */
	vg_put16(p + 10, vg_get16(msg));
	vg_put16(p + 12, info->error);
	vg_put16(p + 14, 0);
	p += 16;
	vg_put16(msg + 10, (uint16_t)(vg_get16(msg + 10) + 1));
	return (int)(p - msg);
}

int vg_xfr_tsig_stream_init(struct vg_xfr_tsig_stream *s, const struct vg_tsig_key *key,
			    const uint8_t *mac, uint16_t mac_len)
{
	memset(s, 0, sizeof(*s));
	if (mac_len > VG_XFR_MAC_MAX)
		return VG_EINVAL;
	s->key = key;
	EVP_MAC_CTX *ctx = hmac_new(key);
	if (!ctx)
		return VG_ENOMEM;
	hmac_u16(ctx, mac_len);
	EVP_MAC_update(ctx, mac, mac_len);
	s->ctx = ctx;
	memcpy(s->mac, mac, mac_len);
	s->mac_len = mac_len;
	return 0;
}

void vg_xfr_tsig_stream_deinit(struct vg_xfr_tsig_stream *s)
{
	EVP_MAC_CTX_free(s->ctx);
	s->ctx = NULL;
}

int vg_xfr_tsig_stream_next(struct vg_xfr_tsig_stream *s, const uint8_t *msg, size_t len,
			    uint64_t now)
{
	struct tsig_rr t;
	EVP_MAC_CTX *ctx = s->ctx;
	if (!ctx)
		return VG_EINVAL;
	int f = tsig_find(msg, len, &t);
	if (f < 0)
		return VG_EMALFORMED;
	if (f == 0) {
		/* unsigned: allowed between signed ones (§5.3.1), never first */
		if (s->nmsg == 0 || ++s->unsigned_run > VG_XFR_MAX_UNSIGNED) {
			s->error = 0;
			return VG_ETSIG;
		}
		EVP_MAC_update(ctx, msg, len);
		s->nmsg++;
		s->last_signed = false;
		return 0;
	}
	if (t.error) { /* the server rejected our signature (its MAC is usually empty) */
		s->error = t.error;
		return VG_ETSIG;
	}
	if (!key_matches(s->key, &t)) {
		s->error = VG_TSIG_BADKEY;
		return VG_ETSIG;
	}
	uint8_t mac[VG_XFR_MAC_MAX];
	uint16_t mac_len = 0;
	hmac_message(ctx, msg, &t);
	hmac_vars(ctx, s->key, t.time, t.fudge, t.error, t.other, t.other_len, s->nmsg > 0);
	if (hmac_final(ctx, mac, &mac_len) < 0)
		return VG_ENOMEM;
	s->error = mac_compare(mac, mac_len, &t);
	if (!s->error && !time_ok(now, t.time))
		s->error = VG_TSIG_BADTIME;
	if (s->error)
		return VG_ETSIG;
	/* chain: the next digest starts with this MAC as it was sent */
	memcpy(s->mac, t.mac, t.mac_len);
	s->mac_len = t.mac_len;
	if (hmac_start(ctx, s->key) < 0)
		return VG_ENOMEM;
	hmac_u16(ctx, s->mac_len);
	EVP_MAC_update(ctx, s->mac, s->mac_len);
	s->unsigned_run = 0;
	s->last_signed = true;
	s->nmsg++;
	return 0;
}

/* ------------------------------------------------------------ zone */

struct vg_xfr_rr *vg_xfr_rr_new(const uint8_t *owner, uint16_t type, uint16_t rclass,
				uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	int olen = vg_name_check(owner, VG_NAME_MAX);
	if (olen < 0)
		return NULL;
	struct vg_xfr_rr *rr = malloc(sizeof(*rr) + (size_t)olen + rdlen);
	if (!rr)
		return NULL;
	memset(rr, 0, sizeof(*rr));
	rr->type = type;
	rr->rclass = rclass;
	rr->ttl = ttl;
	rr->rdlen = rdlen;
	rr->owner_len = (uint16_t)olen;
	memcpy(rr->data, owner, (size_t)olen);
	vg_name_lower(rr->data);
	if (rdlen)
		memcpy(rr->data + olen, rdata, rdlen);
	return rr;
}

int vg_xfr_zone_init(struct vg_xfr_zone *z, const uint8_t *origin)
{
	memset(z, 0, sizeof(*z));
	int n = vg_name_check(origin, VG_NAME_MAX);
	if (n < 0)
		return VG_EINVAL;
	memcpy(z->origin, origin, (size_t)n);
	vg_name_lower(z->origin);
	randombytes_buf(z->key, sizeof(z->key));
	return 0;
}

void vg_xfr_zone_deinit(struct vg_xfr_zone *z)
{
	struct vg_xfr_rr *rr = z->head;
	while (rr) {
		struct vg_xfr_rr *next = rr->next;
		free(rr);
		rr = next;
	}
	free(z->soa);
	free(z->tab);
	z->soa = z->head = z->tail = NULL;
	z->tab = NULL;
	z->cap = z->n = 0;
}

size_t vg_xfr_zone_count(const struct vg_xfr_zone *z)
{
	return z->n + (z->soa ? 1 : 0);
}

static uint64_t rr_hash(const struct vg_xfr_zone *z, const struct vg_xfr_rr *rr)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, rr->data, (size_t)rr->owner_len + rr->rdlen, z->key);
	return h ^ ((uint64_t)rr->type << 16 | rr->rclass) * 0x9e3779b97f4a7c15ull;
}

static bool rr_same(const struct vg_xfr_rr *a, const struct vg_xfr_rr *b)
{
	return a->hash == b->hash && a->type == b->type && a->rclass == b->rclass &&
	       a->owner_len == b->owner_len && a->rdlen == b->rdlen &&
	       !memcmp(a->data, b->data, (size_t)a->owner_len + a->rdlen);
}

static int grow(struct vg_xfr_zone *z)
{
	size_t cap = z->cap ? z->cap * 2 : 1024;
	struct vg_xfr_rr **tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return VG_ENOMEM;
	for (struct vg_xfr_rr *rr = z->head; rr; rr = rr->next) {
		size_t b = rr->hash & (cap - 1);
		rr->chain = tab[b];
		tab[b] = rr;
	}
	free(z->tab);
	z->tab = tab;
	z->cap = cap;
	return 0;
}

static struct vg_xfr_rr **find(const struct vg_xfr_zone *z, const struct vg_xfr_rr *rr)
{
	if (!z->cap)
		return NULL;
	struct vg_xfr_rr **pp = &z->tab[rr->hash & (z->cap - 1)];
	for (; *pp; pp = &(*pp)->chain)
		if (rr_same(*pp, rr))
			return pp;
	return NULL;
}

int vg_xfr_zone_add(struct vg_xfr_zone *z, struct vg_xfr_rr *rr)
{
	rr->hash = rr_hash(z, rr);
	struct vg_xfr_rr **pp = find(z, rr);
	if (pp) {
		(*pp)->ttl = rr->ttl;
		return 1;
	}
	if (z->n >= VG_XFR_MAX_RECORDS)
		return VG_ELIMIT;
	if (z->n >= z->cap && grow(z) < 0)
		return VG_ENOMEM;
	size_t b = rr->hash & (z->cap - 1);
	rr->chain = z->tab[b];
	z->tab[b] = rr;
	rr->next = NULL;
	rr->prev = z->tail;
	if (z->tail)
		z->tail->next = rr;
	else
		z->head = rr;
	z->tail = rr;
	z->n++;
	return 0;
}

struct vg_xfr_rr *vg_xfr_zone_take(struct vg_xfr_zone *z, struct vg_xfr_rr *probe)
{
	probe->hash = rr_hash(z, probe);
	struct vg_xfr_rr **pp = find(z, probe), *rr;
	if (!pp)
		return NULL;
	rr = *pp;
	*pp = rr->chain;
	if (rr->prev)
		rr->prev->next = rr->next;
	else
		z->head = rr->next;
	if (rr->next)
		rr->next->prev = rr->prev;
	else
		z->tail = rr->prev;
	rr->chain = rr->prev = rr->next = NULL;
	z->n--;
	return rr;
}

/* SOA rdata: two names then serial, refresh, retry, expire, minimum. */
static int soa_fields(const uint8_t *rd, uint16_t rdlen, uint32_t v[5])
{
	int a = vg_name_check(rd, rdlen);
	if (a < 0)
		return VG_EMALFORMED;
	int b = vg_name_check(rd + a, (size_t)rdlen - (size_t)a);
	if (b < 0 || (size_t)rdlen != (size_t)a + (size_t)b + 20)
		return VG_EMALFORMED;
	for (int i = 0; i < 5; i++)
		v[i] = vg_get32(rd + a + b + 4 * i);
	return 0;
}

int vg_xfr_zone_set_soa(struct vg_xfr_zone *z, struct vg_xfr_rr *soa, struct vg_xfr_rr **old)
{
	uint32_t v[5];
	if (soa->type != VG_T_SOA || !vg_name_eq(soa->data, z->origin) ||
	    soa_fields(vg_xfr_rr_rdata(soa), soa->rdlen, v) < 0)
		return VG_EMALFORMED;
	if (old)
		*old = z->soa;
	else
		free(z->soa);
	z->soa = soa;
	z->serial = v[0];
	z->refresh = v[1];
	z->retry = v[2];
	z->expire = v[3];
	return 0;
}

void vg_xfr_zone_move(struct vg_xfr_zone *to, struct vg_xfr_zone *from)
{
	vg_xfr_zone_deinit(to);
	*to = *from;
	from->soa = from->head = from->tail = NULL;
	from->tab = NULL;
	from->cap = from->n = 0;
}

/* ------------------------------------------------------------ zone files */

/* One record as an ldns_rr (for printing); NULL when ldns cannot take it. */
static ldns_rr *to_ldns(const struct vg_xfr_rr *r, uint8_t *buf)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = ldns_dname_new_frm_data(r->owner_len, r->data);
	if (!rr || !owner) {
		ldns_rr_free(rr);
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, (ldns_rr_type)r->type);
	ldns_rr_set_class(rr, (ldns_rr_class)r->rclass);
	ldns_rr_set_ttl(rr, r->ttl);
	vg_put16(buf, r->rdlen);
	memcpy(buf + 2, vg_xfr_rr_rdata(r), r->rdlen);
	size_t pos = 0;
	if (ldns_wire2rdf(rr, buf, (size_t)r->rdlen + 2, &pos) != LDNS_STATUS_OK) {
		ldns_rr_free(rr);
		return NULL;
	}
	return rr;
}

static int write_rr(FILE *f, const struct vg_xfr_rr *r, uint8_t *buf)
{
	ldns_rr *rr = to_ldns(r, buf);
	if (!rr)
		return VG_EINVAL;
	char *s = ldns_rr2str(rr);
	ldns_rr_free(rr);
	if (!s)
		return VG_ENOMEM;
	int ok = fputs(s, f) >= 0;
	free(s);
	return ok ? 0 : -EIO;
}

int vg_xfr_zone_write(const struct vg_xfr_zone *z, FILE *f, const char *comment)
{
	if (!z->soa)
		return VG_EINVAL;
	uint8_t *buf = malloc(2 + 65535);
	int ret = 0;
	if (!buf)
		return VG_ENOMEM;
	if (comment && fprintf(f, "; %s\n", comment) < 0)
		ret = -EIO;
	if (ret == 0)
		ret = write_rr(f, z->soa, buf);
	for (const struct vg_xfr_rr *r = z->head; r && ret == 0; r = r->next) {
		ret = write_rr(f, r, buf);
		if (ret == VG_EINVAL) /* ldns cannot print it: leave it out, keep the rest */
			ret = 0;
	}
	free(buf);
	if (ret == 0 && ferror(f))
		ret = -EIO;
	return ret;
}

/* An ldns record into a new vg_xfr_rr. */
static struct vg_xfr_rr *from_ldns(const ldns_rr *rr, ldns_buffer *b)
{
	const ldns_rdf *owner = ldns_rr_owner(rr);
	if (!owner || ldns_rdf_get_type(owner) != LDNS_RDF_TYPE_DNAME)
		return NULL;
	ldns_buffer_clear(b);
	if (ldns_rr_rdata2buffer_wire(b, rr) != LDNS_STATUS_OK || ldns_buffer_position(b) > 65535)
		return NULL;
	return vg_xfr_rr_new(ldns_rdf_data(owner), (uint16_t)ldns_rr_get_type(rr),
			     (uint16_t)ldns_rr_get_class(rr), ldns_rr_ttl(rr),
			     ldns_buffer_begin(b), (uint16_t)ldns_buffer_position(b));
}

int vg_xfr_zone_read(struct vg_xfr_zone *z, FILE *f, const char **why)
{
	uint32_t ttl = 3600;
	ldns_rdf *origin = NULL, *prev = NULL;
	ldns_buffer *b = ldns_buffer_new(4096);
	int line = 1, ret = 0;
	*why = NULL;
	if (!b)
		return VG_ENOMEM;
	while (!feof(f)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st != LDNS_STATUS_OK) {
			ldns_rr_free(rr);
			*why = ldns_get_errorstr_by_id(st);
			ret = VG_EPARSE;
			break;
		}
		struct vg_xfr_rr *r = from_ldns(rr, b);
		ldns_rr_free(rr);
		if (!r) {
			*why = "a record that cannot be stored";
			ret = VG_EPARSE;
			break;
		}
		if (!z->soa) {
			if (r->type != VG_T_SOA) {
				free(r);
				*why = "the first record is not the SOA";
				ret = VG_EPARSE;
				break;
			}
			memcpy(z->origin, r->data, r->owner_len);
			if (vg_xfr_zone_set_soa(z, r, NULL) < 0) {
				free(r);
				*why = "a malformed SOA";
				ret = VG_EPARSE;
				break;
			}
			continue;
		}
		if (r->type == VG_T_SOA && vg_name_eq(r->data, z->origin)) {
			free(r);
			continue; /* a closing SOA, as in an AXFR dump */
		}
		int a = vg_xfr_zone_add(z, r);
		if (a != 0)
			free(r);
		if (a < 0) {
			ret = a;
			break;
		}
	}
	if (ret == 0 && !z->soa) {
		*why = "no SOA record";
		ret = VG_EPARSE;
	}
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_buffer_free(b);
	return ret;
}

/* ------------------------------------------------------------ transfers */

enum { ST_FIRST, ST_SECOND, ST_AXFR, ST_IXFR_DEL, ST_IXFR_ADD, ST_DONE };
enum { OP_BEGIN, OP_DEL, OP_ADD, OP_SOA };

struct vg_xfr_op {
	uint8_t kind;
	bool in_zone;           /* ADD / SOA applied: rr belongs to the zone */
	uint32_t serial;        /* BEGIN: the version the step starts from */
	struct vg_xfr_rr *rr;   /* DEL: the record to delete (a probe); ADD, SOA: the new one */
	struct vg_xfr_rr *undo; /* DEL: the record taken out; SOA: the SOA replaced */
};

int vg_xfr_init(struct vg_xfr *x, enum vg_xfr_kind kind, const uint8_t *zone, uint32_t serial,
		const struct vg_tsig_key *key)
{
	memset(x, 0, sizeof(*x));
	int n = vg_name_check(zone, VG_NAME_MAX);
	if (n < 0)
		return VG_EINVAL;
	memcpy(x->zone, zone, (size_t)n);
	vg_name_lower(x->zone);
	x->kind = kind;
	x->serial = serial;
	x->key = key;
	x->id = vg_rand_u16();
	x->state = ST_FIRST;
	return 0;
}

static void ops_free(struct vg_xfr *x)
{
	for (size_t i = 0; i < x->nops; i++) {
		if (!x->ops[i].in_zone)
			free(x->ops[i].rr);
		free(x->ops[i].undo);
	}
	free(x->ops);
	x->ops = NULL;
	x->nops = x->capops = 0;
}

void vg_xfr_deinit(struct vg_xfr *x)
{
	if (x->full) {
		vg_xfr_zone_deinit(x->full);
		free(x->full);
		x->full = NULL;
	}
	ops_free(x);
	vg_xfr_tsig_stream_deinit(&x->tsig);
}

int vg_xfr_query(struct vg_xfr *x, uint8_t *buf, size_t cap, uint64_t now)
{
	static const uint16_t qtypes[] = { [VG_XFR_SOA] = VG_T_SOA, [VG_XFR_AXFR] = VG_T_AXFR,
					   [VG_XFR_IXFR] = VG_T_IXFR };
	struct vg_pkt p;
	if (cap < VG_HDR_LEN)
		return VG_ENOSPACE;
	vg_pkt_init(&p, buf, cap, x->id, 0);
	if (vg_pkt_put_question(&p, x->zone, qtypes[x->kind], VG_C_IN) < 0)
		return VG_ENOSPACE;
	if (x->kind == VG_XFR_IXFR) {
		/* our version: an SOA with the serial; the other fields do not matter */
		uint8_t rd[22] = { 0 };
		vg_put32(rd + 2, x->serial);
		vg_pkt_begin(&p, 2);
		if (vg_pkt_put_rr(&p, x->zone, VG_T_SOA, VG_C_IN, 0, rd, sizeof(rd)) < 0)
			return VG_ENOSPACE;
	}
	int len = (int)vg_pkt_finish(&p);
	if (!x->key)
		return len;
	uint8_t mac[VG_XFR_MAC_MAX];
	uint16_t mac_len = 0;
	len = vg_xfr_tsig_sign(x->key, buf, (size_t)len, cap, NULL, 0, false, now, 0, mac,
			       &mac_len);
	if (len < 0)
		return len;
	vg_xfr_tsig_stream_deinit(&x->tsig);
	int r = vg_xfr_tsig_stream_init(&x->tsig, x->key, mac, mac_len);
	return r < 0 ? r : len;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct vg_xfr *x, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	x->state = ST_DONE;
	return err;
}

static int op_push(struct vg_xfr *x, uint8_t kind, uint32_t serial, struct vg_xfr_rr *rr)
{
	if (x->nops == x->capops) {
		size_t cap = x->capops ? x->capops * 2 : 64;
		struct vg_xfr_op *ops = realloc(x->ops, cap * sizeof(*ops));
		if (!ops)
			return VG_ENOMEM;
		x->ops = ops;
		x->capops = cap;
	}
	x->ops[x->nops++] = (struct vg_xfr_op){ .kind = kind, .serial = serial, .rr = rr };
	return 0;
}

static int start_full(struct vg_xfr *x, struct vg_xfr_rr *first_soa)
{
	x->full = malloc(sizeof(*x->full));
	if (!x->full || vg_xfr_zone_init(x->full, x->zone) < 0) {
		free(x->full);
		x->full = NULL;
		free(first_soa);
		return fail(x, VG_ENOMEM, "out of memory");
	}
	if (vg_xfr_zone_set_soa(x->full, first_soa, NULL) < 0) {
		free(first_soa);
		return fail(x, VG_EMALFORMED, "malformed SOA");
	}
	x->state = ST_AXFR;
	return 0;
}

static bool is_apex_soa(const struct vg_xfr *x, const struct vg_xfr_rr *rr)
{
	return rr->type == VG_T_SOA && vg_name_eq(rr->data, x->zone);
}

static uint32_t soa_serial(const struct vg_xfr_rr *rr)
{
	uint32_t v[5];
	return soa_fields(vg_xfr_rr_rdata(rr), rr->rdlen, v) < 0 ? 0 : v[0];
}

/* A record of the AXFR body (x->full): 1 at the closing SOA. */
static int axfr_record(struct vg_xfr *x, struct vg_xfr_rr *rr)
{
	if (is_apex_soa(x, rr)) {
		uint32_t s = soa_serial(rr);
		free(rr);
		if (s != x->new_serial)
			return fail(x, VG_EMALFORMED, "the closing SOA has serial %u, the first %u",
				    s, x->new_serial);
		x->result = VG_XFR_FULL;
		x->state = ST_DONE;
		return 1;
	}
	int a = vg_xfr_zone_add(x->full, rr);
	if (a != 0)
		free(rr); /* a duplicate (1) or an error */
	if (a == VG_ELIMIT)
		return fail(x, a, "more than %u records", VG_XFR_MAX_RECORDS);
	return a < 0 ? fail(x, a, "out of memory") : 0;
}

/* One answer record, in the order of the transfer: 0, 1 (complete) or an error. */
static int on_record(struct vg_xfr *x, struct vg_xfr_rr *rr)
{
	int r;
	switch (x->state) {
	case ST_FIRST:
		if (!is_apex_soa(x, rr) || soa_fields(vg_xfr_rr_rdata(rr), rr->rdlen,
						      (uint32_t[5]){ 0 }) < 0) {
			free(rr);
			return fail(x, VG_EMALFORMED,
				    "the answer does not start with the zone's SOA");
		}
		x->new_serial = soa_serial(rr);
		if (x->kind == VG_XFR_SOA) {
			free(rr);
			x->result = VG_XFR_UPTODATE;
			x->state = ST_DONE;
			return 1;
		}
		if (x->kind == VG_XFR_AXFR)
			return start_full(x, rr);
		/* IXFR: the second record decides the form; keep this SOA meanwhile */
		r = op_push(x, OP_SOA, x->new_serial, rr);
		if (r < 0) {
			free(rr);
			return fail(x, r, "out of memory");
		}
		x->state = ST_SECOND;
		return 0;
	case ST_SECOND: {
		struct vg_xfr_rr *first = x->ops[0].rr;
		x->nops = 0;
		if (is_apex_soa(x, rr) && soa_serial(rr) == x->serial &&
		    x->new_serial != x->serial) {
			/* incremental: this is the first step's old SOA */
			free(first);
			free(rr);
			x->cur = x->serial;
			x->state = ST_IXFR_DEL;
			if (op_push(x, OP_BEGIN, x->serial, NULL) < 0)
				return fail(x, VG_ENOMEM, "out of memory");
			return 0;
		}
		r = start_full(x, first); /* the AXFR form */
		return r < 0 ? (free(rr), r) : axfr_record(x, rr);
	}
	case ST_AXFR:
		return axfr_record(x, rr);
	case ST_IXFR_DEL:
		if (is_apex_soa(x, rr)) {
			uint32_t s = soa_serial(rr);
			if (vg_xfr_serial_cmp(s, x->cur) != 1) {
				free(rr);
				return fail(x, VG_EMALFORMED, "an IXFR step from serial %u to %u",
					    x->cur, s);
			}
			x->cur = s;
			x->state = ST_IXFR_ADD;
			r = op_push(x, OP_SOA, s, rr);
		} else {
			r = op_push(x, OP_DEL, 0, rr);
			x->deleted += r == 0;
		}
		if (r < 0) {
			free(rr);
			return fail(x, r, "out of memory");
		}
		return 0;
	case ST_IXFR_ADD:
		if (is_apex_soa(x, rr)) {
			uint32_t s = soa_serial(rr);
			free(rr);
			if (s != x->cur)
				return fail(x, VG_EMALFORMED, "an IXFR step that should start at "
					    "serial %u starts at %u", x->cur, s);
			if (s == x->new_serial) {
				x->result = VG_XFR_INCR;
				x->state = ST_DONE;
				return 1;
			}
			x->state = ST_IXFR_DEL;
			r = op_push(x, OP_BEGIN, s, NULL);
		} else {
			r = op_push(x, OP_ADD, 0, rr);
			if (r < 0)
				free(rr);
			x->added += r == 0;
		}
		return r < 0 ? fail(x, r, "out of memory") : 0;
	default:
		free(rr);
		return fail(x, VG_EMALFORMED, "records after the end of the transfer");
	}
}

static const char *rcode_name(int rc)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };
	return rc >= 0 && rc < (int)VG_ARRAY_SIZE(names) ? names[rc] : "an error rcode";
}

static const char *tsig_error_name(uint16_t e)
{
	switch (e) {
	case VG_TSIG_BADSIG: return "BADSIG (wrong MAC: a different secret?)";
	case VG_TSIG_BADKEY: return "BADKEY (unknown key or algorithm)";
	case VG_TSIG_BADTIME: return "BADTIME (clocks differ by more than 300 s)";
	case VG_TSIG_BADTRUNC: return "BADTRUNC (MAC truncated too far)";
	default: return "an unknown TSIG error";
	}
}

int vg_xfr_consume(struct vg_xfr *x, const uint8_t *m, size_t len, uint64_t now)
{
	static const uint16_t qtypes[] = { [VG_XFR_SOA] = VG_T_SOA, [VG_XFR_AXFR] = VG_T_AXFR,
					   [VG_XFR_IXFR] = VG_T_IXFR };
	uint8_t name[VG_NAME_MAX];
	size_t off = VG_HDR_LEN, next;
	struct tsig_rr t;
	if (x->state == ST_DONE)
		return fail(x, VG_EINVAL, "a message after the end of the transfer");
	if (len < VG_HDR_LEN || len > 65535)
		return fail(x, VG_EMALFORMED, "a message of %zu bytes", len);
	uint16_t flags = vg_get16(m + 2);
	if (vg_get16(m) != x->id || !(flags & VG_F_QR) || VG_F_OPCODE(flags) != VG_OPCODE_QUERY)
		return fail(x, VG_EMALFORMED, "not a response to our query (ID, QR or opcode)");
	x->rcode = VG_F_RCODE(flags);
	if (x->rcode) {
		int f = tsig_find(m, len, &t);
		if (f == 1 && t.error)
			return fail(x, VG_ETSIG, "TSIG failure: the primary says %s",
				    tsig_error_name(t.error));
		return fail(x, VG_ERCODE, "the primary answered %s", rcode_name(x->rcode));
	}
	if (flags & VG_F_TC)
		return fail(x, VG_EMALFORMED, "a truncated message");
	if (x->key) {
		int r = vg_xfr_tsig_stream_next(&x->tsig, m, len, now);
		if (r == VG_ETSIG && !x->tsig.error)
			return fail(x, r, "TSIG failure: a response without a valid signature");
		if (r == VG_ETSIG)
			return fail(x, r, "TSIG failure: %s", tsig_error_name(x->tsig.error));
		if (r < 0)
			return fail(x, r, "a malformed message (TSIG)");
	}
	unsigned qd = vg_get16(m + 4), an = vg_get16(m + 6);
	if (qd > 1 || (qd == 0 && x->msgs == 0))
		return fail(x, VG_EMALFORMED, "%u questions", qd);
	if (qd) {
		if (vg_name_unpack(m, len, off, name, true, &next) < 0 || len - next < 4)
			return fail(x, VG_EMALFORMED, "a malformed question");
		if (!vg_name_eq(name, x->zone) || vg_get16(m + next) != qtypes[x->kind] ||
		    vg_get16(m + next + 2) != VG_C_IN)
			return fail(x, VG_EMALFORMED, "the answer is for another question");
		off = next + 4;
	}
	x->msgs++;
	uint8_t *rdata = malloc(65535);
	if (!rdata)
		return fail(x, VG_ENOMEM, "out of memory");
	int ret = 0;
	for (unsigned i = 0; i < an && ret == 0; i++) {
		struct vg_rr rr;
		if (vg_name_unpack(m, len, off, name, true, &next) < 0 || len - next < 10) {
			ret = fail(x, VG_EMALFORMED, "a malformed record");
			break;
		}
		rr.owner = (uint16_t)off;
		rr.type = vg_get16(m + next);
		rr.rclass = vg_get16(m + next + 2);
		rr.ttl = vg_get32(m + next + 4);
		rr.rdlen = vg_get16(m + next + 8);
		rr.rdata = (uint16_t)(next + 10);
		if (len - (next + 10) < rr.rdlen) {
			ret = fail(x, VG_EMALFORMED, "a record longer than its message");
			break;
		}
		off = next + 10 + rr.rdlen;
		if (rr.rclass != VG_C_IN) {
			ret = fail(x, VG_EMALFORMED, "a record of class %u", rr.rclass);
			break;
		}
		int n = vg_rdata_unpack(m, len, &rr, rdata, 65535);
		if (n < 0) {
			ret = fail(x, VG_EMALFORMED, "malformed rdata (type %u)", rr.type);
			break;
		}
		if (rr.type == VG_T_TSIG || rr.type == VG_T_OPT || !vg_name_is_sub(name, x->zone))
			continue; /* not zone data: out of the zone, or meta */
		if (++x->records > VG_XFR_MAX_RECORDS + 2ul) {
			ret = fail(x, VG_ELIMIT, "more than %u records", VG_XFR_MAX_RECORDS);
			break;
		}
		struct vg_xfr_rr *r = vg_xfr_rr_new(name, rr.type, rr.rclass, rr.ttl, rdata,
						    (uint16_t)n);
		if (!r) {
			ret = fail(x, VG_ENOMEM, "out of memory");
			break;
		}
		ret = on_record(x, r);
		if (ret == 1 && i + 1 < an)
			ret = fail(x, VG_EMALFORMED, "records after the closing SOA");
	}
	free(rdata);
	if (ret < 0)
		return ret;
	/* a lone SOA that is not newer than ours: up to date (RFC 1995 §4) */
	if (ret == 0 && x->state == ST_SECOND && x->msgs == 1 &&
	    vg_xfr_serial_cmp(x->new_serial, x->serial) != 1) {
		free(x->ops[0].rr);
		x->nops = 0;
		x->result = VG_XFR_UPTODATE;
		x->state = ST_DONE;
		ret = 1;
	}
	if (ret == 1 && x->key && !x->tsig.last_signed)
		return fail(x, VG_ETSIG, "TSIG failure: the last message is unsigned");
	if (ret == 0 && x->state == ST_FIRST) /* the first message must start the answer */
		return fail(x, VG_EMALFORMED, "no SOA record in the answer");
	return ret;
}

/* Undo the first @p n ops of x (applied to z), in reverse order. */
static void rollback(struct vg_xfr *x, struct vg_xfr_zone *z, size_t n)
{
	while (n--) {
		struct vg_xfr_op *op = &x->ops[n];
		struct vg_xfr_rr *cur = NULL;
		switch (op->kind) {
		case OP_ADD:
			if (op->in_zone) {
				vg_xfr_zone_take(z, op->rr);
				op->in_zone = false;
			}
			break;
		case OP_DEL:
			if (op->undo && vg_xfr_zone_add(z, op->undo) == 0)
				op->undo = NULL;
			break;
		case OP_SOA:
			if (op->in_zone && op->undo) {
				vg_xfr_zone_set_soa(z, op->undo, &cur);
				op->undo = NULL;
				op->in_zone = false;
			}
			break;
		default:
			break;
		}
	}
}

int vg_xfr_apply(struct vg_xfr *x, struct vg_xfr_zone *z)
{
	if (x->result == VG_XFR_UPTODATE)
		return 0;
	if (x->result == VG_XFR_FULL && x->full) {
		vg_xfr_zone_move(z, x->full);
		return 0;
	}
	if (x->result != VG_XFR_INCR)
		return VG_EINVAL;
	size_t i;
	int ret = 0;
	for (i = 0; i < x->nops && ret == 0; i++) {
		struct vg_xfr_op *op = &x->ops[i];
		int a;
		switch (op->kind) {
		case OP_BEGIN:
			if (!z->soa || z->serial != op->serial) {
				snprintf(x->why, sizeof(x->why), "an IXFR step from serial %u, but "
					 "ours is %u", op->serial, z->serial);
				ret = VG_EINVAL;
			}
			break;
		case OP_DEL:
			op->undo = vg_xfr_zone_take(z, op->rr);
			if (!op->undo) {
				snprintf(x->why, sizeof(x->why), "IXFR deletes a record we do not "
					 "have (type %u)", op->rr->type);
				ret = VG_EINVAL;
			}
			break;
		case OP_ADD:
			a = vg_xfr_zone_add(z, op->rr);
			if (a < 0) {
				snprintf(x->why, sizeof(x->why), "%s", vg_strerror(a));
				ret = a;
			}
			op->in_zone = a == 0;
			break;
		case OP_SOA:
			if (vg_xfr_zone_set_soa(z, op->rr, &op->undo) < 0) {
				snprintf(x->why, sizeof(x->why), "a malformed SOA in IXFR");
				ret = VG_EINVAL;
			} else {
				op->in_zone = true;
			}
			break;
		default:
			break;
		}
	}
	if (ret < 0) {
		/* op i - 1 failed and changed nothing; undo the ones before it */
		rollback(x, z, i);
		return ret;
	}
	/* committed: the zone owns the new records, the removed ones go */
	for (i = 0; i < x->nops; i++) {
		struct vg_xfr_op *op = &x->ops[i];
		if (op->in_zone)
			op->rr = NULL;
		op->in_zone = false;
		free(op->undo);
		op->undo = NULL;
	}
	ops_free(x);
	return 0;
}
