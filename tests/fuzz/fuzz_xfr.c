/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: zone transfers and TSIG (src/feed: xfr.c, tsig.c, zone.c),
 * byte buffers only, as the feed thread drives them:
 *
 *   - a SOA, AXFR or IXFR transfer of "fuzz.rpz." (vg_xfr_init, _query),
 *     each response message taken from the input (its ID set to the
 *     query's, so the state machine is reached) and fed to vg_xfr_consume;
 *     a complete transfer is applied (vg_xfr_apply) to a zone at the
 *     input's serial, which is then written as a zone file and read back
 *     (vg_xfr_zone_write / _read: it must read, with no more records);
 *   - the first message also as a signed request (a NOTIFY: vg_tsig_check
 *     with a key) and as a server's error answer (vg_tsig_find_error).
 *
 * Input: byte 0: low two bits the kind (0 SOA, 1 AXFR, 2 IXFR), 0x04 the
 * transfer is signed (TSIG key "k." hmac-sha256: the fuzzer cannot make a
 * valid MAC, so this reaches the TSIG record parser, not the transfer);
 * bytes 1-4 our serial; then [u16 length][message] chunks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "feed/impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000u

static struct vg_tsig_key key;
static uint8_t zname[VG_NAME_MAX];

/* The zone before the transfer: its SOA at @p serial and one record. */
static int zone_at(struct vg_xfr_zone *z, uint32_t serial)
{
	uint8_t rd[2 + 4 * 5];
	rd[0] = 0; /* MNAME, RNAME: the root */
	rd[1] = 0;
	vg_put32(rd + 2, serial);
	for (int i = 1; i < 5; i++)
		vg_put32(rd + 2 + 4 * i, 3600);
	if (vg_xfr_zone_init(z, zname) < 0)
		return -1;
	struct vg_xfr_rr *soa = vg_xfr_rr_new(zname, VG_T_SOA, VG_C_IN, 300, rd, sizeof(rd));
	if (!soa || vg_xfr_zone_set_soa(z, soa, NULL) < 0)
		return -1;
	uint8_t owner[VG_NAME_MAX];
	vg_name_from_str("a.fuzz.rpz.", owner, sizeof(owner));
	struct vg_xfr_rr *rr = vg_xfr_rr_new(owner, VG_T_CNAME, VG_C_IN, 300, (const uint8_t *)"",
					     1);
	return rr && vg_xfr_zone_add(z, rr) >= 0 ? 0 : -1;
}

static void write_read(const struct vg_xfr_zone *z)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	int ret = vg_xfr_zone_write(z, f, "fuzz");
	if (fclose(f) || ret < 0)
		goto out;
	struct vg_xfr_zone back;
	const char *why = NULL;
	f = fmemopen(buf, len, "r");
	if (!f || vg_xfr_zone_init(&back, zname) < 0)
		goto out_f;
	/* what we write we must read back; records ldns cannot print (malformed
	 * rdata of a known type) are left out by design (zone.c), so fewer may
	 * come back, never more */
	if (vg_xfr_zone_read(&back, f, &why) < 0 ||
	    vg_xfr_zone_count(&back) > vg_xfr_zone_count(z))
		__builtin_trap();
	vg_xfr_zone_deinit(&back);
out_f:
	if (f)
		fclose(f);
out:
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static uint8_t msg[65536], q[1024];
	if (!ready) {
		vg_log_setup(VG_LOG_ERR - 1, false);
		vg_name_from_str("fuzz.rpz.", zname, sizeof(zname));
		vg_name_from_str("k.", key.name, sizeof(key.name));
		key.alg = VG_TSIG_HMAC_SHA256;
		key.secret_len = 32;
		memset(key.secret, 0x5a, key.secret_len);
		ready = true;
	}
	if (size < 5)
		return 0;
	unsigned kind = data[0] & 3;
	if (kind > VG_XFR_IXFR)
		kind = VG_XFR_IXFR;
	bool sign = data[0] & 4;
	uint32_t serial = vg_get32(data + 1);
	const uint8_t *p = data + 5, *end = data + size;

	struct vg_xfr x;
	struct vg_xfr_zone z;
	bool have_z = false;
	if (vg_xfr_init(&x, (enum vg_xfr_kind)kind, zname, serial, sign ? &key : NULL) < 0)
		return 0;
	if (vg_xfr_query(&x, q, sizeof(q), NOW) < 0)
		goto out;
	for (unsigned n = 0; end - p >= 2; n++) {
		size_t l = (size_t)p[0] << 8 | p[1];
		p += 2;
		if ((size_t)(end - p) < l)
			l = (size_t)(end - p);
		memcpy(msg, p, l);
		p += l;
		if (n == 0) {
			struct vg_tsig_info info;
			uint8_t reply[1024];
			vg_tsig_find_error(msg, l);
			if (vg_tsig_check(&key, msg, l, NOW, &info) == VG_ETSIG &&
			    l <= sizeof(reply)) {
				memcpy(reply, msg, l);
				vg_tsig_error_rr(reply, l, sizeof(reply), &info, NOW);
			}
		}
		if (l >= 2)
			vg_put16(msg, x.id);
		int r = vg_xfr_consume(&x, msg, l, NOW);
		if (r < 0)
			break;
		if (r == 1) {
			if (zone_at(&z, serial) < 0)
				goto out;
			have_z = true;
			if (vg_xfr_apply(&x, &z) == 0)
				write_read(&z);
			break;
		}
	}
out:
	if (have_z)
		vg_xfr_zone_deinit(&z);
	vg_xfr_deinit(&x);
	return 0;
}
