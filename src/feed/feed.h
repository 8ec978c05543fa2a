/* SPDX-License-Identifier: MIT
 *
 * RPZ feeds (src/feed): policy sources transferred from primaries.  A feed
 * manager runs one thread with its own libuv loop; for every source of the
 * config that has primaries it keeps the zone in memory, refreshes it on the
 * SOA timers (refresh, retry, expire) and when a primary sends a NOTIFY,
 * with IXFR when it has a version and AXFR otherwise, and after every
 * change writes the zone to the source's file atomically (the last good
 * copy) and calls the update callback.  The policy engine keeps reading the
 * file: a restart with every primary down still enforces the last good copy.
 *
 * This header is what the daemon uses: start, stop, NOTIFY, the reload
 * check, the feed options and the TSIG key they hold.  The module's files:
 * feed.c (the thread, connections, timers, the copies on disk, NOTIFY),
 * xfr.c (serials, the SOA/AXFR/IXFR state machine), tsig.c (RFC 8945) and
 * zone.c (the zone in memory and as a file); their cross-file interfaces
 * are in feed/impl.h, for those files and the unit tests only.  This module
 * does not compile policy: what the callback does with a changed file is
 * the receiver's business.
 *
 * Dependencies point one way: feed -> policy's options header.  A feed is a
 * policy source whose file a transfer keeps up to date, so its settings stay
 * in struct vg_policy_source (policy/policy.h) next to the source's name,
 * file and zone: the config fills one struct per source, and the policy
 * engine reads that file whether or not a feed writes it.  The feed reads
 * those options (policy/policy.h only: never the engine or its snapshots);
 * nothing in src/policy includes a feed header -- to the engine a feed is
 * only a file that may not exist yet.  The one feed-owned piece of the
 * config, the TSIG keys a source names by index, is struct vg_feed_opts
 * here.  Neither side includes a daemon header.
 */
#ifndef VG_FEED_FEED_H
#define VG_FEED_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/policy.h"
#include "vigil/wire.h"

#define VG_FEED_MAX_KEYS 16

/** A TSIG key (RFC 8945) for feed transfers and NOTIFYs (policy.tsig-keys[]). */
#define VG_TSIG_SECRET_MAX 128
enum vg_tsig_alg { VG_TSIG_HMAC_SHA256 = 0, VG_TSIG_HMAC_SHA512, VG_TSIG_HMAC_SHA1 };
struct vg_tsig_key {
	uint8_t name[VG_NAME_MAX]; /* the key's name (wire, lower-case) */
	enum vg_tsig_alg alg;      /* hmac-sha256 (default), hmac-sha512, hmac-sha1 */
	uint16_t secret_len;
	uint8_t secret[VG_TSIG_SECRET_MAX];
};

/**
 * Feed settings that are not per source (policy.tsig-keys,
 * policy.feed-directory); the per-source ones are in struct vg_policy_source.
 */
struct vg_feed_opts {
	struct vg_tsig_key tsig_keys[VG_FEED_MAX_KEYS];
	size_t n_tsig_keys;
	char directory[512]; /* feeds' last good copies; default server.state-directory */
};

struct vg_feed;

/**
 * Called on the feed thread after the file of policy source @p source_index
 * (its position in the policy sources) was rewritten with a new version.
 * The receiver makes it thread-safe (e.g. a uv_async_send).
 */
typedef void (*vg_feed_update_fn)(void *arg, unsigned source_index);

/**
 * Read the last good copies of the feeds of @p pol (a source without one is
 * empty until its first transfer: logged, not an error) and start the feed
 * thread, which transfers every feed at once.  *@p out is NULL when @p pol
 * has no feeds.  0 or a negative code (VG_ENOMEM, -errno from the thread).
 * @p pol and @p fo are only read during the call.
 */
int vg_feed_start(struct vg_feed **out, const struct vg_policy_opts *pol,
		  const struct vg_feed_opts *fo, vg_feed_update_fn fn, void *arg);

/**
 * Stop the feed thread and wait for it (transfers in progress are
 * abandoned; no callback comes after this returns).  vg_feed_notify may
 * still be called, and answers REFUSED.  @p f may be NULL.
 */
void vg_feed_stop(struct vg_feed *f);
/** Free a stopped manager.  @p f may be NULL. */
void vg_feed_free(struct vg_feed *f);

/**
 * Handle a NOTIFY (RFC 1996) received from @p from; thread-safe (called by
 * the workers).  Checks that it names a feed's zone, comes from one of that
 * feed's primaries (address; any port) and carries a valid TSIG when the
 * feed has a key; then wakes the feed thread to refresh that zone now.
 * Writes the response into @p resp (@p cap bytes): NOERROR, REFUSED (unknown
 * zone, another sender, unsigned when a key is required, stopped), NOTAUTH
 * (a TSIG that does not verify, RFC 8945 §5.2) or FORMERR; signed when the
 * request was.  Returns the response length, or 0 when nothing should be
 * sent (the message is not even a NOTIFY).  The daemon registers it as the
 * pipeline's NOTIFY handler (vg_pipe_opcode_fn, pipeline/pipeline.h).
 */
size_t vg_feed_notify(struct vg_feed *f, const uint8_t *pkt, size_t len,
		      const struct sockaddr *from, uint8_t *resp, size_t cap);

/**
 * Log a warning when the feeds of @p pol (a reloaded config) differ from
 * the running ones: the feed thread keeps its start-up definitions until a
 * restart.  @p f may be NULL (no feeds at start-up).
 */
void vg_feed_check_config(const struct vg_feed *f, const struct vg_policy_opts *pol,
			  const struct vg_feed_opts *fo);

/** A feed's state as the control socket shows it (a copy). */
struct vg_feed_status {
	char name[64];           /* the policy source */
	char zone[VG_NAME_MAX * 4];
	bool has_version;        /* a version is in force (serial valid) */
	uint32_t serial;
	size_t records;
	int64_t last_ok;         /* wall clock of the last good refresh, 0 never */
	int64_t last_attempt;    /* wall clock a refresh last started, 0 never */
	int64_t next_refresh;    /* wall clock of the next one, 0 none scheduled/now */
	bool busy;               /* a refresh is in progress */
	char last_error[300];    /* the last failed transfer (primary: why), "" none
				  * since the last good refresh */
};

/**
 * Copy the state of every feed into @p out (at most @p cap); how many
 * feeds there are.  Thread-safe (the feed thread publishes each change
 * under a lock).  @p f may be NULL (0).
 */
size_t vg_feed_status(struct vg_feed *f, struct vg_feed_status *out, size_t cap);

#endif
