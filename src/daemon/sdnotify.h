/* SPDX-License-Identifier: MIT
 *
 * systemd's readiness protocol (sd_notify(3), Type=notify): READY=1 once
 * vigil serves, RELOADING=1 then READY=1 around a reload, STOPPING=1 when
 * it stops, and a STATUS= line with each.  Nothing is sent unless systemd
 * (or a test) set NOTIFY_SOCKET.  Main thread only.
 */
#ifndef VG_DAEMON_SDNOTIFY_H
#define VG_DAEMON_SDNOTIFY_H

/** Serving: READY=1 and STATUS=@p fmt. */
void vg_sd_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** A reload begins: RELOADING=1 (vg_sd_ready when it has ended). */
void vg_sd_reloading(void);
/** Stopping: STOPPING=1. */
void vg_sd_stopping(void);

#endif
