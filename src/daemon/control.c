/* SPDX-License-Identifier: MIT
 *
 * The control socket: vigilctl's requests, served on the daemon's main
 * libuv loop (never on a worker), one request per connection (ctlproto.h).
 *
 * Access: the socket file's mode (control.mode, default 0660) and group
 * (control.group) decide who may connect; then the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS) are checked: root, the socket file's owner,
 * or a process in the socket file's group (its primary or a supplementary
 * one).  Anyone else gets "error" with
 * the reason, and the attempt is logged.
 *
 * What the commands read: the daemon's state on this thread (the snapshot
 * in force, the RFC 5011 driver), the workers' counters (relaxed atomic
 * reads, stats.c), the shared cache (under its shard locks, cache.h), the
 * feeds' published state (under their lock, feed.h).  The pause of a client
 * group is a shared table of atomics the policy stage reads (vg_pipe.paused).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cache/cache.h"
#include "core/core.h"
#include "daemon/autotrust.h"
#include "daemon/control.h"
#include "daemon/control_impl.h"
#include "ctl/ctlproto.h"
#include "daemon/daemon.h"
#include "daemon/explain.h"
#include "feed/feed.h"
#include "policy/engine.h"
#include "tls/tls.h"
#include "upstream/upstream.h"

/* ------------------------------------------------------------ connections */

static void maybe_free(struct vg_control *ctl)
{
	if (!ctl->stopping || ctl->open_handles || ctl->conns)
		return;
	for (unsigned i = 0; ctl->up && i < ctl->d->n_workers; i++)
		free(ctl->up[i].info);
	free(ctl->up);
	vg_tls_ctx_unref(ctl->tls_ctx);
	free(ctl);
}

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->closing)
		return;
	struct vg_control *ctl = c->ctl;
	for (struct conn **pp = &ctl->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	ctl->n_conns--;
	vg_tls_conn_free(c->tls);
	free(c->resp);
	free(c);
	maybe_free(ctl);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	if (c->ctl->up_conn == c)
		c->ctl->up_conn = NULL; /* its upstreams answer goes nowhere */
	c->closing = 2;
	uv_close((uv_handle_t *)&c->h, conn_closed);
	uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

/* ---- TLS: the session's ciphertext goes out in writes of their own */

struct tls_wr {
	uv_write_t w;
	struct conn *c;
	uint8_t buf[];
};

static void on_tls_written(uv_write_t *w, int status)
{
	struct tls_wr *t = (struct tls_wr *)w;
	struct conn *c = t->c;
	free(t);
	c->writes--;
	if (status < 0 || (c->close_after && !c->writes))
		conn_close(c);
}

/* Write what the session has for the peer; close when told to and done. */
static void tls_flush(struct conn *c)
{
	size_t n;
	while (!c->closing && (n = vg_tls_conn_pending(c->tls)) > 0) {
		struct tls_wr *t = malloc(sizeof(*t) + n);
		if (!t) {
			conn_close(c);
			return;
		}
		t->c = c;
		n = vg_tls_conn_take(c->tls, t->buf, n);
		uv_buf_t b = uv_buf_init((char *)t->buf, (unsigned)n);
		if (uv_write(&t->w, (uv_stream_t *)&c->h, &b, 1, on_tls_written) < 0) {
			free(t);
			conn_close(c);
			return;
		}
		c->writes++;
	}
	if (c->close_after && !c->writes)
		conn_close(c);
}

/* Send @p resp (taken) and close after it. */
void vg__ctl_reply(struct conn *c, char *resp, size_t len)
{
	if (c->tls) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->close_after = true;
		if (!vg_tls_conn_established(c->tls) ||
		    vg_tls_conn_write(c->tls, (const uint8_t *)resp, len) < 0) {
			free(resp);
			conn_close(c);
			return;
		}
		free(resp);
		vg_tls_conn_shutdown(c->tls);
		tls_flush(c);
		return;
	}
	c->resp = resp;
	uv_buf_t b = uv_buf_init(resp, (unsigned)len);
	c->wr.data = c;
	uv_read_stop((uv_stream_t *)&c->h);
	if (uv_write(&c->wr, (uv_stream_t *)&c->h, &b, 1, on_written) < 0)
		conn_close(c);
}

void vg__ctl_reply_error(struct conn *c, bool json, const char *msg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		conn_close(c);
		return;
	}
	fputs("error\n", f);
	if (json) {
		fputs("{\"error\": ", f);
		vg_ctl_json_str(f, msg);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s\n", msg);
	}
	fclose(f);
	vg__ctl_reply(c, buf, len);
}

