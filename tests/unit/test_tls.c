/* SPDX-License-Identifier: MIT
 *
 * src/tls: sessions over memory buffers, a server and a client session
 * wired to each other in memory.  Handshake and data both ways, ALPN per
 * role, client IDs from SNI, client certificates (fingerprint and subject),
 * resumption from a ticket across two server contexts sharing one key
 * ring, what key rotation keeps and forgets, the checks --check-config
 * makes, and SPKI pins.  Certificates are made at start with the openssl
 * command (a throwaway CA in a temporary directory).
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "check_main.h"
#include "core/core.h"
#include "tls/tls.h"

static char dir[64];

static void path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* CA, a server certificate for dns.vigil.test and *.dns.vigil.test, a second
 * key that matches nothing, and a client certificate signed by the CA. */
static int make_certs(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vigil-test-tls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return sh("cd %s && exec >/dev/null 2>&1 && "
		  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		  " -keyout ca.key -out ca.pem -days 2 -subj /CN=vigil-test-ca && "
		  "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		  " -keyout srv.key -out srv.csr -subj /CN=dns.vigil.test && "
		  "printf 'subjectAltName=DNS:dns.vigil.test,DNS:*.dns.vigil.test,IP:127.0.0.1\\n' > san && "
		  "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		  " -out srv.pem -days 2 -extfile san && "
		  "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key && "
		  "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		  " -keyout cli.key -out cli.csr -subj /CN=laptop7/O=Example && "
		  "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		  " -out cli.pem -days 2 && "
		  "openssl x509 -in srv.pem -pubkey -noout | openssl pkey -pubin -outform der "
		  " | openssl dgst -sha256 -binary | base64 > srv.pin && "
		  "openssl x509 -in cli.pem -outform der | openssl dgst -sha256 -r "
		  " | cut -d' ' -f1 > cli.fp",
		  dir) == 0 ? 0 : -1;
}

static void read_line(const char *name, char *out, size_t cap)
{
	char p[128];
	path(p, sizeof(p), name);
	FILE *f = fopen(p, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(out, (int)cap, f));
	fclose(f);
	out[strcspn(out, "\r\n")] = 0;
}

static void server_opts(struct vg_tls_opts *o)
{
	memset(o, 0, sizeof(*o));
	path(o->certificate, sizeof(o->certificate), "srv.pem");
	path(o->key, sizeof(o->key), "srv.key");
	snprintf(o->server_name, sizeof(o->server_name), "dns.vigil.test");
}

/* A client context built with OpenSSL directly: what a stub would offer. */
struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *r, *w;
};

static void client_new(struct client *c, const char *sni, const char *alpn, bool cert,
		       SSL_SESSION *sess)
{
	char p[128];
	c->ctx = SSL_CTX_new(TLS_client_method());
	path(p, sizeof(p), "ca.pem");
	ck_assert_int_eq(SSL_CTX_load_verify_locations(c->ctx, p, NULL), 1);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (cert) {
		path(p, sizeof(p), "cli.pem");
		ck_assert_int_eq(SSL_CTX_use_certificate_file(c->ctx, p, SSL_FILETYPE_PEM), 1);
		path(p, sizeof(p), "cli.key");
		ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(c->ctx, p, SSL_FILETYPE_PEM), 1);
	}
	c->ssl = SSL_new(c->ctx);
	c->r = BIO_new(BIO_s_mem());
	c->w = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(c->r, -1);
	SSL_set_bio(c->ssl, c->r, c->w);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	if (alpn) {
		unsigned char buf[32];
		size_t n = strlen(alpn);
		buf[0] = (unsigned char)n;
		memcpy(buf + 1, alpn, n);
		SSL_set_alpn_protos(c->ssl, buf, (unsigned)n + 1);
	}
	SSL_set1_host(c->ssl, "dns.vigil.test");
	if (sess)
		SSL_set_session(c->ssl, sess);
	SSL_set_connect_state(c->ssl);
}

static void client_free(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
}

/* Move bytes both ways until neither side has anything to say.  Returns
 * the server's last vg_tls_conn_read result; plaintext read is appended to
 * @p got. */
