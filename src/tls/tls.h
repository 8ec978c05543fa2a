/* SPDX-License-Identifier: MIT
 *
 * TLS for vigil's transports, over memory buffers: no sockets, no loop.
 *
 * A context (struct vg_tls_ctx) is what a listener or an upstream needs and
 * what does not change per connection: certificate chain and key, the
 * client CA for mutual TLS, ALPN, the session ticket keys and, for clients,
 * how the server is authenticated.  Contexts are immutable and refcounted:
 * a reload builds new ones and connections keep the context they started
 * with.  One context serves every worker (OpenSSL's SSL_CTX is safe to share
 * once built); the ticket keys (struct vg_tls_tickets) are shared by all
 * server contexts, across reloads, and rotated on a schedule by the daemon,
 * so a client resumes on whichever worker it reaches.
 *
 * A connection (struct vg_tls_conn) is one TLS session driven by its
 * transport: ciphertext read from the socket goes in with
 * vg_tls_conn_input(), plaintext comes out of vg_tls_conn_read(); plaintext
 * to send goes in with vg_tls_conn_write() and the ciphertext to write to
 * the socket is taken with vg_tls_conn_take().  Because nothing here owns a
 * socket, the same contexts would serve a QUIC transport (RFC 9250) later,
 * with its own connection type beside this one.
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VG_TLS_PATH_MAX 512
#define VG_TLS_NAME_MAX 256
#define VG_TLS_ID_MAX 64       /* client ID from SNI: one label, and its NUL */
#define VG_TLS_FP_MAX 72       /* "sha256:" + 64 hex digits + NUL */
#define VG_TLS_SUBJECT_MAX 256
#define VG_TLS_PINS_MAX 256    /* a pin set: base64 SPKI pins (44 characters) and spaces */

/** The tls section of the configuration (server side). */
struct vg_tls_opts {
	char certificate[VG_TLS_PATH_MAX]; /* PEM chain, the server's certificate first */
	char key[VG_TLS_PATH_MAX];         /* PEM private key */
	char client_ca[VG_TLS_PATH_MAX];   /* "" none: clients are not asked for certificates */
	char server_name[VG_TLS_NAME_MAX]; /* "" none; else client IDs from SNI ID.server_name */
	unsigned ticket_rotation_s;        /* new ticket key this often (default 43200) */
};

/** What a server context speaks: its ALPN. */
enum vg_tls_role {
	VG_TLS_DOT = 0, /* ALPN "dot", or none */
	VG_TLS_DOH,     /* ALPN "h2" */
};

/* ------------------------------------------------------------ ticket keys */

struct vg_tls_tickets;

/** A key ring with one fresh key.  NULL on allocation failure. */
struct vg_tls_tickets *vg_tls_tickets_new(void);
/**
 * A new key encrypts tickets from now on; the one before still decrypts
 * (and its tickets are renewed), older ones are forgotten.  Thread-safe.
 */
int vg_tls_tickets_rotate(struct vg_tls_tickets *t);
void vg_tls_tickets_free(struct vg_tls_tickets *t);

/* ------------------------------------------------------------ contexts */

struct vg_tls_ctx;

/**
 * A server context for @p role from @p o, sharing ticket keys @p t.
 * 0, or negative with the reason (file and OpenSSL's words) in @p err.
 */
int vg_tls_server_new(const struct vg_tls_opts *o, enum vg_tls_role role,
		      struct vg_tls_tickets *t, struct vg_tls_ctx **out, char *err, size_t errlen);
/** Checks what vg_tls_server_new() would: files readable, key matches certificate. */
int vg_tls_check(const struct vg_tls_opts *o, char *err, size_t errlen);

/** How a client context authenticates its servers. */
struct vg_tls_client_opts {
	char ca_file[VG_TLS_PATH_MAX]; /* "" : the system's CA store */
	bool no_verify;                /* tests only: accept any certificate */
};
/** A client context (upstream connections).  0 or negative, reason in @p err. */
int vg_tls_client_new(const struct vg_tls_client_opts *o, struct vg_tls_ctx **out, char *err,
		      size_t errlen);

