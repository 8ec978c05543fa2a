/* SPDX-License-Identifier: MIT
 *
 * DNSSEC crypto: key tags, DS digests, NSEC3 hashes, public key decoding and
 * RRSIG verification.
 *
 * Signed data (RFC 4034 3.1.8.1): the RRSIG rdata up to and including the
 * signer's name (lower-cased), then every RR of the set in canonical order
 * (owner lower-cased, or "*." plus the owner's rightmost `labels` labels for a
 * wildcard expansion; class; the RRSIG's original TTL; rdata with the names of
 * the types in RFC 4034 6.2 lower-cased, NSEC excepted per RFC 6840 5.1),
 * sorted by canonical rdata and with duplicates removed.  It is written into
 * the caller's scratch buffer: nothing here allocates besides OpenSSL.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "core/core.h"
#include "dnssec/dnssec.h"

#define MAX_SIGNED_RRS 512

bool vg_dnssec_alg_supported(uint8_t alg)
{
	switch (alg) {
	case VG_ALG_RSASHA1: case VG_ALG_RSASHA1_NSEC3: case VG_ALG_RSASHA256:
	case VG_ALG_RSASHA512: case VG_ALG_ECDSAP256: case VG_ALG_ECDSAP384:
	case VG_ALG_ED25519: case VG_ALG_ED448:
		return true;
	default:
		return false;
	}
}

bool vg_dnssec_digest_supported(uint8_t digest)
{
	return digest == VG_DS_SHA1 || digest == VG_DS_SHA256 || digest == VG_DS_SHA384;
}

uint16_t vg_dnssec_keytag(const uint8_t *rdata, size_t len)
{
	uint32_t ac = 0;
	for (size_t i = 0; i < len; i++)
		ac += (i & 1) ? rdata[i] : (uint32_t)rdata[i] << 8;
	ac += (ac >> 16) & 0xffff;
	return (uint16_t)(ac & 0xffff);
}

static const EVP_MD *ds_md(uint8_t digest)
{
	switch (digest) {
	case VG_DS_SHA1:
		return EVP_sha1();
	case VG_DS_SHA256:
		return EVP_sha256();
	case VG_DS_SHA384:
		return EVP_sha384();
	default:
		return NULL;
	}
}

int vg_dnssec_ds_match(const uint8_t *owner, const uint8_t *key, size_t keylen,
		       const uint8_t *ds, size_t dslen)
{
	uint8_t name[VG_NAME_MAX], md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	if (dslen < 4 || keylen < 4)
		return VG_EMALFORMED;
	const EVP_MD *m = ds_md(ds[3]);
	if (!m)
		return VG_ENOTSUP;
	if (vg_get16(ds) != vg_dnssec_keytag(key, keylen) || ds[2] != key[3])
		return VG_EBOGUS;
	size_t nlen = vg_name_len(owner);
	memcpy(name, owner, nlen);
	vg_name_lower(name);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, m, NULL) && EVP_DigestUpdate(ctx, name, nlen) &&
		 EVP_DigestUpdate(ctx, key, keylen) && EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return VG_ENOMEM;
	if (dslen - 4 != mdlen || CRYPTO_memcmp(md, ds + 4, mdlen) != 0)
		return VG_EBOGUS;
	return 0;
}

int vg_dnssec_nsec3_hash(const uint8_t *name, const uint8_t *salt, size_t saltlen,
			 uint16_t iterations, uint8_t out[20])
{
	uint8_t buf[VG_NAME_MAX + 255];
	size_t nlen = vg_name_len(name);
	if (saltlen > 255)
		return VG_EINVAL;
	memcpy(buf, name, nlen);
	vg_name_lower(buf);
	memcpy(buf + nlen, salt, saltlen);
	EVP_Digest(buf, nlen + saltlen, out, NULL, EVP_sha1(), NULL);
	for (unsigned i = 0; i < iterations; i++) {
		memcpy(buf, out, 20);
		memcpy(buf + 20, salt, saltlen);
		EVP_Digest(buf, 20 + saltlen, out, NULL, EVP_sha1(), NULL);
	}
	return 0;
}

/* ------------------------------------------------------------ keys */

/*
 * A decoded key (vg_dnssec_key.pkey), shared by counted references within
 * one thread: the OpenSSL key and, made on its first signature, a
 * verification context set up for it once (algorithm fetched, digest and
 * padding set).  A signature then costs the digest and the public-key
 * operation only: with a fresh EVP_DigestVerifyInit per signature, OpenSSL
 * 3's per-call fetches were over half the cost of an RSA-512 verification
 * (KeyTrap's keys), and a quarter of an RSA-1024 one.
 */
