/* SPDX-License-Identifier: MIT
 *
 * What the query logs keep of a client address: all of it, a prefix (the
 * rest zero: /24 and /56 hide the host but keep the network), or a keyed
 * pseudonym.  A pseudonym is BLAKE2b (libsodium crypto_generichash) of the
 * address under a random key that lives for one period (rotate_s seconds of
 * wall time, aligned: a daily key changes at midnight UTC): within a period
 * one address always has the same pseudonym, so a client's queries can be
 * followed; across periods they cannot be linked, and the key is never
 * written anywhere, so nobody can go back from a pseudonym to its address.
 * Runs on the writer thread only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "qlog/impl.h"

void vg__qlog_priv_init(struct vg__qlog_priv *pv, const struct vg_qlog_opts *o)
{
	memset(pv, 0, sizeof(*pv));
	pv->mode = o->addr_mode;
	pv->v4 = o->v4_prefix > 32 ? 32 : o->v4_prefix;
	pv->v6 = o->v6_prefix > 128 ? 128 : o->v6_prefix;
	pv->rotate_s = o->pseudonym_rotate_s ? o->pseudonym_rotate_s : 86400;
	pv->period = -1;
}

static void truncate_bits(uint8_t *a, size_t len, unsigned keep)
{
	for (unsigned i = keep; i < len * 8; i++)
		a[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

int vg__qlog_priv_addr(struct vg__qlog_priv *pv, const struct sockaddr *sa, int64_t now_s,
		       uint8_t out[16])
{
	const uint8_t *b;
	int fam = vg_addr_bytes(sa, &b);
	size_t len = fam == AF_INET ? 4 : fam == AF_INET6 ? 16 : 0;
	if (!len)
		return 0;
	memcpy(out, b, len);
	switch (pv->mode) {
	case VG_QLOG_ADDR_TRUNCATE:
		truncate_bits(out, len, fam == AF_INET ? pv->v4 : pv->v6);
		break;
	case VG_QLOG_ADDR_PSEUDONYM: {
		int64_t period = now_s / (int64_t)pv->rotate_s;
		/* a new period: a new key, the old one forgotten; a late event
		 * of a past period (the rings are drained in turn) takes the
		 * current key rather than a new one for every swing back */
		if (period > pv->period) {
			randombytes_buf(pv->key, sizeof(pv->key));
			pv->period = period;
		}
		uint8_t h[16];
		crypto_generichash(h, sizeof(h), b, len, pv->key, sizeof(pv->key));
		/* all 16 bytes, whatever the family: the text form shows 8 of
		 * them (an IPv4 address has 4: the rest was the caller's stack) */
		memcpy(out, h, sizeof(h));
		sodium_memzero(h, sizeof(h));
		break;
	}
	default:
		break;
	}
	return fam;
}

size_t vg__qlog_priv_str(struct vg__qlog_priv *pv, const struct sockaddr *sa, int64_t now_s,
			 char *buf, size_t cap)
{
	uint8_t a[16];
	int fam = vg__qlog_priv_addr(pv, sa, now_s, a);
	if (!cap)
		return 0;
	buf[0] = 0;
	if (!fam)
		return (size_t)snprintf(buf, cap, "-");
	if (pv->mode == VG_QLOG_ADDR_PSEUDONYM) {
		if (cap < 17)
			return 0;
		sodium_bin2hex(buf, cap, a, 8);
		return 16;
	}
	if (!inet_ntop(fam, a, buf, (socklen_t)cap))
		return 0;
	return strlen(buf);
}
