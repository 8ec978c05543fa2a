/* SPDX-License-Identifier: MIT
 *
 * The RPZ feed manager: one thread, one libuv loop, the feeds of the config
 * (policy sources with primaries).  It owns the connections to the
 * primaries, the SOA timers, the feeds' files on disk and the checks on a
 * NOTIFY.  It does not own the protocol: the transfer state machine is
 * xfr.c's, TSIG is tsig.c's, the zone in memory and its file form are
 * zone.c's; nor the policy built from the files (the update callback's
 * receiver reloads it).
 *
 * A refresh of a feed tries its primaries in the configured order until one
 * answers.  With a version in hand it asks IXFR with its serial (a lone SOA
 * back means up to date, so no separate SOA query is needed); a primary that
 * answered IXFR with NOTIMP or FORMERR gets an SOA query and, when it has a
 * newer serial, an AXFR from then on.  Without a version (no copy yet, or
 * one that could not be read), or after an IXFR that did not apply to ours,
 * it asks AXFR.  A transfer is applied only once complete and verified;
 * then the zone is written to <file>.tmp.<pid>, fsynced and renamed over
 * the file, and the update callback runs.  The next refresh comes after the
 * SOA's refresh interval; after a failure of every primary, after its retry
 * interval.  When no refresh has succeeded for the SOA's expire interval
 * (counted from the copy's modification time at start-up), every retry logs
 * a warning, and the last good copy stays in force: a protective resolver
 * keeps enforcing stale policy rather than none.
 *
 * NOTIFYs arrive on the workers (vg_feed_notify), which check them against
 * the immutable part of the feeds (zone, primaries, key), set the feed's
 * flag and wake this thread through its uv_async_t.  A NOTIFY during a
 * transfer queues one more refresh after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "core/core.h"
#include "feed/impl.h"

#define IO_TIMEOUT_MS 10000      /* connecting, and silence during a transfer */
#define XFR_MAX_MS (600 * 1000)  /* a whole transfer */
#define FIRST_RETRY_S 10         /* retry interval before any SOA is known */
#define MIN_INTERVAL_S 1
#define MAX_INTERVAL_S (7 * 86400)

struct feed {
	struct vg_feed *mgr;
	unsigned index;                   /* in the policy sources */
	/* immutable after start (read by vg_feed_notify on any thread) */
	char name[64];
	char file[512];
	uint8_t zone[VG_NAME_MAX];
	char zone_str[VG_NAME_MAX * 4];
	struct vg_sockaddr primaries[VG_POLICY_MAX_PRIMARIES];
	size_t n_primaries;
	struct vg_tsig_key key;
	bool has_key;
	atomic_bool notified;
	/* the feed thread's */
	struct vg_xfr_zone z;             /* the version in force (z.soa NULL: none) */
	bool dirty;                       /* the file lags behind z (a write failed) */
	time_t last_ok;                   /* wall clock of the last good refresh; 0 never */
	bool busy, again, force_axfr;
	bool no_ixfr[VG_POLICY_MAX_PRIMARIES];
	unsigned prim;                    /* the primary being tried */
	uv_timer_t timer;                 /* next refresh or retry */
	uv_timer_t io;                    /* the transfer's silence limit */
	uv_tcp_t tcp;
	bool tcp_open;
	uv_connect_t conn;
	uv_write_t wr;
	struct vg_xfr x;
	bool x_live;
	uint64_t xfr_start;               /* uv_now */
	uint8_t q[2 + 1024];              /* the framed query */
	uv_buf_t qbuf;
	uint8_t lenbuf[2];                /* frame assembly */
	unsigned lenhave;
	uint8_t *frame;
	size_t need, got;
	int status;                       /* how the transfer ended */
	char why[200];
	bool complete;
	/* what the control socket reads: published under mgr->status_lock */
	int64_t last_attempt, next_at;
	char last_err[300];
	struct vg_feed_status pub;
};

struct vg_feed {
	uv_loop_t loop;
	uv_async_t wake;
	pthread_t thread;
	bool loop_ready, thread_started;
	pthread_mutex_t lock;             /* guards stopped against uv_async_send */
	pthread_mutex_t status_lock;      /* guards every feed's pub */
	bool stopped;
	atomic_bool stop;
	bool stopping;                    /* the feed thread is closing its handles */
	vg_feed_update_fn fn;
	void *arg;
	atomic_uint_fast64_t last_refusal_log; /* seconds: refused NOTIFYs logged once a second */
	uint8_t rx[65536];
	unsigned n;
	struct feed feeds[];
};

