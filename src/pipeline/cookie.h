/* SPDX-License-Identifier: MIT
 *
 * DNS cookies, the server side (RFC 7873, server cookies as RFC 9018 has
 * them): a client that sends a COOKIE option gets its client cookie back
 * with a server cookie -- version 1, three reserved bytes, a timestamp and
 * SipHash-2-4(client cookie | version | reserved | timestamp | client
 * address) under a secret shared by every worker.  A later query that
 * presents a server cookie vigil made (under the current or the previous
 * secret, at most an hour old and not from the future by more than five
 * minutes) comes from the address it claims: the rate limit does not apply
 * to it.  A COOKIE option of a wrong length is FORMERR.
 *
 * The secret is two 128-bit keys in atomic words: rotation writes the
 * unused one and then switches, readers never wait.  A reader that reads a
 * key while it is rewritten (possible only if a rotation comes while it
 * computes) makes a cookie no one will accept: the client just gets a new
 * one with its next answer.
 */
#ifndef VG_PIPELINE_COOKIE_H
#define VG_PIPELINE_COOKIE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vigil/wire.h"

#define VG_COOKIE_CLIENT_LEN 8
#define VG_COOKIE_SERVER_LEN 16    /* the RFC 9018 form */

struct vg_cookie_secret {
	_Atomic uint64_t key[2][2];
	atomic_uint cur;           /* which key makes cookies now */
};

/** Fresh random keys. */
void vg_cookie_init(struct vg_cookie_secret *s);
/** A new key makes cookies from now on; the old one still verifies. */
void vg_cookie_rotate(struct vg_cookie_secret *s);

enum vg_cookie_state {
	VG_COOKIE_NONE = 0,  /* no COOKIE option */
	VG_COOKIE_CLIENT,    /* a client cookie (and no valid server cookie) */
	VG_COOKIE_VALID,     /* a server cookie vigil made for this client */
	VG_COOKIE_BAD,       /* a malformed option: FORMERR */
};

/**
 * The COOKIE option of query @p q from @p client at @p now (wall seconds):
 * its state, and the client cookie copied to @p client_cookie.
 */
enum vg_cookie_state vg_cookie_check(const struct vg_cookie_secret *s, const struct vg_query *q,
				     const struct sockaddr *client, uint32_t now,
				     uint8_t client_cookie[VG_COOKIE_CLIENT_LEN]);

/**
 * Add a COOKIE option (the client cookie and a fresh server cookie) to the
 * answer in @p buf (@p len bytes, room for @p cap) when its last record is
 * the OPT record.  The new length (@p len when there was no room or no OPT).
 */
size_t vg_cookie_add(const struct vg_cookie_secret *s, uint8_t *buf, size_t len, size_t cap,
		     const uint8_t client_cookie[VG_COOKIE_CLIENT_LEN],
		     const struct sockaddr *client, uint32_t now);

#endif
