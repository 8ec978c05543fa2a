/* SPDX-License-Identifier: MIT
 *
 * vigil configuration: the immutable settings snapshot the daemon runs with.
 *
 * The config is one YAML file (contrib/vigil.yaml documents every key).  It is
 * read into a struct vg_config, which is never changed after loading: a reload
 * (SIGHUP) loads a new one and swaps it.  With no file at all, vg_config_defaults()
 * gives safe defaults (listen on loopback only, private ranges and loopback may
 * query, built-in IANA root hints).
 *
 * This module owns YAML parsing and validation (file:line errors); it does not
 * open sockets, read root hints or touch the cache.
 */
#ifndef VG_DAEMON_CONFIG_H
#define VG_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cache/cache.h"
#include "core/addr.h"
#include "dnssec/dnssec.h"
#include "feed/feed.h"
#include "net/net.h"
#include "pipeline/pipeline.h"
#include "policy/policy.h"
#include "qlog/qlog.h"
#include "resolv/resolv.h"
#include "upstream/upstream.h"
#include "daemon/metrics.h"

enum vg_log_target { VG_LOG_STDERR = 0, VG_LOG_SYSLOG = 1 };

/** The log section. */
struct vg_log_opts {
	int level; /* syslog levels: 3 err, 4 warning, 5 notice, 6 info, 7 debug; default 6 */
	enum vg_log_target target;
};

/**
 * Who vigil runs as and where it writes (privs.c): server.user, the account
 * it drops to after binding its sockets when started as root ("" = stay
 * root), and server.state-directory, which that account owns and where the
 * files vigil writes live (relative names of those files resolve inside it).
 */
struct vg_run_opts {
	char user[64];           /* default "vigil" */
	char state_dir[512];     /* default /var/lib/vigil; always absolute */
};

/**
 * The discovery section as written (discovery.c in the pipeline answers
 * from serve.ddr, which vg_config_ddr_from_config derives from this and the
 * encrypted listeners).
 */
struct vg_discovery_opts {
	bool ddr;                    /* discovery.ddr: announce by DDR (default yes) */
	bool block_canary;           /* discovery.block-doh-canary (default no) */
	uint8_t name[VG_NAME_MAX];   /* discovery.ddr-name: TargetName ({0}: tls.server-name) */
	/* discovery.ddr-endpoints ("dot 853", "doh 443"): what to announce instead of
	 * the encrypted listeners (behind a proxy or NAT); alpn and port only */
	struct vg_ddr_endpoint ep[VG_DDR_MAX_ENDPOINTS];
	size_t n_ep;
	/* discovery.ddr-hints: ipv4hint / ipv6hint of those endpoints */
	struct vg_sockaddr hints[2 * VG_DDR_MAX_HINTS];
	size_t n_hints;
};

/** The control section: vigilctl's socket (src/daemon/control.c). */
struct vg_control_opts {
	char socket[108];   /* control.socket: unix socket path, "" off;
			     * default /run/vigil/control.sock */
	char mode[8];       /* control.mode: octal permissions of the socket, default "0660" */
	char group[64];     /* control.group: the socket's group (name), "" the daemon's */
	unsigned mode_bits; /* mode parsed */
	/* remote vigilctl over TCP+TLS with a client certificate (off: "") */
	char listen_tls[64];             /* control.listen-tls: ADDR@PORT */
	char tls_certificate[VG_TLS_PATH_MAX]; /* control.tls-certificate: PEM chain */
	char tls_key[VG_TLS_PATH_MAX];   /* control.tls-key */
	char client_ca[VG_TLS_PATH_MAX]; /* control.client-ca: clients' certificates' CA */
	struct vg_sockaddr tls_addr;     /* listen-tls parsed */
};
#define VG_CONTROL_SOCKET_DEFAULT "/run/vigil/control.sock"

/**
 * The whole configuration: each module's own options struct, filled from
 * the YAML sections (a module may take keys from more than one section).
 */
