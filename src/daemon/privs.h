/* SPDX-License-Identifier: MIT
 *
 * Least privilege: who vigil runs as once its sockets are bound.
 *
 * Started as root, vigil prepares (vg_privs_prepare, before it binds or
 * writes anything): it looks up server.user, creates server.state-directory
 * and gives it to that user, and checks, as that user, that every file
 * vigil will write there (the RFC 5011 state, the feeds' copies, the policy
 * decision log, the query log and dnstap files) can be written and that the
 * config file can be read again (SIGHUP).  Once the listening sockets are
 * bound, before any other thread starts, it drops (vg_privs_drop): the
 * capability bounding set emptied, the supplementary groups replaced by the
 * user's group, then setresgid and
 * setresuid, so that no capability is left (the kernel clears the permitted
 * and effective sets when every uid leaves 0), and no_new_privs.  Started
 * as another user (systemd's User= with AmbientCapabilities=), there is no
 * user to change to: the capabilities it was given are dropped once bound.
 */
#ifndef VG_DAEMON_PRIVS_H
#define VG_DAEMON_PRIVS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "daemon/config.h"

struct vg_privs {
	bool change_user;   /* started as root with a user: setuid after binding */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/** The files @p cfg makes vigil write (NULL-free, at most @p cap): their count. */
size_t vg_privs_written_files(const struct vg_config *cfg, const char **out, size_t cap);

/**
 * Before anything is bound or written (one thread only: it forks to check
 * as the user).  Not root: nothing to do.  Root: server.user looked up
 * (missing: an error naming the key; "" keeps root, with a warning), the
 * state directory created and given to the user, and what the user must
 * write checked.  0, or VG_ECONFIG with the reasons written to @p errout.
 */
int vg_privs_prepare(struct vg_privs *p, const struct vg_config *cfg, FILE *errout);

/**
 * After the listening sockets are bound: become the user (when
 * change_user) and keep no capability.  0, or negative (logged): vigil must
 * not serve then.
 */
int vg_privs_drop(const struct vg_privs *p);

#endif
