/* SPDX-License-Identifier: MIT
 *
 * Zone transfers of policy zones, the client side: serial arithmetic
 * (RFC 1982) and the SOA / AXFR (RFC 5936) / IXFR (RFC 1995) state machine.
 * vg_xfr_query writes the query, vg_xfr_consume takes the response messages
 * one by one (checking their TSIG through tsig.c when the feed has a key),
 * and vg_xfr_apply puts a complete result into a zone (zone.c), all or
 * nothing.
 *
 * No sockets, timers, threads or files here: feed.c runs the connections and
 * keeps the copies on disk, so the unit tests drive this with byte buffers
 * and an explicit clock, canned and hostile messages alike.  Wire data is
 * parsed with vigil's own bounds-checked helpers (vigil/wire.h).
 *
 * IXFR (RFC 1995).  The answer starts with the server's current SOA.  A
 * lone SOA (not newer than ours) means "up to date"; a second record that is
 * the SOA of our version starts the incremental form: steps of (old SOA,
 * deleted records, new SOA, added records), the last step reaching the
 * server's serial and the answer closing with its SOA again.  Anything else
 * after the first SOA is the AXFR form (the whole zone).  The changes are
 * collected while the answer arrives and applied only when it is complete
 * (vg_xfr_apply): step by step, each one checked to start at the version the
 * zone is at and to delete only records it has; a failure undoes what was
 * applied, so the zone is never left half-updated.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "feed/impl.h"

/* ------------------------------------------------------------ serials */

int vg_xfr_serial_cmp(uint32_t a, uint32_t b)
{
	if (a == b)
		return 0;
	uint32_t d = b - a; /* mod 2^32 */
	if (d == 0x80000000u)
		return 2;
	return d < 0x80000000u ? -1 : 1;
}

/* ------------------------------------------------------------ transfers */

enum { ST_FIRST, ST_SECOND, ST_AXFR, ST_IXFR_DEL, ST_IXFR_ADD, ST_DONE };
enum { OP_BEGIN, OP_DEL, OP_ADD, OP_SOA };

struct vg_xfr_op {
	uint8_t kind;
	bool in_zone;           /* ADD / SOA applied: rr belongs to the zone */
	uint32_t serial;        /* BEGIN: the version the step starts from */
	struct vg_xfr_rr *rr;   /* DEL: the record to delete (a probe); ADD, SOA: the new one */
	struct vg_xfr_rr *undo; /* DEL: the record taken out; SOA: the SOA replaced */
};

int vg_xfr_init(struct vg_xfr *x, enum vg_xfr_kind kind, const uint8_t *zone, uint32_t serial,
		const struct vg_tsig_key *key)
{
	memset(x, 0, sizeof(*x));
	int n = vg_name_check(zone, VG_NAME_MAX);
	if (n < 0)
		return VG_EINVAL;
	memcpy(x->zone, zone, (size_t)n);
	vg_name_lower(x->zone);
	x->kind = kind;
	x->serial = serial;
	x->key = key;
	x->id = vg_rand_u16();
	x->state = ST_FIRST;
	return 0;
}

static void ops_free(struct vg_xfr *x)
{
	for (size_t i = 0; i < x->nops; i++) {
		if (!x->ops[i].in_zone)
			free(x->ops[i].rr);
		free(x->ops[i].undo);
	}
	free(x->ops);
	x->ops = NULL;
	x->nops = x->capops = 0;
}

void vg_xfr_deinit(struct vg_xfr *x)
{
	if (x->full) {
		vg_xfr_zone_deinit(x->full);
		free(x->full);
		x->full = NULL;
	}
	ops_free(x);
	vg_tsig_stream_deinit(&x->tsig);
}

