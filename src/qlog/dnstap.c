/* SPDX-License-Identifier: MIT
 *
 * dnstap (https://dnstap.info): each event as a Dnstap protobuf message
 * (libprotobuf-c, the code generated from dnstap.proto at build time), in a
 * Frame Streams output (libfstrm): a unix socket with the bidirectional
 * handshake, or a file.  fstrm's I/O thread owns the output: it buffers,
 * reconnects to a socket whose reader went away, and drops frames when its
 * queue is full rather than block the query log's writer thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstrm.h>

#include "dnstap.pb-c.h"
#include "qlog/impl.h"
#include "vigil/wire.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"

struct vg__dnstap {
	struct fstrm_iothr *iothr;
	struct fstrm_iothr_queue *q;
};

static void set_time(int64_t ns, uint64_t *sec, uint32_t *nsec)
{
	*sec = (uint64_t)(ns / 1000000000);
	*nsec = (uint32_t)(ns % 1000000000);
}

int vg__dnstap_encode(const struct vg__qlog_view *v, unsigned type, struct vg__qlog_priv *pv,
		      const char *identity, uint8_t **out, size_t *len)
{
	const struct vg__qlog_rec *h = v->h;
	Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
	Dnstap__Message m = DNSTAP__MESSAGE__INIT;
	uint8_t addr[16], qbuf[VG_NAME_MAX + 64];
	bool client = h->kind == REC_CLIENT;
	int fam;

	switch (type) {
	case VG_DNSTAP_CLIENT_QUERY:
		if (!client || h->qlen < VG_HDR_LEN)
			return VG_EINVAL;
		m.type = DNSTAP__MESSAGE__TYPE__CLIENT_QUERY;
		break;
	case VG_DNSTAP_CLIENT_RESPONSE:
		if (!client || h->rlen < VG_HDR_LEN)
			return VG_EINVAL; /* nothing was sent */
		m.type = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE;
		break;
	case VG_DNSTAP_RESOLVER_QUERY:
		if (h->kind != REC_UP_QUERY)
			return VG_EINVAL;
		m.type = DNSTAP__MESSAGE__TYPE__RESOLVER_QUERY;
		break;
	case VG_DNSTAP_RESOLVER_RESPONSE:
		if (h->kind != REC_UP_RESPONSE)
			return VG_EINVAL;
		m.type = DNSTAP__MESSAGE__TYPE__RESOLVER_RESPONSE;
		break;
	default:
		return VG_EINVAL;
	}

	/* the client's address goes through the privacy setting; an upstream
	 * server's is vigil's own business and kept whole */
	if (client) {
		fam = vg__qlog_priv_addr(pv, &h->addr.u.sa, h->tr / 1000000000, addr);
	} else {
		struct vg__qlog_priv full = { .mode = VG_QLOG_ADDR_FULL };
		fam = vg__qlog_priv_addr(&full, &h->addr.u.sa, 0, addr);
	}
	if (fam) {
		m.has_socket_family = true;
		m.socket_family = fam == AF_INET ? DNSTAP__SOCKET_FAMILY__INET
						 : DNSTAP__SOCKET_FAMILY__INET6;
		ProtobufCBinaryData a = { fam == AF_INET ? 4 : 16, addr };
		if (client) {
			m.has_query_address = true;
			m.query_address = a;
			m.has_query_port = true;
			m.query_port = vg_sockaddr_port(&h->addr);
		} else {
			m.has_response_address = true;
			m.response_address = a;
			m.has_response_port = true;
			m.response_port = vg_sockaddr_port(&h->addr);
		}
	}
	m.has_socket_protocol = true;
	if (client) {
		static const Dnstap__SocketProtocol proto[] = {
			DNSTAP__SOCKET_PROTOCOL__UDP, DNSTAP__SOCKET_PROTOCOL__UDP,
			DNSTAP__SOCKET_PROTOCOL__TCP, DNSTAP__SOCKET_PROTOCOL__DOT,
			DNSTAP__SOCKET_PROTOCOL__DOH,
		};
		m.socket_protocol = h->transport < 5 ? proto[h->transport]
						     : DNSTAP__SOCKET_PROTOCOL__UDP;
	} else {
		m.socket_protocol = h->flags & REC_F_TLS ? DNSTAP__SOCKET_PROTOCOL__DOT
							 : DNSTAP__SOCKET_PROTOCOL__UDP;
	}

	switch (h->kind) {
	case REC_CLIENT:
		m.has_query_time_sec = m.has_query_time_nsec = true;
		set_time(h->tq ? h->tq : h->tr, &m.query_time_sec, &m.query_time_nsec);
		m.has_query_message = true;
		m.query_message = (ProtobufCBinaryData){ h->qlen, (uint8_t *)v->query };
		if (type == VG_DNSTAP_CLIENT_RESPONSE) {
			m.has_response_time_sec = m.has_response_time_nsec = true;
			set_time(h->tr, &m.response_time_sec, &m.response_time_nsec);
			m.has_response_message = true;
			m.response_message = (ProtobufCBinaryData){ h->rlen, (uint8_t *)v->resp };
			m.has_query_message = false; /* (the response carries the question) */
		}
		break;
	case REC_UP_QUERY: {
		/* the question as vigil asked it (the transport sets the ID,
		 * 0x20 case and cookies as it sends: not seen here) */
		int ql = vg_wire_make_query(qbuf, sizeof(qbuf), 0, v->query, h->qtype,
					    h->flags & REC_F_RD, 1232, h->flags & REC_F_DO);
		if (ql < 0)
			return ql;
		m.has_query_time_sec = m.has_query_time_nsec = true;
		set_time(h->tq, &m.query_time_sec, &m.query_time_nsec);
		m.has_query_message = true;
		m.query_message = (ProtobufCBinaryData){ (size_t)ql, qbuf };
		break;
	}
	default:
		m.has_query_time_sec = m.has_query_time_nsec = true;
		set_time(h->tq, &m.query_time_sec, &m.query_time_nsec);
		m.has_response_time_sec = m.has_response_time_nsec = true;
		set_time(h->tr, &m.response_time_sec, &m.response_time_nsec);
		m.has_response_message = true;
		m.response_message = (ProtobufCBinaryData){ h->rlen, (uint8_t *)v->resp };
		break;
	}

	d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	d.message = &m;
	if (identity && *identity) {
		d.has_identity = true;
		d.identity = (ProtobufCBinaryData){ strlen(identity), (uint8_t *)identity };
	}
	d.has_version = true;
	d.version = (ProtobufCBinaryData){ strlen("vigil " VIGIL_VERSION),
					   (uint8_t *)"vigil " VIGIL_VERSION };
	/* the policy's decision, for readers that look (dnstap-read -y shows it) */
	char extra[600];
	if (h->act_len && type == VG_DNSTAP_CLIENT_RESPONSE) {
		int n = snprintf(extra, sizeof(extra), "policy action=%.*s source=%.*s rule=%.*s",
				 h->act_len, v->act, h->src_len, v->src, h->rule_len, v->rule);
		if (n > 0) {
			d.has_extra = true;
			d.extra = (ProtobufCBinaryData){ (size_t)n < sizeof(extra) ? (size_t)n
									     : sizeof(extra) - 1,
							 (uint8_t *)extra };
		}
	}
	size_t n = dnstap__dnstap__get_packed_size(&d);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return VG_ENOMEM;
	dnstap__dnstap__pack(&d, buf);
	*out = buf;
	*len = n;
	return 0;
}

