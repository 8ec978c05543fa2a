/* SPDX-License-Identifier: MIT
 *
 * Fuzz harness: the wire parser (src/wire).  The input is one DNS message,
 * read the way vigil reads what arrives from the network:
 *
 *   - as a client query (vg_query_parse), and the error reply built from it
 *     (vg_wire_error_reply, which echoes the question), which must parse;
 *   - as an upstream response (vg_msg_parse), then every record walked: its
 *     owner unpacked (vg_name_unpack, vg_name_skip), its rdata decompressed
 *     (vg_rdata_unpack, vg_rdata_target), names printed (vg_name_to_str);
 *   - and written back (vg_pkt_put_question / vg_pkt_put_rr with the
 *     decompressed names) and parsed again: what the parser accepted and the
 *     writer could write must parse again, with the same records (a trap
 *     otherwise: the writer and the parser disagree).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/err.h"
#include "vigil/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vg_msg msg, again;
static uint8_t out[65535], rd[65535];

static void query_side(const uint8_t *data, size_t size)
{
	struct vg_query q;
	int rcode = 0;
	if (vg_query_parse(&q, data, size, &rcode) < 0)
		return;
	char s[VG_NAME_MAX * 4 + 1];
	if (q.qname_len)
		vg_name_to_str(q.qname, s, sizeof(s));
	size_t n = vg_wire_error_reply(&q, rcode ? rcode : VG_RCODE_SERVFAIL, size & 1,
				       q.edns.udp_size, out, sizeof(out));
	if (n && vg_msg_parse(&again, out, n) < 0)
		__builtin_trap(); /* our own error reply must be a readable message */
}

/* Write every record of @p m, names decompressed, and parse the result. */
static void rewrite(const struct vg_msg *m)
{
	struct vg_pkt p;
	uint8_t owner[VG_NAME_MAX];
	size_t next;

	vg_pkt_init(&p, out, sizeof(out), m->id, m->flags);
	if (m->qdcount == 1 && vg_pkt_put_question(&p, m->qname, m->qtype, m->qclass) < 0)
		return;
	for (int sec = 0; sec < 3; sec++) {
		vg_pkt_begin(&p, sec + 1);
		for (unsigned i = m->sec_start[sec]; i < m->sec_start[sec + 1]; i++) {
			const struct vg_rr *rr = &m->rr[i];
			if (vg_name_unpack(m->pkt, m->len, rr->owner, owner, false, &next) < 0)
				__builtin_trap(); /* the parser accepted it */
			int l = vg_rdata_unpack(m->pkt, m->len, rr, rd, sizeof(rd));
			if (l < 0)
				return; /* rdata the type's syntax rejects: not written */
			if (vg_pkt_put_rr(&p, owner, rr->type, rr->rclass, rr->ttl, rd,
					  (uint16_t)l) < 0)
				return;
		}
	}
	size_t n = vg_pkt_finish(&p);
	if (vg_msg_parse(&again, out, n) < 0)
		__builtin_trap();
	/* (the question fields are only set when there is a question) */
	if (again.nrr != m->nrr || again.qdcount != m->qdcount ||
	    (m->qdcount == 1 && (again.qtype != m->qtype || !vg_name_eq(again.qname, m->qname))))
		__builtin_trap();
}

static void response_side(const uint8_t *data, size_t size)
{
	if (vg_msg_parse(&msg, data, size) < 0)
		return;
	for (unsigned i = 0; i < msg.nrr; i++) {
		const struct vg_rr *rr = &msg.rr[i];
		uint8_t owner[VG_NAME_MAX];
		char s[VG_NAME_MAX * 4 + 1];
		size_t next;
		int l = vg_name_unpack(data, size, rr->owner, owner, true, &next);
		if (l < 0 || vg_name_skip(data, size, rr->owner) != (int)next ||
		    vg_name_check(owner, sizeof(owner)) != l)
			__builtin_trap();
		vg_name_to_str(owner, s, sizeof(s));
		l = vg_rdata_unpack(data, size, rr, rd, sizeof(rd));
		if (l >= 0) {
			const uint8_t *t = vg_rdata_target(rr->type, rd, (uint16_t)l);
			if (t)
				vg_name_to_str(t, s, sizeof(s));
		}
	}
	rewrite(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	query_side(data, size);
	response_side(data, size);
	return 0;
}