struct vg_pkey {
	unsigned ref;
	EVP_PKEY *pkey;
	EVP_PKEY_CTX *vctx; /* NULL until first used (or when it cannot be made) */
	bool vctx_failed;
};

static struct vg_pkey *pkey_wrap(EVP_PKEY *pkey)
{
	if (!pkey)
		return NULL;
	struct vg_pkey *p = calloc(1, sizeof(*p));
	if (!p) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	p->ref = 1;
	p->pkey = pkey;
	return p;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0)
		(void)EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_key(const uint8_t *p, size_t len)
{
	size_t elen, off;
	if (len < 3)
		return NULL;
	if (p[0]) {
		elen = p[0];
		off = 1;
	} else {
		elen = vg_get16(p + 1);
		off = 3;
	}
	if (elen == 0 || off + elen >= len)
		return NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *e = BN_bin2bn(p + off, (int)elen, NULL);
	BIGNUM *n = BN_bin2bn(p + off + elen, (int)(len - off - elen), NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (e && n && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		pkey = pkey_from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(e);
	BN_free(n);
	return pkey;
}

static EVP_PKEY *ec_key(const char *group, const uint8_t *p, size_t len, size_t want)
{
	uint8_t point[1 + 96];
	if (len != want)
		return NULL;
	point[0] = 0x04; /* uncompressed X || Y */
	memcpy(point + 1, p, len);
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, len + 1))
		pkey = pkey_from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

int vg_dnssec_key_init(struct vg_dnssec_key *k, const uint8_t *rdata, size_t len)
{
	memset(k, 0, sizeof(*k));
	if (len < 5 || rdata[2] != 3)
		return VG_EMALFORMED;
	k->alg = rdata[3];
	k->tag = vg_dnssec_keytag(rdata, len);
	const uint8_t *pub = rdata + 4;
	size_t plen = len - 4;
	switch (k->alg) {
	case VG_ALG_RSASHA1: case VG_ALG_RSASHA1_NSEC3: case VG_ALG_RSASHA256:
	case VG_ALG_RSASHA512:
		k->pkey = pkey_wrap(rsa_key(pub, plen));
		break;
	case VG_ALG_ECDSAP256:
		k->pkey = pkey_wrap(ec_key("prime256v1", pub, plen, 64));
		break;
	case VG_ALG_ECDSAP384:
		k->pkey = pkey_wrap(ec_key("secp384r1", pub, plen, 96));
		break;
	case VG_ALG_ED25519:
		if (plen != 32)
			return VG_EMALFORMED;
		memcpy(k->ed25519, pub, 32);
		return 0;
	case VG_ALG_ED448:
		if (plen != 57)
			return VG_EMALFORMED;
		k->pkey = pkey_wrap(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED448, NULL, pub, plen));
		break;
	default:
		return VG_ENOTSUP;
	}
	if (k->pkey)
		return 0;
	ERR_clear_error(); /* a key OpenSSL would not take: as in vg_dnssec_verify */
	return VG_EMALFORMED;
}

void vg_dnssec_key_ref(struct vg_dnssec_key *dst, const struct vg_dnssec_key *src)
{
	*dst = *src;
	if (dst->pkey)
		((struct vg_pkey *)dst->pkey)->ref++;
}

/* ------------------------------------------------------------ key cache */

/* 4-way set associative, least recently used way replaced: two keys in
 * use whose hashes meet no longer evict each other on every request (with
 * direct mapping, ~20 keys in 512 slots collide in about a third of runs,
 * and the pair is decoded again on every use). */
#define KC_WAYS 4
#define KC_SETS 128

struct kc_slot {
	uint8_t *rdata;
	uint16_t len;
	int status; /* vg_dnssec_key_init's result */
	uint64_t used; /* c->tick at its last use */
	struct vg_dnssec_key key;
};

struct vg_keycache {
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	struct kc_slot slot[KC_SETS][KC_WAYS];
	uint64_t hits, misses, tick;
};

struct vg_keycache *vg_keycache_new(void)
{
	struct vg_keycache *c = calloc(1, sizeof(*c));
	if (c)
		randombytes_buf(c->hkey, sizeof(c->hkey));
	return c;
}

