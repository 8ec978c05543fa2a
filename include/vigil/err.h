/* SPDX-License-Identifier: MIT
 *
 * vigil error codes: functions return 0 on success and a negative value on
 * failure, either -errno or one of the VG_E* codes below (all below -4000 so they
 * never collide with errno values).  vg_strerror() names both kinds.
 */
#ifndef VIGIL_ERR_H
#define VIGIL_ERR_H

enum {
	VG_EMALFORMED = -4001, /* wire data is malformed */
	VG_ENOSPACE = -4002,   /* output buffer too small */
	VG_ELIMIT = -4003,     /* a configured bound was exceeded */
	VG_ENOTFOUND = -4004,  /* lookup found nothing */
	VG_EPARSE = -4005,     /* presentation-format / file parse error */
	VG_ECONFIG = -4006,    /* configuration error */
	VG_ENOMEM = -4007,     /* allocation failed (arena cap or heap) */
	VG_EINVAL = -4008,     /* invalid argument */
	VG_EBOGUS = -4009,     /* a DNSSEC signature or digest does not verify */
	VG_ENOTSUP = -4010,    /* unsupported algorithm or digest type */
	VG_ETSIG = -4011,      /* a TSIG signature is missing, wrong or out of time */
	VG_ERCODE = -4012,     /* the server answered with an error rcode */
	VG_ETLS = -4013,       /* TLS to a server failed: handshake, certificate, name or pin */
	VG_EAGAIN = -4014,     /* work stopped at an allowance: call again to go on */
};

/** Human-readable text for a negative vigil or errno code. Never NULL. */
const char *vg_strerror(int err);

#endif
