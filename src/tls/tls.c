/* SPDX-License-Identifier: MIT
 *
 * TLS contexts and sessions over memory BIOs (see tls.h).
 *
 * Server contexts: TLS 1.2 and 1.3, no renegotiation, no compression,
 * stateless session tickets under our own key ring (so every worker, and
 * every context after a reload, resumes every other's sessions) and no
 * server-side session cache.  SSL_MODE_RELEASE_BUFFERS frees OpenSSL's
 * record buffers while a connection is idle.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/core.h"
#include "tls/tls.h"

#define TICKET_KEYS 2 /* the current key and the one before */

struct ticket_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
};

struct vg_tls_tickets {
	pthread_rwlock_t lock; /* taken per handshake, never per query */
	struct ticket_key key[TICKET_KEYS]; /* [0] current */
	unsigned n;
};

struct vg_tls_ctx {
	atomic_uint refs;
	SSL_CTX *ssl;
	enum vg_tls_role role;
	bool client;
	struct vg_tls_tickets *tickets;
	char server_name[VG_TLS_NAME_MAX];
};

struct vg_tls_conn {
	SSL *ssl;
	BIO *rbio, *wbio;
	struct vg_tls_ctx *ctx;
	bool established, checked, failed;
	char spki_pins[VG_TLS_PINS_MAX]; /* base64 pins, separated by spaces */
	char id[VG_TLS_ID_MAX];
	char cert_fp[VG_TLS_FP_MAX];
	char cert_subject[VG_TLS_SUBJECT_MAX];
	char error[160];
};

static void ssl_error(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s%s%s%s%s", what, file ? " " : "", file ? file : "",
		 buf[0] ? ": " : "", buf);
}

/* ------------------------------------------------------------ ticket keys */

static int ticket_key_fill(struct ticket_key *k)
{
	return RAND_bytes((unsigned char *)k, sizeof(*k)) == 1 ? 0 : VG_EINVAL;
}

struct vg_tls_tickets *vg_tls_tickets_new(void)
{
	struct vg_tls_tickets *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (pthread_rwlock_init(&t->lock, NULL) != 0) {
		free(t);
		return NULL;
	}
	if (ticket_key_fill(&t->key[0]) < 0) {
		vg_tls_tickets_free(t);
		return NULL;
	}
	t->n = 1;
	return t;
}

