/*
 * tlsconn.c - DNS-over-TLS connection load for bench/run.sh (the tls case).
 *
 *   tlsconn hold ADDR PORT N MAXSECS [NSRC]
 *	Opens N DoT connections, from NSRC source addresses (127.0.2.1 ...,
 *	round robin; default 100, so that a per-address cap of 100 or more
 *	lets them all in) (at most 256 handshakes in flight), on each
 *	sends one query (c0.bench A) and reads its answer, then keeps the TCP
 *	connection open and idle: the SSL object is freed without a
 *	close_notify, so the client holds only a socket while the server keeps
 *	its whole per-connection state.  Prints "ready OK FAILED SECONDS" once
 *	every connection is set up (or failed), then waits for SIGTERM or
 *	MAXSECS, prints "open K" (connections the server has not closed) and
 *	exits, closing them all.
 *
 *   tlsconn rate ADDR PORT SECS CONC full|resume
 *	For SECS seconds, CONC connections at a time: connect, TLS handshake,
 *	one query and its answer, then close cleanly (close_notify, FIN),
 *	from NSRC (100) source addresses so that TIME_WAIT does not run out of
 *	ports.  "resume" first makes one full connection and keeps its session
 *	(the TLS 1.3 ticket comes with the answer); each of the CONC slots
 *	offers it on its first connection and then always the session of its
 *	own previous connection if that one brought a new ticket (a server
 *	with stateful single-use tickets, like Unbound without
 *	tls-session-ticket-keys, accepts each once), else the one it had.  Prints "done N REUSED FAILED SECONDS".
 *
 * No certificate verification (the client's cost is kept low; the server's
 * is what is measured).  Loopback only: ADDR must be 127.x.y.z.
 *
 * Build: cc -O2 -o tlsconn tlsconn.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 256

enum st { ST_FREE, ST_CONNECT, ST_HANDSHAKE, ST_WRITE, ST_READ, ST_IDLE };

struct conn {
	int fd;
	enum st st;
	SSL *ssl;
	SSL_SESSION *sess;	/* rate resume: the session this slot offers next */
	uint8_t buf[1024];
	size_t have;
};

static volatile sig_atomic_t stop;
static long fail_connect, fail_tls, fail_io;	/* why connections failed */
static void on_signal(int sig) { (void)sig; stop = 1; }

static SSL_CTX *ctx;
static SSL_SESSION *session;	/* resume mode: the session to offer */
static struct sockaddr_in dst;
static int ep;
static int nsrc;		/* hold: source addresses to spread over, 0 = any */
static int nconn;
static uint8_t query[64];
static size_t query_len;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void build_query(void)
{
	static const uint8_t q[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		2, 'c', '0', 5, 'b', 'e', 'n', 'c', 'h', 0, 0, 1, 0, 1 };

	query[0] = 0;
	query[1] = sizeof(q);
	memcpy(query + 2, q, sizeof(q));
	query_len = sizeof(q) + 2;
}

/* RESET: close with a reset (no FIN, no TIME_WAIT); otherwise a clean close:
 * close_notify, then FIN.  (A server drops a session from its cache when the
 * connection ends with an error, so connections whose session is reused must
 * end cleanly.) */
static void conn_drop(struct conn *c, int reset)
{
	if (c->ssl && !reset && c->st == ST_IDLE)
		SSL_shutdown(c->ssl);	/* non-blocking: sends close_notify, reads nothing */
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		if (reset) {
			struct linger l = { 1, 0 };

			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->fd);	/* also removes it from the epoll set */
		c->fd = -1;
	}
	c->st = ST_FREE;
}

static int conn_start(struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (nsrc > 0) {
		struct sockaddr_in src = { .sin_family = AF_INET };
		int k = nconn++ % nsrc;

		src.sin_addr.s_addr = htonl(0x7f000200u + (uint32_t)(k / 250) * 256 + 1 + k % 250);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			close(c->fd);
			c->fd = -1;
			return -1;
		}
	}
	c->have = 0;
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->st = ST_CONNECT;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		conn_drop(c, 1);
		return -1;
	}
	return 0;
}

static void want(struct conn *c, int err)
{
	struct epoll_event ev = { .data.ptr = c };

	ev.events = err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Advance C; returns 1 when it reached ST_IDLE (query answered), 0 while
 * in progress, -1 on failure. */
static int conn_step(struct conn *c)
{
	int r, err;

	if (c->st == ST_CONNECT) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			fail_connect++;
			return -1;
		}
		c->ssl = SSL_new(ctx);
		if (!c->ssl)
			return -1;
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_tlsext_host_name(c->ssl, "bench.vigil.test");
		if (c->sess || session)
			SSL_set_session(c->ssl, c->sess ? c->sess : session);
		c->st = ST_HANDSHAKE;
	}
	if (c->st == ST_HANDSHAKE) {
		r = SSL_connect(c->ssl);
		if (r != 1) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				want(c, err);
				return 0;
			}
			fail_tls++;
			return -1;
		}
		c->st = ST_WRITE;
	}
	if (c->st == ST_WRITE) {
		r = SSL_write(c->ssl, query, (int)query_len);
		if (r <= 0) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
				want(c, err);
				return 0;
			}
			fail_io++;
			return -1;
		}
		c->st = ST_READ;
	}
	if (c->st == ST_READ) {
		for (;;) {
			size_t need;

			r = SSL_read(c->ssl, c->buf + c->have, (int)(sizeof(c->buf) - c->have));
			if (r <= 0) {
				err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
					want(c, err);
					return 0;
				}
				fail_io++;
				return -1;
			}
			c->have += (size_t)r;
			if (c->have < 2)
				continue;
			need = 2 + ((size_t)c->buf[0] << 8 | c->buf[1]);
			if (c->have >= need || c->have == sizeof(c->buf))
				break;
		}
		c->st = ST_IDLE;
		return 1;
	}
	return 0;
}