static void attempt(struct feed *fd);
static void begin_xfr(struct feed *fd, enum vg_xfr_kind kind);

/* ------------------------------------------------------------ helpers */

static void addr_str(const struct vg_sockaddr *sa, char *buf, size_t size)
{
	vg_sockaddr_str(sa, VG_ADDR_PORT, buf, size);
}

static const char *kind_name(enum vg_xfr_kind k)
{
	return k == VG_XFR_IXFR ? "IXFR" : k == VG_XFR_AXFR ? "AXFR" : "SOA query";
}

static uint32_t clamp_interval(uint32_t s)
{
	return s < MIN_INTERVAL_S ? MIN_INTERVAL_S : s > MAX_INTERVAL_S ? MAX_INTERVAL_S : s;
}

/* Does @p sa have the address of one of the feed's primaries (any port)? */
static bool from_primary(const struct feed *fd, const struct sockaddr *sa)
{
	const uint8_t *a;
	int fam = vg_addr_bytes(sa, &a);
	for (size_t i = 0; fam && i < fd->n_primaries; i++) {
		const uint8_t *pa;
		int pfam = vg_addr_bytes(&fd->primaries[i].u.sa, &pa);
		if (pfam == fam && !memcmp(pa, a, fam == AF_INET ? 4 : 16))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ the copy on disk */

/* Write the zone to fd->file: a temporary file in the same directory, fsync, rename. */
static int write_copy(struct feed *fd)
{
	char tmp[sizeof(fd->file) + 32], comment[1400], when[32];
	struct tm tm;
	time_t now = time(NULL);
	int ret = 0;
	/* one writer per file (this thread), so a fixed name does; the PID keeps
	 * two vigils sharing a directory by mistake from writing one temporary */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", fd->file, (long)getpid()) >=
	    sizeof(tmp))
		return -ENAMETOOLONG;
	int fdn = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fdn < 0)
		return -errno;
	FILE *f = fdopen(fdn, "w");
	if (!f) {
		ret = -errno;
		close(fdn);
		unlink(tmp);
		return ret;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(comment, sizeof(comment),
		 "vigil RPZ feed %s: zone %s serial %u, %zu records, written %s "
		 "(rewritten by every transfer: do not edit)", fd->name, fd->zone_str, fd->z.serial,
		 vg_xfr_zone_count(&fd->z), when);
	ret = vg_xfr_zone_write(&fd->z, f, comment);
	if (ret == 0 && fflush(f) != 0)
		ret = -errno;
	if (ret == 0 && fsync(fdn) != 0)
		ret = -errno;
	if (fclose(f) != 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, fd->file) != 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	/* the rename itself must survive a crash too */
	char dir[sizeof(fd->file)];
	snprintf(dir, sizeof(dir), "%s", fd->file);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* At start: the last good copy, if there is one. */
static void read_copy(struct feed *fd)
{
	FILE *f = fopen(fd->file, "r");
	if (!f) {
		if (errno == ENOENT)
			vg_log(VG_LOG_NOTICE, "feed %s: no copy yet at %s: the source is empty "
			       "until the first transfer of %s", fd->name, fd->file, fd->zone_str);
		else
			vg_log(VG_LOG_WARNING, "feed %s: cannot read its copy %s: %s; transferring "
			       "the whole zone", fd->name, fd->file, strerror(errno));
		return;
	}
	struct vg_xfr_zone z;
	const char *why = NULL;
	struct stat st;
	int r = vg_xfr_zone_init(&z, fd->zone);
	if (r == 0)
		r = vg_xfr_zone_read(&z, f, &why);
	if (r == 0 && !vg_name_eq(z.origin, fd->zone)) {
		r = VG_EPARSE;
		why = "it is a copy of another zone";
	}
	if (r < 0) {
		vg_log(VG_LOG_WARNING, "feed %s: its copy %s is not usable (%s): the policy "
		       "engine loads what it can; transferring the whole zone", fd->name, fd->file,
		       why ? why : vg_strerror(r));
		vg_xfr_zone_deinit(&z);
	} else {
		vg_xfr_zone_move(&fd->z, &z);
		vg_xfr_zone_deinit(&z);
		/* expiry counts from when the copy was written */
		fd->last_ok = fstat(fileno(f), &st) == 0 ? st.st_mtime : time(NULL);
		vg_log(VG_LOG_NOTICE, "feed %s: last good copy %s: zone %s serial %u, %zu records",
		       fd->name, fd->file, fd->zone_str, fd->z.serial, vg_xfr_zone_count(&fd->z));
	}
	fclose(f);
}

/* ------------------------------------------------------------ scheduling */

static void on_timer(uv_timer_t *t);

/* Copy the feed's state for vg_feed_status (feed thread; start-up). */
static void publish_status(struct feed *fd)
{
	struct vg_feed_status st = {
		.has_version = fd->z.soa != NULL, .serial = fd->z.serial,
		.records = vg_xfr_zone_count(&fd->z), .last_ok = fd->last_ok,
		.last_attempt = fd->last_attempt, .next_refresh = fd->busy ? 0 : fd->next_at,
		.busy = fd->busy,
	};
	snprintf(st.name, sizeof(st.name), "%s", fd->name);
	snprintf(st.zone, sizeof(st.zone), "%s", fd->zone_str);
	snprintf(st.last_error, sizeof(st.last_error), "%s", fd->last_err);
	pthread_mutex_lock(&fd->mgr->status_lock);
	fd->pub = st;
	pthread_mutex_unlock(&fd->mgr->status_lock);
}

static void schedule(struct feed *fd, uint32_t seconds)
{
	uv_timer_stop(&fd->timer);
	uv_timer_start(&fd->timer, on_timer, (uint64_t)clamp_interval(seconds) * 1000, 0);
	fd->next_at = (int64_t)time(NULL) + clamp_interval(seconds);
	publish_status(fd);
}

static void refresh(struct feed *fd)
{
	if (fd->busy) {
		fd->again = true;
		return;
	}
	if (fd->dirty) { /* an earlier write failed: the file first */
		int w = write_copy(fd);
		if (w == 0) {
			fd->dirty = false;
			fd->mgr->fn(fd->mgr->arg, fd->index);
		} else {
			vg_log(VG_LOG_ERR, "feed %s: cannot write %s: %s", fd->name, fd->file,
			       vg_strerror(w));
		}
	}
	uv_timer_stop(&fd->timer);
	fd->busy = true;
	fd->prim = 0;
	fd->last_attempt = time(NULL);
	publish_status(fd);
	attempt(fd);
}

static void on_timer(uv_timer_t *t)
{
	refresh(t->data);
}

/* The refresh is over (every primary tried, or one answered). */
static void refresh_done(struct feed *fd, bool ok)
{
	fd->busy = false;
	time_t now = time(NULL);
	if (ok) {
		fd->last_ok = now;
		fd->last_err[0] = '\0';
		/* a copy that could not be written is tried again sooner */
		schedule(fd, !fd->z.soa ? FIRST_RETRY_S : fd->dirty ? fd->z.retry : fd->z.refresh);
	} else {
		uint32_t retry = fd->z.soa ? fd->z.retry : FIRST_RETRY_S;
		schedule(fd, retry);
		if (fd->z.soa && fd->last_ok && now - fd->last_ok > (time_t)fd->z.expire)
			vg_log(VG_LOG_WARNING, "feed %s: zone %s expired: no successful refresh "
			       "for %lld s (SOA expire %u s); still enforcing the last good copy, "
			       "serial %u; next try in %u s", fd->name, fd->zone_str,
			       (long long)(now - fd->last_ok), fd->z.expire, fd->z.serial,
			       clamp_interval(retry));
		else
			vg_log(VG_LOG_WARNING, "feed %s: no primary could be used; %s; next try in "
			       "%u s", fd->name, fd->z.soa ? "keeping the version in force" :
			       "the source stays empty", clamp_interval(retry));
	}
	if (fd->again) {
		fd->again = false;
		refresh(fd);
	}
}

/* ------------------------------------------------------------ a transfer */

static void on_closed(uv_handle_t *h)
{
	struct feed *fd = h->data;
	fd->tcp_open = false;
	if (fd->mgr->stopping)
		return;
	char prim[VG_ADDRSTRLEN];
	addr_str(&fd->primaries[fd->prim], prim, sizeof(prim));
	struct vg_xfr *x = &fd->x;
	enum vg_xfr_kind kind = x->kind;
	free(fd->frame);
	fd->frame = NULL;

	if (fd->status < 0) {
		vg_log(VG_LOG_ERR, "feed %s: %s of %s from %s failed: %s", fd->name,
		       kind_name(kind), fd->zone_str, prim, fd->why);
		snprintf(fd->last_err, sizeof(fd->last_err), "%s of %.100s from %.50s: %.120s",
			 kind_name(kind), fd->zone_str, prim, fd->why);
		bool fallback = kind == VG_XFR_IXFR && fd->status == VG_ERCODE &&
				(x->rcode == VG_RCODE_NOTIMP || x->rcode == VG_RCODE_FORMERR);
		vg_xfr_deinit(x);
		fd->x_live = false;
		if (fallback) {
			/* a primary without IXFR: SOA query, then AXFR when it is newer */
			fd->no_ixfr[fd->prim] = true;
			attempt(fd);
			return;
		}
		if (++fd->prim < fd->n_primaries) {
			attempt(fd);
			return;
		}
		refresh_done(fd, false);
		return;
	}

	uint32_t old = fd->z.serial;
	bool had = fd->z.soa != NULL;
	if (x->result == VG_XFR_UPTODATE) {
		uint32_t theirs = x->new_serial;
		vg_xfr_deinit(x);
		fd->x_live = false;
		if (kind == VG_XFR_SOA && (!had || vg_xfr_serial_cmp(theirs, old) == 1)) {
			begin_xfr(fd, VG_XFR_AXFR);
			return;
		}
		if (had && vg_xfr_serial_cmp(theirs, old) == -1)
			vg_log(VG_LOG_WARNING, "feed %s: %s has serial %u, older than ours (%u): "
			       "keeping ours", fd->name, prim, theirs, old);
		else
			vg_log(VG_LOG_DEBUG, "feed %s: %s is up to date (serial %u)", fd->name,
			       prim, old);
		refresh_done(fd, true);
		return;
	}
	enum vg_xfr_result res = x->result;
	unsigned added = x->added, deleted = x->deleted;
	int a = vg_xfr_apply(x, &fd->z);
	if (a < 0) {
		vg_log(VG_LOG_ERR, "feed %s: %s of %s from %s does not apply to serial %u: %s; "
		       "transferring the whole zone", fd->name, kind_name(kind), fd->zone_str, prim,
		       old, x->why);
		vg_xfr_deinit(x);
		fd->x_live = false;
		fd->force_axfr = true;
		begin_xfr(fd, VG_XFR_AXFR);
		return;
	}
	vg_xfr_deinit(x);
	fd->x_live = false;
	fd->force_axfr = false;
	char from[16], extra[64] = "";
	snprintf(from, sizeof(from), "%u", old);
	if (res == VG_XFR_INCR)
		snprintf(extra, sizeof(extra), " (%u added, %u deleted)", added, deleted);
	else if (kind == VG_XFR_IXFR)
		snprintf(extra, sizeof(extra), " (IXFR answered with the whole zone)");
	vg_log(VG_LOG_NOTICE, "feed %s: %s of %s from %s: serial %s -> %u, %zu records%s",
	       fd->name, res == VG_XFR_INCR ? "IXFR" : "AXFR", fd->zone_str, prim,
	       had ? from : "none", fd->z.serial, vg_xfr_zone_count(&fd->z), extra);
	int w = write_copy(fd);
	if (w < 0) {
		fd->dirty = true;
		vg_log(VG_LOG_ERR, "feed %s: cannot write %s: %s; the policy keeps the previous "
		       "copy until a write succeeds", fd->name, fd->file, vg_strerror(w));
	} else {
		fd->dirty = false;
		fd->mgr->fn(fd->mgr->arg, fd->index);
	}
	refresh_done(fd, true);
}

/* End the transfer with @p status (0 complete, negative failed); why formatted. */
__attribute__((format(printf, 3, 4)))
static void end_xfr(struct feed *fd, int status, const char *fmt, ...)
{
	if (!fd->tcp_open || uv_is_closing((uv_handle_t *)&fd->tcp))
		return;
	fd->status = status;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(fd->why, sizeof(fd->why), fmt, ap);
		va_end(ap);
	}
	uv_timer_stop(&fd->io);
	uv_read_stop((uv_stream_t *)&fd->tcp);
	uv_close((uv_handle_t *)&fd->tcp, on_closed);
}

static void on_io_timeout(uv_timer_t *t)
{
	struct feed *fd = t->data;
	end_xfr(fd, -ETIMEDOUT, "timed out (%s)",
		fd->x.msgs ? "no data for 10 s" : "no answer within 10 s");
}

/* One complete message: 1 when the transfer is complete, <0 when it failed (ended). */
static int on_message(struct feed *fd, const uint8_t *m, size_t len)
{
	int r = vg_xfr_consume(&fd->x, m, len, (uint64_t)time(NULL));
	if (r < 0) {
		end_xfr(fd, r, "%s%s", r == VG_EMALFORMED ? "malformed transfer: " : "", fd->x.why);
		return r;
	}
	if (r == 1) {
		end_xfr(fd, 0, NULL);
		return 1;
	}
	if (uv_now(&fd->mgr->loop) - fd->xfr_start > XFR_MAX_MS) {
		end_xfr(fd, VG_ELIMIT, "took longer than %u s", XFR_MAX_MS / 1000);
		return VG_ELIMIT;
	}
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct feed *fd = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)fd->mgr->rx, sizeof(fd->mgr->rx));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct feed *fd = s->data;
	if (nread < 0) {
		if (nread == UV_EOF)
			end_xfr(fd, VG_EMALFORMED, "the primary closed the connection %s",
				fd->x.msgs ? "before the end of the transfer" :
					     "without an answer");
		else
			end_xfr(fd, (int)nread, "read: %s", uv_strerror((int)nread));
		return;
	}
	uv_timer_again(&fd->io);
	const uint8_t *p = (const uint8_t *)buf->base;
	size_t n = (size_t)nread;
	while (n && !uv_is_closing((uv_handle_t *)&fd->tcp)) {
		if (fd->lenhave < 2) {
			fd->lenbuf[fd->lenhave++] = *p++;
			n--;
			if (fd->lenhave == 2) {
				fd->need = vg_get16(fd->lenbuf);
				fd->got = 0;
				if (fd->need < VG_HDR_LEN) {
					end_xfr(fd, VG_EMALFORMED, "malformed transfer: a "
						"message of %zu bytes", fd->need);
					return;
				}
			}
			continue;
		}
		size_t take = fd->need - fd->got < n ? fd->need - fd->got : n;
		memcpy(fd->frame + fd->got, p, take);
		fd->got += take;
		p += take;
		n -= take;
		if (fd->got == fd->need) {
			fd->lenhave = 0;
			if (on_message(fd, fd->frame, fd->need) != 0)
				return;
		}
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct feed *fd = w->data;
	if (status < 0)
		end_xfr(fd, status, "sending the query: %s", uv_strerror(status));
}