static ssize_t pump(struct client *c, struct vg_tls_conn *s, uint8_t *got, size_t *ngot)
{
	uint8_t buf[16384];
	ssize_t last = VG_TLS_AGAIN;
	for (int round = 0; round < 20; round++) {
		bool moved = false;
		int r = SSL_do_handshake(c->ssl);
		(void)r;
		size_t n;
		while (BIO_read_ex(c->w, buf, sizeof(buf), &n) == 1 && n) {
			ck_assert_int_eq(vg_tls_conn_input(s, buf, n), 0);
			moved = true;
		}
		for (;;) {
			uint8_t pt[4096];
			last = vg_tls_conn_read(s, pt, sizeof(pt));
			if (last <= 0)
				break;
			if (got) {
				memcpy(got + *ngot, pt, (size_t)last);
				*ngot += (size_t)last;
			}
		}
		if (last < 0)
			return last;
		while ((n = vg_tls_conn_take(s, buf, sizeof(buf))) > 0) {
			BIO_write(c->r, buf, (int)n);
			moved = true;
		}
		if (!moved)
			break;
	}
	return last;
}

static struct vg_tls_ctx *server(enum vg_tls_role role, struct vg_tls_tickets *t, bool ca)
{
	struct vg_tls_opts o;
	struct vg_tls_ctx *ctx;
	char err[256];
	server_opts(&o);
	if (ca)
		path(o.client_ca, sizeof(o.client_ca), "ca.pem");
	int r = vg_tls_server_new(&o, role, t, &ctx, err, sizeof(err));
	ck_assert_msg(r == 0, "server context: %s", err);
	return ctx;
}

START_TEST(handshake_and_data_both_ways)
{
	struct vg_tls_tickets *t = vg_tls_tickets_new();
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, t, false);
	struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
	struct client c;
	client_new(&c, "dns.vigil.test", "dot", false, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(s));
	ck_assert_int_eq(SSL_is_init_finished(c.ssl), 1);
	ck_assert_str_eq(vg_tls_conn_alpn(s), "dot");
	ck_assert_str_eq(vg_tls_conn_client_id(s), ""); /* the bare server name: no ID */
	ck_assert(!vg_tls_conn_resumed(s));

	/* client to server */
	uint8_t got[256];
	size_t ngot = 0;
	ck_assert_int_eq(SSL_write(c.ssl, "\x00\x03" "abc", 5), 5);
	pump(&c, s, got, &ngot);
	ck_assert_uint_eq(ngot, 5);
	ck_assert_int_eq(memcmp(got, "\x00\x03" "abc", 5), 0);
	/* server to client */
	ck_assert_int_eq(vg_tls_conn_write(s, (const uint8_t *)"answer", 6), 0);
	ck_assert_uint_gt(vg_tls_conn_pending(s), 6);
	pump(&c, s, NULL, NULL);
	char back[16];
	ck_assert_int_eq(SSL_read(c.ssl, back, sizeof(back)), 6);
	ck_assert_int_eq(memcmp(back, "answer", 6), 0);
	/* the client says goodbye */
	SSL_shutdown(c.ssl);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_CLOSED);
	client_free(&c);
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(ctx);
	vg_tls_tickets_free(t);
}
END_TEST

/*
 * An error another part of the worker left on the thread's OpenSSL error
 * queue (a DNSSEC signature that did not verify, on the same thread) must
 * not fail a connection that only waits for more bytes: SSL_get_error looks
 * at the queue first, so it has to be empty before each TLS call.
 */