/* @p len: the request line's length (a NUL inside it is refused) */
static void handle(struct conn *c, size_t len)
{
	struct vg_control *ctl = c->ctl;
	struct vg_ctl_req req;
	char why[256];
	char *body = NULL, *err = NULL;
	size_t blen = 0, elen = 0;

	if (strlen(c->line) != len) {
		vg__ctl_reply_error(c, false, "a NUL byte in the request: it is not printable "
				    "ASCII");
		return;
	}
	if (vg_ctl_parse(c->line, &req, why, sizeof(why)) < 0) {
		vg__ctl_reply_error(c, false, why);
		return;
	}
	const struct command *cmd = vg__ctl_command(req.argv[0]);
	if (!cmd) {
		snprintf(why, sizeof(why), "unknown command '%.64s' (vigilctl help lists them)",
			 req.argv[0]);
		vg__ctl_reply_error(c, req.json, why);
		return;
	}
	struct ctx x = { .ctl = ctl, .d = ctl->d, .c = c, .o = { .json = req.json } };
	x.o.f = open_memstream(&body, &blen);
	x.err = open_memstream(&err, &elen);
	int r = VG_ENOMEM;
	if (x.o.f && x.err)
		r = cmd->fn(&x, req.argc, req.argv);
	if (x.o.f)
		fclose(x.o.f);
	if (x.err)
		fclose(x.err);
	if (r == CTL_PENDING) {
		/* the command answers later (the client may have shut its side) */
		uv_read_stop((uv_stream_t *)&c->h);
		goto out;
	}
	if (r < 0) {
		vg__ctl_reply_error(c, req.json, err && err[0] ? err : vg_strerror(r));
		goto out;
	}
	size_t n = 3 + blen;
	char *resp = malloc(n + 1);
	if (!resp) {
		conn_close(c);
		goto out;
	}
	memcpy(resp, "ok\n", 3);
	if (blen)
		memcpy(resp + 3, body, blen);
	vg__ctl_reply(c, resp, n);
out:
	free(body);
	free(err);
}

/* The c->len bytes of c->line so far, however they came (the socket, or a TLS
 * session's plaintext): the request once its line is complete. */
