/* SPDX-License-Identifier: MIT
 *
 * The policy decision log: one JSON line per decision other than a plain
 * pass, to a file (reopened on request, for rotation) or to syslog.
 *
 * Workers never wait for it: each worker has its own single-producer ring
 * (core/ring.h); the worker formats a line into the ring's free room and
 * publishes it with one atomic store, or, when its ring is full, counts it as
 * dropped.  One writer thread drains the rings in turn and writes the lines.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/ring.h"
#include "policy/plog.h"

#define RING_BYTES (1u << 20) /* per worker: about 2000 lines */
#define LINE 1024

struct vg_plog {
	unsigned nrings;
	struct vg_ring **rings;
	char path[512];
	bool use_syslog;
	FILE *out;
	pthread_t thread;
	atomic_bool stop, reopen;
	_Atomic uint64_t written;
};

static void reopen_file(struct vg_plog *l)
{
	if (l->use_syslog)
		return;
	if (l->out)
		fclose(l->out);
	l->out = fopen(l->path, "a");
	if (l->out)
		setvbuf(l->out, NULL, _IOFBF, 1 << 16);
}

static void free_rings(struct vg_plog *l)
{
	for (unsigned i = 0; l->rings && i < l->nrings; i++)
		vg_ring_free(l->rings[i]);
	free(l->rings);
	l->rings = NULL;
}

static void *writer(void *arg)
{
	struct vg_plog *l = arg;
	for (;;) {
		bool stopping = atomic_load(&l->stop);
		if (atomic_exchange(&l->reopen, false))
			reopen_file(l);
		unsigned n = 0;
		for (unsigned i = 0; i < l->nrings; i++) {
			const char *line;
			size_t len;
			/* a bounded batch per ring: one busy worker does not
			 * starve the others' rings */
			for (unsigned k = 0; k < 1024 && (line = vg_ring_peek(l->rings[i], &len));
			     k++) {
				if (l->use_syslog)
					syslog(LOG_INFO, "%s", line);
				else if (l->out)
					fprintf(l->out, "%s\n", line);
				vg_ring_release(l->rings[i]);
				atomic_fetch_add_explicit(&l->written, 1, memory_order_relaxed);
				n++;
			}
		}
		if (n && l->out)
			fflush(l->out);
		if (stopping && !n)
			break;
		if (!n) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int vg_plog_start(struct vg_plog **out, const char *target, unsigned workers)
{
	struct vg_plog *l = calloc(1, sizeof(*l));
	if (!l)
		return VG_ENOMEM;
	l->nrings = workers ? workers : 1;
	l->rings = calloc(l->nrings, sizeof(*l->rings));
	for (unsigned i = 0; l->rings && i < l->nrings; i++) {
		if (!(l->rings[i] = vg_ring_new(RING_BYTES))) {
			free_rings(l);
			free(l);
			return VG_ENOMEM;
		}
	}
	if (!l->rings) {
		free(l);
		return VG_ENOMEM;
	}
	l->use_syslog = !strcmp(target, "syslog");
	snprintf(l->path, sizeof(l->path), "%s", target);
	if (!l->use_syslog) {
		reopen_file(l);
		if (!l->out) {
			int e = -errno;
			free_rings(l);
			free(l);
			return e;
		}
	}
	if (pthread_create(&l->thread, NULL, writer, l) != 0) {
		if (l->out)
			fclose(l->out);
		free_rings(l);
		free(l);
		return VG_ENOMEM;
	}
	*out = l;
	return 0;
}

void vg_plog_stop(struct vg_plog *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	if (l->out)
		fclose(l->out);
	free_rings(l);
	free(l);
}

void vg_plog_reopen(struct vg_plog *l)
{
	if (l)
		atomic_store(&l->reopen, true);
}

uint64_t vg_plog_dropped(const struct vg_plog *l)
{
	uint64_t d = 0;
	for (unsigned i = 0; l && i < l->nrings; i++)
		d += vg_ring_dropped(l->rings[i]);
	return d;
}

uint64_t vg_plog_written(const struct vg_plog *l)
{
	return l ? atomic_load_explicit(&l->written, memory_order_relaxed) : 0;
}

/* JSON string body of @p s into @p o (escaping quotes, backslashes, controls). */
static size_t json_str(char *o, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			o[n++] = '\\';
			o[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(o + n, cap - n, "\\u%04x", c);
		} else {
			o[n++] = (char)c;
		}
	}
	o[n] = 0;
	return n;
}

bool vg_plog_write(struct vg_plog *l, unsigned worker, const struct vg_plog_entry *e)
{
	if (!l)
		return false;
	struct vg_ring *r = l->rings[worker % l->nrings];
	char *line = vg_ring_reserve(r, LINE);
	if (!line)
		return false;
	char qn[300], rule[300], grp[140], src[140], stage[340] = "", id[400] = "";
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	json_str(qn, sizeof(qn), e->qname);
	json_str(rule, sizeof(rule), e->rule);
	json_str(grp, sizeof(grp), e->group ? e->group : "");
	json_str(src, sizeof(src), e->source ? e->source : "");
	/* the identity, each field only when there is one (subjects are cut
	 * at 160 bytes: the line has a fixed size) */
	size_t il = 0;
	if (e->client_id) {
		char v[140];
		json_str(v, sizeof(v), e->client_id);
		il += (size_t)snprintf(id + il, sizeof(id) - il, "\"client_id\":\"%s\",", v);
	}
	if (e->client_cert && il < sizeof(id)) {
		char v[100];
		json_str(v, sizeof(v), e->client_cert);
		il += (size_t)snprintf(id + il, sizeof(id) - il, "\"client_cert\":\"%s\",", v);
	}
	if (e->client_subject && il < sizeof(id)) {
		char v[168];
		json_str(v, sizeof(v), e->client_subject);
		il += (size_t)snprintf(id + il, sizeof(id) - il, "\"client_subject\":\"%s\",", v);
	}
	if (e->group_by && il < sizeof(id))
		snprintf(id + il, sizeof(id) - il, "\"group_by\":\"%s\",", e->group_by);
	if (e->stage && e->stage_name) {
		char sn[300];
		json_str(sn, sizeof(sn), e->stage_name);
		snprintf(stage, sizeof(stage), "\"stage\":%u,\"stage_name\":\"%s\",", e->stage, sn);
	}
	int n = snprintf(line, LINE,
			 "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"client\":\"%s\","
			 "\"port\":%u,\"transport\":\"%s\",%s\"group\":\"%s\",\"qname\":\"%s\","
			 "\"qtype\":\"%s\",\"source\":\"%s\",\"trigger\":\"%s\",\"rule\":\"%s\","
			 "%s\"action\":\"%s\",\"ede\":%u}",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, e->client, e->port, e->transport, id, grp, qn,
			 e->qtype, src, e->trigger, rule, stage, e->action, e->ede);
	if (n < 0 || n >= LINE) {
		vg_ring_drop(r);
		return false;
	}
	vg_ring_commit(r, (size_t)n + 1);
	return true;
}