void vg_keycache_free(struct vg_keycache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < KC_SETS; i++) {
		for (unsigned w = 0; w < KC_WAYS; w++) {
			vg_dnssec_key_deinit(&c->slot[i][w].key);
			free(c->slot[i][w].rdata);
		}
	}
	free(c);
}

int vg_keycache_get(struct vg_keycache *c, struct vg_dnssec_key *k, const uint8_t *rdata,
		    size_t len)
{
	if (!c)
		return vg_dnssec_key_init(k, rdata, len);
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, rdata, len, c->hkey);
	struct kc_slot *set = c->slot[h % KC_SETS], *s = NULL, *lru = &set[0];
	for (unsigned w = 0; w < KC_WAYS && !s; w++) {
		if (set[w].rdata && set[w].len == len && memcmp(set[w].rdata, rdata, len) == 0)
			s = &set[w];
		else if (set[w].used < lru->used)
			lru = &set[w];
	}
	if (!s) {
		c->misses++;
		uint8_t *copy = malloc(len ? len : 1);
		if (!copy)
			return vg_dnssec_key_init(k, rdata, len);
		s = lru;
		vg_dnssec_key_deinit(&s->key);
		free(s->rdata);
		memcpy(copy, rdata, len);
		s->rdata = copy;
		s->len = (uint16_t)len;
		s->status = vg_dnssec_key_init(&s->key, rdata, len);
	} else {
		c->hits++;
	}
	s->used = ++c->tick;
	if (s->status < 0) {
		memset(k, 0, sizeof(*k));
		return s->status;
	}
	vg_dnssec_key_ref(k, &s->key);
	return 0;
}

void vg_dnssec_key_deinit(struct vg_dnssec_key *k)
{
	struct vg_pkey *p = k->pkey;
	k->pkey = NULL;
	if (!p || --p->ref > 0)
		return;
	EVP_PKEY_CTX_free(p->vctx);
	EVP_PKEY_free(p->pkey);
	free(p);
}

/* ------------------------------------------------------------ canonical form */

/* Offsets of the names in rdata of types whose names are lower-cased. */
static int canon_names(uint16_t type, size_t first[2], int *fixed_after)
{
	*fixed_after = 0;
	switch (type) {
	case VG_T_NS: case VG_T_MD: case VG_T_MF: case VG_T_CNAME: case VG_T_MB:
	case VG_T_MG: case VG_T_MR: case VG_T_PTR: case VG_T_DNAME:
		first[0] = 0;
		return 1;
	case VG_T_MX: case VG_T_AFSDB: case VG_T_RT: case VG_T_KX:
		first[0] = 2;
		return 1;
	case VG_T_SRV:
		first[0] = 6;
		return 1;
	case VG_T_RRSIG:
		first[0] = 18;
		return 1;
	case VG_T_SOA: case VG_T_MINFO: case VG_T_RP:
		first[0] = 0;
		return 2;
	case VG_T_PX:
		first[0] = 2;
		return 2;
	default:
		return 0;
	}
}

/* Lower-case the names inside a copy of rdata (in place). */
static int canon_rdata(uint16_t type, uint8_t *rd, size_t len)
{
	size_t first[2];
	int fixed;
	int n = canon_names(type, first, &fixed);
	size_t o = n ? first[0] : 0;
	if (type == 35 /* NAPTR: order, preference, three strings, then the name */) {
		o = 4;
		for (int i = 0; i < 3; i++) {
			if (o >= len)
				return VG_EMALFORMED;
			o += 1u + rd[o];
		}
		n = 1;
	}
	for (int i = 0; i < n; i++) {
		if (o >= len)
			return VG_EMALFORMED;
		int l = vg_name_check(rd + o, len - o);
		if (l < 0)
			return VG_EMALFORMED;
		vg_name_lower(rd + o);
		o += (size_t)l;
	}
	return 0;
}

struct crr {
	const uint8_t *rd;
	uint16_t len;
};

static int crr_cmp(const void *a, const void *b)
{
	const struct crr *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->rd, y->rd, n);
	if (c)
		return c;
	return (int)x->len - (int)y->len;
}

