/* SPDX-License-Identifier: MIT
 *
 * DNS over HTTPS on a stream connection: the HTTP/2 session (src/http)
 * between the connection's bytes and the pipeline.
 */
#include "net/stream.h"

int vg__doh_start(struct vg_tcp_conn *c)
{
	(void)c;
	return VG_ENOTSUP;
}

void vg__doh_input(struct vg_tcp_conn *c, const uint8_t *p, size_t len)
{
	(void)p;
	(void)len;
	vg__conn_close(c);
}

void vg__doh_process(struct vg_tcp_conn *c)
{
	vg__conn_close(c);
}

void vg__doh_answer(struct vg_tcp_conn *c, int32_t stream, const uint8_t *pkt, size_t len)
{
	(void)c;
	(void)stream;
	(void)pkt;
	(void)len;
}

void vg__doh_free(struct vg_tcp_conn *c)
{
	(void)c;
}
