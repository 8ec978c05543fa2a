/* SPDX-License-Identifier: MIT
 *
 * DNS cookies, server side (see cookie.h).
 */
#include <string.h>

#include <sodium.h>

#include "core/addr.h"
#include "core/core.h"
#include "pipeline/cookie.h"

#define COOKIE_MAX_AGE 3600   /* a server cookie is accepted for an hour (RFC 9018 4.3) */
#define COOKIE_MAX_AHEAD 300  /* and from up to five minutes in the future */

void vg_cookie_init(struct vg_cookie_secret *s)
{
	uint64_t k[4];
	randombytes_buf(k, sizeof(k));
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			atomic_store_explicit(&s->key[i][j], k[2 * i + j], memory_order_relaxed);
	atomic_store_explicit(&s->cur, 0, memory_order_release);
	sodium_memzero(k, sizeof(k));
}

void vg_cookie_rotate(struct vg_cookie_secret *s)
{
	uint64_t k[2];
	unsigned next = 1 - atomic_load_explicit(&s->cur, memory_order_relaxed);
	randombytes_buf(k, sizeof(k));
	atomic_store_explicit(&s->key[next][0], k[0], memory_order_relaxed);
	atomic_store_explicit(&s->key[next][1], k[1], memory_order_relaxed);
	atomic_store_explicit(&s->cur, next, memory_order_release);
	sodium_memzero(k, sizeof(k));
}

/* The 8-byte hash of RFC 9018 4.4 for client cookie @p cc, the server
 * cookie's first 8 bytes @p head (version, reserved, timestamp) and the
 * client's address, under key @p which. */
static void cookie_hash(const struct vg_cookie_secret *s, unsigned which, const uint8_t *cc,
			const uint8_t *head, const struct sockaddr *client, uint8_t out[8])
{
	uint8_t in[VG_COOKIE_CLIENT_LEN + 8 + 16], key[16];
	const uint8_t *a;
	int fam = vg_addr_bytes(client, &a);
	size_t alen = fam == AF_INET ? 4 : fam ? 16 : 0;
	uint64_t k0 = atomic_load_explicit(&s->key[which][0], memory_order_relaxed);
	uint64_t k1 = atomic_load_explicit(&s->key[which][1], memory_order_relaxed);
	memcpy(key, &k0, 8);
	memcpy(key + 8, &k1, 8);
	memcpy(in, cc, VG_COOKIE_CLIENT_LEN);
	memcpy(in + VG_COOKIE_CLIENT_LEN, head, 8);
	if (alen)
		memcpy(in + VG_COOKIE_CLIENT_LEN + 8, a, alen);
	crypto_shorthash(out, in, VG_COOKIE_CLIENT_LEN + 8 + alen, key);
	sodium_memzero(key, sizeof(key));
}

enum vg_cookie_state vg_cookie_check(const struct vg_cookie_secret *s, const struct vg_query *q,
				     const struct sockaddr *client, uint32_t now,
				     uint8_t client_cookie[VG_COOKIE_CLIENT_LEN])
{
	const uint8_t *d;
	int len = vg_edns_option(q, VG_EDNS_COOKIE, &d);
	if (len < 0)
		return VG_COOKIE_NONE;
	/* a client cookie alone, or with a server cookie of 8..32 bytes */
	if (len != VG_COOKIE_CLIENT_LEN && (len < 16 || len > 40))
		return VG_COOKIE_BAD;
	memcpy(client_cookie, d, VG_COOKIE_CLIENT_LEN);
	if (len != VG_COOKIE_CLIENT_LEN + VG_COOKIE_SERVER_LEN || !s)
		return VG_COOKIE_CLIENT; /* none, or not one of ours: a new one */
	const uint8_t *sc = d + VG_COOKIE_CLIENT_LEN;
	if (sc[0] != 1 || sc[1] || sc[2] || sc[3])
		return VG_COOKIE_CLIENT;
	uint32_t ts = vg_get32(sc + 4);
	int32_t age = (int32_t)(now - ts);
	if (age > COOKIE_MAX_AGE || age < -COOKIE_MAX_AHEAD)
		return VG_COOKIE_CLIENT;
	uint8_t h[8];
	for (unsigned k = 0; k < 2; k++) {
		cookie_hash(s, k, d, sc, client, h);
		if (sodium_memcmp(h, sc + 8, 8) == 0)
			return VG_COOKIE_VALID;
	}
	return VG_COOKIE_CLIENT;
}

size_t vg_cookie_add(const struct vg_cookie_secret *s, uint8_t *buf, size_t len, size_t cap,
		     const uint8_t client_cookie[VG_COOKIE_CLIENT_LEN],
		     const struct sockaddr *client, uint32_t now)
{
	uint8_t opt[VG_COOKIE_CLIENT_LEN + VG_COOKIE_SERVER_LEN];
	uint8_t *sc = opt + VG_COOKIE_CLIENT_LEN;
	memcpy(opt, client_cookie, VG_COOKIE_CLIENT_LEN);
	sc[0] = 1; /* version */
	sc[1] = sc[2] = sc[3] = 0;
	vg_put32(sc + 4, now);
	cookie_hash(s, atomic_load_explicit(&s->cur, memory_order_acquire), client_cookie, sc,
		    client, sc + 8);
	return vg_wire_add_option(buf, len, cap, VG_EDNS_COOKIE, opt, sizeof(opt));
}