int vg_xfr_query(struct vg_xfr *x, uint8_t *buf, size_t cap, uint64_t now)
{
	static const uint16_t qtypes[] = { [VG_XFR_SOA] = VG_T_SOA, [VG_XFR_AXFR] = VG_T_AXFR,
					   [VG_XFR_IXFR] = VG_T_IXFR };
	struct vg_pkt p;
	if (cap < VG_HDR_LEN)
		return VG_ENOSPACE;
	vg_pkt_init(&p, buf, cap, x->id, 0);
	if (vg_pkt_put_question(&p, x->zone, qtypes[x->kind], VG_C_IN) < 0)
		return VG_ENOSPACE;
	if (x->kind == VG_XFR_IXFR) {
		/* our version: an SOA with the serial; the other fields do not matter */
		uint8_t rd[22] = { 0 };
		vg_put32(rd + 2, x->serial);
		vg_pkt_begin(&p, 2);
		if (vg_pkt_put_rr(&p, x->zone, VG_T_SOA, VG_C_IN, 0, rd, sizeof(rd)) < 0)
			return VG_ENOSPACE;
	}
	int len = (int)vg_pkt_finish(&p);
	if (!x->key)
		return len;
	uint8_t mac[VG_TSIG_MAC_MAX];
	uint16_t mac_len = 0;
	len = vg_tsig_sign(x->key, buf, (size_t)len, cap, NULL, 0, false, now, 0, mac,
			   &mac_len);
	if (len < 0)
		return len;
	vg_tsig_stream_deinit(&x->tsig);
	int r = vg_tsig_stream_init(&x->tsig, x->key, mac, mac_len);
	return r < 0 ? r : len;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct vg_xfr *x, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	x->state = ST_DONE;
	return err;
}

static int op_push(struct vg_xfr *x, uint8_t kind, uint32_t serial, struct vg_xfr_rr *rr)
{
	if (vg_grow((void **)&x->ops, &x->capops, x->nops + 1, sizeof(*x->ops), 64) < 0)
		return VG_ENOMEM;
	x->ops[x->nops++] = (struct vg_xfr_op){ .kind = kind, .serial = serial, .rr = rr };
	return 0;
}

static int start_full(struct vg_xfr *x, struct vg_xfr_rr *first_soa)
{
	x->full = malloc(sizeof(*x->full));
	if (!x->full || vg_xfr_zone_init(x->full, x->zone) < 0) {
		free(x->full);
		x->full = NULL;
		free(first_soa);
		return fail(x, VG_ENOMEM, "out of memory");
	}
	if (vg_xfr_zone_set_soa(x->full, first_soa, NULL) < 0) {
		free(first_soa);
		return fail(x, VG_EMALFORMED, "malformed SOA");
	}
	x->state = ST_AXFR;
	return 0;
}

static bool is_apex_soa(const struct vg_xfr *x, const struct vg_xfr_rr *rr)
{
	return rr->type == VG_T_SOA && vg_name_eq(rr->data, x->zone);
}

static uint32_t soa_serial(const struct vg_xfr_rr *rr)
{
	uint32_t v[5];
	return vg_xfr_soa_fields(vg_xfr_rr_rdata(rr), rr->rdlen, v) < 0 ? 0 : v[0];
}

/* A record of the AXFR body (x->full): 1 at the closing SOA. */
static int axfr_record(struct vg_xfr *x, struct vg_xfr_rr *rr)
{
	if (is_apex_soa(x, rr)) {
		uint32_t s = soa_serial(rr);
		free(rr);
		if (s != x->new_serial)
			return fail(x, VG_EMALFORMED, "the closing SOA has serial %u, the first %u",
				    s, x->new_serial);
		x->result = VG_XFR_FULL;
		x->state = ST_DONE;
		return 1;
	}
	int a = vg_xfr_zone_add(x->full, rr);
	if (a != 0)
		free(rr); /* a duplicate (1) or an error */
	if (a == VG_ELIMIT)
		return fail(x, a, "more than %u records", VG_XFR_MAX_RECORDS);
	return a < 0 ? fail(x, a, "out of memory") : 0;
}

