/* SPDX-License-Identifier: MIT
 *
 * The query log's two halves: the workers' side (vg_qlog_client,
 * vg_qlog_upstream: a bounded copy into the worker's own ring, or a counted
 * drop; sampling decided there, before any copy) and the writer thread that
 * drains the rings and writes the JSON lines (json.c) and dnstap frames
 * (dnstap.c), rotating the JSON file and a dnstap file by size or age and
 * keeping N old ones.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "core/ring.h"
#include "qlog/impl.h"
#include "vigil/wire.h"

/*
 * The longest JSON line a client event can make, with every byte escaped at
 * its worst (\u00XX: 6 for 1; a presentation name's backslash: 2 for 1):
 * the identity 3 x 255 x 6, the name 1027 x 2, the answer 4 x 1051 x 2, the
 * policy (255 + 255 + 1024) x 6, and about 500 for the keys and the rest:
 * 24.4 kB.  4096 bytes lost such lines (a CNAME chain of long odd names was
 * enough) without a count.
 */
#define LINE_MAX_BYTES (32 * 1024)
#define IDLE_NS (10 * 1000 * 1000) /* the writer's nap when every ring is empty */
#define STR_MAX 255                /* a string field copied by a worker, at most */
#define SENT_SLOTS 16384           /* batches' send times the writer may look back to */

/*
 * The send times of a worker's answers that went out in batches (the
 * pipeline's vg_pipe_hold): an event queued before its batch went out
 * carries the batch's number; vg_qlog_sent publishes the batch's time in
 * tx[batch % SENT_SLOTS] (release), then sent = batch (release).  The
 * writer leaves such an event in the ring until sent reaches its batch; a
 * slot overwritten meanwhile (the writer more than SENT_SLOTS - 2 batches
 * behind) is detected by reading sent again after the slot, and the event
 * then gets no latency (response time = query time).
 */
struct worker_side {
	struct vg_ring *ring;
	unsigned sample_n;  /* client queries seen, for 1 in N (the worker's only) */
	uint64_t batch;     /* the worker's: the open batch, from 1 */
	bool batch_used;    /* the worker's: an event waits for the open batch */
	_Atomic uint64_t sent;
	_Atomic uint64_t *tx; /* SENT_SLOTS */
};

struct vg_qlog {
	struct vg_qlog_opts o;
	unsigned dnstap_msgs;   /* VG_DNSTAP_* */
	unsigned n;
	struct worker_side *w;
	pthread_t thread;
	bool started;
	atomic_bool stop, reopen;
	_Atomic uint64_t handled;
	_Atomic uint64_t lost;  /* the writer's: lines and frames not written out */
	/* the writer thread's own */
	struct vg__qlog_priv priv;
	FILE *json;
	uint64_t json_bytes;
	uint64_t json_pending;  /* lines in the FILE's buffer since its last flush */
	int64_t json_opened_s;
	struct vg__dnstap *dnstap;
	dev_t dnstap_dev;       /* the dnstap file fstrm writes (ino 0: not seen yet) */
	ino_t dnstap_ino;
	uint64_t dnstap_bytes;  /* frames (with their 4-byte lengths) given to the file */
	int64_t dnstap_opened_s;
	char identity[256];
	char line[LINE_MAX_BYTES];
};

void vg_qlog_opts_default(struct vg_qlog_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sample = 1;
	o->keep = 7;
	o->v4_prefix = 24;
	o->v6_prefix = 56;
	o->pseudonym_rotate_s = 86400;
	o->client_query = o->client_response = true;
	o->ring_kib = 4096;
}

bool vg_qlog_opts_enabled(const struct vg_qlog_opts *o)
{
	return o->file[0] || o->dnstap_socket[0] || o->dnstap_file[0];
}

/* The wall clock minus the monotonic clock, in ns (the writer's: the
 * events carry monotonic times). */
static int64_t wall_offset_ns(void)
{
	struct timespec w, m;
	clock_gettime(CLOCK_REALTIME, &w);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)w.tv_sec - (int64_t)m.tv_sec) * 1000000000 +
	       ((int64_t)w.tv_nsec - (int64_t)m.tv_nsec);
}