static void on_connect(uv_connect_t *c, int status)
{
	struct feed *fd = c->data;
	if (status == UV_ECANCELED)
		return; /* closed meanwhile */
	if (status < 0) {
		end_xfr(fd, status, "cannot connect: %s", uv_strerror(status));
		return;
	}
	fd->wr.data = fd;
	int r = uv_write(&fd->wr, (uv_stream_t *)&fd->tcp, &fd->qbuf, 1, on_write);
	if (r == 0)
		r = uv_read_start((uv_stream_t *)&fd->tcp, on_alloc, on_read);
	if (r < 0)
		end_xfr(fd, r, "sending the query: %s", uv_strerror(r));
}

/* Start a @p kind transfer from the current primary. */
static void begin_xfr(struct feed *fd, enum vg_xfr_kind kind)
{
	struct vg_feed *m = fd->mgr;
	const struct vg_sockaddr *to = &fd->primaries[fd->prim];
	int r = vg_xfr_init(&fd->x, kind, fd->zone, fd->z.serial, fd->has_key ? &fd->key : NULL);
	fd->x_live = r == 0;
	fd->status = 0;
	fd->why[0] = '\0';
	fd->lenhave = 0;
	fd->need = fd->got = 0;
	fd->frame = r == 0 ? malloc(65535) : NULL;
	if (r == 0 && !fd->frame)
		r = VG_ENOMEM;
	if (r == 0)
		r = vg_xfr_query(&fd->x, fd->q + 2, sizeof(fd->q) - 2, (uint64_t)time(NULL));
	if (r > 0) {
		vg_put16(fd->q, (uint16_t)r);
		fd->qbuf = uv_buf_init((char *)fd->q, (unsigned)r + 2);
		r = uv_tcp_init(&m->loop, &fd->tcp);
	}
	if (r < 0) {
		/* nothing opened: count it as this primary's failure, on the next turn */
		char prim[VG_ADDRSTRLEN];
		addr_str(to, prim, sizeof(prim));
		vg_log(VG_LOG_ERR, "feed %s: %s from %s: cannot start: %s", fd->name,
		       kind_name(kind), prim, vg_strerror(r));
		free(fd->frame);
		fd->frame = NULL;
		if (fd->x_live)
			vg_xfr_deinit(&fd->x);
		fd->x_live = false;
		refresh_done(fd, false);
		return;
	}
	fd->tcp.data = fd;
	fd->tcp_open = true;
	fd->conn.data = fd;
	fd->xfr_start = uv_now(&m->loop);
	uv_timer_start(&fd->io, on_io_timeout, IO_TIMEOUT_MS, IO_TIMEOUT_MS);
	r = uv_tcp_connect(&fd->conn, &fd->tcp, &to->u.sa, on_connect);
	if (r < 0)
		end_xfr(fd, r, "cannot connect: %s", uv_strerror(r));
}

