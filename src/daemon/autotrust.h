/* SPDX-License-Identifier: MIT
 *
 * RFC 5011 refresh driver (autotrust.c): runs on the main thread's loop,
 * refreshes the anchor zones' DNSKEY RRsets through vigil's own listener and
 * feeds them to the RFC 5011 state machine (src/dnssec/autota.h).
 */
#ifndef VG_DAEMON_AUTOTRUST_H
#define VG_DAEMON_AUTOTRUST_H

#include <stdio.h>
#include <uv.h>

#include "dnssec/autota.h"
#include "dnssec/ta.h"
#include "vigil/wire.h"

struct vg_autotrust;

/** Called on the main loop when the trusted keys change; @p ta is borrowed. */
typedef void (*vg_autotrust_cb)(void *arg, const struct vg_ta_set *ta);

/**
 * Load (or seed from @p configured) the state file @p state_path and start
 * refreshing.  Queries go to @p self (vigil's first listening address).
 * NULL on error (reported to @p errout as FILE:LINE: message).
 */
struct vg_autotrust *vg_autotrust_start(uv_loop_t *loop, const char *state_path,
					const struct vg_ta_set *configured,
					const struct sockaddr *self, vg_autotrust_cb on_change,
					void *arg, FILE *errout);

/** The anchors to validate with now. */
int vg_autotrust_anchors(const struct vg_autotrust *t, struct vg_ta_set *out);

/** The RFC 5011 state of every key (vg_autota_list).  Main thread. */
size_t vg_autotrust_list(const struct vg_autotrust *t, struct vg_autota_info *out, size_t cap);

/** Stop and free (closes its handles on the loop). */
void vg_autotrust_stop(struct vg_autotrust *t);

#endif