/* One answer record, in the order of the transfer: 0, 1 (complete) or an error. */
static int on_record(struct vg_xfr *x, struct vg_xfr_rr *rr)
{
	int r;
	switch (x->state) {
	case ST_FIRST:
		if (!is_apex_soa(x, rr) ||
		    vg_xfr_soa_fields(vg_xfr_rr_rdata(rr), rr->rdlen, (uint32_t[5]){ 0 }) < 0) {
			free(rr);
			return fail(x, VG_EMALFORMED,
				    "the answer does not start with the zone's SOA");
		}
		x->new_serial = soa_serial(rr);
		if (x->kind == VG_XFR_SOA) {
			free(rr);
			x->result = VG_XFR_UPTODATE;
			x->state = ST_DONE;
			return 1;
		}
		if (x->kind == VG_XFR_AXFR)
			return start_full(x, rr);
		/* IXFR: the second record decides the form; keep this SOA meanwhile */
		r = op_push(x, OP_SOA, x->new_serial, rr);
		if (r < 0) {
			free(rr);
			return fail(x, r, "out of memory");
		}
		x->state = ST_SECOND;
		return 0;
	case ST_SECOND: {
		struct vg_xfr_rr *first = x->ops[0].rr;
		x->nops = 0;
		if (is_apex_soa(x, rr) && soa_serial(rr) == x->serial &&
		    x->new_serial != x->serial) {
			/* incremental: this is the first step's old SOA */
			free(first);
			free(rr);
			x->cur = x->serial;
			x->state = ST_IXFR_DEL;
			if (op_push(x, OP_BEGIN, x->serial, NULL) < 0)
				return fail(x, VG_ENOMEM, "out of memory");
			return 0;
		}
		r = start_full(x, first); /* the AXFR form */
		return r < 0 ? (free(rr), r) : axfr_record(x, rr);
	}
	case ST_AXFR:
		return axfr_record(x, rr);
	case ST_IXFR_DEL:
		if (is_apex_soa(x, rr)) {
			uint32_t s = soa_serial(rr);
			if (vg_xfr_serial_cmp(s, x->cur) != 1) {
				free(rr);
				return fail(x, VG_EMALFORMED, "an IXFR step from serial %u to %u",
					    x->cur, s);
			}
			x->cur = s;
			x->state = ST_IXFR_ADD;
			r = op_push(x, OP_SOA, s, rr);
		} else {
			r = op_push(x, OP_DEL, 0, rr);
			x->deleted += r == 0;
		}
		if (r < 0) {
			free(rr);
			return fail(x, r, "out of memory");
		}
		return 0;
	case ST_IXFR_ADD:
		if (is_apex_soa(x, rr)) {
			uint32_t s = soa_serial(rr);
			free(rr);
			if (s != x->cur)
				return fail(x, VG_EMALFORMED, "an IXFR step that should start at "
					    "serial %u starts at %u", x->cur, s);
			if (s == x->new_serial) {
				x->result = VG_XFR_INCR;
				x->state = ST_DONE;
				return 1;
			}
			x->state = ST_IXFR_DEL;
			r = op_push(x, OP_BEGIN, s, NULL);
		} else {
			r = op_push(x, OP_ADD, 0, rr);
			if (r < 0)
				free(rr);
			x->added += r == 0;
		}
		return r < 0 ? fail(x, r, "out of memory") : 0;
	default:
		free(rr);
		return fail(x, VG_EMALFORMED, "records after the end of the transfer");
	}
}

static const char *rcode_name(int rc)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH", "NOTZONE" };
	return rc >= 0 && rc < (int)VG_ARRAY_SIZE(names) ? names[rc] : "an error rcode";
}