static void attempt(struct feed *fd)
{
	enum vg_xfr_kind kind = VG_XFR_AXFR;
	if (fd->z.soa && !fd->force_axfr)
		kind = fd->no_ixfr[fd->prim] ? VG_XFR_SOA : VG_XFR_IXFR;
	begin_xfr(fd, kind);
}

/* ------------------------------------------------------------ the thread */

static void close_noop(uv_handle_t *h)
{
	(void)h;
}

static void on_wake(uv_async_t *a)
{
	struct vg_feed *m = a->data;
	if (atomic_load(&m->stop)) {
		if (m->stopping)
			return;
		m->stopping = true;
		for (unsigned i = 0; i < m->n; i++) {
			struct feed *fd = &m->feeds[i];
			uv_close((uv_handle_t *)&fd->timer, close_noop);
			uv_close((uv_handle_t *)&fd->io, close_noop);
			if (fd->tcp_open && !uv_is_closing((uv_handle_t *)&fd->tcp))
				uv_close((uv_handle_t *)&fd->tcp, on_closed);
		}
		uv_close((uv_handle_t *)&m->wake, close_noop);
		return;
	}
	for (unsigned i = 0; i < m->n; i++) {
		struct feed *fd = &m->feeds[i];
		if (atomic_exchange(&fd->notified, false)) {
			vg_log(VG_LOG_INFO, "feed %s: NOTIFY for %s: refreshing%s", fd->name,
			       fd->zone_str, fd->busy ? " after the transfer in progress" : " now");
			refresh(fd);
		}
	}
}

