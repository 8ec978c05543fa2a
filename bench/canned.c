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
 * LOOP says how it waits for the next query (bench/README.md, "The floor"):
 *   block  (default) blocks in recvmmsg(MSG_WAITFORONE): two system calls
 *          per wake-up, the least any UDP server can do;
 *   epoll  epoll_wait, then recvmmsg(MSG_DONTWAIT): what an event loop adds;
 *   uv     a libuv loop and a uv_poll_t on the socket, the way vigil's UDP
 *          front end waits (src/net/udp.c), with the same answers.
 *
 * Build: cc -O2 -o canned canned.c -luv
 * Usage: canned PORT [PIDFILE [block|epoll|uv]]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

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

static uint8_t bufs[BATCH][BUFSZ];
static struct sockaddr_in peers[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr in[BATCH], out[BATCH];

/* One wake-up's work: read what is queued (with MSG_WAITFORONE, block for
 * the first datagram), answer it all in one sendmmsg.  -1 on a fatal error. */
static int serve(int fd, int flags)
{
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = BUFSZ;
		memset(&in[i].msg_hdr, 0, sizeof in[i].msg_hdr);
		in[i].msg_hdr.msg_name = &peers[i];
		in[i].msg_hdr.msg_namelen = sizeof peers[i];
		in[i].msg_hdr.msg_iov = &iov[i];
		in[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(fd, in, BATCH, flags, NULL);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		perror("recvmmsg");
		return -1;
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
	return 0;
}

static int loop_block(int fd)
{
	while (!stop)
		if (serve(fd, MSG_WAITFORONE) < 0)
			return 1;
	return 0;
}

static int loop_epoll(int fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd}, got[8];
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("epoll");
		return 1;
	}
	while (!stop) {
		int n = epoll_wait(ep, got, 8, -1);
		if (n > 0 && serve(fd, MSG_DONTWAIT) < 0)
			return 1;
	}
	close(ep);
	return 0;
}

static void uv_readable(uv_poll_t *h, int status, int events)
{
	(void)events;
	if (status < 0 || serve(*(int *)h->data, MSG_DONTWAIT) < 0)
		uv_stop(h->loop);
}

static void uv_on_signal(uv_signal_t *h, int sig)
{
	(void)sig;
	uv_stop(h->loop);
}

static int loop_uv(int fd)
{
	uv_loop_t loop;
	uv_poll_t poll;
	uv_signal_t term, intr;
	if (uv_loop_init(&loop) < 0 || uv_poll_init_socket(&loop, &poll, fd) < 0) {
		fprintf(stderr, "libuv set-up failed\n");
		return 1;
	}
	poll.data = &fd;
	uv_poll_start(&poll, UV_READABLE, uv_readable);
	uv_signal_init(&loop, &term);
	uv_signal_start(&term, uv_on_signal, SIGTERM);
	uv_signal_init(&loop, &intr);
	uv_signal_start(&intr, uv_on_signal, SIGINT);
	uv_run(&loop, UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 3 ? argv[3] : "block";
	if (argc < 2 || (strcmp(mode, "block") && strcmp(mode, "epoll") && strcmp(mode, "uv"))) {
		fprintf(stderr, "usage: %s PORT [PIDFILE [block|epoll|uv]]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
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
	if (strcmp(mode, "block") != 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		perror("fcntl");
		return 1;
	}
	struct sigaction act = {.sa_handler = on_signal}; /* no SA_RESTART */
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	if (argc > 2 && argv[2][0]) {
		FILE *f = fopen(argv[2], "w");
		if (f) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	int r = mode[0] == 'b' ? loop_block(fd) : mode[0] == 'e' ? loop_epoll(fd) : loop_uv(fd);
	close(fd);
	return r;
}