int vg_xfr_consume(struct vg_xfr *x, const uint8_t *m, size_t len, uint64_t now)
{
	static const uint16_t qtypes[] = { [VG_XFR_SOA] = VG_T_SOA, [VG_XFR_AXFR] = VG_T_AXFR,
					   [VG_XFR_IXFR] = VG_T_IXFR };
	uint8_t name[VG_NAME_MAX];
	size_t off = VG_HDR_LEN, next;
	if (x->state == ST_DONE)
		return fail(x, VG_EINVAL, "a message after the end of the transfer");
	if (len < VG_HDR_LEN || len > 65535)
		return fail(x, VG_EMALFORMED, "a message of %zu bytes", len);
	uint16_t flags = vg_get16(m + 2);
	if (vg_get16(m) != x->id || !(flags & VG_F_QR) || VG_F_OPCODE(flags) != VG_OPCODE_QUERY)
		return fail(x, VG_EMALFORMED, "not a response to our query (ID, QR or opcode)");
	x->rcode = VG_F_RCODE(flags);
	if (x->rcode) {
		uint16_t terr = vg_tsig_find_error(m, len);
		if (terr)
			return fail(x, VG_ETSIG, "TSIG failure: the primary says %s",
				    vg_tsig_error_name(terr));
		return fail(x, VG_ERCODE, "the primary answered %s", rcode_name(x->rcode));
	}
	if (flags & VG_F_TC)
		return fail(x, VG_EMALFORMED, "a truncated message");
	if (x->key) {
		int r = vg_tsig_stream_next(&x->tsig, m, len, now);
		if (r == VG_ETSIG && !x->tsig.error)
			return fail(x, r, "TSIG failure: a response without a valid signature");
		if (r == VG_ETSIG)
			return fail(x, r, "TSIG failure: %s", vg_tsig_error_name(x->tsig.error));
		if (r < 0)
			return fail(x, r, "a malformed message (TSIG)");
	}
	unsigned qd = vg_get16(m + 4), an = vg_get16(m + 6);
	if (qd > 1 || (qd == 0 && x->msgs == 0))
		return fail(x, VG_EMALFORMED, "%u questions", qd);
	if (qd) {
		if (vg_name_unpack(m, len, off, name, true, &next) < 0 || len - next < 4)
			return fail(x, VG_EMALFORMED, "a malformed question");
		if (!vg_name_eq(name, x->zone) || vg_get16(m + next) != qtypes[x->kind] ||
		    vg_get16(m + next + 2) != VG_C_IN)
			return fail(x, VG_EMALFORMED, "the answer is for another question");
		off = next + 4;
	}
	x->msgs++;
	uint8_t *rdata = malloc(65535);
	if (!rdata)
		return fail(x, VG_ENOMEM, "out of memory");
	int ret = 0;
	for (unsigned i = 0; i < an && ret == 0; i++) {
		struct vg_rr rr;
		if (vg_name_unpack(m, len, off, name, true, &next) < 0 || len - next < 10) {
			ret = fail(x, VG_EMALFORMED, "a malformed record");
			break;
		}
		rr.owner = (uint16_t)off;
		rr.type = vg_get16(m + next);
		rr.rclass = vg_get16(m + next + 2);
		rr.ttl = vg_get32(m + next + 4);
		rr.rdlen = vg_get16(m + next + 8);
		rr.rdata = (uint16_t)(next + 10);
		if (len - (next + 10) < rr.rdlen) {
			ret = fail(x, VG_EMALFORMED, "a record longer than its message");
			break;
		}
		off = next + 10 + rr.rdlen;
		if (rr.rclass != VG_C_IN) {
			ret = fail(x, VG_EMALFORMED, "a record of class %u", rr.rclass);
			break;
		}
		int n = vg_rdata_unpack(m, len, &rr, rdata, 65535);
		if (n < 0) {
			ret = fail(x, VG_EMALFORMED, "malformed rdata (type %u)", rr.type);
			break;
		}
		if (rr.type == VG_T_TSIG || rr.type == VG_T_OPT || !vg_name_is_sub(name, x->zone))
			continue; /* not zone data: out of the zone, or meta */
		if (++x->records > VG_XFR_MAX_RECORDS + 2ul) {
			ret = fail(x, VG_ELIMIT, "more than %u records", VG_XFR_MAX_RECORDS);
			break;
		}
		struct vg_xfr_rr *r = vg_xfr_rr_new(name, rr.type, rr.rclass, rr.ttl, rdata,
						    (uint16_t)n);
		if (!r) {
			ret = fail(x, VG_ENOMEM, "out of memory");
			break;
		}
		ret = on_record(x, r);
		if (ret == 1 && i + 1 < an)
			ret = fail(x, VG_EMALFORMED, "records after the closing SOA");
	}
	free(rdata);
	if (ret < 0)
		return ret;
	/* a lone SOA that is not newer than ours: up to date (RFC 1995 §4) */
	if (ret == 0 && x->state == ST_SECOND && x->msgs == 1 &&
	    vg_xfr_serial_cmp(x->new_serial, x->serial) != 1) {
		free(x->ops[0].rr);
		x->nops = 0;
		x->result = VG_XFR_UPTODATE;
		x->state = ST_DONE;
		ret = 1;
	}
	if (ret == 1 && x->key && !x->tsig.last_signed)
		return fail(x, VG_ETSIG, "TSIG failure: the last message is unsigned");
	if (ret == 0 && x->state == ST_FIRST) /* the first message must start the answer */
		return fail(x, VG_EMALFORMED, "no SOA record in the answer");
	return ret;
}