static void *feed_main(void *arg)
{
	struct vg_feed *m = arg;
	uv_run(&m->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void setup_feed(struct feed *fd, const struct vg_policy_opts *pol,
		       const struct vg_feed_opts *fo, unsigned index)
{
	const struct vg_policy_source *s = &pol->sources[index];
	fd->index = index;
	snprintf(fd->name, sizeof(fd->name), "%s", s->name);
	snprintf(fd->file, sizeof(fd->file), "%s", s->file);
	memcpy(fd->zone, s->zone, vg_name_len(s->zone));
	vg_name_to_str(fd->zone, fd->zone_str, sizeof(fd->zone_str));
	memcpy(fd->primaries, s->primaries, sizeof(fd->primaries));
	fd->n_primaries = s->n_primaries;
	if (s->tsig_key) {
		fd->key = fo->tsig_keys[s->tsig_key - 1];
		fd->has_key = true;
	}
	atomic_init(&fd->notified, false);
}

/* The directory of the copy must exist (the default one is created). */
static void ensure_dir(const struct feed *fd)
{
	char dir[sizeof(fd->file)];
	snprintf(dir, sizeof(dir), "%s", fd->file);
	const char *d = dirname(dir);
	if (mkdir(d, 0750) == 0)
		vg_log(VG_LOG_NOTICE, "feed %s: created the directory %s", fd->name, d);
	else if (errno != EEXIST)
		vg_log(VG_LOG_ERR, "feed %s: cannot create the directory %s for its copy: %s",
		       fd->name, d, strerror(errno));
}

int vg_feed_start(struct vg_feed **out, const struct vg_policy_opts *pol,
		  const struct vg_feed_opts *fo, vg_feed_update_fn fn,
		  void *arg)
{
	unsigned n = 0;
	*out = NULL;
	for (size_t i = 0; i < pol->n_sources; i++)
		n += pol->sources[i].n_primaries > 0;
	if (!n)
		return 0;
	struct vg_feed *m = calloc(1, sizeof(*m) + n * sizeof(m->feeds[0]));
	if (!m)
		return VG_ENOMEM;
	m->fn = fn;
	m->arg = arg;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->status_lock, NULL);
	atomic_init(&m->stop, false);
	atomic_init(&m->last_refusal_log, 0);
	int r = uv_loop_init(&m->loop);
	if (r < 0) {
		pthread_mutex_destroy(&m->lock);
		pthread_mutex_destroy(&m->status_lock);
		free(m);
		return r;
	}
	m->loop_ready = true;
	uv_async_init(&m->loop, &m->wake, on_wake);
	m->wake.data = m;
	for (size_t i = 0; i < pol->n_sources; i++) {
		if (!pol->sources[i].n_primaries)
			continue;
		struct feed *fd = &m->feeds[m->n++];
		fd->mgr = m;
		setup_feed(fd, pol, fo, (unsigned)i);
		vg_xfr_zone_init(&fd->z, fd->zone);
		uv_timer_init(&m->loop, &fd->timer);
		uv_timer_init(&m->loop, &fd->io);
		fd->timer.data = fd->io.data = fd;
		char prims[VG_POLICY_MAX_PRIMARIES * (VG_ADDRSTRLEN + 2)] = "";
		size_t o = 0;
		for (size_t k = 0; k < fd->n_primaries; k++) {
			char a[VG_ADDRSTRLEN];
			addr_str(&fd->primaries[k], a, sizeof(a));
			o += (size_t)snprintf(prims + o, sizeof(prims) - o, "%s%s", k ? ", " : "",
					      a);
		}
		char kn[VG_NAME_MAX * 4] = "";
		if (fd->has_key)
			vg_name_to_str(fd->key.name, kn, sizeof(kn));
		vg_log(VG_LOG_NOTICE, "feed %s: zone %s from %s, %s%s, copy %s", fd->name,
		       fd->zone_str, prims, fd->has_key ? "TSIG key " : "no TSIG", kn, fd->file);
		ensure_dir(fd);
		read_copy(fd);
		uv_timer_start(&fd->timer, on_timer, 0, 0); /* a refresh at once */
		fd->next_at = time(NULL);
		publish_status(fd);
	}
	r = -pthread_create(&m->thread, NULL, feed_main, m);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "feeds: cannot start the feed thread: %s", vg_strerror(r));
		atomic_store(&m->stop, true);
		on_wake(&m->wake);
		uv_run(&m->loop, UV_RUN_DEFAULT);
		vg_feed_free(m);
		return r;
	}
	m->thread_started = true;
	*out = m;
	return 0;
}

