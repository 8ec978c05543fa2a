/* SPDX-License-Identifier: MIT
 *
 * Addresses, prefixes and access control lists (addr.h): parsing,
 * formatting, equality and longest-prefix matching, written once.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "core/core.h"
#include "vigil/err.h"

static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

int vg_sockaddr_parse(const char *s, uint16_t default_port, struct vg_sockaddr *out)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2], *scope;
	const char *end, *port_s = NULL, *colon;
	unsigned long long port = default_port, idx;
	bool bracket = *s == '[';
	size_t hlen;

	if (bracket) {
		end = strchr(++s, ']');
		if (!end || (end[1] && end[1] != ':' && end[1] != '@'))
			return VG_EPARSE;
		if (end[1])
			port_s = end + 2;
	} else if ((end = strchr(s, '@'))) {
		port_s = end + 1;
	} else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
		end = colon; /* "v4:PORT": one colon cannot be IPv6 */
		port_s = colon + 1;
	} else {
		end = s + strlen(s);
	}
	hlen = (size_t)(end - s);
	if (hlen == 0 || hlen >= sizeof(host) ||
	    (port_s && (vg_parse_uint(port_s, 65535, &port) < 0 || port == 0)))
		return VG_EPARSE;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(out, 0, sizeof(*out));
	if (!bracket && inet_pton(AF_INET, host, &out->u.in4.sin_addr) == 1) {
		out->u.in4.sin_family = AF_INET;
		out->u.in4.sin_port = htons((uint16_t)port);
		out->len = sizeof(out->u.in4);
		return 0;
	}
	if ((scope = strchr(host, '%'))) { /* fe80::1%eth0 or fe80::1%2 */
		*scope++ = '\0';
		if (vg_parse_uint(scope, UINT32_MAX, &idx) < 0)
			idx = *scope ? if_nametoindex(scope) : 0;
		if (idx == 0)
			return VG_EPARSE;
		out->u.in6.sin6_scope_id = (uint32_t)idx;
	}
	if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) != 1)
		return VG_EPARSE;
	out->u.in6.sin6_family = AF_INET6;
	out->u.in6.sin6_port = htons((uint16_t)port);
	out->len = sizeof(out->u.in6);
	return 0;
}

int vg_sockaddr_from(struct vg_sockaddr *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET)
		out->len = sizeof(out->u.in4);
	else if (sa->sa_family == AF_INET6)
		out->len = sizeof(out->u.in6);
	else
		return VG_EINVAL;
	memcpy(&out->u, sa, out->len);
	return 0;
}

uint16_t vg_sockaddr_port(const struct vg_sockaddr *sa)
{
	return ntohs(sa->u.sa.sa_family == AF_INET6 ? sa->u.in6.sin6_port : sa->u.in4.sin_port);
}

void vg_sockaddr_set_port(struct vg_sockaddr *sa, uint16_t port)
{
	if (sa->u.sa.sa_family == AF_INET6)
		sa->u.in6.sin6_port = htons(port);
	else
		sa->u.in4.sin_port = htons(port);
}

bool vg_sockaddr_eq_addr(const struct vg_sockaddr *a, const struct vg_sockaddr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	if (a->u.sa.sa_family == AF_INET6)
		return a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
		       !memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
	return a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
}

bool vg_sockaddr_eq(const struct vg_sockaddr *a, const struct vg_sockaddr *b)
{
	return vg_sockaddr_eq_addr(a, b) && vg_sockaddr_port(a) == vg_sockaddr_port(b);
}

const char *vg_sa_str(const struct sockaddr *sa, unsigned flags, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?", scope[16] = "", port[8] = "";
	unsigned p = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		p = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		if (s6->sin6_scope_id)
			snprintf(scope, sizeof(scope), "%%%u", (unsigned)s6->sin6_scope_id);
		p = ntohs(s6->sin6_port);
	}
	if (flags & VG_ADDR_PORT)
		snprintf(port, sizeof(port), "@%u", p);
	snprintf(buf, size, "%s%s%s", host, scope, port);
	return buf;
}

const char *vg_sockaddr_str(const struct vg_sockaddr *sa, unsigned flags, char *buf, size_t size)
{
	return vg_sa_str(&sa->u.sa, flags, buf, size);
}

bool vg_sockaddr_is_loopback(const struct vg_sockaddr *sa)
{
	const uint8_t *b;
	int fam = vg_addr_bytes(&sa->u.sa, &b);
	static const uint8_t lo6[16] = { [15] = 1 };
	if (fam == AF_INET6)
		return !memcmp(b, lo6, 16);
	return fam == AF_INET && b[0] == 127;
}