START_TEST(stale_openssl_error_does_not_fail_a_connection)
{
	struct vg_tls_tickets *t = vg_tls_tickets_new();
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, t, false);
	struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
	struct client c;
	client_new(&c, "dns.vigil.test", "dot", false, NULL);
	uint8_t pt[64];
	ERR_raise(ERR_LIB_RSA, ERR_R_PASSED_INVALID_ARGUMENT); /* in the handshake */
	ck_assert_int_eq(vg_tls_conn_read(s, pt, sizeof(pt)), VG_TLS_AGAIN);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(s));
	ERR_raise(ERR_LIB_RSA, ERR_R_PASSED_INVALID_ARGUMENT); /* once established */
	ck_assert_int_eq(vg_tls_conn_read(s, pt, sizeof(pt)), VG_TLS_AGAIN);
	ERR_raise(ERR_LIB_RSA, ERR_R_PASSED_INVALID_ARGUMENT);
	ck_assert_int_eq(vg_tls_conn_write(s, (const uint8_t *)"answer", 6), 0);
	pump(&c, s, NULL, NULL);
	char back[16];
	ck_assert_int_eq(SSL_read(c.ssl, back, sizeof(back)), 6);
	client_free(&c);
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(ctx);
	vg_tls_tickets_free(t);
}
END_TEST

START_TEST(alpn_per_role)
{
	struct vg_tls_ctx *dot = server(VG_TLS_DOT, NULL, false);
	struct vg_tls_ctx *doh = server(VG_TLS_DOH, NULL, false);
	struct client c;
	struct vg_tls_conn *s;

	/* a DoH listener: h2 agreed */
	s = vg_tls_conn_accept(doh);
	client_new(&c, NULL, "h2", false, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert_str_eq(vg_tls_conn_alpn(s), "h2");
	client_free(&c);
	vg_tls_conn_free(s);

	/* a client offering only h2 to the DoT listener is refused (RFC 7301) */
	s = vg_tls_conn_accept(dot);
	client_new(&c, NULL, "h2", false, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_FAILED);
	ck_assert_str_ne(vg_tls_conn_error(s), "");
	client_free(&c);
	vg_tls_conn_free(s);

	/* no ALPN at all: DoT still served (RFC 7858 needs none) */
	s = vg_tls_conn_accept(dot);
	client_new(&c, NULL, NULL, false, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(s));
	ck_assert_str_eq(vg_tls_conn_alpn(s), "");
	client_free(&c);
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(dot);
	vg_tls_ctx_unref(doh);
}
END_TEST

static const char *id_for(struct vg_tls_ctx *ctx, const char *sni, char *out)
{
	struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
	struct client c;
	client_new(&c, sni, "dot", false, NULL);
	pump(&c, s, NULL, NULL);
	ck_assert(vg_tls_conn_established(s));
	strcpy(out, vg_tls_conn_client_id(s));
	client_free(&c);
	vg_tls_conn_free(s);
	return out;
}

START_TEST(client_id_from_sni)
{
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, NULL, false);
	char id[VG_TLS_ID_MAX];
	ck_assert_str_eq(id_for(ctx, "laptop7.dns.vigil.test", id), "laptop7");
	ck_assert_str_eq(id_for(ctx, "LapTop-8.DNS.vigil.test", id), "laptop-8");
	ck_assert_str_eq(id_for(ctx, "a.b.dns.vigil.test", id), "");   /* two labels */
	ck_assert_str_eq(id_for(ctx, "xdns.vigil.test", id), "");      /* not a label boundary */
	ck_assert_str_eq(id_for(ctx, "other.example", id), "");
	vg_tls_ctx_unref(ctx);
}
END_TEST

START_TEST(client_certificate_identity)
{
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, NULL, true);
	char fp[72], want[VG_TLS_FP_MAX + 8];
	read_line("cli.fp", fp, sizeof(fp));
	snprintf(want, sizeof(want), "sha256:%s", fp);

	struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
	struct client c;
	client_new(&c, NULL, "dot", true, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(s));
	ck_assert_str_eq(vg_tls_conn_cert_fp(s), want);
	ck_assert_str_eq(vg_tls_conn_cert_subject(s), "O=Example,CN=laptop7");
	client_free(&c);
	vg_tls_conn_free(s);

	/* asked for, not required: no certificate, no identity, still served */
	s = vg_tls_conn_accept(ctx);
	client_new(&c, NULL, "dot", false, NULL);
	ck_assert_int_eq(pump(&c, s, NULL, NULL), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(s));
	ck_assert_str_eq(vg_tls_conn_cert_fp(s), "");
	client_free(&c);
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(ctx);
}
END_TEST