struct vg_config {
	char source_file[512]; /* "" when built from defaults */
	struct vg_net_opts net;           /* server: listen, workers, TCP */
	struct vg_pipe_opts serve;        /* server: access control, UDP size; limits: timeout */
	struct vg_cache_opts cache;       /* cache */
	struct vg_resolv_opts resolv;     /* resolver, limits, forward-zones, cache.servfail-ttl */
	struct vg_upstream_opts upstream; /* resolver: outgoing-address, upstream-udp-size */
	char root_hints[512];             /* resolver.root-hints: "" = built-in IANA hints */
	struct vg_dnssec_opts dnssec;     /* dnssec */
	struct vg_policy_opts policy;     /* policy (sources, groups, log ...) */
	struct vg_feed_opts feed;         /* policy: tsig-keys, feed-directory */
	struct vg_log_opts log;           /* log */
	struct vg_run_opts run;           /* server: user, state-directory */
	struct vg_tls_opts tls;           /* tls: certificate, key, client CA, tickets */
	struct vg_discovery_opts discovery; /* discovery (DDR, canary); the pipeline reads
					     * serve.ddr */
	struct vg_metrics_opts metrics;   /* metrics: the Prometheus endpoint */
	struct vg_control_opts control;   /* control: vigilctl's socket */
	struct vg_qlog_opts qlog;         /* query-log, dnstap */
};

/** Fill @p cfg with the built-in defaults. */
void vg_config_defaults(struct vg_config *cfg);

/**
 * Load @p path into @p cfg (defaults first, then the file's settings).
 * Every error is written to @p errout as "FILE:LINE: message" (all errors, not
 * just the first).  Returns 0 on success or a negative code (VG_ECONFIG) when
 * any error was found; @p cfg is then unspecified.
 */
int vg_config_load(struct vg_config *cfg, const char *path, FILE *errout);

/** Parse a size like "64M", "512k", "1G", "1048576". 0 or negative. */
int vg_config_parse_size(const char *s, size_t *out);

/** Parse a domain name in presentation form into lower-case wire form. Returns length or negative. */
int vg_config_parse_name(const char *s, uint8_t *out, size_t outlen);

/**
 * The policy sources that apply to no client: listed by no group, or only
 * by groups without client prefixes, client IDs or client certificates
 * (valid, but surely not meant).  Their
 * names, quoted and separated by ", ", go to @p names (capacity @p cap,
 * truncated with "..."); returns how many there are.
 */
size_t vg_config_policy_unused(const struct vg_config *cfg, char *names, size_t cap);

/**
 * What DDR announces (@p out, the pipeline's serve.ddr) for @p cfg:
 * discovery.ddr and block-doh-canary; the TargetName (discovery.ddr-name,
 * else tls.server-name); the endpoints, discovery.ddr-endpoints with the
 * discovery.ddr-hints addresses when given, else one per port of the
 * encrypted listeners (server.listen-tls: "dot", server.listen-https: "h2"),
 * their addresses as hints; dohpath from http.path.  No TargetName or no
 * endpoint: nothing is announced (NODATA).  Called at the end of every load
 * and by vg_config_defaults.
 */
void vg_config_ddr_from_config(const struct vg_config *cfg, struct vg_ddr_opts *out);

/**
 * Add the listeners @p addrs (@p n of them) of one encrypted transport to
 * @p o: one endpoint per distinct port, with ALPN @p alpn ("dot", "h2"),
 * dohpath when @p doh, and the addresses as hints (unspecified addresses,
 * 0.0.0.0 and ::, are left out: they name no address a client could use).
 * 0, or VG_ELIMIT when an endpoint or hint did not fit (the rest is kept).
 */
int vg_config_ddr_add_listeners(struct vg_ddr_opts *o, const char *alpn, bool doh,
				const struct vg_sockaddr *addrs, size_t n);

/** Write a human-readable dump of the effective config (used by --check-config -v). */
void vg_config_dump(const struct vg_config *cfg, FILE *out);

#endif