static bool has_dnstap(const struct vg_qlog *l)
{
	return l->o.dnstap_socket[0] || l->o.dnstap_file[0];
}

bool vg_qlog_wants_upstream(const struct vg_qlog *l)
{
	return l && has_dnstap(l) &&
	       (l->dnstap_msgs & (VG_DNSTAP_RESOLVER_QUERY | VG_DNSTAP_RESOLVER_RESPONSE));
}

/* ------------------------------------------------------------ the workers' side */

static size_t slen(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > STR_MAX ? STR_MAX : n;
}

static uint8_t *put(uint8_t *p, const void *s, size_t n)
{
	if (n)
		memcpy(p, s, n);
	return p + n;
}

bool vg_qlog_client(struct vg_qlog *l, unsigned worker, const struct vg_qlog_client *e)
{
	struct worker_side *ws = &l->w[worker % l->n];
	bool json = false;
	if (l->o.file[0]) { /* 1 in N for the JSON log, decided before any copy */
		json = l->o.sample <= 1 || ws->sample_n % l->o.sample == 0;
		ws->sample_n++;
	}
	bool tap = has_dnstap(l) &&
		   (l->dnstap_msgs & (VG_DNSTAP_CLIENT_QUERY | VG_DNSTAP_CLIENT_RESPONSE));
	if (!json && !tap)
		return true;
	size_t ql = e->query && e->qlen <= UINT16_MAX ? e->qlen : 0;
	size_t rl = e->resp && e->rlen <= UINT16_MAX ? e->rlen : 0;
	size_t il = slen(e->id), fl = slen(e->cert_fp), sl = slen(e->cert_subject);
	size_t al = slen(e->action), srl = slen(e->source), rul = e->rule ? strlen(e->rule) : 0;
	if (rul > 1024)
		rul = 1024;
	size_t len = sizeof(struct vg__qlog_rec) + ql + rl + il + fl + sl + al + srl + rul;
	struct vg__qlog_rec *h = vg_ring_reserve(ws->ring, len);
	if (!h)
		return false;
	h->kind = REC_CLIENT;
	h->transport = (uint8_t)e->transport;
	h->sec = e->sec;
	h->flags = (uint8_t)((e->cache_hit ? REC_F_CACHE : 0) | (json ? REC_F_JSON : 0));
	h->qlen = (uint16_t)ql;
	h->rlen = (uint16_t)rl;
	h->qtype = 0;
	h->id_len = (uint8_t)il;
	h->fp_len = (uint8_t)fl;
	h->subj_len = (uint8_t)sl;
	h->act_len = (uint8_t)al;
	h->src_len = (uint8_t)srl;
	h->rule_len = (uint16_t)rul;
	if (vg_sockaddr_from(&h->addr, e->addr) < 0)
		memset(&h->addr, 0, sizeof(h->addr));
	h->tq = (int64_t)e->t_query_ns;
	h->tr = (int64_t)e->t_resp_ns;
	if (e->held) { /* sent with the open batch */
		h->flags |= REC_F_HELD;
		h->tr = (int64_t)ws->batch;
		ws->batch_used = true;
	}
	uint8_t *p = (uint8_t *)(h + 1);
	p = put(p, e->query, ql);
	p = put(p, e->resp, rl);
	p = put(p, e->id, il);
	p = put(p, e->cert_fp, fl);
	p = put(p, e->cert_subject, sl);
	p = put(p, e->action, al);
	p = put(p, e->source, srl);
	put(p, e->rule, rul);
	vg_ring_commit(ws->ring, len);
	return true;
}

void vg_qlog_sent(struct vg_qlog *l, unsigned worker, uint64_t tx_ns)
{
	struct worker_side *ws = &l->w[worker % l->n];
	if (!ws->batch_used)
		return;
	atomic_store_explicit(&ws->tx[ws->batch % SENT_SLOTS], tx_ns, memory_order_release);
	atomic_store_explicit(&ws->sent, ws->batch, memory_order_release);
	ws->batch++;
	ws->batch_used = false;
}

