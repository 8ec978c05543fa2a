/*
 * canned.c - trivial canned-answer UDP DNS responder used by bench/run.sh
 * as the machine's ceiling ("how fast can anything answer on this box").
 *
 * Binds 127.0.0.1:PORT (loopback only), receives queries in batches with
 * recvmmsg(), and answers each with: the header (ID copied, QR/AA/RA set,
 * RD copied), the question echoed, and for qtype A/ANY one A record
 * (name compressed to the question, TTL 86400, 127.0.0.1). Anything after
 * the question (e.g. an EDNS OPT record) is dropped. Malformed packets are
 * ignored. No allocation, no parsing beyond the question.
 *
 * Build: cc -O2 -o canned canned.c
 * Usage: canned PORT [PIDFILE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 1500

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* Returns response length in out (same buffer), or 0 to drop. */
static size_t answer(uint8_t *p, size_t len)
{
	if (len < 12 + 5)
		return 0;
	if (p[2] & 0x80) /* already a response */
		return 0;
	uint16_t qd = (uint16_t)(p[4] << 8 | p[5]);
	if (qd != 1)
		return 0;
	size_t off = 12;
	for (;;) {
		if (off >= len)
			return 0;
		uint8_t l = p[off];
		if (l == 0) {
			off++;
			break;
		}
		if (l & 0xC0)
			return 0;
		off += 1u + l;
	}
	if (off + 4 > len)
		return 0;
	uint16_t qtype = (uint16_t)(p[off] << 8 | p[off + 1]);
	off += 4;

	p[2] = (uint8_t)(0x80 | 0x04 | (p[2] & 0x79)); /* QR, AA, keep opcode, RD */
	p[3] = 0x80;                                     /* RA, RCODE=NOERROR */
	p[8] = p[9] = 0;                                 /* NSCOUNT */
	p[10] = p[11] = 0;                               /* ARCOUNT */
	if (qtype == 1 || qtype == 255) {
		if (off + 16 > BUFSZ)
			return 0;
		p[6] = 0;
		p[7] = 1; /* ANCOUNT */
		static const uint8_t rr[16] = {
			0xC0, 0x0C,             /* name: pointer to question */
			0x00, 0x01, 0x00, 0x01, /* A IN */
			0x00, 0x01, 0x51, 0x80, /* TTL 86400 */
			0x00, 0x04, 127, 0, 0, 1,
		};
		memcpy(p + off, rr, sizeof rr);
		off += sizeof rr;
	} else {
		p[6] = p[7] = 0;
	}
	return off;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [PIDFILE]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	int one = 1, rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcv, sizeof rcv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bind 127.0.0.1");
		return 1;
	}
	struct sigaction act = {.sa_handler = on_signal}; /* no SA_RESTART */
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}

	static uint8_t bufs[BATCH][BUFSZ];
	static struct sockaddr_in peers[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr in[BATCH], out[BATCH];

	while (!stop) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = BUFSZ;
			memset(&in[i].msg_hdr, 0, sizeof in[i].msg_hdr);
			in[i].msg_hdr.msg_name = &peers[i];
			in[i].msg_hdr.msg_namelen = sizeof peers[i];
			in[i].msg_hdr.msg_iov = &iov[i];
			in[i].msg_hdr.msg_iovlen = 1;
		}
		/* Block for the first datagram, then take whatever else is queued. */
		int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("recvmmsg");
			return 1;
		}
		int k = 0;
		for (int i = 0; i < n; i++) {
			size_t rl = answer(bufs[i], in[i].msg_len);
			if (rl == 0)
				continue;
			iov[i].iov_len = rl;
			out[k].msg_hdr = in[i].msg_hdr;
			out[k].msg_hdr.msg_iov = &iov[i];
			out[k].msg_len = 0;
			k++;
		}
		int sent = 0;
		while (sent < k) {
			int r = sendmmsg(fd, out + sent, (unsigned)(k - sent), 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				break; /* drop the rest (e.g. ENOBUFS), like any UDP server */
			}
			sent += r;
		}
	}
	close(fd);
	return 0;
}
