/* SPDX-License-Identifier: MIT
 *
 * vigilctl: the control socket's client.  Sends one request line (the
 * command and its words), copies the answer to standard output (or, for an
 * error, to standard error) and exits 0, 1 or 2.  The protocol is in
 * src/ctl/ctlproto.h; this program knows no command: the daemon checks
 * them, so vigilctl and vigil of one version always agree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ctl/ctlproto.h"

#ifndef VIGIL_VERSION
#define VIGIL_VERSION "0.1.0"
#endif

#define DEFAULT_SOCKET "/run/vigil/control.sock"
#define TIMEOUT_S 120 /* a reload of a big policy takes a while */

static void usage(FILE *out)
{
	fputs(
"NAME\n"
"    vigilctl - control a running vigil DNS resolver\n"
"\n"
"SYNOPSIS\n"
"    vigilctl [-s SOCKET] [--json] COMMAND [ARGUMENTS]\n"
"    vigilctl -r ADDRESS@PORT --cert FILE --key FILE --ca FILE [--json]\n"
"             COMMAND [ARGUMENTS]\n"
"    vigilctl --help | --version\n"
"\n"
"DESCRIPTION\n"
"    vigilctl talks to vigil over its control socket (the config key\n"
"    control.socket, default " DEFAULT_SOCKET "): it sends one command,\n"
"    prints the answer and exits.  Output is for people by default; --json\n"
"    prints one JSON object (or array) for scripts.  Who may use the socket:\n"
"    root, the socket file's owner, and members of its group (control.mode\n"
"    and control.group); vigil refuses anyone else and logs the attempt.\n"
"\n"
"OPTIONS\n"
"    -s, --socket SOCKET\n"
"        The control socket (default: $VIGILCTL_SOCKET, else\n"
"        " DEFAULT_SOCKET ").\n"
"    -r, --remote ADDRESS@PORT\n"
"        Talk to vigil over TCP and TLS instead (control.listen-tls), e.g.\n"
"        192.0.2.53@8953 or [2001:db8::53]@8953, with a client certificate\n"
"        (--cert, --key) signed by the CA vigil trusts (control.client-ca).\n"
"        The server's certificate must be signed by the CA of --ca and name\n"
"        ADDRESS (an IP address SAN, or a DNS name when ADDRESS is a name).\n"
"        An authenticated client may run every command, reload and flush\n"
"        included.\n"
"    --cert FILE, --key FILE\n"
"        The client certificate (PEM) and its private key (with --remote).\n"
"    --ca FILE\n"
"        The CA (PEM) that signed vigil's certificate (with --remote).\n"
"    -j, --json\n"
"        Machine-readable output: one JSON value.  Errors are\n"
"        {\"error\": \"...\"} on standard error.\n"
"    -h, --help\n"
"        Show this help and exit.\n"
"    -V, --version\n"
"        Show the version and exit.\n"
"\n"
"COMMANDS\n"
"    status\n"
"        vigil's version, process ID, uptime, worker threads, config file and\n"
"        its generation (bumped by every reload), the policy (sources, rules,\n"
"        client groups, which groups are paused) and the RPZ feeds' serials.\n"
"    stats\n"
"        Every counter, summed over the workers (the same as the SIGUSR1\n"
"        stats line): queries, cache hits, answers by rcode, upstream\n"
"        queries and timeouts, cache entries and bytes, ...\n"
"    reload\n"
"        Load the config file again, as SIGHUP does.  Prints the new config\n"
"        generation, or, when the file is broken, every error (FILE:LINE:\n"
"        message) and exits 1: the running config stays in force.\n"
"    flush\n"
"        Remove every entry from the cache.\n"
"    flush NAME\n"
"        Remove every entry at NAME (all types, data and negative).\n"
"    flush --subtree NAME\n"
"        Remove NAME and every name below it.\n"
"    flush --negative [NAME | --subtree NAME]\n"
"        Remove only negative entries (NXDOMAIN, NODATA) and cached\n"
"        resolution failures.\n"
"        Every flush also drops the aggressive-NSEC records (RFC 8198) that\n"
"        could still deny the flushed names.  Prints how many entries went.\n"
"    cache NAME [TYPE]\n"
"        What the cache holds for NAME and TYPE (default A), and an NXDOMAIN\n"
"        entry for NAME: data, NODATA, NXDOMAIN or cached failure; the\n"
"        remaining and the stored TTL (or how long ago it expired, for data\n"
"        kept for serve-stale); the trust rank (authoritative,\n"
"        non-authoritative, referral, glue, hint); the DNSSEC status\n"
"        (secure, insecure, bogus, unchecked) and the Extended DNS Error of\n"
"        a bogus entry or a failure.  Looks only: nothing changes.\n"
"    explain NAME [--client ADDR] [--client-id ID] [--client-cert CERT]\n"
"            [--transport udp|tcp|dot|doh] [--type TYPE]\n"
"        As `vigil explain`, but against the policy in force in the running\n"
"        vigil (after reloads and feed transfers): the client group and why,\n"
"        the deciding rule (source, FILE:LINE) or none, and whether the\n"
"        group is paused.\n"
"    pause GROUP DURATION\n"
"        Apply no policy to the client group GROUP (its name in\n"
"        policy.groups) for DURATION: a number of minutes, or Ns, Nm, Nh\n"
"        (at most 7 days).  Its clients' queries resolve normally; the\n"
"        other groups are not affected.  Logged, and shown by status.  A\n"
"        pause lasts across reloads while the group exists, not across a\n"
"        restart.  Pausing a paused group sets a new end.\n"
"    resume GROUP\n"
"        End a pause now.\n"
"    feeds\n"
"        Each RPZ feed: zone, serial and records in force, the last good\n"
"        transfer, the last attempt, the next refresh, and the last error\n"
"        since the last good transfer.\n"
"    upstreams\n"
"        The upstream servers vigil has asked (at most 1000, the most\n"
"        recently used first), per address and port: smoothed round-trip\n"
"        time (the lowest and the mean over the worker threads, each of\n"
"        which keeps its own table), its variance, the retransmission\n"
"        timeout the next query gets, answers, timeouts and other errors\n"
"        (ICMP unreachable, refused connections; summed over the workers),\n"
"        and the state: usable, failing (failures in a row) or down (held\n"
"        down: asked last, until the time shown), TCP only (spoofed replies\n"
"        seen), lame for N zones, whether it sends DNS cookies or refused\n"
"        them.  A worker that does not reply within 2 s is named and left\n"
"        out.\n"
"    trust-anchors\n"
"        With RFC 5011 (dnssec.auto-trust-anchor-file): every key of every\n"
"        anchor zone with its key tag, algorithm and state (addpend, valid,\n"
"        missing, revoked), since when, the hold-down's end, and the zone's\n"
"        last refresh.  Else how many static anchors are in force.\n"
"    help\n"
"        The daemon's list of commands.\n"
"\n"
"PROTOCOL\n"
"    One request per connection: \"VIGILCTL/1 text|json COMMAND ARGS...\\n\";\n"
"    the answer is \"ok\\n\" or \"error\\n\" and the output, then vigil closes\n"
"    the connection (src/ctl/ctlproto.h).  Scripts may speak it directly,\n"
"    e.g. with socat.\n"
"\n"
"EXIT STATUS\n"
"    0 the command succeeded; 1 vigil answered with an error (printed on\n"
"    standard error); 2 a usage error, or the socket could not be used\n"
"    (vigil not running, or permission denied).\n"
"\n"
"EXAMPLES\n"
"    vigilctl status\n"
"    vigilctl --json stats | jq .cache_hits\n"
"    vigilctl flush --subtree example.com\n"
"    vigilctl cache www.example.com AAAA\n"
"    vigilctl explain ads.example.net --client 192.0.2.10\n"
"    vigilctl pause kids 30 && vigilctl resume kids\n"
"    vigilctl -r 192.0.2.53@8953 --cert me.pem --key me.key --ca ca.pem status\n",
	      out);
}