bool vg_qlog_upstream(struct vg_qlog *l, unsigned worker, const struct vg_qlog_upstream *e)
{
	unsigned want = e->resp ? VG_DNSTAP_RESOLVER_RESPONSE : VG_DNSTAP_RESOLVER_QUERY;
	if (!has_dnstap(l) || !(l->dnstap_msgs & want))
		return true;
	struct worker_side *ws = &l->w[worker % l->n];
	size_t ql = e->resp ? 0 : vg_name_len(e->qname);
	size_t rl = e->resp && e->rlen <= UINT16_MAX ? e->rlen : 0;
	size_t len = sizeof(struct vg__qlog_rec) + ql + rl;
	struct vg__qlog_rec *h = vg_ring_reserve(ws->ring, len);
	if (!h)
		return false;
	memset(h, 0, sizeof(*h));
	h->kind = e->resp ? REC_UP_RESPONSE : REC_UP_QUERY;
	h->flags = (uint8_t)((e->rd ? REC_F_RD : 0) | (e->do_bit ? REC_F_DO : 0) |
			     (e->tls ? REC_F_TLS : 0));
	h->qlen = (uint16_t)ql;
	h->rlen = (uint16_t)rl;
	h->qtype = e->qtype;
	if (vg_sockaddr_from(&h->addr, e->to) < 0)
		memset(&h->addr, 0, sizeof(h->addr));
	h->tq = h->tr = (int64_t)e->t_ns;
	uint8_t *p = (uint8_t *)(h + 1);
	p = put(p, e->qname, ql);
	put(p, e->resp, rl);
	vg_ring_commit(ws->ring, len);
	return true;
}

bool vg__qlog_view(const void *rec, size_t len, struct vg__qlog_view *v)
{
	const struct vg__qlog_rec *h = rec;
	if (len < sizeof(*h))
		return false;
	size_t need = sizeof(*h) + (size_t)h->qlen + h->rlen + h->id_len + h->fp_len +
		      h->subj_len + h->act_len + h->src_len + h->rule_len;
	if (len < need)
		return false;
	const uint8_t *p = (const uint8_t *)(h + 1);
	v->h = h;
	v->query = p;
	p += h->qlen;
	v->resp = p;
	p += h->rlen;
	v->id = (const char *)p;
	p += h->id_len;
	v->fp = (const char *)p;
	p += h->fp_len;
	v->subj = (const char *)p;
	p += h->subj_len;
	v->act = (const char *)p;
	p += h->act_len;
	v->src = (const char *)p;
	p += h->src_len;
	v->rule = (const char *)p;
	return true;
}

/* ------------------------------------------------------------ the JSON file */

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

static void lose(struct vg_qlog *l, uint64_t n)
{
	if (n)
		atomic_fetch_add_explicit(&l->lost, n, memory_order_relaxed);
}

/* Write out the FILE's buffer; the lines in it are lost when that fails
 * (glibc empties the buffer on a write error: ENOSPC, EIO ...). */
static void json_flush(struct vg_qlog *l)
{
	if (!l->json)
		return;
	if (fflush(l->json) != 0) {
		lose(l, l->json_pending);
		clearerr(l->json);
	}
	l->json_pending = 0;
}

static void json_close(struct vg_qlog *l)
{
	if (!l->json)
		return;
	json_flush(l);
	fclose(l->json);
	l->json = NULL;
}

static int json_open(struct vg_qlog *l)
{
	json_close(l);
	l->json = fopen(l->o.file, "a");
	if (!l->json)
		return -errno;
	setvbuf(l->json, NULL, _IOFBF, 1 << 16);
	struct stat st;
	l->json_bytes = fstat(fileno(l->json), &st) == 0 ? (uint64_t)st.st_size : 0;
	l->json_opened_s = wall_s();
	return 0;
}

