/* SPDX-License-Identifier: MIT
 *
 * sd_notify(3) messages (sdnotify.h), sent with libsystemd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "daemon/sdnotify.h"

static void send_state(const char *state)
{
	if (getenv("NOTIFY_SOCKET"))
		sd_notify(0, state); /* the variable stays: reloads and the stop use it too */
}

void vg_sd_ready(const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "READY=1\nSTATUS=");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	send_state(msg);
}

void vg_sd_reloading(void)
{
	send_state("RELOADING=1\nSTATUS=reloading the configuration");
}

void vg_sd_stopping(void)
{
	send_state("STOPPING=1\nSTATUS=stopping");
}
