/* SPDX-License-Identifier: MIT
 *
 * The RFC 5011 refresh driver: keeps the trust anchors up to date with the
 * state machine of src/dnssec/autota.c.
 *
 * It runs on the main thread's loop.  A timer asks autota when an anchor
 * zone's DNSKEY RRset is next due (RFC 5011 2.3); the query goes to vigil's
 * own first listening address like any client's (CD=1, DO=1: the state
 * machine verifies the RRset itself, against the keys it trusts, so the
 * validator's view of the anchor does not decide).  The answer's DNSKEY and
 * RRSIG records go to vg_autota_update(); the state file is saved after every
 * attempt; when the trusted keys change, the daemon publishes a new snapshot
 * with them.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/core.h"
#include "daemon/autotrust.h"

#define TICK_MS 30000
#define FIRST_MS 1000
#define ANSWER_TIMEOUT_S 10

struct vg_autotrust {
	uv_loop_t *loop;
	uv_timer_t timer;
	uv_udp_t udp;
	unsigned closing;       /* handles still closing: freed after the last one */
	struct vg_autota *a;
	char path[512];
	struct sockaddr_storage self;
	vg_autotrust_cb on_change;
	void *arg;
	bool in_flight;
	uint16_t id;
	uint8_t zone[VG_NAME_MAX];
	uint32_t sent_at;
	struct vg_msg msg;
	uint8_t sendbuf[512];
};

static uint32_t unix_now(void)
{
	return (uint32_t)time(NULL);
}

static void save(struct vg_autotrust *t)
{
	int r = vg_autota_save(t->a, t->path);
	if (r < 0)
		vg_log(VG_LOG_ERR, "trust anchor state %s: cannot save: %s", t->path,
		       vg_strerror(r));
}

static void publish(struct vg_autotrust *t)
{
	struct vg_ta_set *set = malloc(sizeof(*set));
	if (!set)
		return;
	if (vg_autota_anchors(t->a, set) < 0)
		vg_log(VG_LOG_WARNING, "trust anchors: more than %d; the first are used", VG_TA_MAX);
	t->on_change(t->arg, set);
	free(set);
}

/* Packed RRset (owner, type; RRSIGs covering @p covered) of the answer section. */
static int gather(const struct vg_msg *m, const uint8_t *owner, uint16_t type, uint16_t covered,
		  struct vg_rrset *rs, uint8_t *buf, size_t cap)
{
	size_t used = 0;
	memset(rs, 0, sizeof(*rs));
	for (unsigned i = m->sec_start[VG_SEC_AN]; i < m->sec_start[VG_SEC_NS]; i++) {
		const struct vg_rr *rr = &m->rr[i];
		uint8_t name[VG_NAME_MAX];
		if (rr->type != type || vg_name_unpack(m->pkt, m->len, rr->owner, name, true, NULL) < 0 ||
		    !vg_name_eq(name, owner) || cap - used < 2)
			continue;
		int n = vg_rdata_unpack(m->pkt, m->len, rr, buf + used + 2, cap - used - 2);
		if (n < 0 || (type == VG_T_RRSIG && (n < 18 || vg_get16(buf + used + 2) != covered)))
			continue;
		vg_put16(buf + used, (uint16_t)n);
		used += 2u + (size_t)n;
		rs->count++;
		if (rs->count == 1 || rr->ttl < rs->ttl)
			rs->ttl = rr->ttl;
	}
	if (!rs->count || used > 65535)
		return VG_ENOTFOUND;
	rs->owner = owner;
	rs->type = type;
	rs->rclass = VG_C_IN;
	rs->rdata = buf;
	rs->rdata_len = (uint16_t)used;
	return 0;
}