bool vg_sockaddr_is_private(const struct vg_sockaddr *sa)
{
	const uint8_t *b;
	int fam = vg_addr_bytes(&sa->u.sa, &b);
	if (fam == AF_INET6)
		return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
	if (fam != AF_INET)
		return false;
	return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
	       (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
	       (b[0] == 100 && (b[1] & 0xc0) == 64) || b[0] == 0;
}

int vg_addr_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
	if (sa && sa->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		return AF_INET;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (!memcmp(a, v4mapped, 12)) {
			*bytes = a + 12;
			return AF_INET;
		}
		*bytes = a;
		return AF_INET6;
	}
	*bytes = NULL;
	return 0;
}

uint64_t vg_addr_prefix_hash(const struct sockaddr *sa, unsigned v4_bits, unsigned v6_bits,
			     uint64_t key)
{
	const uint8_t *a;
	int fam = vg_addr_bytes(sa, &a);
	unsigned bits = fam == AF_INET ? v4_bits : v6_bits;
	size_t n = fam == AF_INET ? 4 : fam == AF_INET6 ? 16 : 0;
	uint8_t p[16] = { 0 };
	for (size_t i = 0; i < n && bits; i++) {
		unsigned take = bits >= 8 ? 8 : bits;
		p[i] = (uint8_t)(a[i] & (0xff00u >> take));
		bits -= take;
	}
	uint64_t h = key ^ (uint64_t)fam; /* FNV-1a steps over the masked bytes */
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 32);
}

/* ------------------------------------------------------------ prefixes */

int vg_prefix_parse(const char *s, struct vg_prefix *out)
{
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	char host[INET6_ADDRSTRLEN];
	unsigned long long bits;
	unsigned max;

	if (hlen == 0 || hlen >= sizeof(host))
		return VG_EPARSE;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return VG_EPARSE;
	max = out->family == AF_INET ? 32 : 128;
	bits = max;
	if (slash && vg_parse_uint(slash + 1, max, &bits) < 0)
		return VG_EPARSE;
	out->bits = (uint8_t)bits;
	/* "10.1.2.3/8" is a typo for a host or for another network, never what was meant */
	for (unsigned i = out->bits; i < max; i++)
		if (out->addr[i / 8] & (0x80 >> (i % 8)))
			return VG_EINVAL;
	return 0;
}

void vg_prefix_unmap(struct vg_prefix *p)
{
	if (p->family == AF_INET6 && p->bits >= 96 && memcmp(p->addr, v4mapped, 12) == 0) {
		memmove(p->addr, p->addr + 12, 4);
		memset(p->addr + 4, 0, 12);
		p->family = AF_INET;
		p->bits -= 96;
	}
}

/* LEN (4 or 8) bytes at B as a big-endian number in the top of a word. */
static inline uint64_t load_top(const uint8_t *b, unsigned len)
{
	if (len == 4) {
		uint32_t v;
		memcpy(&v, b, 4);
		return (uint64_t)be32toh(v) << 32;
	}
	uint64_t v;
	memcpy(&v, b, 8);
	return be64toh(v);
}

/* The first N bits of A and B are equal (N <= 8 * LEN): one masked compare
 * of big-endian words, no library call; this runs for every rule of the ACL
 * on every query. */
static inline bool top_bits_eq(const uint8_t *a, const uint8_t *b, unsigned len, unsigned n)
{
	return n == 0 || ((load_top(a, len) ^ load_top(b, len)) >> (64 - n)) == 0;
}

static inline bool prefix_contains(const struct vg_prefix *p, int family, const uint8_t *addr)
{
	unsigned bits = p->bits;
	if (p->family != family)
		return false;
	if (family == AF_INET)
		return bits <= 32 && top_bits_eq(p->addr, addr, 4, bits);
	if (bits > 128)
		return false;
	if (bits <= 64)
		return top_bits_eq(p->addr, addr, 8, bits);
	return top_bits_eq(p->addr, addr, 8, 64) && top_bits_eq(p->addr + 8, addr + 8, 8, bits - 64);
}

bool vg_prefix_contains(const struct vg_prefix *p, int family, const uint8_t *addr)
{
	return prefix_contains(p, family, addr);
}

const char *vg_prefix_str(const struct vg_prefix *p, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	inet_ntop(p->family == AF_INET ? AF_INET : AF_INET6, p->addr, host, sizeof(host));
	snprintf(buf, size, "%s/%u", host, (unsigned)p->bits);
	return buf;
}

int vg_prefix_longest(const struct vg_prefix *first, size_t n, size_t stride,
		      const struct sockaddr *sa)
{
	const uint8_t *a;
	int fam = vg_addr_bytes(sa, &a), best = -1, best_bits = -1;
	if (!fam)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct vg_prefix *p =
			(const struct vg_prefix *)((const char *)first + i * stride);
		if ((int)p->bits > best_bits && prefix_contains(p, fam, a)) {
			best = (int)i;
			best_bits = p->bits;
		}
	}
	return best;
}

enum vg_acl_action vg_acl_check(const struct vg_acl *acl, const struct sockaddr *sa)
{
	int i = vg_prefix_longest(&acl->rule[0].prefix, acl->n, sizeof(acl->rule[0]), sa);
	return i < 0 ? acl->dflt : acl->rule[i].action;
}