/* @p path -> path.1 -> ... -> path.keep (the oldest goes); keep 0: removed */
static void shift_files(const char *path, unsigned keep)
{
	char from[600], to[600];
	if (!keep) {
		unlink(path);
		return;
	}
	for (unsigned i = keep; i > 1; i--) {
		snprintf(from, sizeof(from), "%s.%u", path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", path, i);
		rename(from, to); /* (a missing one: nothing to move) */
	}
	snprintf(to, sizeof(to), "%s.1", path);
	if (rename(path, to) < 0)
		vg_log(VG_LOG_WARNING, "query log: cannot rotate %s: %s", path, strerror(errno));
}

static void json_rotate(struct vg_qlog *l)
{
	json_close(l);
	shift_files(l->o.file, l->o.keep);
	if (json_open(l) < 0)
		vg_log(VG_LOG_ERR, "query log: cannot open %s: %s", l->o.file, strerror(errno));
}

static void json_write(struct vg_qlog *l, const struct vg__qlog_view *v)
{
	if (!l->json) { /* (a reopen or rotation that failed) */
		lose(l, 1);
		return;
	}
	size_t n = vg__qlog_json_line(v, &l->priv, l->o.fields, l->line, sizeof(l->line) - 1);
	if (!n) {
		lose(l, 1);
		return;
	}
	l->line[n++] = '\n';
	if (fwrite(l->line, 1, n, l->json) == n) {
		l->json_bytes += n;
		l->json_pending++;
	} else { /* the buffer's flush failed: it and this line are gone */
		lose(l, l->json_pending + 1);
		l->json_pending = 0;
		clearerr(l->json);
	}
	if (l->o.rotate_size && l->json_bytes >= l->o.rotate_size)
		json_rotate(l);
}

/* ------------------------------------------------------------ the writer thread */

/*
 * The send time of a held event of @p ws in batch @p batch: true with it in
 * *@p tx; false while the batch has not gone out (unless @p final: the
 * worker is gone, *@p tx 0).  *@p tx is 0 when the slot was reused.
 */
static bool held_time(struct worker_side *ws, uint64_t batch, bool final, uint64_t *tx)
{
	uint64_t s1 = atomic_load_explicit(&ws->sent, memory_order_acquire);
	*tx = 0;
	if (batch > s1)
		return final;
	if (s1 - batch >= SENT_SLOTS - 1)
		return true;
	uint64_t t = atomic_load_explicit(&ws->tx[batch % SENT_SLOTS], memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&ws->sent, memory_order_relaxed) - batch >= SENT_SLOTS - 1)
		return true;
	*tx = t;
	return true;
}

/* Which file is the dnstap output?  (fstrm's thread creates it: looked
 * for until it is there.) */
static void dnstap_note_file(struct vg_qlog *l)
{
	struct stat st;
	if (l->dnstap && !l->dnstap_ino && stat(l->o.dnstap_file, &st) == 0) {
		l->dnstap_dev = st.st_dev;
		l->dnstap_ino = st.st_ino;
	}
}

/*
 * A new dnstap file output at the configured path, after the old one (if
 * any) was closed: fstrm's thread writes what is queued and the stream's
 * end, so the old file is a complete stream.  With @p shift, the files are
 * shifted first (rotation).  Writer thread.
 */
static void dnstap_restart(struct vg_qlog *l, bool shift)
{
	char err[256] = "";
	vg__dnstap_close(l->dnstap);
	l->dnstap = NULL;
	l->dnstap_ino = 0;
	if (shift)
		shift_files(l->o.dnstap_file, l->o.keep);
	l->dnstap_bytes = 0;
	l->dnstap_opened_s = wall_s();
	if (vg__dnstap_open(&l->dnstap, NULL, l->o.dnstap_file, err, sizeof(err)) < 0) {
		l->dnstap = NULL;
		vg_log(VG_LOG_ERR, "%s (dnstap frames are lost until the next SIGHUP)", err);
		return;
	}
	dnstap_note_file(l);
}

/*
 * SIGHUP for the dnstap file: when it was moved away (or removed), a new
 * fstrm output on a new file.  The old one is closed first: fstrm's thread
 * writes what is queued and the stream's end, so the old file is complete.
 * A file still in its place is kept (fstrm would truncate it).  Only the
 * writer thread submits frames, so nothing races with the swap; the workers
 * only ever see their rings.
 */
