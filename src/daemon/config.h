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
#include <netinet/in.h>
#include <sys/socket.h>

#define VG_CONFIG_MAX_ADDRS 16
#define VG_CONFIG_MAX_ACL 64
#define VG_CONFIG_MAX_FORWARDS 32
#define VG_CONFIG_MAX_NAME 255 /* wire length of a domain name */

/** A socket address (IPv4 or IPv6) with port. */
struct vg_sockaddr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len;
};

/** An address prefix: family AF_INET/AF_INET6, bytes in network order. */
struct vg_prefix {
	int family;
	uint8_t addr[16];
	uint8_t bits;
};

enum vg_acl_action { VG_ACL_ALLOW = 0, VG_ACL_REFUSE = 1, VG_ACL_DROP = 2 };

struct vg_acl_rule {
	struct vg_prefix prefix;
	enum vg_acl_action action;
};

struct vg_forward_zone {
	uint8_t zone[VG_CONFIG_MAX_NAME]; /* wire format, lower-case, "." is {0} */
	size_t zone_len;
	struct vg_sockaddr upstreams[VG_CONFIG_MAX_ADDRS]; /* default port 53 */
	size_t n_upstreams;
};

/** policy.sources[]: one RPZ zone or list. */
#define VG_CONFIG_MAX_POLICY_SOURCES 32
#define VG_POLICY_MIN_NS_DOTS_DEFAULT 1 /* policy.min-ns-dots */
#define VG_CONFIG_MAX_POLICY_GROUPS 16
#define VG_CONFIG_MAX_GROUP_CLIENTS 32
enum vg_policy_source_type { VG_PSRC_RPZ = 0, VG_PSRC_HOSTS, VG_PSRC_DOMAINS, VG_PSRC_ADBLOCK };
/** A source's override of its rules' actions (RPZ.md 2.5): GIVEN keeps them. */
enum vg_policy_override {
	VG_POVR_GIVEN = 0, VG_POVR_DISABLED, VG_POVR_NXDOMAIN, VG_POVR_NODATA, VG_POVR_PASSTHRU,
	VG_POVR_DROP, VG_POVR_TCP_ONLY, VG_POVR_CNAME,
};
#define VG_CONFIG_MAX_PRIMARIES 4
struct vg_policy_source {
	char name[64];
	char file[512];   /* feeds: the last good copy (default <feed-directory>/<name>.rpz) */
	enum vg_policy_source_type type;
	uint16_t ede;     /* 15 (default), 16 or 17 */
	int action;       /* lists: enum vg_pol_action for block entries (NXDOMAIN default) */
	bool optional;    /* a broken file at start-up is a warning, not an error */
	/* RPZ.md 2.5: the per-zone policy override, and where the rules apply */
	int override;     /* enum vg_policy_override */
	uint8_t override_cname[VG_CONFIG_MAX_NAME]; /* override "cname DOMAIN" (wire) */
	bool recursive_only; /* rules apply to RD=1 queries only (default yes) */
	bool break_dnssec;   /* rewrite DO=1 queries for signed data too (default no) */
	/* RPZ feeds (src/policy/feed.c): the zone is transferred from a primary */
	struct vg_sockaddr primaries[VG_CONFIG_MAX_PRIMARIES]; /* default port 53 */
	size_t n_primaries;                /* 0: a plain file, not a feed */
	uint8_t zone[VG_CONFIG_MAX_NAME];  /* the policy zone to transfer (wire, lower-case) */
	unsigned tsig_key;                 /* 1 + index into policy_tsig_keys; 0: no TSIG */
};

/** policy.tsig-keys[]: a TSIG key (RFC 8945) for feed transfers and NOTIFYs. */
#define VG_CONFIG_MAX_TSIG_KEYS 16
#define VG_CONFIG_TSIG_SECRET_MAX 128
enum vg_tsig_alg { VG_TSIG_HMAC_SHA256 = 0, VG_TSIG_HMAC_SHA512, VG_TSIG_HMAC_SHA1 };
struct vg_tsig_key {
	uint8_t name[VG_CONFIG_MAX_NAME]; /* the key's name (wire, lower-case) */
	enum vg_tsig_alg alg;             /* hmac-sha256 (default), hmac-sha512, hmac-sha1 */
	uint16_t secret_len;
	uint8_t secret[VG_CONFIG_TSIG_SECRET_MAX];
};

/** policy.groups[]: clients (by prefix) and the sources applied to them. */
struct vg_policy_group {
	char name[64];
	struct vg_prefix clients[VG_CONFIG_MAX_GROUP_CLIENTS];
	size_t n_clients;
	uint8_t sources[VG_CONFIG_MAX_POLICY_SOURCES]; /* indexes into policy_sources */
	size_t n_sources;
	bool allowlist;   /* only allowed / PASSTHRU names resolve */
};

enum vg_log_target { VG_LOG_STDERR = 0, VG_LOG_SYSLOG = 1 };

#define VG_CONFIG_MAX_TA_FILES 8
#define VG_CONFIG_MAX_NTA 64

struct vg_config {
	char source_file[512]; /* "" when built from defaults */

	/* server: */
	struct vg_sockaddr listen[VG_CONFIG_MAX_ADDRS]; /* both UDP and TCP */
	size_t n_listen;
	unsigned workers;          /* 0 = number of cores */
	unsigned tcp_idle_ms;      /* default 10000 */
	unsigned tcp_max_per_worker; /* default 256 */
	unsigned tcp_max_total;      /* default 1024 */
	unsigned tcp_max_pipeline;   /* queries in flight per TCP connection, default 100 */
	uint16_t max_udp_size;     /* largest UDP answer to clients, 512..4096, default 1232 */
	struct vg_acl_rule acl[VG_CONFIG_MAX_ACL]; /* first longest-prefix match wins */
	size_t n_acl;
	enum vg_acl_action acl_default; /* for sources no rule matches: refuse */

