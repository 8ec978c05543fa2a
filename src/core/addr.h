/* SPDX-License-Identifier: MIT
 *
 * Addresses: socket addresses with a port, address prefixes, and access
 * control lists matched by the longest prefix.  One parser, one formatter and
 * one equality for every module (config, upstream selection, feeds, policy,
 * the front end), so the same address always reads and compares the same.
 *
 * IPv4 clients that reach an IPv6 socket as ::ffff:a.b.c.d are matched as
 * the IPv4 address they carry (vg_addr_bytes), and a prefix written in that
 * form is stored as the IPv4 prefix it contains (vg_prefix_unmap).
 *
 * Nothing here does I/O or allocates.
 */
#ifndef VG_CORE_ADDR_H
#define VG_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/** A socket address (IPv4 or IPv6) with port; len is the sockaddr's length. */
struct vg_sockaddr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len;
};

/** An address prefix: family AF_INET/AF_INET6, bytes in network order. */
struct vg_prefix {
	int family;
	uint8_t addr[16];
	uint8_t bits;
};

/** Longest length "ADDR%SCOPE@PORT" can take, with the terminating NUL. */
#define VG_ADDRSTRLEN (INET6_ADDRSTRLEN + 16 + 8)

/**
 * Parse "ADDR", "ADDR@PORT", "v4:PORT", "[v6]:PORT" or "[v6]@PORT"; IPv6 may
 * carry a zone ("fe80::1%eth0", "fe80::1%2").  @p default_port when none is
 * given.  0, or VG_EPARSE.
 */
int vg_sockaddr_parse(const char *s, uint16_t default_port, struct vg_sockaddr *out);
/** Copy an AF_INET / AF_INET6 sockaddr.  0, or VG_EINVAL for another family. */
int vg_sockaddr_from(struct vg_sockaddr *out, const struct sockaddr *sa);
uint16_t vg_sockaddr_port(const struct vg_sockaddr *sa);
void vg_sockaddr_set_port(struct vg_sockaddr *sa, uint16_t port);
/** Same family, address, port, and (IPv6) scope? */
bool vg_sockaddr_eq(const struct vg_sockaddr *a, const struct vg_sockaddr *b);
/** Same family, address and (IPv6) scope, whatever the port? */
bool vg_sockaddr_eq_addr(const struct vg_sockaddr *a, const struct vg_sockaddr *b);

enum { VG_ADDR_PORT = 1 }; /* vg_sockaddr_str flags */
/**
 * "192.0.2.1", "2001:db8::1", "fe80::1%2"; with VG_ADDR_PORT "...@53" (the
 * form the config accepts).  Always terminated.  Returns @p buf.
 */
const char *vg_sockaddr_str(const struct vg_sockaddr *sa, unsigned flags, char *buf,
			    size_t size);
/** The same for a plain sockaddr (AF_INET / AF_INET6; "?" otherwise). */
const char *vg_sa_str(const struct sockaddr *sa, unsigned flags, char *buf, size_t size);
bool vg_sockaddr_is_loopback(const struct vg_sockaddr *sa);
/** RFC 1918, 100.64/10, 169.254/16, 0/8, fc00::/7, fe80::/10 (mapped IPv4 too). */
bool vg_sockaddr_is_private(const struct vg_sockaddr *sa);

/**
 * The address of @p sa as matched against prefixes: AF_INET with 4 bytes for
 * IPv4 and IPv4-mapped IPv6, else AF_INET6 with 16.  0 for another family.
 */
int vg_addr_bytes(const struct sockaddr *sa, const uint8_t **bytes);

/**
 * A hash of the client prefix of @p sa (its first @p v4_bits bits for IPv4,
 * @p v6_bits for IPv6) keyed with @p key: one value for every address of the
 * prefix.  For spreading clients over a table (a random key keeps a client
 * from choosing its slot); not a MAC.
 */
uint64_t vg_addr_prefix_hash(const struct sockaddr *sa, unsigned v4_bits, unsigned v6_bits,
			     uint64_t key);

/**
 * Parse "ADDR/BITS" (or a bare ADDR: a host prefix).  0, VG_EPARSE, or
 * VG_EINVAL when bits are set past BITS ("10.1.2.3/8").
 */
int vg_prefix_parse(const char *s, struct vg_prefix *out);
/** A ::ffff:a.b.c.d/(96+n) prefix becomes a.b.c.d/n. */
void vg_prefix_unmap(struct vg_prefix *p);
/** Does @p addr (family, network-order bytes) fall in @p p? */
bool vg_prefix_contains(const struct vg_prefix *p, int family, const uint8_t *addr);
/** "10.0.0.0/8", "2001:db8::/32".  Returns @p buf. */
const char *vg_prefix_str(const struct vg_prefix *p, char *buf, size_t size);
/**
 * The longest of @p n prefixes (each @p stride bytes apart, starting at
 * @p first) that contains @p sa: its index, or -1.
 */
int vg_prefix_longest(const struct vg_prefix *first, size_t n, size_t stride,
		      const struct sockaddr *sa);

/* ------------------------------------------------------------ access control */

#define VG_ACL_MAX 64
enum vg_acl_action { VG_ACL_ALLOW = 0, VG_ACL_REFUSE = 1, VG_ACL_DROP = 2 };

struct vg_acl_rule {
	struct vg_prefix prefix;
	enum vg_acl_action action;
};

/** Who may query: the longest matching prefix decides, else @p dflt. */
struct vg_acl {
	struct vg_acl_rule rule[VG_ACL_MAX];
	size_t n;
	enum vg_acl_action dflt;
};

enum vg_acl_action vg_acl_check(const struct vg_acl *acl, const struct sockaddr *sa);

#endif
