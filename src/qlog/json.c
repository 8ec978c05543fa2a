/* SPDX-License-Identifier: MIT
 *
 * The JSON query log's line: one object per client query, its fields in a
 * fixed order, each left out when log.queries.fields does not name it.  Runs
 * on the writer thread: the worker only copied the query and answer bytes.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "dnssec/dnssec.h"
#include "qlog/impl.h"
#include "vigil/wire.h"

#define ANSWER_MAX 4 /* answer records summarised; then "+N" */

static const char *const field_names[VG_QF_COUNT] = {
	[VG_QF_TIME] = "time", [VG_QF_CLIENT] = "client", [VG_QF_PORT] = "port",
	[VG_QF_TRANSPORT] = "transport", [VG_QF_IDENTITY] = "identity", [VG_QF_NAME] = "name",
	[VG_QF_TYPE] = "type", [VG_QF_RCODE] = "rcode", [VG_QF_ANSWER] = "answer",
	[VG_QF_POLICY] = "policy", [VG_QF_VALIDATION] = "validation",
	[VG_QF_LATENCY] = "latency_ms", [VG_QF_CACHE] = "cache_hit",
};

const char *vg_qlog_field_name(unsigned f)
{
	return f < VG_QF_COUNT ? field_names[f] : NULL;
}

int vg_qlog_field_parse(const char *s)
{
	for (unsigned i = 0; i < VG_QF_COUNT; i++)
		if (!strcmp(s, field_names[i]))
			return (int)i;
	return VG_EINVAL;
}

size_t vg__qlog_json_str(char *o, size_t cap, const void *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = s;
	size_t w = 0;
	if (!cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		char e[7];
		size_t el = 0;
		if (c == '"' || c == '\\') {
			e[el++] = '\\';
			e[el++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			el = 6;
		} else {
			e[el++] = (char)c;
		}
		if (w + el + 1 > cap)
			break;
		memcpy(o + w, e, el);
		w += el;
	}
	o[w] = 0;
	return w;
}

/* The output line being built: appends, bounded, never past cap - 1. */
struct out {
	char *b;
	size_t cap, n;
	bool full, first;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->n + n + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
	o->b[o->n] = 0;
}

__attribute__((format(printf, 2, 3))) static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		o->full = true;
	else
		put(o, tmp, (size_t)n);
}

static void key(struct out *o, const char *k)
{
	putf(o, "%s\"%s\":", o->first ? "" : ",", k);
	o->first = false;
}

static void str(struct out *o, const void *s, size_t n)
{
	char tmp[VG_NAME_MAX * 4 * 6 / 4 + 64];
	put(o, "\"", 1);
	/* bounded pieces: a long string is escaped chunk by chunk */
	const uint8_t *p = s;
	while (n && !o->full) {
		size_t chunk = n > 256 ? 256 : n;
		size_t w = vg__qlog_json_str(tmp, sizeof(tmp), p, chunk);
		put(o, tmp, w);
		p += chunk;
		n -= chunk;
	}
	put(o, "\"", 1);
}

static void cstr(struct out *o, const char *s)
{
	str(o, s, strlen(s));
}

static const char *rcode_name(unsigned rc, char *buf, size_t cap)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					     "NOTIMP", "REFUSED" };
	if (rc < VG_ARRAY_SIZE(names))
		return names[rc];
	snprintf(buf, cap, "RCODE%u", rc);
	return buf;
}

/* One answer record as text: "A 192.0.2.1", "CNAME www.example.", else the type. */
static void rr_text(const uint8_t *pkt, size_t len, size_t off, uint16_t type, uint16_t rdlen,
		    char *buf, size_t cap)
{
	char tn[16], a[INET6_ADDRSTRLEN], n[VG_NAME_MAX * 4 + 8];
	uint8_t name[VG_NAME_MAX];
	size_t next;
	vg_type_to_str(type, tn, sizeof(tn));
	if (type == VG_T_A && rdlen == 4 && inet_ntop(AF_INET, pkt + off, a, sizeof(a))) {
		snprintf(buf, cap, "%s %s", tn, a);
	} else if (type == VG_T_AAAA && rdlen == 16 &&
		   inet_ntop(AF_INET6, pkt + off, a, sizeof(a))) {
		snprintf(buf, cap, "%s %s", tn, a);
	} else if ((type == VG_T_CNAME || type == VG_T_DNAME || type == VG_T_NS ||
		    type == VG_T_PTR) &&
		   vg_name_unpack(pkt, len, off, name, false, &next) > 0) {
		vg_name_to_str(name, n, sizeof(n));
		snprintf(buf, cap, "%s %s", tn, n);
	} else {
		snprintf(buf, cap, "%s", tn);
	}
}

/* The answer section, summarised: ["CNAME x.", "A 192.0.2.1", "+3"]. */
static void answer(struct out *o, const uint8_t *pkt, size_t len)
{
	put(o, "[", 1);
	if (len < VG_HDR_LEN)
		goto out;
	unsigned qd = vg_get16(pkt + 4), an = vg_get16(pkt + 6);
	int off = VG_HDR_LEN;
	for (unsigned i = 0; i < qd && off >= 0; i++) {
		off = vg_name_skip(pkt, len, (size_t)off);
		off = off < 0 || (size_t)off + 4 > len ? -1 : off + 4;
	}
	for (unsigned i = 0; i < an && off >= 0; i++) {
		off = vg_name_skip(pkt, len, (size_t)off);
		if (off < 0 || (size_t)off + 10 > len)
			break;
		uint16_t type = vg_get16(pkt + off), rdlen = vg_get16(pkt + off + 8);
		size_t rd = (size_t)off + 10;
		if (rd + rdlen > len)
			break;
		if (i == ANSWER_MAX) {
			putf(o, ",\"+%u\"", an - i);
			break;
		}
		char t[VG_NAME_MAX * 4 + 32];
		rr_text(pkt, len, rd, type, rdlen, t, sizeof(t));
		if (i)
			put(o, ",", 1);
		cstr(o, t);
		off = (int)(rd + rdlen);
	}
out:
	put(o, "]", 1);
}

