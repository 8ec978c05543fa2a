/* SPDX-License-Identifier: MIT
 *
 * The control socket's wire protocol, shared by the daemon (control.c) and
 * vigilctl (src/ctl/vigilctl.c).  One request per connection:
 *
 *   client: VIGILCTL/1 SP FORMAT SP COMMAND *(SP ARG) LF
 *           FORMAT is "text" (for people) or "json" (one JSON object)
 *   server: "ok" LF BODY     the command succeeded
 *           "error" LF BODY  it did not (BODY says why: text, or a JSON
 *                            object {"error": "..."} with FORMAT json)
 *   then the server closes the connection.
 *
 * Words are printable ASCII without spaces (names, types, numbers,
 * addresses, options); a line is at most VG_CTL_LINE_MAX bytes and at most
 * VG_CTL_MAX_ARGS words after the format.  No quoting.
 */
#ifndef VG_CTL_CTLPROTO_H
#define VG_CTL_CTLPROTO_H

#include <stdbool.h>
#include <stdio.h>

#define VG_CTL_MAGIC "VIGILCTL/1"
#define VG_CTL_LINE_MAX 2048
#define VG_CTL_MAX_ARGS 24

struct vg_ctl_req {
	bool json;                    /* FORMAT json */
	int argc;                     /* the command and its arguments */
	char *argv[VG_CTL_MAX_ARGS + 1]; /* into the line; argv[argc] NULL */
};

/**
 * Split request @p line (NUL-terminated, without or with its LF; modified
 * in place) into @p req.  0, or VG_EPARSE with a reason in @p why
 * (@p why_size bytes): no magic, an unknown format, no command, a byte
 * that is not printable ASCII, too many words.
 */
int vg_ctl_parse(char *line, struct vg_ctl_req *req, char *why, size_t why_size);

/** Write @p s as a JSON string (quoted, escaped). */
void vg_ctl_json_str(FILE *f, const char *s);

#endif