static void line_input(struct conn *c)
{
	c->line[c->len] = '\0';
	char *nl = memchr(c->line, '\n', c->len);
	if (nl) {
		/* (a NUL before it makes the line shorter: handle() refuses that) */
		*nl = '\0';
		uv_timer_stop(&c->idle);
		handle(c, (size_t)(nl - c->line));
	} else if (c->len >= VG_CTL_LINE_MAX) {
		vg__ctl_reply_error(c, false, "request line too long");
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	buf->base = c->line + c->len;
	buf->len = VG_CTL_LINE_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	line_input(c);
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_alloc_tls(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	buf->base = (char *)c->rx;
	buf->len = sizeof(c->rx);
}

/* The handshake is over: a verified client certificate, or refused. */
static bool tls_client_ok(struct conn *c)
{
	const char *fp = vg_tls_conn_cert_fp(c->tls);
	c->tls_checked = true;
	if (!fp[0]) {
		vg_log(VG_LOG_WARNING, "control: refused %s: no client certificate "
		       "(control.client-ca)", c->who);
		vg__ctl_reply_error(c, false, "permission denied: a client certificate signed by "
				 "control.client-ca is required");
		return false;
	}
	size_t l = strlen(c->who);
	snprintf(c->who + l, sizeof(c->who) - l, " (certificate %.200s)",
		 vg_tls_conn_cert_subject(c->tls));
	vg_log(VG_LOG_INFO, "control: %s", c->who);
	return true;
}

static void on_read_tls(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (vg_tls_conn_input(c->tls, c->rx, (size_t)nread) < 0) {
		conn_close(c);
		return;
	}
	for (;;) {
		if (c->len >= VG_CTL_LINE_MAX)
			break;
		ssize_t r = vg_tls_conn_read(c->tls, (uint8_t *)c->line + c->len,
					     VG_CTL_LINE_MAX - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			continue;
		}
		if (r == VG_TLS_AGAIN)
			break;
		if (!vg_tls_conn_established(c->tls))
			vg_log(VG_LOG_WARNING, "control: refused %s: TLS handshake failed: %s",
			       c->who, vg_tls_conn_error(c->tls)[0] ? vg_tls_conn_error(c->tls) :
			       "(no reason)");
		c->close_after = true; /* the alert goes out first */
		tls_flush(c);
		return;
	}
	tls_flush(c);
	if (c->closing || !vg_tls_conn_established(c->tls))
		return;
	if (!c->tls_checked && !tls_client_ok(c))
		return;
	line_input(c);
}

static void on_tls_connection(uv_stream_t *srv, int status)
{
	struct vg_control *ctl = srv->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_tcp_init(srv->loop, &c->h.tcp);
	uv_timer_init(srv->loop, &c->idle);
	c->h.tcp.data = c->idle.data = c;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	snprintf(c->who, sizeof(c->who), "TLS client ?");
	if (uv_accept(srv, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &sl) == 0) {
		struct vg_sockaddr va;
		char a[VG_ADDRSTRLEN];
		memset(&va, 0, sizeof(va));
		memcpy(&va.u, &ss, sizeof(va.u) < (size_t)sl ? sizeof(va.u) : (size_t)sl);
		va.len = (socklen_t)sl;
		vg_sockaddr_str(&va, VG_ADDR_PORT, a, sizeof(a));
		snprintf(c->who, sizeof(c->who), "TLS client %s", a);
	}
	c->tls = vg_tls_conn_accept(ctl->tls_ctx);
	if (!c->tls || ctl->n_conns > CTL_MAX_CONNS) {
		vg_log(VG_LOG_WARNING, "control: %s closed: %s", c->who,
		       c->tls ? "too many control connections" : "out of memory");
		conn_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_idle, CTL_IDLE_MS, 0);
	uv_read_start((uv_stream_t *)&c->h, on_alloc_tls, on_read_tls);
}

/* control.listen-tls: the TLS context and the listening TCP socket. */
static int tls_start(struct vg_control *ctl, const struct vg_control_opts *co)
{
	struct vg_tls_opts to;
	char err[512];
	struct sockaddr_storage ss;
	int r;
	memset(&to, 0, sizeof(to));
	snprintf(to.certificate, sizeof(to.certificate), "%s", co->tls_certificate);
	snprintf(to.key, sizeof(to.key), "%s", co->tls_key);
	snprintf(to.client_ca, sizeof(to.client_ca), "%s", co->client_ca);
	snprintf(ctl->tls_addr, sizeof(ctl->tls_addr), "%s", co->listen_tls);
	r = vg_tls_server_new(&to, VG_TLS_DOT, NULL, &ctl->tls_ctx, err, sizeof(err));
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control.listen-tls %s: %s", ctl->tls_addr, err);
		return r;
	}
	uv_tcp_init(&ctl->d->loop, &ctl->tls_srv);
	ctl->tls_srv.data = ctl;
	ctl->tls_open = true;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &co->tls_addr.u, co->tls_addr.len);
	r = uv_tcp_bind(&ctl->tls_srv, (const struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&ctl->tls_srv, 16, on_tls_connection);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control.listen-tls %s: %s", ctl->tls_addr, uv_strerror(r));
		return r;
	}
	uv_unref((uv_handle_t *)&ctl->tls_srv);
	vg_log(VG_LOG_NOTICE, "control over TLS on %s (client certificates of %s required)",
	       ctl->tls_addr, co->client_ca);
	return 0;
}

/* Is the socket file's group one of the peer's supplementary groups (as the
 * kernel saw them at connect: SO_PEERGROUPS)?  An error: no. */
static bool peer_in_group(int fd, gid_t group)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false; /* (ERANGE: more than 256 groups; the primary group still counts) */
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == group)
			return true;
	return false;
}

/* root, the socket file's owner, or a member of its group (primary or
 * supplementary): who may use the socket */
static bool peer_allowed(const struct vg_control *ctl, int fd, uid_t uid, gid_t gid)
{
	return uid == 0 || uid == ctl->owner || uid == geteuid() || gid == ctl->group ||
	       peer_in_group(fd, ctl->group);
}

