/* SPDX-License-Identifier: MIT
 *
 * TSIG (RFC 8945) for the RPZ feeds: signing a request or a response,
 * checking a signed request (a NOTIFY), the unsigned error record of a
 * rejected one, and verifying the stream of responses of one transfer.  The
 * HMACs are OpenSSL's EVP_MAC (hmac-sha256, hmac-sha512, hmac-sha1).
 *
 * This file owns the TSIG record (finding it, its digest, its wire form) and
 * nothing else: which messages get signed and what a failure means for a
 * transfer is xfr.c's and feed.c's business, the keys come from the config
 * (struct vg_tsig_key, feed.h), and there is no I/O here.
 *
 * A request's MAC covers the message (original ID, ARCOUNT without the TSIG
 * record) and the TSIG variables.  A response's MAC covers the request MAC
 * first.  Over TCP the messages of one answer chain: each signed message
 * after the first covers the previous MAC, every unsigned message since
 * then, in full, and only the timers (time signed, fudge) of its own record
 * (§5.3.1).  An HMAC context runs over the stream: it is started with the
 * MAC to chain from, fed every unsigned message as it arrives, and finished
 * (then restarted with the new MAC) at the next signed one.  At most 99
 * unsigned messages may come in a row, and the last message must be signed:
 * a transfer is only complete when its final message verifies (xfr.c checks
 * that last part).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/core.h"
#include "feed/impl.h"

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
	if (!EVP_MAC_final(ctx, out, &n, VG_TSIG_MAC_MAX))
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
	return d <= VG_TSIG_FUDGE;
}

int vg_tsig_sign(const struct vg_tsig_key *key, uint8_t *msg, size_t len, size_t cap,
		 const uint8_t *prior, uint16_t prior_len, bool timers_only, uint64_t now,
		 uint16_t error, uint8_t *mac_out, uint16_t *mac_len_out)
{
	uint8_t mac[VG_TSIG_MAC_MAX], other[6];
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
	hmac_vars(ctx, key, now, VG_TSIG_FUDGE, error, other, other_len, timers_only);
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
	vg_put16(p + 6, VG_TSIG_FUDGE);
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

int vg_tsig_check(const struct vg_tsig_key *key, const uint8_t *msg, size_t len,
		  uint64_t now, struct vg_tsig_info *info)
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
	uint8_t mac[VG_TSIG_MAC_MAX];
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

int vg_tsig_error_rr(uint8_t *msg, size_t len, size_t cap,
		     const struct vg_tsig_info *info, uint64_t now)
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
	vg_put16(p + 6, VG_TSIG_FUDGE);
	vg_put16(p + 8, 0); /* no MAC */
	vg_put16(p + 10, vg_get16(msg));
	vg_put16(p + 12, info->error);
	vg_put16(p + 14, 0);
	p += 16;
	vg_put16(msg + 10, (uint16_t)(vg_get16(msg + 10) + 1));
	return (int)(p - msg);
}

int vg_tsig_stream_init(struct vg_tsig_stream *s, const struct vg_tsig_key *key,
			const uint8_t *mac, uint16_t mac_len)
{
	memset(s, 0, sizeof(*s));
	if (mac_len > VG_TSIG_MAC_MAX)
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

void vg_tsig_stream_deinit(struct vg_tsig_stream *s)
{
	EVP_MAC_CTX_free(s->ctx);
	s->ctx = NULL;
}

int vg_tsig_stream_next(struct vg_tsig_stream *s, const uint8_t *msg, size_t len,
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
		if (s->nmsg == 0 || ++s->unsigned_run > VG_TSIG_MAX_UNSIGNED) {
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
	uint8_t mac[VG_TSIG_MAC_MAX];
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

uint16_t vg_tsig_find_error(const uint8_t *msg, size_t len)
{
	struct tsig_rr t;
	return tsig_find(msg, len, &t) == 1 ? t.error : 0;
}

const char *vg_tsig_error_name(uint16_t e)
{
	switch (e) {
	case VG_TSIG_BADSIG: return "BADSIG (wrong MAC: a different secret?)";
	case VG_TSIG_BADKEY: return "BADKEY (unknown key or algorithm)";
	case VG_TSIG_BADTIME: return "BADTIME (clocks differ by more than 300 s)";
	case VG_TSIG_BADTRUNC: return "BADTRUNC (MAC truncated too far)";
	default: return "an unknown TSIG error";
	}
}
