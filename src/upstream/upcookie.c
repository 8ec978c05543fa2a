/* SPDX-License-Identifier: MIT
 *
 * DNS cookies, the client side (RFC 7873): the client cookie vigil sends an
 * upstream server, and the COOKIE option of that server's answers.  The
 * secret, the server cookies learnt and what is done with a reply are
 * outbound.c's and select.c's; this file only computes and parses.
 */
#include <string.h>

#include <sodium.h>

#include "core/addr.h"
#include "upstream/upstream.h"

/* @p sa's address, after a family byte (4, 6, or 0 with no address), at @p in. */
static size_t put_addr(uint8_t *in, const struct sockaddr *sa)
{
	const uint8_t *a;
	int fam = vg_addr_bytes(sa, &a);
	size_t alen = fam == AF_INET ? 4 : fam ? 16 : 0;
	in[0] = (uint8_t)(alen == 4 ? 4 : alen ? 6 : 0);
	if (alen)
		memcpy(in + 1, a, alen);
	return 1 + alen;
}

void vg_upcookie_client(const uint8_t key[VG_UPCOOKIE_KEY], const struct sockaddr *client,
			const struct sockaddr *server, uint8_t out[VG_UPCOOKIE_CLIENT])
{
	uint8_t in[2 + 16 + 16];
	size_t n = put_addr(in, client);
	n += put_addr(in + n, server);
	crypto_shorthash(out, in, n, key);
}

enum vg_upcookie vg_upcookie_parse(const struct vg_msg *m, const uint8_t cc[VG_UPCOOKIE_CLIENT],
				   uint8_t *sc, size_t *sclen)
{
	const uint8_t *d;
	int len = vg_edns_find(m->pkt, &m->edns, VG_EDNS_COOKIE, &d);
	if (len < 0)
		return VG_UPCOOKIE_NONE;
	if (len < VG_UPCOOKIE_CLIENT + VG_UPCOOKIE_SERVER_MIN ||
	    len > VG_UPCOOKIE_CLIENT + VG_UPCOOKIE_SERVER_MAX)
		return VG_UPCOOKIE_BAD; /* a reply always carries a server cookie (5.2) */
	if (sodium_memcmp(d, cc, VG_UPCOOKIE_CLIENT) != 0)
		return VG_UPCOOKIE_BAD;
	*sclen = (size_t)len - VG_UPCOOKIE_CLIENT;
	memcpy(sc, d + VG_UPCOOKIE_CLIENT, *sclen);
	return VG_UPCOOKIE_OK;
}