int vg__dnstap_open(struct vg__dnstap **out, const char *socket_path, const char *file_path,
		    char *err, size_t errlen)
{
	struct vg__dnstap *d = calloc(1, sizeof(*d));
	struct fstrm_writer_options *wopt = fstrm_writer_options_init();
	struct fstrm_unix_writer_options *uopt = NULL;
	struct fstrm_file_options *fopt = NULL;
	struct fstrm_iothr_options *iopt = fstrm_iothr_options_init();
	struct fstrm_writer *w = NULL;
	int ret = VG_ENOMEM;

	if (!d || !wopt || !iopt)
		goto out;
	fstrm_writer_options_add_content_type(wopt, CONTENT_TYPE, strlen(CONTENT_TYPE));
	if (socket_path && *socket_path) {
		uopt = fstrm_unix_writer_options_init();
		if (!uopt)
			goto out;
		fstrm_unix_writer_options_set_socket_path(uopt, socket_path);
		w = fstrm_unix_writer_init(uopt, wopt);
	} else {
		fopt = fstrm_file_options_init();
		if (!fopt)
			goto out;
		fstrm_file_options_set_file_path(fopt, file_path);
		w = fstrm_file_writer_init(fopt, wopt);
	}
	if (!w) {
		snprintf(err, errlen, "dnstap: cannot set up the output %s",
			 socket_path && *socket_path ? socket_path : file_path);
		ret = VG_EINVAL;
		goto out;
	}
	/* one input queue (one writer thread); a reader that went away is
	 * reconnected every second; frames are flushed at least every second */
	fstrm_iothr_options_set_num_input_queues(iopt, 1);
	fstrm_iothr_options_set_reopen_interval(iopt, 1);
	fstrm_iothr_options_set_flush_timeout(iopt, 1);
	d->iothr = fstrm_iothr_init(iopt, &w);
	if (!d->iothr) {
		snprintf(err, errlen, "dnstap: cannot start the output thread");
		goto out;
	}
	d->q = fstrm_iothr_get_input_queue(d->iothr);
	if (!d->q) {
		snprintf(err, errlen, "dnstap: no output queue");
		goto out;
	}
	*out = d;
	d = NULL;
	ret = 0;
out:
	if (w)
		fstrm_writer_destroy(&w);
	if (d && d->iothr)
		fstrm_iothr_destroy(&d->iothr);
	free(d);
	if (uopt)
		fstrm_unix_writer_options_destroy(&uopt);
	if (fopt)
		fstrm_file_options_destroy(&fopt);
	if (wopt)
		fstrm_writer_options_destroy(&wopt);
	if (iopt)
		fstrm_iothr_options_destroy(&iopt);
	return ret;
}

bool vg__dnstap_submit(struct vg__dnstap *d, uint8_t *frame, size_t len)
{
	fstrm_res r = fstrm_iothr_submit(d->iothr, d->q, frame, len, fstrm_free_wrapper, NULL);
	if (r != fstrm_res_success) {
		free(frame);
		return false;
	}
	return true;
}

void vg__dnstap_close(struct vg__dnstap *d)
{
	if (!d)
		return;
	fstrm_iothr_destroy(&d->iothr); /* writes what is queued, then closes */
	free(d);
}