int vg_tls_tickets_rotate(struct vg_tls_tickets *t)
{
	struct ticket_key k;
	if (ticket_key_fill(&k) < 0)
		return VG_EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	memmove(&t->key[1], &t->key[0], sizeof(t->key[0]) * (TICKET_KEYS - 1));
	t->key[0] = k;
	if (t->n < TICKET_KEYS)
		t->n++;
	pthread_rwlock_unlock(&t->lock);
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

void vg_tls_tickets_free(struct vg_tls_tickets *t)
{
	if (!t)
		return;
	pthread_rwlock_destroy(&t->lock);
	OPENSSL_cleanse(t->key, sizeof(t->key));
	free(t);
}

static int ticket_mac_init(EVP_MAC_CTX *hctx, const uint8_t *key)
{
	OSSL_PARAM params[3];
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/* OpenSSL's ticket callback: 1 ok, 2 ok and issue a new ticket, 0 unknown
 * key (full handshake), -1 error. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	struct vg_tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	struct vg_tls_tickets *t = ctx ? ctx->tickets : NULL;
	int r = -1;
	if (!t)
		return -1;
	pthread_rwlock_rdlock(&t->lock);
	if (enc) {
		const struct ticket_key *k = &t->key[0];
		memcpy(name, k->name, 16);
		if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) == 1 &&
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) == 1 &&
		    ticket_mac_init(hctx, k->hmac) == 1)
			r = 1;
	} else {
		r = 0;
		for (unsigned i = 0; i < t->n; i++) {
			const struct ticket_key *k = &t->key[i];
			if (memcmp(name, k->name, 16) != 0)
				continue;
			/* 2: issue a fresh ticket on every resumption.  TLS 1.3
			 * clients use a ticket once (RFC 8446 C.4), so with 1 a
			 * resumed connection got none and every other connection
			 * needed a full handshake (bench (t4): 50% resumed) */
			if (ticket_mac_init(hctx, k->hmac) != 1 ||
			    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
				r = -1;
			else
				r = 2;
			break;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return r;
}

/* ------------------------------------------------------------ contexts */

static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct vg_tls_ctx *ctx = arg;
	static const unsigned char dot[] = "\x03" "dot", h2[] = "\x02" "h2";
	const unsigned char *want = ctx->role == VG_TLS_DOH ? h2 : dot;
	(void)s;
	for (unsigned i = 0; i < inlen;) {
		unsigned l = in[i];
		if (i + 1 + l > inlen)
			break;
		if (l == want[0] && memcmp(in + i + 1, want + 1, l) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	/* RFC 7301 3.2: a client offering only other protocols is refused */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static struct vg_tls_ctx *ctx_alloc(SSL_CTX *ssl)
{
	struct vg_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->ssl = ssl;
	SSL_CTX_set_app_data(ssl, c);
	return c;
}

/* The first 16 bytes of the SHA-256 of file @p path.  0 or negative. */
static int ca_digest(const char *path, unsigned char out[16])
{
	unsigned char md[SHA256_DIGEST_LENGTH], buf[4096];
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	size_t n;
	int r = VG_EINVAL;
	if (!f || !m || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (EVP_DigestUpdate(m, buf, n) != 1)
			goto out;
	if (ferror(f) || EVP_DigestFinal_ex(m, md, NULL) != 1)
		goto out;
	memcpy(out, md, 16);
	r = 0;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(m);
	return r;
}

static int server_ssl_ctx(const struct vg_tls_opts *o, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());
	*out = NULL;
	if (!s) {
		ssl_error(err, errlen, "cannot create a TLS context", NULL);
		return VG_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			       SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	if (!o->certificate[0] || !o->key[0]) {
		snprintf(err, errlen, "tls.certificate and tls.key are both needed");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(s, o->certificate) != 1) {
		ssl_error(err, errlen, "cannot load the certificate chain", o->certificate);
		goto fail;
	}
	FILE *f = fopen(o->key, "r");
	EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	if (!key) {
		if (!f)
			snprintf(err, errlen, "cannot read the private key %s: %s", o->key,
				 strerror(errno));
		else
			ssl_error(err, errlen, "cannot load the private key", o->key);
		goto fail;
	}
	if (X509_check_private_key(SSL_CTX_get0_certificate(s), key) != 1) {
		EVP_PKEY_free(key);
		ERR_clear_error();
		snprintf(err, errlen, "the private key %s does not match the certificate %s",
			 o->key, o->certificate);
		goto fail;
	}
	int ok = SSL_CTX_use_PrivateKey(s, key);
	EVP_PKEY_free(key);
	if (ok != 1) {
		ssl_error(err, errlen, "cannot use the private key", o->key);
		goto fail;
	}
	if (o->client_ca[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->client_ca);
		if (!names || SSL_CTX_load_verify_locations(s, o->client_ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			ssl_error(err, errlen, "cannot load the client CA", o->client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(s, names);
		/* asked for, not required: a client without one is still served
		 * (by address or client ID); one that does not verify is refused */
		SSL_CTX_set_verify(s, SSL_VERIFY_PEER, NULL);
	}
	/* the session ID context names the client CA too: a session (ticket)
	 * whose client certificate was verified against another CA must not
	 * resume with that identity after tls.client-ca changes */
	unsigned char sid_ctx[5 + 16] = "vigil";
	unsigned sid_len = 5;
	if (o->client_ca[0] && ca_digest(o->client_ca, sid_ctx + 5) == 0)
		sid_len += 16;
	SSL_CTX_set_session_id_context(s, sid_ctx, sid_len);
	SSL_CTX_set_num_tickets(s, 1);
	*out = s;
	return 0;
fail:
	SSL_CTX_free(s);
	return VG_EINVAL;
}

int vg_tls_server_new(const struct vg_tls_opts *o, enum vg_tls_role role,
		      struct vg_tls_tickets *t, struct vg_tls_ctx **out, char *err, size_t errlen)
{
	SSL_CTX *s;
	*out = NULL;
	int r = server_ssl_ctx(o, &s, err, errlen);
	if (r < 0)
		return r;
	struct vg_tls_ctx *c = ctx_alloc(s);
	if (!c) {
		SSL_CTX_free(s);
		snprintf(err, errlen, "out of memory");
		return VG_ENOMEM;
	}
	c->role = role;
	c->tickets = t;
	snprintf(c->server_name, sizeof(c->server_name), "%s", o->server_name);
	for (char *p = c->server_name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t n = strlen(c->server_name);
	if (n && c->server_name[n - 1] == '.')
		c->server_name[n - 1] = 0;
	SSL_CTX_set_alpn_select_cb(s, alpn_select, c);
	if (t)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(s, ticket_cb);
	*out = c;
	return 0;
}

int vg_tls_check(const struct vg_tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *s;
	int r = server_ssl_ctx(o, &s, err, errlen);
	SSL_CTX_free(s);
	return r;
}

int vg_tls_client_new(const struct vg_tls_client_opts *o, struct vg_tls_ctx **out, char *err,
		      size_t errlen)
{
	*out = NULL;
	SSL_CTX *s = SSL_CTX_new(TLS_client_method());
	if (!s) {
		ssl_error(err, errlen, "cannot create a TLS context", NULL);
		return VG_ENOMEM;
	}
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	if (o->ca_file[0] ? SSL_CTX_load_verify_locations(s, o->ca_file, NULL) != 1
			  : SSL_CTX_set_default_verify_paths(s) != 1) {
		ssl_error(err, errlen, "cannot load the CA certificates",
			  o->ca_file[0] ? o->ca_file : "(system store)");
		SSL_CTX_free(s);
		return VG_EINVAL;
	}
	SSL_CTX_set_verify(s, o->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	static const unsigned char dot[] = "\x03" "dot";
	SSL_CTX_set_alpn_protos(s, dot, sizeof(dot) - 1);
	struct vg_tls_ctx *c = ctx_alloc(s);
	if (!c) {
		SSL_CTX_free(s);
		snprintf(err, errlen, "out of memory");
		return VG_ENOMEM;
	}
	c->client = true;
	*out = c;
	return 0;
}

struct vg_tls_ctx *vg_tls_ctx_ref(struct vg_tls_ctx *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void vg_tls_ctx_unref(struct vg_tls_ctx *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	SSL_CTX_free(c->ssl);
	free(c);
}

enum vg_tls_role vg_tls_ctx_role(const struct vg_tls_ctx *c)
{
	return c->role;
}

/* ------------------------------------------------------------ connections */

static struct vg_tls_conn *conn_new(struct vg_tls_ctx *ctx)
{
	struct vg_tls_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ssl = SSL_new(ctx->ssl);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio) {
		SSL_free(c->ssl);
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		free(c);
		return NULL;
	}
	/* an empty memory BIO says "retry", not end of file */
	BIO_set_mem_eof_return(c->rbio, -1);
	BIO_set_mem_eof_return(c->wbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	c->ctx = vg_tls_ctx_ref(ctx);
	return c;
}

struct vg_tls_conn *vg_tls_conn_accept(struct vg_tls_ctx *ctx)
{
	struct vg_tls_conn *c = conn_new(ctx);
	if (c)
		SSL_set_accept_state(c->ssl);
	return c;
}

struct vg_tls_conn *vg_tls_conn_connect(struct vg_tls_ctx *ctx, const char *auth_name,
					const char *spki_pin)
{
	struct vg_tls_conn *c = conn_new(ctx);
	if (!c)
		return NULL;
	if (auth_name && auth_name[0]) {
		SSL_set_tlsext_host_name(c->ssl, auth_name);
		if (SSL_set1_host(c->ssl, auth_name) != 1) {
			vg_tls_conn_free(c);
			return NULL;
		}
	}
	if (spki_pin && spki_pin[0]) {
		if (strlen(spki_pin) >= sizeof(c->spki_pins)) {
			vg_tls_conn_free(c);
			return NULL;
		}
		snprintf(c->spki_pins, sizeof(c->spki_pins), "%s", spki_pin);
		if (!auth_name || !auth_name[0])
			SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL); /* the pin decides */
	}
	SSL_set_connect_state(c->ssl);
	return c;
}

void vg_tls_conn_free(struct vg_tls_conn *c)
{
	if (!c)
		return;
	SSL_free(c->ssl); /* frees the BIOs */
	vg_tls_ctx_unref(c->ctx);
	free(c);
}

int vg_tls_conn_input(struct vg_tls_conn *c, const uint8_t *in, size_t len)
{
	size_t n;
	if (len && (BIO_write_ex(c->rbio, in, len, &n) != 1 || n != len))
		return VG_TLS_FAILED;
	return 0;
}

static void hex(char *out, const unsigned char *p, unsigned n)
{
	static const char d[] = "0123456789abcdef";
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* The client ID in SNI: the one label before ".server-name". */
static void sni_client_id(struct vg_tls_conn *c)
{
	const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
	const char *base = c->ctx->server_name;
	size_t bl = strlen(base), sl;
	if (!sni || !bl)
		return;
	sl = strlen(sni);
	if (sl && sni[sl - 1] == '.')
		sl--;
	if (sl <= bl + 1 || sni[sl - bl - 1] != '.' || strncasecmp(sni + sl - bl, base, bl) != 0)
		return;
	size_t il = sl - bl - 1;
	char id[VG_TLS_ID_MAX];
	if (il >= VG_TLS_ID_MAX)
		return;
	for (size_t i = 0; i < il; i++) {
		unsigned char ch = (unsigned char)sni[i];
		if (!isalnum(ch) && ch != '-')
			return; /* more than one label, or not a hostname label */
		id[i] = (char)tolower(ch);
	}
	id[il] = 0;
	memcpy(c->id, id, il + 1);
}

static void peer_cert(struct vg_tls_conn *c)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!x || SSL_get_verify_result(c->ssl) != X509_V_OK)
		return;
	if (X509_digest(x, EVP_sha256(), md, &n) == 1 && n == 32) {
		memcpy(c->cert_fp, "sha256:", 7);
		hex(c->cert_fp + 7, md, n);
	}
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		int l = BIO_read(b, c->cert_subject, sizeof(c->cert_subject) - 1);
		c->cert_subject[l > 0 ? l : 0] = 0;
	}
	BIO_free(b);
}

/* RFC 7858 4.2: the base64 SHA-256 of the server's SubjectPublicKeyInfo is
 * one of the pin set (a backup pin lets the operator change keys). */
static bool pin_matches(struct vg_tls_conn *c)
{
	X509 *x = SSL_get0_peer_certificate(c->ssl);
	unsigned char *der = NULL, md[32];
	char b64[64];
	if (!x)
		return false;
	int l = i2d_PUBKEY(X509_get0_pubkey(x), &der);
	if (l <= 0)
		return false;
	SHA256(der, (size_t)l, md);
	OPENSSL_free(der);
	size_t bl = (size_t)EVP_EncodeBlock((unsigned char *)b64, md, sizeof(md));
	for (const char *p = c->spki_pins; *p;) {
		size_t n = strcspn(p, " ");
		if (n == bl && memcmp(p, b64, n) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

static ssize_t fail(struct vg_tls_conn *c, int e)
{
	if (!c->error[0]) {
		unsigned long code = ERR_peek_error();
		if (code)
			ERR_error_string_n(code, c->error, sizeof(c->error));
		else if (e == SSL_ERROR_SYSCALL)
			snprintf(c->error, sizeof(c->error), "connection closed in the handshake");
		else
			snprintf(c->error, sizeof(c->error), "TLS error %d", e);
	}
	ERR_clear_error();
	return VG_TLS_FAILED;
}

/* The handshake completed: the session counts as established only once the
 * server's key matched a pin (a failed check must not leave a usable
 * session behind for a caller that reads on). */
static ssize_t established(struct vg_tls_conn *c)
{
	if (c->ctx->client) {
		if (c->spki_pins[0] && !pin_matches(c)) {
			snprintf(c->error, sizeof(c->error),
				 "the server's public key does not match the pin%s",
				 strchr(c->spki_pins, ' ') ? "s" : "");
			c->failed = true;
			return VG_TLS_FAILED;
		}
		c->established = true;
		return 0;
	}
	c->established = true;
	sni_client_id(c);
	peer_cert(c);
	return 0;
}

ssize_t vg_tls_conn_read(struct vg_tls_conn *c, uint8_t *buf, size_t cap)
{
	if (c->failed)
		return VG_TLS_FAILED;
	/* SSL_get_error reads the thread's error queue first: what another
	 * part of the worker left there (a DNSSEC signature that did not
	 * verify) would fail this connection */
	ERR_clear_error();
	if (!c->established) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return VG_TLS_AGAIN;
			c->failed = true;
			return fail(c, e);
		}
		if (established(c) < 0)
			return VG_TLS_FAILED;
	}
	size_t n = 0;
	if (SSL_read_ex(c->ssl, buf, cap, &n) == 1)
		return (ssize_t)n;
	int e = SSL_get_error(c->ssl, 0);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return VG_TLS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return VG_TLS_CLOSED;
	default:
		return fail(c, e);
	}
}

int vg_tls_conn_write(struct vg_tls_conn *c, const uint8_t *p, size_t len)
{
	size_t n;
	ERR_clear_error(); /* as in vg_tls_conn_read */
	if (!c->established || SSL_write_ex(c->ssl, p, len, &n) != 1 || n != len) {
		ERR_clear_error();
		return VG_TLS_FAILED;
	}
	return 0;
}

void vg_tls_conn_shutdown(struct vg_tls_conn *c)
{
	if (c->established)
		SSL_shutdown(c->ssl);
	ERR_clear_error();
}

size_t vg_tls_conn_pending(const struct vg_tls_conn *c)
{
	return BIO_ctrl_pending(c->wbio);
}

size_t vg_tls_conn_take(struct vg_tls_conn *c, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	if (cap && BIO_read_ex(c->wbio, buf, cap, &n) != 1)
		return 0;
	return n;
}

bool vg_tls_conn_established(const struct vg_tls_conn *c)
{
	return c->established;
}

bool vg_tls_conn_resumed(const struct vg_tls_conn *c)
{
	return SSL_session_reused(c->ssl) == 1;
}

const char *vg_tls_conn_alpn(const struct vg_tls_conn *c)
{
	static __thread char buf[32];
	const unsigned char *p;
	unsigned n;
	SSL_get0_alpn_selected(c->ssl, &p, &n);
	if (!p || n >= sizeof(buf))
		return "";
	memcpy(buf, p, n);
	buf[n] = 0;
	return buf;
}

const char *vg_tls_conn_client_id(const struct vg_tls_conn *c)
{
	return c->id;
}

const char *vg_tls_conn_cert_fp(const struct vg_tls_conn *c)
{
	return c->cert_fp;
}

const char *vg_tls_conn_cert_subject(const struct vg_tls_conn *c)
{
	return c->cert_subject;
}

const char *vg_tls_conn_error(const struct vg_tls_conn *c)
{
	return c->error;
}