static void failed(struct vg_autotrust *t, const char *why)
{
	char zs[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(t->zone, zs, sizeof(zs));
	vg_log(VG_LOG_WARNING, "trust anchor refresh of %s failed: %s", zs, why);
	vg_autota_failed(t->a, t->zone, unix_now());
	save(t);
	t->in_flight = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	static uint8_t rx[65536]; /* main thread only */
	buf->base = (char *)rx;
	buf->len = sizeof(rx);
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		    unsigned flags)
{
	struct vg_autotrust *t = u->data;
	(void)flags;
	if (nread <= 0 || !from || !t->in_flight)
		return;
	struct vg_msg *m = &t->msg;
	if (vg_msg_parse(m, (const uint8_t *)buf->base, (size_t)nread) < 0 || m->id != t->id ||
	    !(m->flags & VG_F_QR) || m->qtype != VG_T_DNSKEY || !vg_name_eq(m->qname, t->zone))
		return; /* not our answer */
	if (VG_F_RCODE(m->flags) != VG_RCODE_NOERROR) {
		failed(t, "error response");
		return;
	}
	static uint8_t keys[65536], sigs[65536];
	struct vg_rrset ks, ss;
	if (gather(m, t->zone, VG_T_DNSKEY, 0, &ks, keys, sizeof(keys)) < 0) {
		failed(t, "no DNSKEY records in the answer");
		return;
	}
	bool have_sigs = gather(m, t->zone, VG_T_RRSIG, VG_T_DNSKEY, &ss, sigs, sizeof(sigs)) == 0;
	bool changed = false;
	int r = vg_autota_update(t->a, t->zone, &ks, have_sigs ? &ss : NULL, unix_now(), &changed);
	char zs[VG_NAME_MAX * 4 + 8];
	vg_name_to_str(t->zone, zs, sizeof(zs));
	if (r < 0)
		vg_log(VG_LOG_WARNING, "trust anchor refresh of %s: DNSKEY set not accepted: %s", zs,
		       vg_strerror(r));
	else
		vg_log(VG_LOG_INFO, "trust anchor refresh of %s: %u keys%s", zs, ks.count,
		       changed ? ", trusted keys changed" : "");
	save(t);
	t->in_flight = false;
	if (changed)
		publish(t);
}

static void on_tick(uv_timer_t *tm)
{
	struct vg_autotrust *t = tm->data;
	uint32_t now = unix_now();
	if (t->in_flight) {
		if (now - t->sent_at >= ANSWER_TIMEOUT_S)
			failed(t, "no answer");
		return;
	}
	const uint8_t *zone = NULL;
	uint32_t due = vg_autota_next_refresh(t->a, now, &zone);
	if (due == VG_AUTOTA_NEVER || due > now || !zone)
		return;
	memcpy(t->zone, zone, vg_name_len(zone));
	randombytes_buf(&t->id, sizeof(t->id));
	int n = vg_wire_make_query(t->sendbuf, sizeof(t->sendbuf), t->id, t->zone, VG_T_DNSKEY,
				   true, 1232, true);
	if (n < 0)
		return;
	t->sendbuf[3] |= VG_F_CD & 0xff; /* CD=1: autota verifies the keys itself */
	uv_buf_t b = uv_buf_init((char *)t->sendbuf, (unsigned)n);
	if (uv_udp_try_send(&t->udp, &b, 1, (const struct sockaddr *)&t->self) < 0) {
		failed(t, "cannot send to vigil's own listener");
		return;
	}
	t->in_flight = true;
	t->sent_at = now;
}

struct vg_autotrust *vg_autotrust_start(uv_loop_t *loop, const char *state_path,
					const struct vg_ta_set *configured,
					const struct sockaddr *self, vg_autotrust_cb on_change,
					void *arg, FILE *errout)
{
	struct vg_autotrust *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->loop = loop;
	t->on_change = on_change;
	t->arg = arg;
	snprintf(t->path, sizeof(t->path), "%s", state_path);
	if (vg_autota_load(&t->a, state_path, configured, unix_now(), errout) < 0) {
		free(t);
		return NULL;
	}
	/* vigil's own listener; a wildcard address is reached on loopback */
	memcpy(&t->self, self, self->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
							   : sizeof(struct sockaddr_in));
	if (self->sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&t->self;
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->self;
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
	}
	uv_udp_init(loop, &t->udp);
	t->udp.data = t;
	struct sockaddr_storage any;
	memset(&any, 0, sizeof(any));
	any.ss_family = self->sa_family;
	uv_udp_bind(&t->udp, (const struct sockaddr *)&any, 0);
	uv_udp_recv_start(&t->udp, on_alloc, on_recv);
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	uv_timer_start(&t->timer, on_tick, FIRST_MS, TICK_MS);
	save(t); /* the file exists from the start: operators can see the state */
	return t;
}

int vg_autotrust_anchors(const struct vg_autotrust *t, struct vg_ta_set *out)
{
	return vg_autota_anchors(t->a, out);
}

/* Both handles live in t: it is freed once libuv is done with the last of
 * them, whichever that is (libuv does not finish closes in call order). */
static void on_closed(uv_handle_t *h)
{
	struct vg_autotrust *t = h->data;
	if (--t->closing)
		return;
	vg_autota_free(t->a);
	free(t);
}

void vg_autotrust_stop(struct vg_autotrust *t)
{
	if (!t)
		return;
	uv_timer_stop(&t->timer);
	t->closing = 2;
	uv_close((uv_handle_t *)&t->timer, on_closed);
	uv_close((uv_handle_t *)&t->udp, on_closed);
}

size_t vg_autotrust_list(const struct vg_autotrust *t, struct vg_autota_info *out, size_t cap)
{
	return t ? vg_autota_list(t->a, out, cap) : 0;
}