/* A full handshake on @p a; then a second connection to @p b with the
 * ticket from the first.  Returns whether @p b resumed it. */
static bool resumes(struct vg_tls_ctx *a, struct vg_tls_ctx *b, struct vg_tls_tickets *t,
		    int rotations_between)
{
	struct client c;
	struct vg_tls_conn *s = vg_tls_conn_accept(a);
	client_new(&c, NULL, "dot", false, NULL);
	pump(&c, s, NULL, NULL);
	/* TLS 1.3 sends the ticket after the handshake: read to receive it */
	char x[8];
	ck_assert_int_le(SSL_read(c.ssl, x, sizeof(x)), 0);
	SSL_SESSION *sess = SSL_get1_session(c.ssl);
	ck_assert_ptr_nonnull(sess);
	ck_assert_int_eq(SSL_SESSION_is_resumable(sess), 1);
	/* freed without a shutdown, OpenSSL would mark the session not resumable */
	SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	client_free(&c);
	vg_tls_conn_free(s);
	for (int i = 0; i < rotations_between; i++)
		ck_assert_int_eq(vg_tls_tickets_rotate(t), 0);

	s = vg_tls_conn_accept(b);
	client_new(&c, NULL, "dot", false, sess);
	pump(&c, s, NULL, NULL);
	ck_assert(vg_tls_conn_established(s));
	bool r = vg_tls_conn_resumed(s);
	ck_assert_int_eq(SSL_session_reused(c.ssl), r);
	SSL_SESSION_free(sess);
	client_free(&c);
	vg_tls_conn_free(s);
	return r;
}

START_TEST(resumption_across_contexts_and_rotation)
{
	struct vg_tls_tickets *t = vg_tls_tickets_new();
	/* two contexts: two workers' view, or before and after a reload */
	struct vg_tls_ctx *a = server(VG_TLS_DOT, t, false);
	struct vg_tls_ctx *b = server(VG_TLS_DOT, t, false);
	ck_assert(resumes(a, b, t, 0));
	ck_assert(resumes(a, a, t, 1));  /* the previous key still decrypts */
	ck_assert(!resumes(a, b, t, 2)); /* two rotations later it is gone */

	/* a context with its own key ring does not accept the others' tickets */
	struct vg_tls_tickets *t2 = vg_tls_tickets_new();
	struct vg_tls_ctx *c = server(VG_TLS_DOT, t2, false);
	ck_assert(!resumes(a, c, t, 0));
	vg_tls_ctx_unref(a);
	vg_tls_ctx_unref(b);
	vg_tls_ctx_unref(c);
	vg_tls_tickets_free(t);
	vg_tls_tickets_free(t2);
}
END_TEST

/* Sessions resume only under the same client CA: a changed tls.client-ca
 * must not bring back an identity verified against the old one. */