static void on_connection(uv_stream_t *srv, int status)
{
	struct vg_control *ctl = srv->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_pipe_init(srv->loop, &c->h.pipe, 0);
	uv_timer_init(srv->loop, &c->idle);
	c->h.pipe.data = c->idle.data = c;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
	if (uv_accept(srv, (uv_stream_t *)&c->h) < 0) {
		conn_close(c);
		return;
	}
	uv_os_fd_t fd;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	if (uv_fileno((uv_handle_t *)&c->h, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
		conn_close(c);
		return;
	}
	c->uid = cr.uid;
	c->gid = cr.gid;
	c->pid = cr.pid;
	snprintf(c->who, sizeof(c->who), "uid %u (pid %ld)", (unsigned)cr.uid, (long)cr.pid);
	if (!peer_allowed(ctl, fd, cr.uid, cr.gid)) {
		char msg[300];
		vg_log(VG_LOG_WARNING, "control: refused uid %u gid %u (pid %ld): neither root, "
		       "nor the owner (uid %u) nor the group (gid %u) of %s", (unsigned)cr.uid,
		       (unsigned)cr.gid, (long)cr.pid, (unsigned)ctl->owner, (unsigned)ctl->group,
		       ctl->path);
		snprintf(msg, sizeof(msg), "permission denied: uid %u (gid %u) is neither root nor "
			 "the owner (uid %u) nor in the group (gid %u) of the control socket",
			 (unsigned)cr.uid, (unsigned)cr.gid, (unsigned)ctl->owner,
			 (unsigned)ctl->group);
		vg__ctl_reply_error(c, false, msg);
		return;
	}
	if (ctl->n_conns > CTL_MAX_CONNS) {
		vg__ctl_reply_error(c, false, "too many control connections; try again");
		return;
	}
	uv_timer_start(&c->idle, on_idle, CTL_IDLE_MS, 0);
	uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
}

/* ------------------------------------------------------------ start, stop */

/* Is a live server at @p path?  (a stale socket file is replaced) */
static bool socket_in_use(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool used;
	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	used = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != ECONNREFUSED;
	close(fd);
	return used;
}

/* mkdir the socket's directory when it is missing (one level: /run/vigil) */
/* Make the socket's directory when missing, owned by @p uid, @p gid (-1: as
 * made), so that vigil can still remove its socket after dropping root. */
static int make_dir(const char *path, uid_t uid, gid_t gid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (uid == (uid_t)-1 && gid == (gid_t)-1)
		return 0;
	/* by its descriptor, without following a link: the directory it is in
	 * may be the user's, who could have swapped it since the mkdir */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 || fchown(fd, uid, gid) < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

int vg_control_start(struct daemon *d, const struct vg_config *cfg)
{
	const struct vg_control_opts *co = &cfg->control;
	struct vg_control *ctl;
	struct stat st;
	int r;
	/* the default path may be another vigil's: then this one runs without */
	bool must = strcmp(co->socket, VG_CONTROL_SOCKET_DEFAULT) != 0;
	int level = must ? VG_LOG_ERR : VG_LOG_WARNING;
	const char *then = must ? "" : "; running without a control socket";

	if (!co->socket[0])
		return 0;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return VG_ENOMEM;
	ctl->d = d;
	snprintf(ctl->path, sizeof(ctl->path), "%s", co->socket);
	ctl->started_ms = uv_now(&d->loop);
	r = make_dir(ctl->path, d->run_uid, d->run_gid);
	if (r < 0) {
		vg_log(level, "control socket %s: cannot create its directory: %s%s", ctl->path,
		       strerror(-r), then);
		goto fail;
	}
	if (lstat(ctl->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vg_log(level, "control socket %s: a file that is not a socket is in the "
			       "way%s", ctl->path, then);
			r = VG_EINVAL;
			goto fail;
		}
		if (socket_in_use(ctl->path)) {
			vg_log(level, "control socket %s: in use by another process (another "
			       "vigil?)%s", ctl->path, then);
			r = -EADDRINUSE;
			goto fail;
		}
		unlink(ctl->path); /* stale, from a vigil that did not stop cleanly */
	}
	uv_pipe_init(&d->loop, &ctl->srv, 0);
	ctl->srv.data = ctl;
	ctl->srv_open = true;
	/* bind() makes the file with its final mode (0777 less the umask: no chmod
	 * by name after it; only this thread runs yet, so the umask is ours) */
	mode_t old = umask(~(mode_t)co->mode_bits & 0777);
	r = uv_pipe_bind(&ctl->srv, ctl->path);
	umask(old);
	if (r < 0) {
		vg_log(level, "control socket %s: %s%s", ctl->path, uv_strerror(r), then);
		goto fail;
	}
	gid_t gid = (gid_t)-1;
	if (co->group[0]) {
		struct group *gr = getgrnam(co->group);
		if (!gr) {
			vg_log(VG_LOG_ERR, "control socket %s: no group '%s' (control.group)",
			       ctl->path, co->group);
			r = VG_ECONFIG;
			goto fail_unlink;
		}
		gid = gr->gr_gid;
	}
	/* the user vigil will run as owns it (and its group, unless
	 * control.group says otherwise), so that it may still replace it */
	uid_t uid = d->run_uid;
	if (gid == (gid_t)-1)
		gid = d->run_gid;
	/* the directory may be the user's, who could have put a link in the
	 * socket's place since the bind: the link is not followed (lchown), and
	 * what is there must be a socket */
	if (((uid != (uid_t)-1 || gid != (gid_t)-1) && lchown(ctl->path, uid, gid) < 0) ||
	    lstat(ctl->path, &st) < 0) {
		r = -errno;
		vg_log(VG_LOG_ERR, "control socket %s: %s", ctl->path, strerror(errno));
		goto fail_unlink;
	}
	if (!S_ISSOCK(st.st_mode) || (st.st_mode & 0777) != co->mode_bits) {
		vg_log(VG_LOG_ERR, "control socket %s: replaced by another file since it was "
		       "made (%s)", ctl->path, S_ISSOCK(st.st_mode) ? "its mode" : "not a socket");
		r = VG_EINVAL;
		goto fail_unlink;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	ctl->owner = st.st_uid;
	ctl->group = st.st_gid;
	r = uv_listen((uv_stream_t *)&ctl->srv, 16, on_connection);
	if (r < 0) {
		vg_log(VG_LOG_ERR, "control socket %s: %s", ctl->path, uv_strerror(r));
		goto fail_unlink;
	}
	uv_unref((uv_handle_t *)&ctl->srv); /* never what keeps the loop running */
	uv_timer_init(&d->loop, &ctl->pause_timer);
	ctl->pause_timer.data = ctl;
	uv_unref((uv_handle_t *)&ctl->pause_timer);
	uv_timer_init(&d->loop, &ctl->up_timer);
	ctl->up_timer.data = ctl;
	uv_unref((uv_handle_t *)&ctl->up_timer);
	uv_async_init(&d->loop, &ctl->up_async, vg__ctl_on_up_async);
	ctl->up_async.data = ctl;
	uv_unref((uv_handle_t *)&ctl->up_async);
	if (co->listen_tls[0]) {
		r = tls_start(ctl, co);
		if (r < 0) {
			must = true;
			goto fail_handles;
		}
	}
	d->control = ctl;
	vg_log(VG_LOG_NOTICE, "control socket %s (mode %04o, owner uid %u, group gid %u)",
	       ctl->path, co->mode_bits, (unsigned)ctl->owner, (unsigned)ctl->group);
	return 0;
fail_handles:
	uv_close((uv_handle_t *)&ctl->pause_timer, NULL);
	uv_close((uv_handle_t *)&ctl->up_timer, NULL);
	uv_close((uv_handle_t *)&ctl->up_async, NULL);
	if (ctl->tls_open)
		uv_close((uv_handle_t *)&ctl->tls_srv, NULL);
fail_unlink:
	unlink(ctl->path);
fail:
	if (ctl->srv_open)
		uv_close((uv_handle_t *)&ctl->srv, NULL);
	uv_run(&d->loop, UV_RUN_NOWAIT);
	vg_tls_ctx_unref(ctl->tls_ctx);
	if (co->listen_tls[0] && !must)
		vg_log(VG_LOG_WARNING, "control: control.listen-tls %s is not served either "
		       "(it runs beside the control socket)", co->listen_tls);
	free(ctl);
	return must ? r : 0;
}

static void ctl_handle_closed(uv_handle_t *h)
{
	struct vg_control *ctl = h->data;
	ctl->open_handles--;
	maybe_free(ctl);
}

void vg_control_stop(struct daemon *d)
{
	struct vg_control *ctl = d->control;
	struct stat st;
	if (!ctl)
		return;
	d->control = NULL;
	for (unsigned i = 0; i < VG_POLICY_MAX_GROUPS; i++)
		atomic_store_explicit(&d->shared.paused[i], 0, memory_order_relaxed);
	/* remove the file only if it is still ours (not a later vigil's) */
	if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	/* the workers still run: take back the upstreams jobs they have not
	 * taken, and wait for the ones they are running (a short copy) */
	for (unsigned i = 0; ctl->up && i < d->n_workers; i++) {
		struct upjob *j = &ctl->up[i];
		if (atomic_load_explicit(&j->phase, memory_order_acquire) == UP_POSTED &&
		    !vg_worker_unpost(&d->workers[i], &j->job))
			while (atomic_load_explicit(&j->phase, memory_order_acquire) != UP_DONE)
				sched_yield();
		vg__ctl_up_wait_done(j);
	}
	ctl->up_conn = NULL;
	ctl->stopping = true;
	ctl->open_handles = ctl->tls_open ? 5 : 4;
	if (ctl->tls_open)
		uv_close((uv_handle_t *)&ctl->tls_srv, ctl_handle_closed);
	for (struct conn *c = ctl->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&ctl->srv, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->pause_timer, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->up_timer, ctl_handle_closed);
	uv_close((uv_handle_t *)&ctl->up_async, ctl_handle_closed);
	/* freed by the last close callback (the loop runs them) */
}
