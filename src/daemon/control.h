/* SPDX-License-Identifier: MIT
 *
 * The control socket (control.c): vigilctl's unix socket on the daemon's
 * main loop.  The protocol is in ctlproto.h.
 */
#ifndef VG_DAEMON_CONTROL_H
#define VG_DAEMON_CONTROL_H

struct daemon;
struct vg_config;

/**
 * Create the socket of @p cfg->control (before privileges are dropped,
 * where the listening sockets are bound) and serve it on d->loop.  0, or
 * negative with the reason logged: an error unless the path is the default
 * one, which another vigil may hold (then this one runs on without).  No
 * socket when control.socket is "".
 */
int vg_control_start(struct daemon *d, const struct vg_config *cfg);

/**
 * Close the socket, end open connections and remove the socket file (from
 * a callback of d->loop: the loop's next turn frees the rest).
 */
void vg_control_stop(struct daemon *d);

/** A new policy is in force: map the paused groups to its group indexes. */
void vg_control_policy_changed(struct daemon *d);

#endif