/* Build the signed data; returns its length or a negative code. */
static int signed_data(const struct vg_rrset *rs, const uint8_t *sig, size_t siglen,
		       size_t sigstart, uint8_t *buf, size_t cap)
{
	struct crr rr[MAX_SIGNED_RRS];
	uint8_t owner[VG_NAME_MAX];
	size_t o = 0;

	if (rs->count > MAX_SIGNED_RRS)
		return VG_ELIMIT;
	/* RRSIG rdata without the signature, signer lower-cased */
	if (sigstart > cap)
		return VG_ENOSPACE;
	memcpy(buf, sig, sigstart);
	vg_name_lower(buf + 18);
	o = sigstart;

	/* owner: lower-cased, or the wildcard it was expanded from */
	int labels = vg_name_labels(rs->owner), siglabels = sig[3];
	if (siglabels > labels)
		return VG_EBOGUS;
	const uint8_t *src = vg_name_suffix(rs->owner, siglabels);
	size_t olen = 0;
	if (siglabels < labels) {
		owner[0] = 1;
		owner[1] = '*';
		olen = 2;
	}
	memcpy(owner + olen, src, vg_name_len(src));
	olen += vg_name_len(src);
	if (olen > VG_NAME_MAX)
		return VG_EMALFORMED;
	vg_name_lower(owner);

	/* canonical rdata copies go at the end of the buffer */
	size_t tail = cap;
	const uint8_t *d = rs->rdata, *end = rs->rdata + rs->rdata_len;
	for (unsigned i = 0; i < rs->count; i++) {
		if (end - d < 2 || (size_t)(end - d - 2) < vg_get16(d))
			return VG_EMALFORMED;
		uint16_t l = vg_get16(d);
		if (tail - o < l)
			return VG_ENOSPACE;
		tail -= l;
		memcpy(buf + tail, d + 2, l);
		if (canon_rdata(rs->type, buf + tail, l) < 0)
			return VG_EMALFORMED;
		rr[i].rd = buf + tail;
		rr[i].len = l;
		d += 2u + l;
	}
	qsort(rr, rs->count, sizeof(rr[0]), crr_cmp);
	size_t front = o;
	for (unsigned i = 0; i < rs->count; i++)
		front += olen + 10 + rr[i].len;
	if (front > tail)
		return VG_ENOSPACE; /* the signed data would run into the rdata copies */
	for (unsigned i = 0; i < rs->count; i++) {
		if (i && !crr_cmp(&rr[i], &rr[i - 1]))
			continue; /* duplicates count once */
		memcpy(buf + o, owner, olen);
		o += olen;
		vg_put16(buf + o, rs->type);
		vg_put16(buf + o + 2, rs->rclass);
		memcpy(buf + o + 4, sig + 4, 4); /* original TTL */
		vg_put16(buf + o + 8, rr[i].len);
		o += 10;
		memcpy(buf + o, rr[i].rd, rr[i].len);
		o += rr[i].len;
	}
	(void)siglen;
	return (int)o;
}

/*
 * The digests of the signature algorithms, fetched once for the process
 * (a fetched EVP_MD may be shared by threads).  EVP_sha256() and the like
 * make OpenSSL 3 look the implementation up again on every use.
 */
