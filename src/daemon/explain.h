/* SPDX-License-Identifier: MIT
 *
 * The `vigil explain` command (explain.c).
 */
#ifndef VG_DAEMON_EXPLAIN_H
#define VG_DAEMON_EXPLAIN_H

/** argv[0] is "explain"; returns the exit status. */
int vg_explain_main(int argc, char **argv);

#endif