static void dnstap_reopen(struct vg_qlog *l)
{
	struct stat st;
	if (!l->o.dnstap_file[0] || l->o.dnstap_socket[0])
		return; /* (a socket reconnects on its own) */
	if (l->dnstap && stat(l->o.dnstap_file, &st) == 0 &&
	    (!l->dnstap_ino || (st.st_dev == l->dnstap_dev && st.st_ino == l->dnstap_ino)))
		return;
	dnstap_restart(l, false);
}

/* Rotation of the dnstap file (query-log.rotate-size, rotate-interval,
 * keep, as for the JSON file). */
static void dnstap_rotate(struct vg_qlog *l)
{
	dnstap_restart(l, true);
}

/* Write out one event; false when it must wait in the ring (its batch's
 * send time is not known yet). */
static bool handle(struct vg_qlog *l, struct worker_side *ws, const void *rec, size_t len,
		   int64_t wall_off, bool final)
{
	struct vg__qlog_view v;
	struct vg__qlog_rec h;
	if (!vg__qlog_view(rec, len, &v))
		return true;
	h = *v.h;
	if (h.flags & REC_F_HELD) {
		uint64_t tx;
		if (!held_time(ws, (uint64_t)h.tr, final, &tx))
			return false;
		h.tr = tx ? (int64_t)tx : h.tq;
	}
	h.tq += wall_off;
	h.tr += wall_off;
	v.h = &h;
	if (v.h->kind == REC_CLIENT && (v.h->flags & REC_F_JSON))
		json_write(l, &v);
	if (!l->dnstap) {
		if (has_dnstap(l)) /* (a reopen failed: no output until the next one) */
			lose(l, 1);
		return true;
	}
	static const unsigned types[] = { VG_DNSTAP_CLIENT_QUERY, VG_DNSTAP_CLIENT_RESPONSE,
					   VG_DNSTAP_RESOLVER_QUERY,
					   VG_DNSTAP_RESOLVER_RESPONSE };
	for (size_t i = 0; i < VG_ARRAY_SIZE(types); i++) {
		uint8_t *frame;
		size_t fl;
		if (!(l->dnstap_msgs & types[i]) ||
		    vg__dnstap_encode(&v, types[i], &l->priv, l->identity, &frame, &fl) < 0)
			continue;
		if (!vg__dnstap_submit(l->dnstap, frame, fl))
			lose(l, 1);
		else
			l->dnstap_bytes += 4 + fl;
	}
	if (l->o.rotate_size && l->dnstap_bytes >= l->o.rotate_size && l->o.dnstap_file[0] &&
	    !l->o.dnstap_socket[0])
		dnstap_rotate(l);
	return true;
}

