/* SPDX-License-Identifier: MIT
 *
 * The `vigil explain` command (explain.c), and the same explanation for the
 * control socket against the live policy (control.c).
 */
#ifndef VG_DAEMON_EXPLAIN_H
#define VG_DAEMON_EXPLAIN_H

#include <stdio.h>

#include "core/addr.h"
#include "daemon/config.h"
#include "policy/engine.h"

/** One question to explain (parsed from `explain` arguments). */
struct vg_explain_req {
	uint8_t qname[VG_NAME_MAX];  /* lower-case */
	struct vg_sockaddr sa;       /* the client's address */
	char client[64], type[16], transport[8];
	char id[VG_POLICY_ID_MAX];   /* client ID, "" none */
	char cert_fp[8 + 64];        /* "sha256:HEX", "" none */
	char subject[256];           /* certificate subject, "" none */
	const char *config;          /* -c FILE (borrowed from argv), NULL none */
};

/**
 * Parse explain's arguments (argv[0] is "explain"): 0, 1 for --help (the
 * caller shows the usage), 2 for a usage error (said on @p err).
 */
int vg_explain_parse(int argc, char **argv, struct vg_explain_req *q, FILE *err);

/** Write the explanation of @p q under @p pol (of @p cfg) to @p out. */
void vg_explain_write(FILE *out, const struct vg_config *cfg, const struct vg_policy *pol,
		      const struct vg_explain_req *q);

/** argv[0] is "explain"; returns the exit status. */
int vg_explain_main(int argc, char **argv);

#endif