void vg_feed_stop(struct vg_feed *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	bool was = m->stopped;
	m->stopped = true;
	if (!was) {
		atomic_store(&m->stop, true);
		uv_async_send(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);
	if (!was && m->thread_started)
		pthread_join(m->thread, NULL);
}

void vg_feed_free(struct vg_feed *m)
{
	if (!m)
		return;
	if (m->loop_ready) {
		uv_run(&m->loop, UV_RUN_NOWAIT); /* close callbacks still pending */
		uv_loop_close(&m->loop);
	}
	for (unsigned i = 0; i < m->n; i++) {
		struct feed *fd = &m->feeds[i];
		vg_xfr_zone_deinit(&fd->z);
		if (fd->x_live)
			vg_xfr_deinit(&fd->x);
		free(fd->frame);
	}
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->status_lock);
	free(m);
}

/* ------------------------------------------------------------ NOTIFY */

/* Log a refused NOTIFY, at most once a second (anyone can send one). */
__attribute__((format(printf, 2, 3)))
static void log_refusal(struct vg_feed *m, const char *fmt, ...)
{
	uint64_t now = (uint64_t)time(NULL), last = atomic_load(&m->last_refusal_log);
	if (now == last || !atomic_compare_exchange_strong(&m->last_refusal_log, &last, now))
		return;
	if (!vg_log_enabled(VG_LOG_NOTICE))
		return;
	char line[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vg_log_write(VG_LOG_NOTICE, "%s", line);
}

size_t vg_feed_notify(struct vg_feed *m, const uint8_t *pkt, size_t len,
		      const struct sockaddr *from, uint8_t *resp, size_t cap)
{
	uint8_t qname[VG_NAME_MAX];
	size_t next = 0;
	int rcode = VG_RCODE_NOERROR;
	struct feed *fd = NULL;
	struct vg_tsig_info info = { 0 };
	bool sign = false;
	char who[VG_ADDRSTRLEN], zn[VG_NAME_MAX * 4] = "?";
	uint64_t now = (uint64_t)time(NULL);

	if (len < VG_HDR_LEN || cap < 512 || (vg_get16(pkt + 2) & VG_F_QR) ||
	    VG_F_OPCODE(vg_get16(pkt + 2)) != VG_OPCODE_NOTIFY)
		return 0;
	vg_sa_str(from, 0, who, sizeof(who));
	bool have_q = vg_get16(pkt + 4) == 1 &&
		      vg_name_unpack(pkt, len, VG_HDR_LEN, qname, true, &next) >= 0 &&
		      len - next >= 4 && vg_get16(pkt + next + 2) == VG_C_IN;
	if (!have_q) {
		rcode = VG_RCODE_FORMERR;
		goto reply;
	}
	vg_name_to_str(qname, zn, sizeof(zn));
	if (m) {
		for (unsigned i = 0; i < m->n && !fd; i++)
			if (vg_name_eq(m->feeds[i].zone, qname))
				fd = &m->feeds[i];
	}
	if (!fd) {
		rcode = VG_RCODE_REFUSED;
		if (m)
			log_refusal(m, "feeds: NOTIFY for %s from %s refused: not a feed's zone",
				    zn, who);
		goto reply;
	}
	if (!from_primary(fd, from)) {
		rcode = VG_RCODE_REFUSED;
		log_refusal(m, "feed %s: NOTIFY for %s from %s refused: not one of its primaries",
			    fd->name, zn, who);
		goto reply;
	}
	int t = vg_tsig_check(fd->has_key ? &fd->key : NULL, pkt, len, now, &info);
	if (t == VG_EMALFORMED) {
		rcode = VG_RCODE_FORMERR;
		goto reply;
	}
	if (t == VG_ENOTFOUND && fd->has_key) {
		rcode = VG_RCODE_REFUSED;
		log_refusal(m, "feed %s: NOTIFY for %s from %s refused: not signed with its "
			    "TSIG key", fd->name, zn, who);
		goto reply;
	}
	if (t == VG_ETSIG || (t < 0 && t != VG_ENOTFOUND)) {
		rcode = t == VG_ETSIG ? VG_RCODE_NOTAUTH : VG_RCODE_SERVFAIL;
		sign = t == VG_ETSIG && info.error == VG_TSIG_BADTIME;
		log_refusal(m, "feed %s: NOTIFY for %s from %s refused: TSIG error %u", fd->name,
			    zn, who, info.error);
		goto reply;
	}
	sign = t == 0;
	pthread_mutex_lock(&m->lock);
	if (m->stopped) {
		rcode = VG_RCODE_REFUSED;
	} else {
		atomic_store(&fd->notified, true);
		uv_async_send(&m->wake);
	}
	pthread_mutex_unlock(&m->lock);

reply:;
	/* header, the question echoed, then TSIG when the request had one */
	struct vg_pkt p;
	uint16_t flags = (uint16_t)(VG_F_QR | VG_OPCODE_NOTIFY << 11 | (rcode ? 0 : VG_F_AA));
	vg_pkt_init(&p, resp, cap, vg_get16(pkt), flags);
	vg_pkt_set_rcode(&p, rcode);
	if (have_q)
		vg_pkt_put_question(&p, qname, vg_get16(pkt + next), VG_C_IN);
	int n = (int)vg_pkt_finish(&p);
	if (sign)
		n = vg_tsig_sign(&fd->key, resp, (size_t)n, cap, info.mac, info.mac_len, false,
				 now, info.error, NULL, NULL);
	else if (info.present && info.error)
		n = vg_tsig_error_rr(resp, (size_t)n, cap, &info, now);
	return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------ SIGHUP */

void vg_feed_check_config(const struct vg_feed *m, const struct vg_policy_opts *pol,
			  const struct vg_feed_opts *fo)
{
	unsigned n = 0;
	bool same = true;
	for (size_t i = 0; i < pol->n_sources; i++) {
		if (!pol->sources[i].n_primaries)
			continue;
		if (!m || n >= m->n) {
			same = false;
			break;
		}
		struct feed now;
		const struct feed *fd = &m->feeds[n++];
		memset(&now, 0, sizeof(now));
		setup_feed(&now, pol, fo, (unsigned)i);
		same = same && now.index == fd->index && !strcmp(now.name, fd->name) &&
		       !strcmp(now.file, fd->file) && vg_name_eq(now.zone, fd->zone) &&
		       now.n_primaries == fd->n_primaries &&
		       !memcmp(now.primaries, fd->primaries, sizeof(now.primaries)) &&
		       now.has_key == fd->has_key && !memcmp(&now.key, &fd->key, sizeof(now.key));
	}
	if (m && n != m->n)
		same = false;
	if (!same)
		vg_log(VG_LOG_WARNING, "reload: the feeds (policy sources with 'primary') or their "
		       "TSIG keys changed; the running feeds keep their start-up settings until "
		       "vigil restarts");
}

size_t vg_feed_status(struct vg_feed *f, struct vg_feed_status *out, size_t cap)
{
	if (!f)
		return 0;
	pthread_mutex_lock(&f->status_lock);
	for (unsigned i = 0; i < f->n && i < cap; i++)
		out[i] = f->feeds[i].pub;
	pthread_mutex_unlock(&f->status_lock);
	return f->n;
}