static int still_open(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		return 1;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static int do_hold(int n, double maxsecs)
{
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	struct epoll_event evs[256];
	int started = 0, inflight = 0, ok = 0, failed = 0, i, k, open_n = 0;
	double t0 = now();

	if (!cs)
		return 1;
	for (i = 0; i < n; i++)
		cs[i].fd = -1;
	while (ok + failed < n && !stop && now() - t0 < maxsecs) {
		while (inflight < MAX_INFLIGHT && started < n) {
			if (conn_start(&cs[started]) < 0)
				failed++;
			else
				inflight++;
			started++;
		}
		k = epoll_wait(ep, evs, 256, 200);
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			int r = conn_step(c);

			if (r == 0)
				continue;
			inflight--;
			if (r < 0) {
				failed++;
				conn_drop(c, 1);
				continue;
			}
			ok++;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			SSL_free(c->ssl);	/* no close_notify: the connection stays up */
			c->ssl = NULL;
		}
	}
	printf("ready %d %d %.3f\n", ok, n - ok, now() - t0);
	fprintf(stderr, "failed: connect %ld, handshake %ld, query %ld, not started %d\n",
		fail_connect, fail_tls, fail_io, n - started);
	fflush(stdout);
	while (!stop && now() - t0 < maxsecs)
		usleep(50000);
	for (i = 0; i < n; i++)
		if (cs[i].st == ST_IDLE && cs[i].fd >= 0)
			open_n += still_open(cs[i].fd);
	printf("open %d\n", open_n);
	fflush(stdout);
	for (i = 0; i < n; i++)
		conn_drop(&cs[i], 0);
	free(cs);
	return 0;
}

static int get_session(void)
{
	struct conn c = { .fd = -1 };
	struct epoll_event ev;
	double t0 = now();
	int r = 0;

	if (conn_start(&c) < 0)
		return -1;
	while (r == 0 && now() - t0 < 5) {
		if (epoll_wait(ep, &ev, 1, 200) > 0)
			r = conn_step(&c);
	}
	if (r == 1)
		session = SSL_get1_session(c.ssl);
	conn_drop(&c, r != 1);
	return session ? 0 : -1;
}

static int do_rate(double secs, int conc, int resume)
{
	struct conn *cs = calloc((size_t)conc, sizeof(*cs));
	struct epoll_event evs[256];
	long done = 0, reused = 0, failed = 0;
	int i, k;
	double t0;

	if (!cs)
		return 1;
	if (resume && get_session() < 0) {
		fprintf(stderr, "tlsconn: no session to resume\n");
		return 1;
	}
	t0 = now();
	for (i = 0; i < conc; i++) {
		cs[i].fd = -1;
		if (conn_start(&cs[i]) < 0)
			failed++;
	}
	while (!stop && now() - t0 < secs) {
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			int r = conn_step(c);

			if (r == 0)
				continue;
			if (r > 0) {
				done++;
				reused += SSL_session_reused(c->ssl);
				if (resume) {	/* the newest ticket: servers may accept each once */
					SSL_SESSION *ns = SSL_get1_session(c->ssl);

					if (ns && SSL_SESSION_is_resumable(ns)) {
						if (c->sess)
							SSL_SESSION_free(c->sess);
						c->sess = ns;
					} else if (ns) {	/* no new ticket: keep the old one */
						SSL_SESSION_free(ns);
					}
				}
			} else {
				failed++;
			}
			conn_drop(c, r < 0);
			if (conn_start(c) < 0)
				failed++;
		}
	}
	t0 = now() - t0;
	for (i = 0; i < conc; i++)
		conn_drop(&cs[i], 1);
	printf("done %ld %ld %ld %.3f\n", done, reused, failed, t0);
	if (failed)
		fprintf(stderr, "failed: connect %ld, handshake %ld, query %ld\n",
			fail_connect, fail_tls, fail_io);
	free(cs);
	return 0;
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc < 6) {
		fprintf(stderr, "usage: tlsconn hold ADDR PORT N MAXSECS [NSRC]\n"
			"       tlsconn rate ADDR PORT SECS CONC full|resume\n");
		return 2;
	}
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1 ||
	    (ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "tlsconn: ADDR must be a 127.x.y.z address\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {	/* as far as we are allowed */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	build_query();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	{
		static const unsigned char alpn[] = { 3, 'd', 'o', 't' };

		SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn));
	}
	ep = epoll_create1(0);
	if (ep < 0)
		return 1;
	if (!strcmp(argv[1], "hold")) {
		nsrc = argc > 6 ? atoi(argv[6]) : 100;
		return do_hold(atoi(argv[4]), atof(argv[5]));
	}
	nsrc = 100;
	if (!strcmp(argv[1], "rate") && argc >= 7)
		return do_rate(atof(argv[4]), atoi(argv[5]), !strcmp(argv[6], "resume"));
	fprintf(stderr, "tlsconn: unknown mode %s\n", argv[1]);
	return 2;
}