enum { MD_SHA1, MD_SHA256, MD_SHA384, MD_SHA512, MD_COUNT };
static EVP_MD *md_fetched[MD_COUNT];
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
	static const char *const names[MD_COUNT] = { "SHA1", "SHA256", "SHA384", "SHA512" };
	for (int i = 0; i < MD_COUNT; i++)
		md_fetched[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

static const EVP_MD *sig_md(uint8_t alg)
{
	int i;
	switch (alg) {
	case VG_ALG_RSASHA1: case VG_ALG_RSASHA1_NSEC3:
		i = MD_SHA1;
		break;
	case VG_ALG_RSASHA256: case VG_ALG_ECDSAP256:
		i = MD_SHA256;
		break;
	case VG_ALG_RSASHA512:
		i = MD_SHA512;
		break;
	case VG_ALG_ECDSAP384:
		i = MD_SHA384;
		break;
	default:
		return NULL; /* EdDSA: no separate digest */
	}
	(void)pthread_once(&md_once, md_fetch);
	return md_fetched[i];
}

/* The key's verification context for digest @p md, made on first use:
 * false if it cannot be (Ed448, no digest: OpenSSL verifies it in one pass
 * only; or an OpenSSL failure): then each signature sets up its own. */
static bool vctx_ready(struct vg_pkey *p, uint8_t alg, const EVP_MD *md)
{
	if (p->vctx)
		return true;
	if (p->vctx_failed || !md)
		return false;
	p->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, p->pkey, NULL);
	bool rsa = alg != VG_ALG_ECDSAP256 && alg != VG_ALG_ECDSAP384;
	if (!p->vctx || EVP_PKEY_verify_init(p->vctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(p->vctx, md) <= 0 ||
	    (rsa && EVP_PKEY_CTX_set_rsa_padding(p->vctx, RSA_PKCS1_PADDING) <= 0)) {
		EVP_PKEY_CTX_free(p->vctx);
		p->vctx = NULL;
		p->vctx_failed = true;
		return false;
	}
	return true;
}

/* One DER INTEGER from an unsigned big-endian number: minimal, with a 0x00
 * in front when the top bit is set (the value is positive). */
static size_t der_uint(const uint8_t *p, size_t len, uint8_t *out)
{
	while (len > 1 && p[0] == 0) {
		p++;
		len--;
	}
	size_t pad = p[0] & 0x80 ? 1 : 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(len + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, p, len);
	return 2 + pad + len;
}

/*
 * r || s (each @p len / 2 bytes) into the DER ECDSA-Sig-Value OpenSSL
 * verifies (RFC 6605 4: the DNS form is the bare pair).  Written directly:
 * for P-256 and P-384 every length fits in one byte (at most 2 * 51 < 128).
 */
static int ecdsa_der(const uint8_t *raw, size_t len, uint8_t *der, size_t cap)
{
	size_t half = len / 2;
	if (half == 0 || half > 48 || cap < 2 + 2 * (3 + half))
		return -1;
	size_t n = der_uint(raw, half, der + 2);
	n += der_uint(raw + half, half, der + 2 + n);
	der[0] = 0x30;
	der[1] = (uint8_t)n;
	return (int)(n + 2);
}

int vg_dnssec_verify(const struct vg_dnssec_key *k, const struct vg_rrset *rs,
		     const uint8_t *sig, size_t siglen, uint8_t *scratch, size_t cap)
{
	if (siglen < 19)
		return VG_EMALFORMED;
	int nl = vg_name_check(sig + 18, siglen - 18);
	if (nl < 0)
		return VG_EMALFORMED;
	size_t sigstart = 18 + (size_t)nl;
	const uint8_t *sigbytes = sig + sigstart;
	size_t sigbytes_len = siglen - sigstart;
	if (vg_get16(sig) != rs->type || sig[2] != k->alg || vg_get16(sig + 16) != k->tag)
		return VG_EBOGUS;
	if (!vg_dnssec_alg_supported(k->alg))
		return VG_ENOTSUP;
	int dlen = signed_data(rs, sig, siglen, sigstart, scratch, cap);
	if (dlen < 0)
		return dlen;

	if (k->alg == VG_ALG_ED25519) {
		if (sigbytes_len != crypto_sign_BYTES)
			return VG_EBOGUS;
		return crypto_sign_verify_detached(sigbytes, scratch, (unsigned long long)dlen,
						   k->ed25519) == 0 ? 0 : VG_EBOGUS;
	}
	uint8_t der[160];
	if (k->alg == VG_ALG_ECDSAP256 || k->alg == VG_ALG_ECDSAP384) {
		size_t want = k->alg == VG_ALG_ECDSAP256 ? 64 : 96;
		int n = sigbytes_len == want ? ecdsa_der(sigbytes, want, der, sizeof(der)) : -1;
		if (n < 0)
			return VG_EBOGUS;
		sigbytes = der;
		sigbytes_len = (size_t)n;
	}
	struct vg_pkey *p = k->pkey;
	if (!p)
		return VG_EMALFORMED;
	const EVP_MD *md = sig_md(k->alg);
	if (!md && k->alg != VG_ALG_ED448)
		return VG_ENOTSUP; /* the digest could not be fetched */
	int ok;
	if (vctx_ready(p, k->alg, md)) {
		uint8_t h[EVP_MAX_MD_SIZE];
		unsigned hlen = 0;
		ok = EVP_Digest(scratch, (size_t)dlen, h, &hlen, md, NULL) == 1 &&
		     EVP_PKEY_verify(p->vctx, sigbytes, sigbytes_len, h, hlen) == 1;
	} else {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, p->pkey) == 1 &&
		     EVP_DigestVerify(ctx, sigbytes, sigbytes_len, scratch, (size_t)dlen) == 1;
		EVP_MD_CTX_free(ctx);
	}
	if (ok)
		return 0;
	/* a signature that does not verify leaves errors on the thread's queue,
	 * where the worker's TLS connections would find them (SSL_get_error) */
	ERR_clear_error();
	return VG_EBOGUS;
}