/* connect, or say why not (exit status 2) */
static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vigilctl: %s: socket path too long\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "vigilctl: socket: %s\n", strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	int e = errno;
	close(fd);
	if (e == EACCES || e == EPERM)
		fprintf(stderr, "vigilctl: %s: permission denied: the control socket is for root, "
			"its owner and its group (control.mode, control.group)\n", path);
	else if (e == ENOENT || e == ECONNREFUSED)
		fprintf(stderr, "vigilctl: %s: %s: is vigil running, with this control.socket?\n",
			path, strerror(e));
	else
		fprintf(stderr, "vigilctl: %s: %s\n", path, strerror(e));
	return -1;
}

/* the remote connection (--remote): NULL on the unix socket */
static SSL *ssl;

static void ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	fprintf(stderr, "vigilctl: %s", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, ": %s", buf);
	}
	fputc('\n', stderr);
}

/* TCP to ADDRESS@PORT, then TLS with a client certificate: fd, or -1 */
static int connect_remote(const char *remote, const char *cert, const char *key,
			  const char *ca)
{
	char host[256];
	const char *at = strrchr(remote, '@');
	if (!at || at == remote || (size_t)(at - remote) >= sizeof(host) || !at[1]) {
		fprintf(stderr, "vigilctl: --remote %s: not ADDRESS@PORT\n", remote);
		return -1;
	}
	if (!cert || !key || !ca) {
		fprintf(stderr, "vigilctl: --remote needs --cert, --key and --ca\n");
		return -1;
	}
	memcpy(host, remote, (size_t)(at - remote));
	host[at - remote] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int r = getaddrinfo(host, at + 1, &hints, &ai);
	if (r) {
		fprintf(stderr, "vigilctl: %s: %s\n", remote, gai_strerror(r));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "vigilctl: %s: %s: is vigil listening there "
			"(control.listen-tls)?\n", remote, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		goto ssl_fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_errors("--cert: cannot load the certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errors("--key: cannot load the key (or it is not the certificate's)");
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		ssl_errors("--ca: cannot load the CA");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ssl = SSL_new(ctx);
	if (!ssl)
		goto ssl_fail;
	/* the server's certificate must name the address (or the name) asked */
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char bin[16];
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
		X509_VERIFY_PARAM_set1_ip_asc(vp, host);
	} else {
		X509_VERIFY_PARAM_set1_host(vp, host, 0);
		SSL_set_tlsext_host_name(ssl, host);
	}
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			fprintf(stderr, "vigilctl: %s: the server's certificate: %s\n", remote,
				X509_verify_cert_error_string(v));
		else
			ssl_errors("TLS handshake failed");
		goto fail;
	}
	SSL_CTX_free(ctx); /* the session holds its own reference */
	return fd;
ssl_fail:
	ssl_errors("TLS");
fail:
	if (ssl)
		SSL_free(ssl);
	ssl = NULL;
	SSL_CTX_free(ctx);
	close(fd);
	return -1;
}

static ssize_t conn_read(int fd, char *buf, size_t n)
{
	if (!ssl)
		return read(fd, buf, n);
	int r = SSL_read(ssl, buf, (int)(n > 65536 ? 65536 : n));
	if (r > 0)
		return r;
	int e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && errno)
		return -1;
	ssl_errors("TLS: the connection failed (refused by vigil?)");
	errno = EPROTO;
	return -2;
}

