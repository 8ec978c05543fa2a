/* SPDX-License-Identifier: MIT
 *
 * vg_strerror(): names for vigil's negative error codes and for -errno.
 */
#include <string.h>

#include "vigil/err.h"

const char *vg_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case VG_EMALFORMED:
		return "malformed wire data";
	case VG_ENOSPACE:
		return "no space in buffer";
	case VG_ELIMIT:
		return "limit exceeded";
	case VG_ENOTFOUND:
		return "not found";
	case VG_EPARSE:
		return "parse error";
	case VG_ECONFIG:
		return "configuration error";
	case VG_ENOMEM:
		return "out of memory";
	case VG_EINVAL:
		return "invalid argument";
	case VG_EBOGUS:
		return "signature or digest does not verify";
	case VG_ENOTSUP:
		return "unsupported algorithm";
	case VG_ETSIG:
		return "TSIG verification failed";
	case VG_ERCODE:
		return "error rcode from the server";
	case VG_ETLS:
		return "TLS handshake or authentication failed";
	case VG_EAGAIN:
		return "stopped at its allowance, to go on later";
	default:
		break;
	}
	if (err < 0 && err > -4000)
		return strerror(-err);
	return "unknown error";
}
