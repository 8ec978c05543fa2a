/* SPDX-License-Identifier: MIT
 *
 * The control socket's request line and JSON strings (ctlproto.h).  Pure:
 * no I/O, no daemon state; unit-tested in tests/unit/test_control.c.
 */
#include <stdio.h>
#include <string.h>

#include "ctl/ctlproto.h"
#include "vigil/err.h"

int vg_ctl_parse(char *line, struct vg_ctl_req *req, char *why, size_t why_size)
{
	size_t len = strlen(line);
	char *words[VG_CTL_MAX_ARGS + 2];
	int n = 0;

	memset(req, 0, sizeof(*req));
	if (len && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len >= VG_CTL_LINE_MAX) {
		snprintf(why, why_size, "request longer than %d bytes", VG_CTL_LINE_MAX - 1);
		return VG_EPARSE;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch != ' ' && (ch < 0x21 || ch > 0x7e)) {
			snprintf(why, why_size, "byte %zu of the request is not printable ASCII",
				 i + 1);
			return VG_EPARSE;
		}
	}
	for (char *p = line; *p;) {
		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == VG_CTL_MAX_ARGS + 2) {
			snprintf(why, why_size, "more than %d arguments", VG_CTL_MAX_ARGS - 1);
			return VG_EPARSE;
		}
		words[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	if (n < 1 || strcmp(words[0], VG_CTL_MAGIC)) {
		snprintf(why, why_size, "not a vigilctl request (it starts with %s)", VG_CTL_MAGIC);
		return VG_EPARSE;
	}
	if (n < 2 || (strcmp(words[1], "json") && strcmp(words[1], "text"))) {
		snprintf(why, why_size, "the format is 'text' or 'json'");
		return VG_EPARSE;
	}
	req->json = !strcmp(words[1], "json");
	if (n < 3) {
		snprintf(why, why_size, "no command");
		return VG_EPARSE;
	}
	for (int i = 2; i < n; i++)
		req->argv[req->argc++] = words[i];
	req->argv[req->argc] = NULL;
	return 0;
}

void vg_ctl_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}