struct vg_tls_ctx *vg_tls_ctx_ref(struct vg_tls_ctx *c);
void vg_tls_ctx_unref(struct vg_tls_ctx *c);
enum vg_tls_role vg_tls_ctx_role(const struct vg_tls_ctx *c);

/* ------------------------------------------------------------ connections */

enum {
	VG_TLS_AGAIN = 0,       /* vg_tls_conn_read: no plaintext yet */
	VG_TLS_CLOSED = -1,     /* the peer closed the session (close_notify) */
	VG_TLS_FAILED = -2,     /* protocol error, failed handshake: close the connection */
};

struct vg_tls_conn;

/** A server-side session on @p ctx (which it references).  NULL: no memory. */
struct vg_tls_conn *vg_tls_conn_accept(struct vg_tls_ctx *ctx);
/**
 * A client-side session to a server authenticated as @p auth_name (checked
 * against the certificate, and sent as SNI; "" : not checked, then
 * @p spki_pin must be given), and/or by @p spki_pin, a pin set: base64
 * SHA-256 digests of SubjectPublicKeyInfos separated by spaces, the
 * server's key matching any one of them (RFC 7858 4.2; NULL or "" none;
 * shorter than VG_TLS_PINS_MAX).  With both, both must hold.  The session
 * is established only after the pin matched.  NULL: no memory, or a pin
 * set too long.
 */
struct vg_tls_conn *vg_tls_conn_connect(struct vg_tls_ctx *ctx, const char *auth_name,
					const char *spki_pin);
void vg_tls_conn_free(struct vg_tls_conn *c);

/** Ciphertext from the peer.  0, or VG_TLS_FAILED (no memory). */
int vg_tls_conn_input(struct vg_tls_conn *c, const uint8_t *in, size_t len);
/**
 * Advance the handshake and read plaintext into @p buf: bytes read (> 0),
 * VG_TLS_AGAIN, VG_TLS_CLOSED or VG_TLS_FAILED.  Call it until it returns
 * VG_TLS_AGAIN after every input, and take the output afterwards (the
 * handshake writes too).
 */
ssize_t vg_tls_conn_read(struct vg_tls_conn *c, uint8_t *buf, size_t cap);
/** Plaintext to send (after the handshake).  0 or VG_TLS_FAILED. */
int vg_tls_conn_write(struct vg_tls_conn *c, const uint8_t *p, size_t len);
/** Queue the close_notify alert (take the output after it). */
void vg_tls_conn_shutdown(struct vg_tls_conn *c);
/** Ciphertext waiting to be written to the socket, in bytes. */
size_t vg_tls_conn_pending(const struct vg_tls_conn *c);
/** Move up to @p cap bytes of that ciphertext into @p buf; returns how many. */
size_t vg_tls_conn_take(struct vg_tls_conn *c, uint8_t *buf, size_t cap);

bool vg_tls_conn_established(const struct vg_tls_conn *c);
/** Was the session resumed from a ticket? */
bool vg_tls_conn_resumed(const struct vg_tls_conn *c);
/** The ALPN protocol agreed ("" none). */
const char *vg_tls_conn_alpn(const struct vg_tls_conn *c);
/**
 * The client's identity, once established (server side): the client ID from
 * SNI (ID.server-name, lower-case, "" none), and a verified client
 * certificate's "sha256:HEX" fingerprint and subject (RFC 2253), "" none.
 */
const char *vg_tls_conn_client_id(const struct vg_tls_conn *c);
const char *vg_tls_conn_cert_fp(const struct vg_tls_conn *c);
const char *vg_tls_conn_cert_subject(const struct vg_tls_conn *c);
/** Why the session failed, for the log ("" unknown). */
const char *vg_tls_conn_error(const struct vg_tls_conn *c);

#endif