START_TEST(resumption_tied_to_the_client_ca)
{
	struct vg_tls_tickets *t = vg_tls_tickets_new();
	struct vg_tls_opts o;
	struct vg_tls_ctx *a, *b, *c;
	char err[256];
	server_opts(&o);
	path(o.client_ca, sizeof(o.client_ca), "ca.pem");
	ck_assert_int_eq(vg_tls_server_new(&o, VG_TLS_DOT, t, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(vg_tls_server_new(&o, VG_TLS_DOT, t, &b, err, sizeof(err)), 0);
	path(o.client_ca, sizeof(o.client_ca), "srv.pem"); /* another CA file */
	ck_assert_int_eq(vg_tls_server_new(&o, VG_TLS_DOT, t, &c, err, sizeof(err)), 0);
	ck_assert(resumes(a, b, t, 0));  /* the same CA: resumed */
	ck_assert(!resumes(a, c, t, 0)); /* another: a full handshake */
	vg_tls_ctx_unref(a);
	vg_tls_ctx_unref(b);
	vg_tls_ctx_unref(c);
	vg_tls_tickets_free(t);
}
END_TEST

/* A chain of connections, each offering the ticket its predecessor got:
 * every one after the first resumes (a resumed session gets a new ticket;
 * TLS 1.3 clients use each ticket once). */
START_TEST(resumption_chain)
{
	struct vg_tls_tickets *t = vg_tls_tickets_new();
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, t, false);
	SSL_SESSION *sess = NULL;
	for (int i = 0; i < 5; i++) {
		struct client c;
		struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
		client_new(&c, NULL, "dot", false, sess);
		pump(&c, s, NULL, NULL);
		ck_assert(vg_tls_conn_established(s));
		ck_assert_msg(vg_tls_conn_resumed(s) == (i > 0), "connection %d", i);
		char x[8];
		ck_assert_int_le(SSL_read(c.ssl, x, sizeof(x)), 0); /* take the new ticket */
		SSL_SESSION *ns = SSL_get1_session(c.ssl);
		ck_assert_int_eq(SSL_SESSION_is_resumable(ns), 1);
		if (sess) { /* a fresh ticket, not the one just used */
			const unsigned char *a, *b;
			size_t al, bl;
			SSL_SESSION_get0_ticket(sess, &a, &al);
			SSL_SESSION_get0_ticket(ns, &b, &bl);
			ck_assert_msg(al != bl || memcmp(a, b, al) != 0,
				      "connection %d got no new ticket", i);
		}
		SSL_SESSION_free(sess);
		sess = ns;
		SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		client_free(&c);
		vg_tls_conn_free(s);
	}
	SSL_SESSION_free(sess);
	vg_tls_ctx_unref(ctx);
	vg_tls_tickets_free(t);
}
END_TEST

START_TEST(check_config_errors)
{
	struct vg_tls_opts o;
	char err[512];
	server_opts(&o);
	ck_assert_int_eq(vg_tls_check(&o, err, sizeof(err)), 0);

	path(o.key, sizeof(o.key), "other.key");
	ck_assert_int_lt(vg_tls_check(&o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "does not match") && strstr(err, "other.key"), "%s", err);

	server_opts(&o);
	path(o.certificate, sizeof(o.certificate), "missing.pem");
	ck_assert_int_lt(vg_tls_check(&o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "certificate") && strstr(err, "missing.pem"), "%s", err);

	server_opts(&o);
	path(o.client_ca, sizeof(o.client_ca), "nope.pem");
	ck_assert_int_lt(vg_tls_check(&o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "client CA") && strstr(err, "nope.pem"), "%s", err);

	server_opts(&o);
	o.key[0] = 0;
	ck_assert_int_lt(vg_tls_check(&o, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "tls.key"), "%s", err);
}
END_TEST

/* vigil as a client (DoT upstreams) against vigil as a server. */
static ssize_t client_to_server(struct vg_tls_conn *cl, struct vg_tls_conn *s)
{
	uint8_t buf[16384], pt[256];
	ssize_t rc = VG_TLS_AGAIN, rs = VG_TLS_AGAIN;
	for (int round = 0; round < 20; round++) {
		size_t n, moved = 0;
		rc = vg_tls_conn_read(cl, pt, sizeof(pt));
		if (rc < 0)
			return rc;
		while ((n = vg_tls_conn_take(cl, buf, sizeof(buf))) > 0) {
			vg_tls_conn_input(s, buf, n);
			moved += n;
		}
		rs = vg_tls_conn_read(s, pt, sizeof(pt));
		if (rs < 0)
			return rs;
		while ((n = vg_tls_conn_take(s, buf, sizeof(buf))) > 0) {
			vg_tls_conn_input(cl, buf, n);
			moved += n;
		}
		if (!moved)
			break;
	}
	return rc;
}

START_TEST(client_pin_and_name)
{
	struct vg_tls_ctx *srv = server(VG_TLS_DOT, NULL, false), *cli;
	struct vg_tls_client_opts co = { 0 };
	char err[256], pin[128];
	path(co.ca_file, sizeof(co.ca_file), "ca.pem");
	ck_assert_int_eq(vg_tls_client_new(&co, &cli, err, sizeof(err)), 0);
	read_line("srv.pin", pin, sizeof(pin));

	struct vg_tls_conn *c, *s;
	/* the right name */
	c = vg_tls_conn_connect(cli, "dns.vigil.test", NULL);
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(c));
	ck_assert_str_eq(vg_tls_conn_alpn(c), "dot");
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	/* a name the certificate does not carry */
	c = vg_tls_conn_connect(cli, "dns.example.net", NULL);
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_FAILED);
	ck_assert(!vg_tls_conn_established(c));
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	/* the right pin, with and without a name */
	c = vg_tls_conn_connect(cli, "", pin);
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(c));
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	/* a pin set: the right pin second, after a backup pin */
	char set[256];
	snprintf(set, sizeof(set), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= %s", pin);
	c = vg_tls_conn_connect(cli, "dns.vigil.test", set);
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_AGAIN);
	ck_assert(vg_tls_conn_established(c));
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	/* a wrong pin: not established, and the session stays failed (nothing
	 * can be read or written on it afterwards) */
	c = vg_tls_conn_connect(cli, "dns.vigil.test", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_FAILED);
	ck_assert_msg(strstr(vg_tls_conn_error(c), "pin"), "%s", vg_tls_conn_error(c));
	ck_assert(!vg_tls_conn_established(c));
	uint8_t pt[16];
	ck_assert_int_eq(vg_tls_conn_read(c, pt, sizeof(pt)), VG_TLS_FAILED);
	ck_assert_int_eq(vg_tls_conn_write(c, pt, 4), VG_TLS_FAILED);
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	/* two wrong pins, without a name: a pin-only upstream is not let in */
	c = vg_tls_conn_connect(cli, "", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= "
				      "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=");
	s = vg_tls_conn_accept(srv);
	ck_assert_int_eq(client_to_server(c, s), VG_TLS_FAILED);
	ck_assert_msg(strstr(vg_tls_conn_error(c), "pins"), "%s", vg_tls_conn_error(c));
	vg_tls_conn_free(c);
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(cli);
	vg_tls_ctx_unref(srv);
}
END_TEST