size_t vg__qlog_json_line(const struct vg__qlog_view *v, struct vg__qlog_priv *pv,
			  uint32_t fields, char *buf, size_t cap)
{
	const struct vg__qlog_rec *h = v->h;
	struct out o = { buf, cap, 0, false, true };
	uint32_t f = fields ? fields : VG_QF_ALL;
	int64_t t = h->tq ? h->tq : h->tr; /* when the query came */
	int64_t tsec = t / 1000000000;
	char tmp[96];
	/* the question: from the query, else from the answer */
	const uint8_t *qm = h->qlen >= VG_HDR_LEN ? v->query : v->resp;
	size_t qml = h->qlen >= VG_HDR_LEN ? h->qlen : h->rlen;
	uint8_t qname[VG_NAME_MAX];
	uint16_t qtype = 0;
	bool has_q = false;
	size_t next;
	if (qml >= VG_HDR_LEN && vg_get16(qm + 4) >= 1 &&
	    vg_name_unpack(qm, qml, VG_HDR_LEN, qname, false, &next) > 0 && next + 4 <= qml) {
		qtype = vg_get16(qm + next);
		has_q = true;
	}
	if (cap < 3)
		return 0;
	put(&o, "{", 1);
	if (f & (1u << VG_QF_TIME)) {
		struct tm tm;
		time_t ts = (time_t)tsec;
		gmtime_r(&ts, &tm);
		key(&o, "time");
		putf(&o, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (int)(t % 1000000000 / 1000000));
	}
	if (f & (1u << VG_QF_CLIENT)) {
		vg__qlog_priv_str(pv, &h->addr.u.sa, tsec, tmp, sizeof(tmp));
		key(&o, "client");
		cstr(&o, tmp);
	}
	if (f & (1u << VG_QF_PORT)) {
		key(&o, "port");
		putf(&o, "%u", vg_sockaddr_port(&h->addr));
	}
	if (f & (1u << VG_QF_TRANSPORT)) {
		static const char *const tn[] = { "-", "udp", "tcp", "dot", "doh" };
		key(&o, "transport");
		cstr(&o, h->transport < VG_ARRAY_SIZE(tn) ? tn[h->transport] : "-");
	}
	if ((f & (1u << VG_QF_IDENTITY)) && (h->id_len || h->fp_len || h->subj_len)) {
		key(&o, "identity");
		put(&o, "{", 1);
		bool first = true;
		if (h->id_len) {
			put(&o, "\"id\":", 5);
			str(&o, v->id, h->id_len);
			first = false;
		}
		if (h->fp_len) {
			put(&o, first ? "\"cert\":" : ",\"cert\":", first ? 7 : 8);
			str(&o, v->fp, h->fp_len);
			first = false;
		}
		if (h->subj_len) {
			put(&o, first ? "\"subject\":" : ",\"subject\":", first ? 10 : 11);
			str(&o, v->subj, h->subj_len);
		}
		put(&o, "}", 1);
	}
	if (f & (1u << VG_QF_NAME)) {
		char n[VG_NAME_MAX * 4 + 8] = "";
		if (has_q)
			vg_name_to_str(qname, n, sizeof(n));
		key(&o, "name");
		cstr(&o, n);
	}
	if (f & (1u << VG_QF_TYPE)) {
		char tn[16] = "";
		if (has_q)
			vg_type_to_str(qtype, tn, sizeof(tn));
		key(&o, "type");
		cstr(&o, tn);
	}
	if (f & (1u << VG_QF_RCODE)) {
		key(&o, "rcode");
		if (h->rlen >= VG_HDR_LEN)
			cstr(&o, rcode_name(VG_F_RCODE(vg_get16(v->resp + 2)), tmp, sizeof(tmp)));
		else
			put(&o, "null", 4); /* nothing was sent (dropped) */
	}
	if (f & (1u << VG_QF_ANSWER)) {
		key(&o, "answer");
		answer(&o, v->resp, h->rlen);
	}
	if ((f & (1u << VG_QF_POLICY)) && h->act_len) {
		key(&o, "policy");
		put(&o, "{\"action\":", 10);
		str(&o, v->act, h->act_len);
		put(&o, ",\"source\":", 10);
		str(&o, v->src, h->src_len);
		put(&o, ",\"rule\":", 8);
		str(&o, v->rule, h->rule_len);
		put(&o, "}", 1);
	}
	if (f & (1u << VG_QF_VALIDATION)) {
		key(&o, "validation");
		cstr(&o, vg_dnssec_status_name(h->sec));
	}
	if (f & (1u << VG_QF_LATENCY)) {
		int64_t us = h->tq && h->tr >= h->tq ? (h->tr - h->tq) / 1000 : 0;
		key(&o, "latency_ms");
		putf(&o, "%lld.%03lld", (long long)(us / 1000), (long long)(us % 1000));
	}
	if (f & (1u << VG_QF_CACHE)) {
		key(&o, "cache_hit");
		putf(&o, "%s", h->flags & REC_F_CACHE ? "true" : "false");
	}
	put(&o, "}", 1);
	return o.full ? 0 : o.n;
}