static void *writer(void *arg)
{
	struct vg_qlog *l = arg;
	for (;;) {
		bool stopping = atomic_load(&l->stop);
		if (atomic_exchange(&l->reopen, false)) {
			if (l->o.file[0] && json_open(l) < 0)
				vg_log(VG_LOG_ERR, "query log: cannot reopen %s: %s", l->o.file,
				       strerror(errno));
			dnstap_reopen(l);
		}
		if (l->o.dnstap_file[0] && !l->dnstap_ino)
			dnstap_note_file(l);
		if (l->json && l->o.rotate_interval_s && l->json_bytes &&
		    wall_s() - l->json_opened_s >= (int64_t)l->o.rotate_interval_s)
			json_rotate(l);
		if (l->dnstap && l->o.dnstap_file[0] && !l->o.dnstap_socket[0] &&
		    l->o.rotate_interval_s && l->dnstap_bytes &&
		    wall_s() - l->dnstap_opened_s >= (int64_t)l->o.rotate_interval_s)
			dnstap_rotate(l);
		unsigned n = 0;
		int64_t off = wall_offset_ns();
		for (unsigned i = 0; i < l->n; i++) {
			const void *rec;
			size_t len;
			/* a bounded batch per ring, so one busy worker does not
			 * starve the others */
			for (unsigned k = 0; k < 1024 && (rec = vg_ring_peek(l->w[i].ring, &len));
			     k++) {
				if (!handle(l, &l->w[i], rec, len, off, stopping))
					break;
				vg_ring_release(l->w[i].ring);
				n++;
			}
		}
		if (n) {
			json_flush(l);
			atomic_fetch_add_explicit(&l->handled, n, memory_order_relaxed);
		}
		if (stopping && !n)
			break;
		if (!n) {
			struct timespec ts = { 0, IDLE_NS };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void qlog_free(struct vg_qlog *l)
{
	json_close(l);
	vg__dnstap_close(l->dnstap);
	for (unsigned i = 0; l->w && i < l->n; i++) {
		vg_ring_free(l->w[i].ring);
		free(l->w[i].tx);
	}
	free(l->w);
	free(l);
}

int vg_qlog_start(struct vg_qlog **out, const struct vg_qlog_opts *o, unsigned workers,
		  char *err, size_t errlen)
{
	struct vg_qlog *l = calloc(1, sizeof(*l));
	int ret = VG_ENOMEM;
	if (!l)
		return VG_ENOMEM;
	l->o = *o;
	l->n = workers ? workers : 1;
	vg__qlog_priv_init(&l->priv, o);
	l->dnstap_msgs = (o->client_query ? VG_DNSTAP_CLIENT_QUERY : 0) |
			 (o->client_response ? VG_DNSTAP_CLIENT_RESPONSE : 0) |
			 (o->resolver_query ? VG_DNSTAP_RESOLVER_QUERY : 0) |
			 (o->resolver_response ? VG_DNSTAP_RESOLVER_RESPONSE : 0);
	l->w = calloc(l->n, sizeof(*l->w));
	if (!l->w)
		goto fail;
	for (unsigned i = 0; i < l->n; i++) {
		l->w[i].batch = 1;
		l->w[i].tx = calloc(SENT_SLOTS, sizeof(*l->w[i].tx));
		if (!l->w[i].tx ||
		    !(l->w[i].ring = vg_ring_new((size_t)(o->ring_kib ? o->ring_kib : 4096) << 10)))
			goto fail;
	}
	if (o->dnstap_identity[0])
		snprintf(l->identity, sizeof(l->identity), "%s", o->dnstap_identity);
	else if (gethostname(l->identity, sizeof(l->identity) - 1) < 0)
		l->identity[0] = 0;
	if (o->file[0] && (ret = json_open(l)) < 0) {
		snprintf(err, errlen, "query log: cannot open %s: %s", o->file, strerror(-ret));
		goto fail;
	}
	if (has_dnstap(l) &&
	    (ret = vg__dnstap_open(&l->dnstap, o->dnstap_socket, o->dnstap_file, err, errlen)) < 0)
		goto fail;
	l->dnstap_opened_s = wall_s();
	if (pthread_create(&l->thread, NULL, writer, l) != 0) {
		snprintf(err, errlen, "query log: cannot start the writer thread");
		ret = VG_ENOMEM;
		goto fail;
	}
	*out = l;
	return 0;
fail:
	qlog_free(l);
	return ret;
}

void vg_qlog_stop(struct vg_qlog *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	qlog_free(l);
}

void vg_qlog_reopen(struct vg_qlog *l)
{
	if (l)
		atomic_store(&l->reopen, true);
}

uint64_t vg_qlog_dropped(const struct vg_qlog *l)
{
	uint64_t d = 0;
	for (unsigned i = 0; l && i < l->n; i++)
		d += vg_ring_dropped(l->w[i].ring);
	return d;
}

uint64_t vg_qlog_lost(const struct vg_qlog *l)
{
	return l ? atomic_load_explicit(&((struct vg_qlog *)l)->lost, memory_order_relaxed) : 0;
}

uint64_t vg_qlog_handled(const struct vg_qlog *l)
{
	return l ? atomic_load_explicit(&((struct vg_qlog *)l)->handled, memory_order_relaxed)
		 : 0;
}