START_TEST(garbage_is_an_error)
{
	struct vg_tls_ctx *ctx = server(VG_TLS_DOT, NULL, false);
	struct vg_tls_conn *s = vg_tls_conn_accept(ctx);
	uint8_t junk[64], pt[64];
	memset(junk, 'G', sizeof(junk)); /* e.g. plain DNS or HTTP sent to the TLS port */
	ck_assert_int_eq(vg_tls_conn_input(s, junk, sizeof(junk)), 0);
	ck_assert_int_eq(vg_tls_conn_read(s, pt, sizeof(pt)), VG_TLS_FAILED);
	ck_assert_str_ne(vg_tls_conn_error(s), "");
	ck_assert_int_eq(vg_tls_conn_write(s, pt, 4), VG_TLS_FAILED); /* no session yet */
	vg_tls_conn_free(s);
	vg_tls_ctx_unref(ctx);
}
END_TEST

int main(void)
{
	if (make_certs() < 0) {
		fprintf(stderr, "test_tls: cannot make test certificates with openssl\n");
		return 1;
	}
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("tls");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, handshake_and_data_both_ways);
	tcase_add_test(tc, stale_openssl_error_does_not_fail_a_connection);
	tcase_add_test(tc, alpn_per_role);
	tcase_add_test(tc, client_id_from_sni);
	tcase_add_test(tc, client_certificate_identity);
	tcase_add_test(tc, resumption_across_contexts_and_rotation);
	tcase_add_test(tc, resumption_tied_to_the_client_ca);
	tcase_add_test(tc, resumption_chain);
	tcase_add_test(tc, check_config_errors);
	tcase_add_test(tc, client_pin_and_name);
	tcase_add_test(tc, garbage_is_an_error);
	suite_add_tcase(s, tc);
	int r = vg_test_run(s);
	sh("rm -rf %s", dir);
	return r;
}