/* Undo the first @p n ops of x (applied to z), in reverse order. */
static void rollback(struct vg_xfr *x, struct vg_xfr_zone *z, size_t n)
{
	while (n--) {
		struct vg_xfr_op *op = &x->ops[n];
		struct vg_xfr_rr *cur = NULL;
		switch (op->kind) {
		case OP_ADD:
			if (op->in_zone) {
				vg_xfr_zone_take(z, op->rr);
				op->in_zone = false;
			}
			break;
		case OP_DEL:
			if (op->undo && vg_xfr_zone_add(z, op->undo) == 0)
				op->undo = NULL;
			break;
		case OP_SOA:
			if (op->in_zone && op->undo) {
				vg_xfr_zone_set_soa(z, op->undo, &cur);
				op->undo = NULL;
				op->in_zone = false;
			}
			break;
		default:
			break;
		}
	}
}

int vg_xfr_apply(struct vg_xfr *x, struct vg_xfr_zone *z)
{
	if (x->result == VG_XFR_UPTODATE)
		return 0;
	if (x->result == VG_XFR_FULL && x->full) {
		vg_xfr_zone_move(z, x->full);
		return 0;
	}
	if (x->result != VG_XFR_INCR)
		return VG_EINVAL;
	size_t i;
	int ret = 0;
	for (i = 0; i < x->nops && ret == 0; i++) {
		struct vg_xfr_op *op = &x->ops[i];
		int a;
		switch (op->kind) {
		case OP_BEGIN:
			if (!z->soa || z->serial != op->serial) {
				snprintf(x->why, sizeof(x->why), "an IXFR step from serial %u, but "
					 "ours is %u", op->serial, z->serial);
				ret = VG_EINVAL;
			}
			break;
		case OP_DEL:
			op->undo = vg_xfr_zone_take(z, op->rr);
			if (!op->undo) {
				snprintf(x->why, sizeof(x->why), "IXFR deletes a record we do not "
					 "have (type %u)", op->rr->type);
				ret = VG_EINVAL;
			}
			break;
		case OP_ADD:
			a = vg_xfr_zone_add(z, op->rr);
			if (a < 0) {
				snprintf(x->why, sizeof(x->why), "%s", vg_strerror(a));
				ret = a;
			}
			op->in_zone = a == 0;
			break;
		case OP_SOA:
			if (vg_xfr_zone_set_soa(z, op->rr, &op->undo) < 0) {
				snprintf(x->why, sizeof(x->why), "a malformed SOA in IXFR");
				ret = VG_EINVAL;
			} else {
				op->in_zone = true;
			}
			break;
		default:
			break;
		}
	}
	if (ret < 0) {
		/* op i - 1 failed and changed nothing; undo the ones before it */
		rollback(x, z, i);
		return ret;
	}
	/* committed: the zone owns the new records, the removed ones go */
	for (i = 0; i < x->nops; i++) {
		struct vg_xfr_op *op = &x->ops[i];
		if (op->in_zone)
			op->rr = NULL;
		op->in_zone = false;
		free(op->undo);
		op->undo = NULL;
	}
	ops_free(x);
	return 0;
}
