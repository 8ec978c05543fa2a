/* SPDX-License-Identifier: MIT
 *
 * Internals of the pipeline shared by its files (pipeline.c, discovery.c)
 * and by nothing else.
 */
#ifndef VG_PIPELINE_IMPL_H
#define VG_PIPELINE_IMPL_H

#include "pipeline/pipeline.h"

/**
 * Stage 2b, discovery (discovery.c): a query vigil answers itself -- the
 * DDR name and the rest of resolver.arpa, the application DNS canary when
 * blocked.  *@p answered says whether it was one; then the answer's length
 * in @p buf is returned (0 only when @p cap cannot hold a header).
 */
size_t vg__pipe_discovery(const struct vg_ddr_opts *o, const struct vg_client_q *cq,
			  uint8_t *buf, size_t cap, bool *answered);

#endif