	/* cache: */
	size_t cache_size;   /* bytes, default 64 MiB, min 1 MiB */
	uint32_t cache_max_ttl;     /* default 86400 */
	uint32_t cache_max_neg_ttl; /* default 3600 */
	uint32_t cache_min_ttl;     /* default 0 */
	uint32_t servfail_ttl;      /* failure caching, RFC 9520; default 5 */

	/* resolver: */
	char root_hints[512]; /* "" = built-in IANA hints */
	struct vg_sockaddr outgoing[VG_CONFIG_MAX_ADDRS]; /* source addresses; port ignored */
	size_t n_outgoing;
	bool allow_query_localhost; /* upstreams on 127/8, ::1; default false */
	bool allow_query_private;   /* upstreams on RFC 1918, fc00::/7 etc.; default true */
	bool qname_minimisation;    /* default true */
	bool prime_root;            /* unsolicited: priming query at start; default true */
	bool prefetch;              /* unsolicited: refresh popular entries near expiry; default false */
	bool use_ipv6_upstream;     /* default true */
	uint16_t upstream_udp_size; /* EDNS size advertised upstream, default 1232 */

	/* limits: */
	unsigned max_upstream_queries; /* per client query, default 200 */
	unsigned max_subquery_depth;   /* default 8 */
	unsigned max_referrals;        /* default 30 */
	unsigned max_cname_chain;      /* default 11 */
	unsigned max_glueless_ns;      /* glue-less NS names resolved per delegation, default 5 */
	unsigned request_timeout_ms;   /* whole client query, default 5000 */
	unsigned upstream_timeout_ms;  /* first try to an unknown server, default 400 */

	/* dnssec: */
	bool dnssec_validation;      /* default true */
	char trust_anchor_files[VG_CONFIG_MAX_TA_FILES][512]; /* none: built-in root anchors */
	size_t n_trust_anchor_files;
	uint8_t nta[VG_CONFIG_MAX_NTA][VG_CONFIG_MAX_NAME]; /* negative trust anchors (RFC 7646) */
	size_t n_nta;
	uint32_t dnssec_clock_skew;  /* seconds, default 300 */
	uint32_t bogus_ttl;          /* seconds a bogus result is cached, default 60 */
	unsigned val_max_rrsigs_per_rrset; /* default 8 */
	unsigned val_max_keys_per_tag;     /* default 2 */
	unsigned val_max_per_query;        /* signature validations per client query, default 32 */
	unsigned nsec3_max_iterations;     /* RFC 9276, default 50 */
	unsigned nsec3_max_records;        /* per answer, default 8 */
	unsigned nsec3_max_hashes;         /* per client query, default 600 */
	bool aggressive_nsec;              /* RFC 8198, default true */
	char auto_ta_file[512];            /* RFC 5011 state file; "" = no automated rollover */

	struct vg_forward_zone forwards[VG_CONFIG_MAX_FORWARDS];
	size_t n_forwards;

	/* policy: */
	struct vg_policy_source policy_sources[VG_CONFIG_MAX_POLICY_SOURCES];
	size_t n_policy_sources;
	struct vg_policy_group policy_groups[VG_CONFIG_MAX_POLICY_GROUPS];
	size_t n_policy_groups;
	char policy_log[512];         /* JSON decision log: a file, "syslog", or "" (the main log) */
	bool policy_qname_wait_recurse; /* resolve a name a rule rewrites, to let an earlier
					 * source's answer-side rules decide (default no) */
	unsigned policy_min_ns_dots;  /* NSDNAME/NSIP: delegation points with fewer labels are
				       * not looked at (default 1: the root's are not) */
	unsigned policy_watch_ms;     /* poll the sources' files for changes; 0 = off (default 2000) */
	struct vg_tsig_key policy_tsig_keys[VG_CONFIG_MAX_TSIG_KEYS];
	size_t n_policy_tsig_keys;
	char feed_directory[512];     /* feeds' last good copies; default /var/lib/vigil */

	/* log: */
	int log_level; /* syslog levels: 3 err, 4 warning, 6 info, 7 debug; default 6 */
	enum vg_log_target log_target;
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

/** Parse "ADDR", "ADDR@PORT" or "[v6]:PORT"/"v4:PORT" into @p out. 0 or negative. */
int vg_config_parse_sockaddr(const char *s, uint16_t default_port, struct vg_sockaddr *out);

/** Parse "ADDR/BITS" (or bare ADDR = host prefix). 0 or negative. */
int vg_config_parse_prefix(const char *s, struct vg_prefix *out);

/** Parse a size like "64M", "512k", "1G", "1048576". 0 or negative. */
int vg_config_parse_size(const char *s, size_t *out);

/** Parse a domain name in presentation form into lower-case wire form. Returns length or negative. */
int vg_config_parse_name(const char *s, uint8_t *out, size_t outlen);

/** Does @p addr (family, network-order bytes) fall in prefix @p p? */
bool vg_prefix_contains(const struct vg_prefix *p, int family, const uint8_t *addr);

/** ACL decision for a client address. */
enum vg_acl_action vg_config_acl_check(const struct vg_config *cfg, const struct sockaddr *sa);

/** Write a human-readable dump of the effective config (used by --check-config -v). */
void vg_config_dump(const struct vg_config *cfg, FILE *out);

#endif