static int write_all(int fd, const char *p, size_t n)
{
	if (ssl)
		return SSL_write(ssl, p, (int)n) == (int)n ? 0 : -1;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "remote", required_argument, NULL, 'r' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("VIGILCTL_SOCKET");
	bool json = false;
	const char *remote = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	int c;

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	/* "+": options stop at the command (explain has options of its own) */
	while ((c = getopt_long(argc, argv, "+s:r:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'r':
			remote = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'A':
			ca = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vigilctl %s\n", VIGIL_VERSION);
			return 0;
		default:
			fprintf(stderr, "vigilctl: see vigilctl --help\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vigilctl: no command (see vigilctl --help)\n");
		return 2;
	}
	char line[VG_CTL_LINE_MAX];
	size_t o = (size_t)snprintf(line, sizeof(line), "%s %s", VG_CTL_MAGIC,
				    json ? "json" : "text");
	for (int i = optind; i < argc; i++) {
		const char *w = argv[i];
		if (!*w || strpbrk(w, " \t\r\n")) {
			fprintf(stderr, "vigilctl: argument '%s': no spaces or empty words\n", w);
			return 2;
		}
		for (const char *p = w; *p; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
				fprintf(stderr, "vigilctl: argument '%s': printable ASCII only\n", w);
				return 2;
			}
		size_t l = strlen(w);
		if (o + 1 + l + 2 > sizeof(line)) {
			fprintf(stderr, "vigilctl: the command is too long\n");
			return 2;
		}
		line[o++] = ' ';
		memcpy(line + o, w, l);
		o += l;
	}
	line[o++] = '\n';

	signal(SIGPIPE, SIG_IGN); /* vigil may answer (a refusal) and close first */
	if (remote)
		path = remote;
	int fd = remote ? connect_remote(remote, cert, key, ca) : connect_to(path);
	if (fd < 0)
		return 2;
	int werr = write_all(fd, line, o) < 0 ? errno : 0;
	if (!ssl)
		shutdown(fd, SHUT_WR); /* (TLS: vigil reads one line and answers) */
	/* the status line, then the output as it comes */
	char buf[65536], status[8];
	size_t sl = 0;
	bool have_status = false, ok = false;
	FILE *out = stdout;
	for (;;) {
		ssize_t n = conn_read(fd, buf, sizeof(buf));
		if (n == -2) {
			close(fd);
			return 2;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && have_status)
			break; /* vigil closed with our request unread: it had answered */
		if (n < 0) {
			fprintf(stderr, "vigilctl: %s: %s\n", path,
				errno == EAGAIN ? "no answer (timed out)" : strerror(errno));
			close(fd);
			return 2;
		}
		if (n == 0)
			break;
		size_t i = 0;
		while (!have_status && i < (size_t)n) {
			char ch = buf[i++];
			if (ch == '\n') {
				status[sl] = '\0';
				have_status = true;
				ok = !strcmp(status, "ok");
				out = ok ? stdout : stderr;
				if (!ok && strcmp(status, "error")) {
					fprintf(stderr, "vigilctl: %s: not a vigil control socket\n",
						path);
					close(fd);
					return 2;
				}
			} else if (sl < sizeof(status) - 1) {
				status[sl++] = ch;
			}
		}
		if (have_status && i < (size_t)n)
			fwrite(buf + i, 1, (size_t)n - i, out);
	}
	close(fd);
	if (!have_status) {
		if (werr)
			fprintf(stderr, "vigilctl: %s: cannot send: %s\n", path, strerror(werr));
		fprintf(stderr, "vigilctl: %s: the connection closed without an answer\n", path);
		return 2;
	}
	fflush(stdout);
	return ok ? 0 : 1;
}
